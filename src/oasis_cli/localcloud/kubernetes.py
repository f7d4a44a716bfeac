"""The Kubernetes API of each simulated GKE cluster: discovery, CRUD, server-side
apply, and the controllers oasis waits on.

A cluster's API lives at `/k8s/{project}/{location}/{cluster}` on the local cloud's
TLS port (its GKE `endpoint`). Kinds are the built-ins oasis uses plus the custom
resources the cluster's features bring: RayCluster with the Ray Operator add-on;
ComputeClass, GKENetworkParamSet and Network with multi-networking. Anything else is
404, as an API server without that CRD answers.

Rules kept: a bearer token is required (401); create answers 201, AlreadyExists 409;
apply is `PATCH` with `application/apply-patch+yaml` and needs `?fieldManager=`
(422), creating with 201 when absent; the body's apiVersion, kind, name and
namespace must match the URL; names are DNS-1123; the namespace must exist;
built-in kinds are validated against Kubernetes' OpenAPI schemas (when
`kubernetes-validate` is installed) and RayClusters against KubeRay's CRD schema
(when `OASIS_KUBERAY_CRD` names the CRD file). Errors are `Status` objects.

Controllers (run before each request, by time): a DaemonSet rolls out (no GPU node
exists until a worker is scheduled, so it wants 0 pods); a RayCluster gets a head
pod that becomes Running and Ready, and the cluster's state becomes `ready`; when
Ray is installed the head pod is backed by a real local Ray head (`rayhead`).
"""

from __future__ import annotations

import copy
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oasis_cli.localcloud import rayhead
from oasis_cli.localcloud.rest import timestamp
from oasis_cli.localcloud.server import Latency


@dataclass(frozen=True)
class Env:
    """What the controllers need besides the world: time and a place for logs."""

    latency: Latency
    directory: Path


DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
VERSION = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.5-gke.1080000",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.24.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
HEAD_READY_S, DAEMONSET_S, INGRESS_S = 60.0, 10.0, 120.0


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    feature: str = ""  # the cluster feature that installs it ("" = always there)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def discovery(self) -> dict[str, Any]:
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        return {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": verbs,
        }


KINDS = (
    Kind("", "v1", "namespaces", "Namespace", False),
    Kind("", "v1", "serviceaccounts", "ServiceAccount", True),
    Kind("", "v1", "services", "Service", True),
    Kind("", "v1", "pods", "Pod", True),
    Kind("", "v1", "configmaps", "ConfigMap", True),
    Kind("apps", "v1", "daemonsets", "DaemonSet", True),
    Kind("networking.k8s.io", "v1", "ingresses", "Ingress", True),
    Kind("ray.io", "v1", "rayclusters", "RayCluster", True, "ray"),
    Kind("ray.io", "v1", "rayjobs", "RayJob", True, "ray"),
    Kind("cloud.google.com", "v1", "computeclasses", "ComputeClass", False, "multinet"),
    Kind("networking.gke.io", "v1", "gkenetworkparamsets", "GKENetworkParamSet", False, "multinet"),
    Kind("networking.gke.io", "v1", "networks", "Network", False, "multinet"),
)
BUILTIN_GROUPS = ("", "apps", "networking.k8s.io")
BY_KIND = {kind.kind: kind for kind in KINDS}
NAMESPACE, POD, RAYCLUSTER = BY_KIND["Namespace"], BY_KIND["Pod"], BY_KIND["RayCluster"]


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

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


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


def discovery(cluster: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The answer to a discovery path, or None if `path` is not one."""
    kinds = served(cluster)
    if path == "/version":
        return VERSION
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        groups: dict[str, list[str]] = {}
        for kind in kinds:
            if kind.group:
                groups.setdefault(kind.group, [])
                if kind.version not in groups[kind.group]:
                    groups[kind.group].append(kind.version)
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": group,
                    "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                    "preferredVersion": {
                        "groupVersion": f"{group}/{versions[0]}",
                        "version": versions[0],
                    },
                }
                for group, versions in groups.items()
            ],
        }
    match = re.fullmatch(r"/api/v1|/apis/([^/]+)/([^/]+)", path)
    if match is None:
        return None
    group, version = (match.group(1) or "", match.group(2) or "v1")
    resources = [k.discovery() for k in kinds if (k.group, k.version) == (group, version)]
    if not resources:
        raise KubeError(404, "the server could not find the requested resource")
    if (group, version) == ("", "v1"):
        resources.append(
            {
                "name": "pods/portforward",
                "namespaced": True,
                "kind": "PodPortForwardOptions",
                "verbs": ["create", "get"],
            }
        )
    resources += [
        {
            "name": f"{k.plural}/status",
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": ["get", "patch", "update"],
        }
        for k in kinds
        if (k.group, k.version) == (group, version) and k.kind in ("RayCluster", "DaemonSet")
    ]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def parse(
    cluster: dict[str, Any],
    method: str,
    path: str,
    query: dict[str, str],
    body: Any,
    content_type: str,
) -> Call:
    """The call a resource URL names; 404 for kinds this cluster does not serve."""
    match = re.fullmatch(
        r"/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
        r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)"
        r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?",
        path,
    )
    if match is None:
        raise KubeError(404, "the server could not find the requested resource")
    group = match.group("group") or ""
    version = match.group("core") or match.group("version")
    plural = match.group("plural")
    namespace = match.group("namespace") or ""
    name = match.group("name") or ""
    kind = next(
        (k for k in served(cluster) if (k.group, k.version, k.plural) == (group, version, plural)),
        None,
    )
    if kind is None:
        raise KubeError(404, "the server could not find the requested resource")
    if kind.namespaced != bool(namespace) and name:
        raise KubeError(404, "the server could not find the requested resource")
    return Call(method, kind, namespace, name, match.group("sub") or "", query, body, content_type)


class KubeWorld:
    """The objects of one cluster, inside the local cloud's persisted world."""

    def __init__(self, world: dict[str, Any], key: str) -> None:
        clusters = world.setdefault("kubernetes", {})
        if key not in clusters:
            clusters[key] = {"resourceVersion": 1, "objects": {}}
            for namespace in ("default", "kube-system", "kube-public"):
                self_obj = {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": namespace},
                    "status": {"phase": "Active"},
                }
                clusters[key]["objects"][f"/namespaces//{namespace}"] = _stamp(self_obj, 1)
        self.state = clusters[key]

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
        obj = _stamp(obj, self.bump())
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


def _stamp(obj: dict[str, Any], revision: int) -> dict[str, Any]:
    metadata = obj.setdefault("metadata", {})
    metadata.setdefault("uid", str(uuid.uuid4()))
    metadata.setdefault("creationTimestamp", timestamp(time.time()))
    metadata["resourceVersion"] = str(revision)
    return obj


def validate(kind: Kind, obj: dict[str, Any]) -> None:
    """Schema checks: built-ins with kubernetes-validate, RayCluster with KubeRay's CRD."""
    if kind.group in BUILTIN_GROUPS and kind.kind != "Pod":
        try:
            import kubernetes_validate
        except ImportError:
            return
        try:
            kubernetes_validate.validate(obj, "1.32", strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise KubeError(
                422, f'{kind.kind} "{obj["metadata"]["name"]}" is invalid: {exc}'
            ) from None
    elif kind.kind == "RayCluster":
        schema = kuberay_schema()
        if schema is None:
            return
        import jsonschema

        try:
            jsonschema.validate(obj, schema)
        except jsonschema.ValidationError as exc:
            where = ".".join(str(p) for p in exc.absolute_path)
            raise KubeError(
                422,
                f'RayCluster.ray.io "{obj["metadata"]["name"]}" is invalid: {where}: {exc.message}',
            ) from None


_SCHEMA: dict[str, Any] = {}


def kuberay_schema() -> dict[str, Any] | None:
    """KubeRay's RayCluster v1 schema as JSON Schema, closed to unknown fields (strict
    field validation), from the CRD file `OASIS_KUBERAY_CRD` names; None without it."""
    path = os.environ.get("OASIS_KUBERAY_CRD", "")
    if not path or not Path(path).is_file():
        return None
    if path not in _SCHEMA:
        import yaml

        crd = yaml.safe_load(Path(path).read_text())
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        _SCHEMA[path] = crd_to_json_schema(version["schema"]["openAPIV3Schema"])
    return _SCHEMA[path]


def crd_to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [crd_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: crd_to_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _check_body(call: Call, kube: KubeWorld, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise KubeError(400, "the request body must be a Kubernetes object")
    kind = call.kind
    if obj.get("apiVersion") != kind.api_version or obj.get("kind") != kind.kind:
        raise KubeError(
            400,
            f"the API version in the data ({obj.get('apiVersion')}) and kind ({obj.get('kind')}) "
            f"do not match the expected {kind.api_version} {kind.kind}",
        )
    metadata = obj.setdefault("metadata", {})
    name = metadata.get("name", "")
    if not name:
        raise KubeError(422, f"{kind.kind} is invalid: metadata.name: Required value")
    if call.name and name != call.name:
        raise KubeError(
            400, f"the name of the object ({name}) does not match the URL ({call.name})"
        )
    if not DNS_SUBDOMAIN.match(name):
        raise KubeError(
            422, f'{kind.kind} "{name}" is invalid: metadata.name: a lowercase RFC 1123 subdomain'
        )
    if kind.namespaced:
        if metadata.get("namespace", call.namespace) != call.namespace:
            raise KubeError(400, "the namespace of the object does not match the URL")
        metadata["namespace"] = call.namespace
        if kube.get(NAMESPACE, "", call.namespace) is None:
            raise KubeError(404, f'namespaces "{call.namespace}" not found')
    for label, value in metadata.get("labels", {}).items():
        if not isinstance(value, str) or len(value) > 63:
            raise KubeError(
                422, f'{kind.kind} "{name}" is invalid: metadata.labels: {label}: Invalid value'
            )
    validate(kind, obj)
    return obj


def handle(cluster: dict[str, Any], kube: KubeWorld, call: Call, env: Env) -> tuple[int, Any]:
    """Serve one CRUD or apply call; returns (status code, body)."""
    kind = call.kind
    if call.subresource and call.subresource != "status":
        raise KubeError(404, "the server could not find the requested resource")
    if call.method == "GET" and not call.name:
        items = kube.list(kind, call.namespace, call.query.get("labelSelector", ""))
        return 200, {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": str(kube.state["resourceVersion"])},
            "items": [public(item) for item in items],
        }
    existing = kube.get(kind, call.namespace, call.name) if call.name else None
    if call.method == "GET":
        if existing is None:
            raise _not_found(kind, call.name)
        return 200, public(existing)
    if call.method == "POST":
        obj = _check_body(call, kube, copy.deepcopy(call.body))
        if kube.get(kind, call.namespace, obj["metadata"]["name"]) is not None:
            raise KubeError(
                409,
                f'{kind.plural}.{kind.group or "core"} "{obj["metadata"]["name"]}" already exists',
            )
        obj["metadata"]["generation"] = 1
        created = kube.put(kind, obj)
        react(kube, kind, created, env)
        return 201, public(created)
    if call.method == "PATCH":
        return _apply(kube, call, existing, env)
    if call.method == "DELETE":
        if existing is None:
            raise _not_found(kind, call.name)
        gone = kube.delete(kind, call.namespace, call.name)
        head = (gone or {}).get("_private", {}).get("ray")
        if head:
            rayhead.stop(head)
        return 200, {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": call.name, "kind": kind.plural},
        }
    raise KubeError(405, f"method {call.method} is not allowed")


def _not_found(kind: Kind, name: str) -> KubeError:
    group = f".{kind.group}" if kind.group else ""
    return KubeError(404, f'{kind.plural}{group} "{name}" not found')


def _apply(
    kube: KubeWorld, call: Call, existing: dict[str, Any] | None, env: Env
) -> tuple[int, Any]:
    if not call.content_type.startswith("application/apply-patch"):
        raise KubeError(
            415,
            f"the content type {call.content_type!r} is not simulated; use "
            "server-side apply (application/apply-patch+yaml)",
        )
    manager = call.query.get("fieldManager", "")
    if not manager:
        raise KubeError(
            422,
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
            "for apply patch",
        )
    obj = _check_body(call, kube, copy.deepcopy(call.body))
    now = timestamp(time.time())
    managed = [
        {
            "manager": manager,
            "operation": "Apply",
            "apiVersion": call.kind.api_version,
            "time": now,
            "fieldsType": "FieldsV1",
        }
    ]
    if existing is None:
        obj["metadata"]["generation"] = 1
        obj["metadata"]["managedFields"] = managed
        created = kube.put(call.kind, obj)
        react(kube, call.kind, created, env)
        return 201, public(created)
    merged = copy.deepcopy(obj)
    system = {k: existing["metadata"][k] for k in ("uid", "creationTimestamp", "generation")}
    merged["metadata"].update(system)
    merged["metadata"]["managedFields"] = managed
    if "status" in existing:
        merged["status"] = existing["status"]
    for key in ("clusterIP", "clusterIPs"):  # assigned by the server
        if key in existing.get("spec", {}):
            merged.setdefault("spec", {}).setdefault(key, existing["spec"][key])
    for key in ("_applied", "_private"):
        if key in existing:
            merged[key] = existing[key]
    unchanged = (
        {k: v for k, v in merged.items() if k != "metadata"}
        == {k: v for k, v in existing.items() if k != "metadata"}
        and merged["metadata"].get("labels") == existing["metadata"].get("labels")
        and merged["metadata"].get("annotations") == existing["metadata"].get("annotations")
    )
    if unchanged:
        return 200, public(existing)
    if merged.get("spec") != existing.get("spec"):
        merged["metadata"]["generation"] = existing["metadata"]["generation"] + 1
    updated = kube.put(call.kind, merged)
    react(kube, call.kind, updated, env)
    return 200, public(updated)


def public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


# --- controllers ---------------------------------------------------------------------


def react(kube: KubeWorld, kind: Kind, obj: dict[str, Any], env: Env) -> None:
    """What the cluster's controllers start when an object is created or changed."""
    now, latency = time.time(), env.latency
    if kind.kind == "Service":
        spec = obj.setdefault("spec", {})
        if "clusterIP" not in spec:
            address = f"10.96.{len(kube.objects) % 250}.{(now * 1000) % 250:.0f}"
            spec["clusterIP"], spec["clusterIPs"] = address, [address]
        obj["status"] = {"loadBalancer": {}}
    elif kind.kind == "DaemonSet":
        obj["_private"] = {"ready_at": now + latency(DAEMONSET_S)}
        obj["status"] = {
            "observedGeneration": obj["metadata"]["generation"] - 1,
            "desiredNumberScheduled": 0,
            "currentNumberScheduled": 0,
            "numberReady": 0,
            "numberMisscheduled": 0,
        }
    elif kind.kind == "Ingress":
        obj["_private"] = {"ready_at": now + latency(INGRESS_S)}
        obj["status"] = {"loadBalancer": {}}
    elif kind.kind == "RayCluster":
        private = obj.setdefault("_private", {})
        if "ready_at" not in private:  # a changed RayCluster keeps its head
            private["ready_at"] = now + latency(HEAD_READY_S)
            if rayhead.available():
                private["ray"] = rayhead.start(env.directory, obj["metadata"]["name"])
        obj.setdefault("status", {"state": "", "desiredWorkerReplicas": 0})
        _head_pod(kube, obj)


def _head_pod(kube: KubeWorld, cluster: dict[str, Any]) -> None:
    name = cluster["metadata"]["name"]
    namespace = cluster["metadata"]["namespace"]
    pods = kube.list(POD, namespace, f"ray.io/cluster={name},ray.io/node-type=head")
    if pods:
        return
    template = copy.deepcopy(cluster["spec"]["headGroupSpec"]["template"])
    metadata = template.setdefault("metadata", {})
    suffix = uuid.uuid4().hex[:5]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **metadata,
            "name": f"{name}-head-{suffix}",
            "namespace": namespace,
            "labels": {
                **metadata.get("labels", {}),
                "ray.io/cluster": name,
                "ray.io/node-type": "head",
                "ray.io/group": "headgroup",
            },
            "ownerReferences": [
                {
                    "apiVersion": "ray.io/v1",
                    "kind": "RayCluster",
                    "name": name,
                    "uid": cluster["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": template.get("spec", {}),
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]},
    }
    kube.put(POD, pod)


def advance(kube: KubeWorld) -> None:
    """Move every object whose time has come to its next state."""
    now = time.time()
    for key, obj in list(kube.objects.items()):
        ready_at = obj.get("_private", {}).get("ready_at")
        if ready_at is None or ready_at > now or obj.get("_private", {}).get("done"):
            continue
        kind = obj["kind"]
        if kind == "DaemonSet":
            obj["status"]["observedGeneration"] = obj["metadata"]["generation"]
            obj["status"]["updatedNumberScheduled"] = 0
            obj["status"]["numberAvailable"] = 0
        elif kind == "Ingress":
            obj["status"] = {"loadBalancer": {"ingress": [{"ip": "10.99.0.200"}]}}
        elif kind == "RayCluster":
            head = obj["_private"].get("ray")
            if head and not rayhead.serving(head):
                continue  # the real head is still starting
            _ray_ready(kube, obj)
        obj["_private"]["done"] = True
        kube.objects[key] = _stamp(obj, kube.bump())


def _ray_ready(kube: KubeWorld, cluster: dict[str, Any]) -> None:
    name, namespace = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
    address = "10.52.0.10"
    for pod in kube.list(POD, namespace, f"ray.io/cluster={name},ray.io/node-type=head"):
        pod["status"] = {
            "phase": "Running",
            "podIP": address,
            "conditions": [
                {"type": t, "status": "True"}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
            "containerStatuses": [
                {"name": c["name"], "ready": True, "restartCount": 0, "state": {"running": {}}}
                for c in pod["spec"].get("containers", [])
            ],
        }
        _stamp(pod, kube.bump())
    cluster["status"] = {
        "state": "ready",
        "desiredWorkerReplicas": 0,
        "availableWorkerReplicas": 0,
        "head": {"podIP": address, "serviceIP": address},
        "endpoints": {"client": "10001", "dashboard": "8265", "gcs-server": "6379"},
        "observedGeneration": cluster["metadata"]["generation"],
    }


def heads(kube: KubeWorld) -> list[dict[str, Any]]:
    """The real Ray heads behind this cluster's RayClusters."""
    return [
        obj["_private"]["ray"]
        for obj in kube.objects.values()
        if obj.get("kind") == "RayCluster" and obj.get("_private", {}).get("ray")
    ]


def head_of_pod(kube: KubeWorld, namespace: str, pod: str) -> dict[str, Any] | None:
    """The real Ray head a head pod stands for (None for other pods, or without Ray)."""
    found = kube.get(POD, namespace, pod)
    if found is None:
        raise KubeError(404, f'pods "{pod}" not found')
    for ref in found["metadata"].get("ownerReferences", []):
        owner = kube.get(RAYCLUSTER, namespace, ref["name"])
        if owner is not None:
            head: dict[str, Any] | None = owner.get("_private", {}).get("ray")
            return head
    return None


def advance_all(world: dict[str, Any]) -> None:
    """Run every cluster's controllers; a deleted GKE cluster takes its objects, and
    the Ray heads behind them, along."""
    clusters = world.get("container", {}).get("clusters", {})
    for key in list(world.get("kubernetes", {})):
        kube = KubeWorld(world, key)
        if key in clusters:
            advance(kube)
            continue
        for head in heads(kube):
            rayhead.stop(head)
        world["kubernetes"].pop(key)


def stop_all(world: dict[str, Any]) -> None:
    """Stop every real Ray head the local cloud started (`local-cloud reset`)."""
    for key in list(world.get("kubernetes", {})):
        for head in heads(KubeWorld(world, key)):
            rayhead.stop(head)
