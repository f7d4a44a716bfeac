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
"""Deletion order, highest first: a node depends on every swept node of a lower rank."""

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
    found: list[tuple[str, str, str, dict[str, Any]]] = []  # (rank, kind, name, extra)
    label = d.label["oasis-deployment"]
    parent = f"projects/{cloud.project}/locations/{d.region}"
    retry = transient_retry(cloud.poll.initial_s)

    def add(rank: str, kind: str, name: str, location: str, extra: dict[str, Any]) -> None:
        found.append((rank, kind, name, {"location": location, **extra}))

    with api_errors("sweep"):
        for kind, client_name, regional in COMPUTE:
            where = {"region": d.region} if regional else {}
            client = cloud.compute(client_name)
            for item in client.list(project=cloud.project, retry=retry, **where):
                if d.marker in (item.description or ""):
                    add(kind, kind, item.name, d.region if regional else "global", {})
        networks = [name for rank, _, name, _ in found if rank == "compute.network"]
        for network in networks:
            link = f"projects/{cloud.project}/global/networks/{network}"
            for connection in _connections(cloud, link):
                ranges = connection.get("reservedPeeringRanges", [])
                extra = {"network": link, "ranges": ranges}
                add(
                    "servicenetworking.connection",
                    "servicenetworking.connection",
                    connection.get("peering", ""),
                    "global",
                    extra,
                )
        container = cloud.container()
        for cluster in container.list_clusters(parent=parent, retry=retry).clusters:
            if cluster.resource_labels.get("oasis-deployment") == label:
                add("container.cluster", "container.cluster", cluster.name, d.region, {})
        for bucket in cloud.storage().list_buckets(project=cloud.project):
            if (bucket.labels or {}).get("oasis-deployment") == label:
                add("storage.bucket", "storage.bucket", bucket.name, d.region, {})
        for kind, listed in _plain_lists(cloud, parent, retry):
            for item in listed:
                plain = to_plain(item)
                if not _ours(kind, plain, label, d.marker):
                    continue
                name = str(plain.get("email") or plain["name"].rsplit("/", 1)[-1])
                if kind == "iam.serviceAccount":
                    name = name.split("@")[0]
                virtual = plain.get("mode") == "VIRTUAL_REPOSITORY"
                rank = f"{kind}/virtual" if virtual else kind
                location = (
                    "global" if kind in ("iam.serviceAccount", "secretmanager.secret") else d.region
                )
                add(rank, kind, name, location, {})
    return _nodes(found, spec)


def _connections(cloud: Cloud, network: str) -> list[dict[str, Any]]:
    from oasis_cli.resources.buildpool import Connection

    numbered = network.replace(
        f"projects/{cloud.project}/", f"projects/{cloud.project_number()}/", 1
    )
    found = Connection()._call(
        cloud,
        Node("sweep", "servicenetworking.connection", "", "global"),
        "GET",
        "v1/services/servicenetworking.googleapis.com/connections",
        params={"network": numbered},
    )
    connections: list[dict[str, Any]] = found.get("connections", [])
    return connections


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


def _nodes(found: list[tuple[str, str, str, dict[str, Any]]], spec: dict[str, Any]) -> list[Node]:
    keys = [f"sweep:{kind}:{name}" for _, kind, name, _ in found]
    nodes = []
    for index, (rank, kind, name, extra) in enumerate(found):
        deps = tuple(keys[i] for i, other in enumerate(found) if RANK[other[0]] < RANK[rank])
        node_spec = {**spec, **{k: v for k, v in extra.items() if k != "location"}}
        nodes.append(Node(keys[index], kind, name, extra["location"], deps, node_spec))
    return nodes
