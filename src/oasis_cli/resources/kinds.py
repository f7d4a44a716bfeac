"""Every resource kind by name (`KINDS`), and what ownership looks like for a node
rebuilt from the ledger alone."""

from __future__ import annotations

from typing import Any

from oasis_cli.config.names import Deployment
from oasis_cli.resources.apis import Apis
from oasis_cli.resources.base import Kind
from oasis_cli.resources.binauth import Policy
from oasis_cli.resources.bindings import Bindings
from oasis_cli.resources.buildpool import Connection, GlobalAddress, WorkerPool
from oasis_cli.resources.gke import Cluster, NodePool
from oasis_cli.resources.iam import ServiceAccount
from oasis_cli.resources.images import Image
from oasis_cli.resources.kubeobjects import KubeObject
from oasis_cli.resources.networks import Firewall, Network, Router, Subnetwork
from oasis_cli.resources.registry import Repository
from oasis_cli.resources.secret import Secret
from oasis_cli.resources.storage import Bucket

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


def ownership_spec(deployment: Deployment) -> dict[str, Any]:
    """What every kind's `owned()` checks, for rebuilding a node from the ledger alone
    (a resource the config no longer names, found only in the ledger)."""
    label = deployment.label
    return {
        "description": deployment.marker,
        "labels": label,
        "resource_labels": label,
        "config": {"resource_labels": label},
        "cluster": deployment.names.cluster,
    }
