"""Resource families, one module each, and the deployment's graph.

`KINDS` maps a node kind to the `Kind` that observes, plans, creates and deletes it;
`build_graph()` turns a resolved deployment into nodes. To add a family: write a
module with its `Kind` subclasses and a `*_nodes(deployment)` builder, then register
both here.
"""

from __future__ import annotations

from typing import Any

from oasis_cli.config import Deployment
from oasis_cli.graph import Node
from oasis_cli.resources.apis import Apis, api_nodes
from oasis_cli.resources.base import Kind
from oasis_cli.resources.binauth import Policy
from oasis_cli.resources.bindings import Bindings, binding_nodes
from oasis_cli.resources.buildpool import Connection, WorkerPool, build_pool_nodes
from oasis_cli.resources.compute import Firewall, GlobalAddress, Network, Router, Subnetwork
from oasis_cli.resources.gke import Cluster, NodePool, cluster_nodes
from oasis_cli.resources.iam import ServiceAccount, service_account_nodes
from oasis_cli.resources.images import Image
from oasis_cli.resources.kubeobjects import KubeObject
from oasis_cli.resources.networks import network_nodes
from oasis_cli.resources.registry import Repository, registry_nodes
from oasis_cli.resources.secret import Secret, secret_nodes
from oasis_cli.resources.storage import Bucket, bucket_nodes

KINDS: dict[str, Kind] = {
    kind.kind: kind
    for kind in (
        Apis(),
        Network(),
        Subnetwork(),
        Firewall(),
        Router(),
        Bucket(),
        Repository(),
        ServiceAccount(),
        Cluster(),
        NodePool(),
        Secret(),
        Bindings(),
        GlobalAddress(),
        Connection(),
        WorkerPool(),
        Image(),
        Policy(),
        KubeObject(),
    )
}


def build_graph(deployment: Deployment) -> list[Node]:
    """The base infrastructure (`oasis up`). Images (`images.image_nodes`) and the
    Binary Authorization rule (`binauth.binauth_nodes`) are graphs of their own
    commands, on top of it; `down` finds them in the ledger."""
    return [
        *api_nodes(deployment),
        *network_nodes(deployment),
        *bucket_nodes(deployment),
        *registry_nodes(deployment),
        *service_account_nodes(deployment),
        *cluster_nodes(deployment),
        *secret_nodes(deployment),
        *binding_nodes(deployment),
        *build_pool_nodes(deployment),
    ]


def ownership_spec(deployment: Deployment) -> dict[str, Any]:
    """What every kind's `owned()` checks, for rebuilding a node from the ledger alone
    (a resource the config no longer names, found only in the ledger)."""
    label = deployment.label
    return {
        "description": deployment.marker,
        "labels": label,
        "resource_labels": label,
        "config": {"resource_labels": label},
        "cluster": deployment.names()["cluster.name"],
    }
