"""The graph each command runs, composed in one place.

`up` runs the base infrastructure; `build-images`, `binauth` and `ray deploy` run
graphs of their own on top of it, whose dependencies on it are declared `outside`
(met when the ledger has them done, checked by `require()`); `up --all` runs all three
as one graph, so the images build while the cluster comes up. `down` and `status`
run the infrastructure plus whatever else the ledger knows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from oasis_cli.config.names import Deployment
from oasis_cli.errors import PreflightError
from oasis_cli.graph import Node
from oasis_cli.ledger import Ledger
from oasis_cli.resources import (
    apis,
    binauth,
    bindings,
    buildpool,
    gke,
    iam,
    images,
    kubeobjects,
    networks,
    nodepools,
    registry,
    secret,
    storage,
)
from oasis_cli.resources.base import Kind

# Every resource family; a family module holds its node builders and its KINDS.
FAMILIES = (
    apis,
    networks,
    storage,
    registry,
    iam,
    gke,
    nodepools,
    secret,
    bindings,
    buildpool,
    images,
    binauth,
    kubeobjects,
)
KINDS: dict[str, Kind] = {kind.kind: kind for family in FAMILIES for kind in family.KINDS}


@dataclass(frozen=True)
class Graph:
    """The nodes one command converges, and the keys of earlier commands' nodes they
    may depend on."""

    nodes: list[Node]
    outside: frozenset[str] = field(default_factory=frozenset)


def infrastructure_nodes(d: Deployment) -> list[Node]:
    """The base infrastructure (`oasis up`, SPEC section 3)."""
    return [
        *apis.api_nodes(d),
        *networks.network_nodes(d),
        *storage.bucket_nodes(d),
        *registry.registry_nodes(d),
        *iam.service_account_nodes(d),
        *gke.cluster_nodes(d),
        *nodepools.pool_nodes(d),
        *secret.secret_nodes(d),
        *bindings.binding_nodes(d),
        *buildpool.build_pool_nodes(d),
    ]


def _keys(nodes: list[Node]) -> frozenset[str]:
    return frozenset(node.key for node in nodes)


def infrastructure(d: Deployment) -> Graph:
    return Graph(infrastructure_nodes(d))


def image_builds(d: Deployment, config_dir: Path, *, force: bool = False, only: str = "") -> Graph:
    """ray-base and ray-server (`oasis build-images`), or the one `only` names."""
    nodes = images.image_nodes(d, config_dir, force=force)
    if only:
        nodes = [node for node in nodes if node.key == f"image:{only}"]
    return Graph(nodes, _keys(infrastructure_nodes(d)) | {"image:base"})


def kubernetes(d: Deployment, ledger: Ledger) -> Graph:
    """The Kubernetes and Ray layer (`oasis ray deploy`) with the recorded ray-server."""
    entry = ledger.get("image:server")
    if entry is None or entry.state != "done" or not entry.outputs.get("ref"):
        raise PreflightError(
            "the Ray cluster runs the ray-server image, and it has not been built.",
            hint="Run `oasis build-images` first.",
        )
    return Graph(
        kubeobjects.kube_nodes(d, str(entry.outputs["ref"])), _keys(infrastructure_nodes(d))
    )


def binauth_rule(d: Deployment, *, enforce: bool) -> Graph:
    """The cluster's Binary Authorization rule (`oasis binauth`)."""
    return Graph(binauth.binauth_nodes(d, enforce=enforce), _keys(infrastructure_nodes(d)))


def everything(d: Deployment, config_dir: Path) -> Graph:
    """`oasis up --all`: infrastructure, images and the Ray layer as one graph."""
    return Graph(
        [
            *infrastructure_nodes(d),
            *images.image_nodes(d, config_dir),
            *kubeobjects.kube_nodes(d, None),
        ]
    )


def with_swept(graph: Graph, swept: list[Node], rank: Callable[[Node], int | None]) -> Graph:
    """`graph` plus the swept nodes it does not already name (`down --sweep`), ordered
    by `rank`: a node depends on every node of a lower rank, so in reverse a swept
    cluster goes before the subnets it uses, and a swept network after the clusters."""

    def identity(node: Node) -> tuple[str, str, str, str]:
        # a resource is its kind, name and location; a Service Networking connection
        # (always named servicenetworking-googleapis-com) is also its network's
        connection = node.kind == "servicenetworking.connection"
        return (
            node.kind,
            node.name,
            node.location,
            node.spec.get("network", "") if connection else "",
        )

    known = {identity(node) for node in graph.nodes}
    extra = [node for node in swept if identity(node) not in known]
    if not extra:
        return graph

    def below(node: Node, others: list[Node]) -> tuple[str, ...]:
        mine = rank(node)
        if mine is None:
            return ()
        return tuple(o.key for o in others if (theirs := rank(o)) is not None and theirs < mine)

    old = [replace(n, deps=(*n.deps, *below(n, extra))) for n in graph.nodes]
    new = [replace(n, deps=below(n, [*graph.nodes, *extra])) for n in extra]
    return Graph([*old, *new], graph.outside)


def teardown(d: Deployment, ledger: Ledger) -> Graph:
    """The infrastructure, named as the ledger recorded it, plus every live entry the
    ledger knows that the config no longer names (rebuilt from the ledger alone). A
    recorded dependency on a key nothing provides any more is met: what it named is
    gone."""
    nodes = {node.key: node for node in infrastructure_nodes(d)}
    known_keys = nodes.keys() | ledger.entries.keys()
    for key, entry in ledger.entries.items():
        known = nodes.get(key)
        if known is not None:
            nodes[key] = replace(known, name=entry.name, location=entry.location)
        elif entry.state != "deleted":
            deps = tuple(dep for dep in entry.deps if dep in known_keys)
            nodes[key] = Node(key, entry.kind, entry.name, entry.location, deps, ownership_spec(d))
    return Graph(list(nodes.values()), frozenset(ledger.entries))


def require(ledger: Ledger, graph: Graph, command: str) -> None:
    """Refuse (exit 3) unless every dependency outside the graph is done in the ledger."""
    keys = _keys(graph.nodes)
    needed = {dep for node in graph.nodes for dep in node.deps if dep not in keys}
    missing = sorted(dep for dep in needed if getattr(ledger.get(dep), "state", None) != "done")
    if not missing:
        return
    if missing == ["image:base"]:
        raise PreflightError(
            "ray-server is built FROM the recorded ray-base digest, and ray-base has not "
            "been built.",
            hint="Run `oasis build-images` (or `--only base`) first.",
        )
    raise PreflightError(
        f"{command} needs the base infrastructure, and these are not created yet: "
        + ", ".join(missing),
        hint="Run `oasis up` first.",
    )


def ownership_spec(deployment: Deployment) -> dict[str, Any]:
    """What every kind's `owned()` checks, for rebuilding a node from the ledger alone
    (a resource the config no longer names, found only in the ledger)."""
    label = deployment.label
    return {
        "description": deployment.marker,
        "labels": label,
        "resource_labels": label,
        "config": {"resource_labels": label},
        "annotations": label,
        "cluster": deployment.names.cluster,
    }
