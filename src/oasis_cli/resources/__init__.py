"""Resource families, one module each, and the deployment's graph.

`KINDS` maps a node kind to the `Kind` that observes, plans, creates and deletes it;
`build_graph()` turns a resolved deployment into nodes. To add a family: write a
module with its `Kind` subclasses and a `*_nodes(deployment)` builder, then register
both here.
"""

from __future__ import annotations

from oasis_cli.config import Deployment
from oasis_cli.graph import Node
from oasis_cli.resources.apis import Apis, api_nodes
from oasis_cli.resources.base import Kind
from oasis_cli.resources.compute import Firewall, Network, Router, Subnetwork
from oasis_cli.resources.iam import ServiceAccount, service_account_nodes
from oasis_cli.resources.networks import network_nodes
from oasis_cli.resources.registry import Repository, registry_nodes
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
    )
}


def build_graph(deployment: Deployment) -> list[Node]:
    return [
        *api_nodes(deployment),
        *network_nodes(deployment),
        *bucket_nodes(deployment),
        *registry_nodes(deployment),
        *service_account_nodes(deployment),
    ]
