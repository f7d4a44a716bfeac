"""The objects of each simulated cluster's Kubernetes API, inside the local
cloud's persisted world, and the kinds a cluster serves.

Kinds are the built-ins oasis uses plus the custom resources the cluster's features
bring: RayCluster with the Ray Operator add-on; ComputeClass, GKENetworkParamSet and
Network with multi-networking.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import Latency
from oasis_cli.localcloud.infra.rest import timestamp


@dataclass(frozen=True)
class Env:
    """What the controllers need besides the world: time and a place for logs."""

    latency: Latency
    directory: Path


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    feature: str = ""  # the cluster feature that installs it ("" = always there)
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def discovery(self) -> dict[str, Any]:
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        found: dict[str, object] = {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": verbs,
        }
        if self.short_names:
            found["shortNames"] = list(self.short_names)
        if self.categories:
            found["categories"] = list(self.categories)
        return found


# Short names and categories as `kubectl api-resources` lists them for Kubernetes'
# built-ins, and as KubeRay's CRD declares them (RayCluster: categories [all])
ALL = ("all",)
KINDS = (
    Kind("", "v1", "namespaces", "Namespace", False, short_names=("ns",)),
    Kind("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=("sa",)),
    Kind("", "v1", "services", "Service", True, short_names=("svc",), categories=ALL),
    Kind("", "v1", "pods", "Pod", True, short_names=("po",), categories=ALL),
    Kind("", "v1", "nodes", "Node", False, short_names=("no",)),
    Kind("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    Kind("", "v1", "events", "Event", True, short_names=("ev",)),
    Kind("apps", "v1", "daemonsets", "DaemonSet", True, short_names=("ds",), categories=ALL),
    Kind("networking.k8s.io", "v1", "ingresses", "Ingress", True, short_names=("ing",)),
    Kind("ray.io", "v1", "rayclusters", "RayCluster", True, "ray", categories=ALL),
    Kind("ray.io", "v1", "rayjobs", "RayJob", True, "ray"),
    Kind("cloud.google.com", "v1", "computeclasses", "ComputeClass", False, "multinet"),
    Kind("networking.gke.io", "v1", "gkenetworkparamsets", "GKENetworkParamSet", False, "multinet"),
    Kind("networking.gke.io", "v1", "networks", "Network", False, "multinet"),
)
BUILTIN_GROUPS = ("", "apps", "networking.k8s.io")
BY_KIND = {kind.kind: kind for kind in KINDS}
NAMESPACE, POD, RAYCLUSTER = BY_KIND["Namespace"], BY_KIND["Pod"], BY_KIND["RayCluster"]


@dataclass
class Call:
    """One request to a cluster's API, parsed from its URL."""

    method: str
    kind: Kind
    namespace: str
    name: str
    subresource: str
    query: dict[str, str]
    body: Any
    content_type: str
    accept: str = ""
    user_agent: str = ""
    warnings: list[str] = field(default_factory=list)  # each a `Warning:` header


class KubeError(Exception):
    """An error answered as a Kubernetes `Status`."""

    REASONS = {
        400: "BadRequest",
        401: "Unauthorized",
        404: "NotFound",
        405: "MethodNotAllowed",
        409: "AlreadyExists",
        415: "UnsupportedMediaType",
        422: "Invalid",
        503: "ServiceUnavailable",
    }

    def __init__(self, code: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or self.REASONS.get(code, "Unknown")
        self.causes: list[dict[str, str]] = []

    def status(self) -> dict[str, Any]:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.causes:
            status["details"] = {"causes": self.causes}
        return status


def not_found(kind: Kind, name: str) -> KubeError:
    group = f".{kind.group}" if kind.group else ""
    return KubeError(404, f'{kind.plural}{group} "{name}" not found')


def features(cluster: dict[str, Any]) -> set[str]:
    found = set()
    if cluster.get("addonsConfig", {}).get("rayOperatorConfig", {}).get("enabled"):
        found.add("ray")
    if cluster.get("networkConfig", {}).get("enableMultiNetworking"):
        found.add("multinet")
    return found


def served(cluster: dict[str, Any]) -> list[Kind]:
    have = features(cluster)
    return [kind for kind in KINDS if not kind.feature or kind.feature in have]


class KubeWorld:
    """The objects of one cluster, inside the local cloud's persisted world."""

    def __init__(self, world: dict[str, Any], key: str) -> None:
        clusters = world_tables.KUBERNETES.rows(world)
        if key not in clusters:
            clusters[key] = {"resourceVersion": 1, "objects": {}}
            for namespace in ("default", "kube-system", "kube-public"):
                self_obj = {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": namespace},
                    "status": {"phase": "Active"},
                }
                clusters[key]["objects"][f"/namespaces//{namespace}"] = stamp(self_obj, 1)
        self.state = clusters[key]
        self.world, self.cluster = world, key

    @property
    def objects(self) -> dict[str, dict[str, Any]]:
        objects: dict[str, dict[str, Any]] = self.state["objects"]
        return objects

    def bump(self) -> int:
        self.state["resourceVersion"] += 1
        return int(self.state["resourceVersion"])

    @staticmethod
    def key(kind: Kind, namespace: str, name: str) -> str:
        return f"{kind.group}/{kind.plural}/{namespace}/{name}"

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(self.key(kind, namespace, name))

    def put(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        metadata = obj["metadata"]
        obj = stamp(obj, self.bump())
        self.objects[self.key(kind, metadata.get("namespace", ""), metadata["name"])] = obj
        return obj

    def delete(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.pop(self.key(kind, namespace, name), None)
        if found is not None:
            self.bump()
            for owned in [
                key
                for key, other in self.objects.items()
                if any(
                    ref.get("uid") == found["metadata"]["uid"]
                    for ref in other["metadata"].get("ownerReferences", [])
                )
            ]:
                self.objects.pop(owned)  # garbage collection of dependents
        return found

    def list(self, kind: Kind, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        prefix = (
            f"{kind.group}/{kind.plural}/{namespace}/"
            if namespace
            else (f"{kind.group}/{kind.plural}/")
        )
        wanted = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
        return [
            obj
            for key, obj in sorted(self.objects.items())
            if key.startswith(prefix)
            and all(obj["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]


def stamp(obj: dict[str, Any], revision: int) -> dict[str, Any]:
    metadata = obj.setdefault("metadata", {})
    metadata.setdefault("uid", str(uuid.uuid4()))
    metadata.setdefault("creationTimestamp", timestamp(time.time()))
    metadata["resourceVersion"] = str(revision)
    return obj


def public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}
