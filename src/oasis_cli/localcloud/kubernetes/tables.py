"""Server-side tables: what `kubectl get` prints, as the API server renders it when
asked for `application/json;as=Table;v=v1;g=meta.k8s.io`.

Columns are those of kubernetes/kubernetes pkg/printers/internalversion/printers.go
(`AddHandlers`; priority 1 columns show with `-o wide`), cells as its print
functions fill them (`<none>` for an empty value), ages as apimachinery's
`duration.HumanDuration` writes them. Custom resources print their CRD's
`additionalPrinterColumns`: RayCluster's are KubeRay v1.7.0's
(config/crd/bases/ray.io_rayclusters.yaml); a CRD without printer columns gets Name
and Age, as the apiserver's default table convertor gives it. Each row carries the
object's metadata (`includeObject=Metadata`, the default) or the whole object
(`Object`), so kubectl can name it.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from typing import Any

NONE = "<none>"
Column = tuple[str, str, int]  # name, type, priority
Cells = Callable[[dict[str, Any]], list[Any]]


def wanted(accept: str) -> bool:
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def age(stamp: str | None) -> str:
    """apimachinery duration.HumanDuration of the time since `stamp`."""
    if not stamp:
        return "<unknown>"
    then = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    seconds = int(time.time() - then)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"


def _created(obj: dict[str, Any]) -> str:
    return age(obj["metadata"].get("creationTimestamp"))


def _pairs(mapping: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((mapping or {}).items())) or NONE


def _pod(obj: dict[str, Any]) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = spec.get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    phase = status.get("reason") or status.get("phase") or "Pending"
    if obj["metadata"].get("deletionTimestamp"):
        phase = "Terminating"
    return [
        obj["metadata"]["name"],
        f"{ready}/{len(containers)}",
        phase,
        str(restarts),
        _created(obj),
        status.get("podIP") or NONE,
        spec.get("nodeName") or NONE,
        status.get("nominatedNodeName") or NONE,
        NONE,
    ]


def _node(obj: dict[str, Any]) -> list[Any]:
    status = obj.get("status") or {}
    ready: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    state = "Ready" if ready.get("status") == "True" else "NotReady"
    if (obj.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = obj["metadata"].get("labels") or {}
    roles = sorted(
        k.removeprefix("node-role.kubernetes.io/")
        for k in labels
        if k.startswith("node-role.kubernetes.io/")
    )
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        obj["metadata"]["name"],
        state,
        ",".join(roles) or NONE,
        _created(obj),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP") or NONE,
        addresses.get("ExternalIP") or NONE,
        info.get("osImage", ""),
        info.get("kernelVersion", ""),
        info.get("containerRuntimeVersion", ""),
    ]


def _service(obj: dict[str, Any]) -> list[Any]:
    spec = obj.get("spec") or {}
    ports = ",".join(f"{p['port']}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    external = ",".join(spec.get("externalIPs") or []) or NONE
    return [
        obj["metadata"]["name"],
        spec.get("type") or "ClusterIP",
        spec.get("clusterIP") or NONE,
        external,
        ports or NONE,
        _created(obj),
        _pairs(spec.get("selector")),
    ]


def _template(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return spec


def _daemonset(obj: dict[str, Any]) -> list[Any]:
    status, pod = obj.get("status") or {}, _template(obj)
    containers = pod.get("containers") or []
    return [
        obj["metadata"]["name"],
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        _pairs(pod.get("nodeSelector")),
        _created(obj),
        ",".join(c["name"] for c in containers),
        ",".join(c.get("image", "") for c in containers),
        _pairs(((obj.get("spec") or {}).get("selector") or {}).get("matchLabels")),
    ]


def _ingress(obj: dict[str, Any]) -> list[Any]:
    spec = obj.get("spec") or {}
    hosts = ",".join(r["host"] for r in spec.get("rules") or [] if r.get("host")) or "*"
    balancer = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    address = ",".join(a.get("ip") or a.get("hostname", "") for a in balancer)
    return [
        obj["metadata"]["name"],
        spec.get("ingressClassName") or NONE,
        hosts,
        address,
        "80, 443" if spec.get("tls") else "80",
        _created(obj),
    ]


def _event(obj: dict[str, Any]) -> list[Any]:
    involved = obj.get("involvedObject") or {}
    source = obj.get("source") or {}
    return [
        age(obj.get("lastTimestamp") or obj["metadata"].get("creationTimestamp")),
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        ", ".join(v for v in (source.get("component"), source.get("host")) if v),
        obj.get("message", ""),
        age(obj.get("firstTimestamp")),
        str(obj.get("count", 1)),
        obj["metadata"]["name"],
    ]


NAME, AGE = ("Name", "string", 0), ("Age", "string", 0)
BUILTIN: dict[str, tuple[list[Column], Cells]] = {
    "Pod": (
        [
            NAME,
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        _pod,
    ),
    "Node": (
        [
            NAME,
            ("Status", "string", 0),
            ("Roles", "string", 0),
            AGE,
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        _node,
    ),
    "Service": (
        [
            NAME,
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            AGE,
            ("Selector", "string", 1),
        ],
        _service,
    ),
    "DaemonSet": (
        [
            NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Node Selector", "string", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        _daemonset,
    ),
    "Ingress": (
        [
            NAME,
            ("Class", "string", 0),
            ("Hosts", "string", 0),
            ("Address", "string", 0),
            ("Ports", "string", 0),
            AGE,
        ],
        _ingress,
    ),
    "Namespace": (
        [NAME, ("Status", "string", 0), AGE],
        lambda o: [o["metadata"]["name"], (o.get("status") or {}).get("phase", ""), _created(o)],
    ),
    "ServiceAccount": (
        [NAME, ("Secrets", "string", 0), AGE],
        lambda o: [o["metadata"]["name"], str(len(o.get("secrets") or [])), _created(o)],
    ),
    "ConfigMap": (
        [NAME, ("Data", "string", 0), AGE],
        lambda o: [
            o["metadata"]["name"],
            str(len(o.get("data") or {}) + len(o.get("binaryData") or {})),
            _created(o),
        ],
    ),
    "Event": (
        [
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ],
        _event,
    ),
}

# (column, type, priority, JSON path) of the CRDs' additionalPrinterColumns
PRINTER_COLUMNS: dict[str, list[tuple[str, str, int, str]]] = {
    "RayCluster": [
        ("desired workers", "integer", 0, "status.desiredWorkerReplicas"),
        ("available workers", "integer", 0, "status.availableWorkerReplicas"),
        ("cpus", "string", 0, "status.desiredCPU"),
        ("memory", "string", 0, "status.desiredMemory"),
        ("gpus", "string", 0, "status.desiredGPU"),
        ("tpus", "string", 1, "status.desiredTPU"),
        ("status", "string", 0, "status.state"),
        ("age", "date", 0, "metadata.creationTimestamp"),
        ("head pod IP", "string", 1, "status.head.podIP"),
        ("head service IP", "string", 1, "status.head.serviceIP"),
    ],
}


def _at(obj: dict[str, Any], path: str) -> Any:
    found: Any = obj
    for part in path.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    return found


def _custom(kind: str) -> tuple[list[Column], Cells]:
    columns = PRINTER_COLUMNS.get(kind)
    if columns is None:
        return [NAME, AGE], lambda o: [o["metadata"]["name"], _created(o)]

    def cells(obj: dict[str, Any]) -> list[Any]:
        row: list[Any] = [obj["metadata"]["name"]]
        for _, kind_, _, path in columns:
            value = _at(obj, path)
            row.append(age(value) if kind_ == "date" else value)
        return row

    return [NAME, *((n, "date" if t == "date" else t, p) for n, t, p, _ in columns)], cells


def render(kind: str, items: list[dict[str, Any]], include: str, revision: str) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of `items` (objects as the API returns them)."""
    columns, cells = BUILTIN.get(kind) or _custom(kind)
    rows = []
    for obj in items:
        row: dict[str, Any] = {"cells": cells(obj)}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": revision},
        "columnDefinitions": [
            {
                "name": name,
                "type": type_,
                "format": "name" if name.lower() == "name" else "",
                "description": "",
                "priority": priority,
            }
            for name, type_, priority in columns
        ],
        "rows": rows,
    }
