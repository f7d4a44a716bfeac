"""The local cloud: a simulation of the GCP APIs oasis uses, served on 127.0.0.1.

`LocalCloud(directory).start()` serves every simulated service on one port, each
below its own path prefix (`endpoints` maps service -> base URL), with state in
`directory` so separate processes see one world. Services validate requests with
Google's discovery documents and reject what GCP rejects. To simulate another API,
add a module with a `handle(request)`/`target(request)` service and register it in
`LocalCloud._build_services`.
"""
