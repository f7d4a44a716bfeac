"""The simulated clusters' Kubernetes: the object store of one cluster (`objects`),
the API (`api`), its TLS server with watch and port-forward (`server`), schema checks
(`schemas`), the controllers that make objects converge (`controllers`), and the real
local Ray head started for a RayCluster (`rayhead`).
"""
