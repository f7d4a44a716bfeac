"""`oasis down --sweep`: find the deployment's resources by what is written on them.

The ledger and the config name what `down` deletes; a resource the config has since
renamed, made by a run whose ledger is gone, is named by neither. The sweep lists
each API oasis creates resources in and keeps what carries this deployment's label
(`oasis-deployment`, also as GKE resource labels and worker-pool annotations) or its
marker (the description of networks, firewalls, routers, addresses and service
accounts), plus the Service Networking connection of a swept network. Each becomes a
teardown node; nodes depend on the kinds that must go after them (a cluster before its
subnets and service account, a pool before its peering, a virtual repository before
the ones it fronts), and `down` then treats them as it treats the rest: a data bucket
is still kept unless --delete-data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.gcp.errors import api_errors, transient_retry
from oasis_cli.gcp.messages import to_plain
from oasis_cli.graph import Node
from oasis_cli.resources.buildpool import Connection

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud

RANK = {
    "compute.network": 0,
    "compute.subnetwork": 1,
    "compute.firewall": 1,
    "compute.router": 1,
    "compute.globalAddress": 1,
    "iam.serviceAccount": 1,
    "storage.bucket": 1,
    "secretmanager.secret": 1,
    "artifactregistry.repository": 1,
    "servicenetworking.connection": 2,
    "artifactregistry.repository/virtual": 2,
    "cloudbuild.workerPool": 3,
    "container.cluster": 3,
}
"""Deletion order, highest first (`rank_of`): in `down --sweep` a node depends on every
node of a lower rank."""


def rank_of(node: Node) -> int | None:
    """A node's place in `RANK` (None: a kind the sweep does not order), a virtual
    repository above the repositories it fronts."""
    virtual = node.spec.get("mode") == "VIRTUAL_REPOSITORY"
    return RANK.get(f"{node.kind}/virtual" if virtual else node.kind)


COMPUTE = (
    ("compute.network", "NetworksClient", False),
    ("compute.subnetwork", "SubnetworksClient", True),
    ("compute.firewall", "FirewallsClient", False),
    ("compute.router", "RoutersClient", True),
    ("compute.globalAddress", "GlobalAddressesClient", False),
)


def sweep_nodes(cloud: Cloud, d: Deployment, spec: dict[str, Any]) -> list[Node]:
    """Teardown nodes for every live resource that carries this deployment's label or
    marker; `spec` is what `owned()` checks (graphs.ownership_spec)."""
    found: list[tuple[str, str, str, dict[str, Any]]] = []  # (kind, name, location, extra)
    label = d.label["oasis-deployment"]
    parent = f"projects/{cloud.project}/locations/{d.region}"
    retry = transient_retry(cloud.poll.initial_s)

    def add(kind: str, name: str, location: str, **extra: Any) -> None:
        found.append((kind, name, location, extra))

    with api_errors("sweep"):
        for kind, client_name, regional in COMPUTE:
            where = {"region": d.region} if regional else {}
            client = cloud.compute(client_name)
            for item in client.list(project=cloud.project, retry=retry, **where):
                if d.marker in (item.description or ""):
                    add(kind, item.name, d.region if regional else "global")
        networks = [name for kind, name, _, _ in found if kind == "compute.network"]
        for network in networks:
            link = f"projects/{cloud.project}/global/networks/{network}"
            for connection in Connection().connections(cloud, link):
                ranges = connection.get("reservedPeeringRanges", [])
                peering = connection.get("peering", "")
                add("servicenetworking.connection", peering, "global", network=link, ranges=ranges)
        container = cloud.container()
        for cluster in container.list_clusters(parent=parent, retry=retry).clusters:
            if cluster.resource_labels.get("oasis-deployment") == label:
                add("container.cluster", cluster.name, d.region)
        for bucket in cloud.storage().list_buckets(project=cloud.project):
            if (bucket.labels or {}).get("oasis-deployment") == label:
                add("storage.bucket", bucket.name, d.region)
        for kind, listed in _plain_lists(cloud, parent, retry):
            for item in listed:
                plain = to_plain(item)
                if not _ours(kind, plain, label, d.marker):
                    continue
                name = str(plain.get("email") or plain["name"].rsplit("/", 1)[-1])
                if kind == "iam.serviceAccount":
                    name = name.split("@")[0]
                global_ = kind in ("iam.serviceAccount", "secretmanager.secret")
                mode = {"mode": plain["mode"]} if "mode" in plain else {}
                add(kind, name, "global" if global_ else d.region, **mode)
    return [
        Node(f"sweep:{kind}:{name}", kind, name, location, (), {**spec, **extra})
        for kind, name, location, extra in found
    ]


def _plain_lists(cloud: Cloud, parent: str, retry: Any) -> Iterable[tuple[str, Iterable[Any]]]:
    registry = cloud.client(
        "artifactregistry", "google.cloud.artifactregistry_v1", "ArtifactRegistryClient"
    )
    yield "artifactregistry.repository", registry.list_repositories(parent=parent, retry=retry)
    secrets = cloud.client(
        "secretmanager", "google.cloud.secretmanager_v1", "SecretManagerServiceClient"
    )
    project = f"projects/{cloud.project}"
    yield "secretmanager.secret", secrets.list_secrets(parent=project, retry=retry)
    builds = cloud.client("cloudbuild", "google.cloud.devtools.cloudbuild_v1", "CloudBuildClient")
    yield "cloudbuild.workerPool", builds.list_worker_pools(parent=parent, retry=retry)
    iam = cloud.iam_admin()
    yield "iam.serviceAccount", iam.list_service_accounts(name=project, retry=retry)


def _ours(kind: str, plain: dict[str, Any], label: str, marker: str) -> bool:
    if kind == "iam.serviceAccount":
        return marker in str(plain.get("description", ""))
    where = "annotations" if kind == "cloudbuild.workerPool" else "labels"
    return (plain.get(where) or {}).get("oasis-deployment") == label
