"""The graph each command runs, composed in one place.

`up` runs the base infrastructure; `build-images`, `binauth` and `ray deploy` run
graphs of their own on top of it, whose dependencies on it are declared `outside`
(met when the ledger has them done, checked by `require()`); `up --all` runs all three
as one graph, so the images build while the cluster comes up. `down` and `status`
run the infrastructure plus whatever else the ledger knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from oasis_cli.config.names import Deployment
from oasis_cli.errors import PreflightError
from oasis_cli.graph import Node
from oasis_cli.ledger import Ledger
from oasis_cli.resources.apis import api_nodes
from oasis_cli.resources.binauth import binauth_nodes
from oasis_cli.resources.bindings import binding_nodes
from oasis_cli.resources.buildpool import build_pool_nodes
from oasis_cli.resources.gke import cluster_nodes
from oasis_cli.resources.iam import service_account_nodes
from oasis_cli.resources.images import image_nodes
from oasis_cli.resources.kinds import ownership_spec
from oasis_cli.resources.kubeobjects import kube_nodes
from oasis_cli.resources.networks import network_nodes
from oasis_cli.resources.registry import registry_nodes
from oasis_cli.resources.secret import secret_nodes
from oasis_cli.resources.storage import bucket_nodes


@dataclass(frozen=True)
class Graph:
    """The nodes one command converges, and the keys of earlier commands' nodes they
    may depend on."""

    nodes: list[Node]
    outside: frozenset[str] = field(default_factory=frozenset)


def infrastructure_nodes(d: Deployment) -> list[Node]:
    """The base infrastructure (`oasis up`, SPEC section 3)."""
    return [
        *api_nodes(d),
        *network_nodes(d),
        *bucket_nodes(d),
        *registry_nodes(d),
        *service_account_nodes(d),
        *cluster_nodes(d),
        *secret_nodes(d),
        *binding_nodes(d),
        *build_pool_nodes(d),
    ]


def _keys(nodes: list[Node]) -> frozenset[str]:
    return frozenset(node.key for node in nodes)


def infrastructure(d: Deployment) -> Graph:
    return Graph(infrastructure_nodes(d))


def images(d: Deployment, config_dir: Path, *, force: bool = False, only: str = "") -> Graph:
    """ray-base and ray-server (`oasis build-images`), or the one `only` names."""
    nodes = image_nodes(d, config_dir, force=force)
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
    return Graph(kube_nodes(d, str(entry.outputs["ref"])), _keys(infrastructure_nodes(d)))


def binauth(d: Deployment, *, enforce: bool) -> Graph:
    """The cluster's Binary Authorization rule (`oasis binauth`)."""
    return Graph(binauth_nodes(d, enforce=enforce), _keys(infrastructure_nodes(d)))


def everything(d: Deployment, config_dir: Path) -> Graph:
    """`oasis up --all`: infrastructure, images and the Ray layer as one graph."""
    return Graph([*infrastructure_nodes(d), *image_nodes(d, config_dir), *kube_nodes(d, None)])


def teardown(d: Deployment, ledger: Ledger) -> Graph:
    """The infrastructure, named as the ledger recorded it, plus every live entry the
    ledger knows that the config no longer names (rebuilt from the ledger alone). A
    recorded dependency on a key nothing provides any more is met: what it named is
    gone."""
    nodes = {node.key: node for node in infrastructure_nodes(d)}
    for key, entry in ledger.entries.items():
        known = nodes.get(key)
        if known is not None:
            nodes[key] = replace(known, name=entry.name, location=entry.location)
        elif entry.state != "deleted":
            known_keys = nodes.keys() | ledger.entries.keys()
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
