"""`oasis verify`: prove the platform works before anyone trains on it.

`suite` runs one verification: the read-only `checks` (no drift, pools, API, the
Kubernetes layer's objects as GKE reports them), `gpunodes` (each GPU node's GPUs,
networks and gIB), `datapath` (a Ray job's round trip through /bucket and the
secret's metadata), and with `--gpus N` the `capacity` probe through the
ComputeClass, then `--nccl`'s graded NCCL run (`nccl`, `plot`). `outcome` holds what a
check gives.
"""
