"""The local cloud: a simulation of the GCP APIs oasis uses and of each cluster's
Kubernetes API, served on 127.0.0.1 through the real client libraries' wire formats.

Three parts, in the spirit of storage-testbench's split of server infrastructure from
service code: `infra/` (serving, the world store, faults, discovery routing),
`gcp/` (one module per Google service) and `kubernetes/` (the clusters' API, objects,
controllers, schemas and Ray head). `cloud.LocalCloud(directory)` composes them; its
state lives in `directory`, so separate processes see one world.
"""
