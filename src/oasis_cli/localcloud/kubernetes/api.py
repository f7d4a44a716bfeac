"""The Kubernetes API of each simulated GKE cluster: discovery, reads, create,
delete; patches and apply are `writes`.

A cluster's API lives at the root of its own TLS port (its GKE `endpoint`); a kind
the cluster does not serve is 404, as an API server without that CRD answers.

Rules kept: a bearer token is required (401); create answers 201, AlreadyExists 409;
written bodies pass `writes.check_body`. Errors are `Status` objects.
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Any

from oasis_cli.localcloud.infra.rest import timestamp
from oasis_cli.localcloud.kubernetes import controllers, rayhead, tables, writes
from oasis_cli.localcloud.kubernetes.objects import (
    Call,
    Env,
    KubeError,
    KubeWorld,
    not_found,
    public,
    served,
)

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


# Kinds whose DELETE answers the deleted object, not a Status, as Kubernetes' OpenAPI
# spec declares them (deleteCoreV1NamespacedPod -> v1.Pod, ...Service -> v1.Service,
# ...ServiceAccount -> v1.ServiceAccount; the generated clients parse it so)
ANSWERS_DELETED = frozenset({"Pod", "Service", "ServiceAccount"})


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
        resources.append({"name": "pods/log", "namespaced": True, "kind": "Pod", "verbs": ["get"]})
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


def handle(cluster: dict[str, Any], kube: KubeWorld, call: Call, env: Env) -> tuple[int, Any]:
    """Serve one CRUD or apply call; returns (status code, body)."""
    kind = call.kind
    if call.subresource not in ("", "status") and (call.subresource, kind.kind) != ("log", "Pod"):
        raise KubeError(404, "the server could not find the requested resource")
    if call.method == "GET" and call.subresource == "log":
        return 200, _log(kube, call, env)
    if call.method == "GET" and tables.wanted(call.accept):
        if call.name:
            one = kube.get(kind, call.namespace, call.name)
            if one is None:
                raise not_found(kind, call.name)
            found = [one]
        else:
            found = kube.list(kind, call.namespace, call.query.get("labelSelector", ""))
        revision = str(kube.state["resourceVersion"])
        include = call.query.get("includeObject", "Metadata")
        return 200, tables.render(kind.kind, [public(o) for o in found], include, revision)
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
            raise not_found(kind, call.name)
        return 200, public(existing)
    if call.method == "POST":
        return writes.create(kube, call, env)
    if call.method == "PATCH" and call.content_type.startswith("application/apply-patch"):
        return writes.apply(kube, call, existing, env)
    if call.method == "PATCH":
        return writes.patch(kube, call, existing, env)
    if call.method == "DELETE":
        if existing is None:
            raise not_found(kind, call.name)
        gone = kube.delete(kind, call.namespace, call.name)
        head = (gone or {}).get("_private", {}).get("ray")
        if head:
            rayhead.stop(head)
        if gone is not None and kind.kind in ANSWERS_DELETED:
            gone["metadata"]["deletionTimestamp"] = timestamp(time.time())
            return 200, public(gone)
        return 200, {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": call.name, "kind": kind.plural},
        }
    raise KubeError(405, f"method {call.method} is not allowed")


def _log(kube: KubeWorld, call: Call, env: Env) -> str:
    """A pod's log (`GET .../pods/{name}/log`, text): the real Ray head's own log for
    a head pod backed by one, nothing for a pod whose containers print nothing (the
    simulation runs no other container). `tailLines` keeps the last lines."""
    pod = kube.get(call.kind, call.namespace, call.name)
    if pod is None:
        raise not_found(call.kind, call.name)
    containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    wanted = call.query.get("container")
    if wanted and wanted not in containers:
        raise KubeError(400, f"container {wanted} is not valid for pod {call.name}", "BadRequest")
    if not wanted and len(containers) > 1:
        raise KubeError(
            400,
            f"a container name must be specified for pod {call.name}, choose one of: "
            f"[{' '.join(containers)}]",
            "BadRequest",
        )
    head = controllers.head_of_pod(kube, call.namespace, call.name)
    text = ""
    if head and head.get("log"):
        with contextlib.suppress(OSError):
            text = Path(head["log"]).read_text(errors="replace")
    tail = call.query.get("tailLines")
    if tail is not None and tail.isdigit():
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-int(tail) :]) if int(tail) else ""
    return text
