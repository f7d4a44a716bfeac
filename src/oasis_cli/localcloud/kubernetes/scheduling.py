"""Where a simulated cluster's pods run: the scheduler's fit test and binding, pods
starting on their node, pods of vanished nodes collected, and the DaemonSet
controller's one pod per matching node.

Rules as Kubernetes keeps them:
- a pod fits a node when the node is Ready, the pod's `nodeSelector` is a subset of
  the node's labels, its required node affinity (`In`, `NotIn`, `Exists`,
  `DoesNotExist`) matches, it tolerates every NoSchedule / NoExecute taint (an
  `Exists` toleration without a key tolerates all; an empty effect matches every
  effect), and the node's allocatable `nvidia.com/gpu` less what its pods hold
  covers the pod's request (Kubernetes docs: "Taints and Tolerations", "Assigning
  Pods to Nodes", "Schedule GPUs": GPUs are requested in `limits`, which imply the
  request);
- a pod bound to a node that no longer exists is deleted (kube-controller-manager's
  pod garbage collector, orphaned pods);
- a DaemonSet runs one pod on each node its template fits, and its status counts them
  (`desiredNumberScheduled`, `currentNumberScheduled`, `numberReady`,
  `updatedNumberScheduled`, `numberAvailable`), as the apps/v1 DaemonSetStatus has it.
"""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

from oasis_cli.localcloud.infra.http import Latency
from oasis_cli.localcloud.infra.rest import timestamp
from oasis_cli.localcloud.kubernetes.nodes import GPU
from oasis_cli.localcloud.kubernetes.objects import BY_KIND, POD, KubeWorld, stamp

# stand-ins of ours, scaled by the latency: no source gives these durations
POD_START_S = 5.0  # a bound pod's containers start (image already on the node)
INSTALLER_START_S = 20.0  # the gIB installer's init container copies the plugin, then pause
NODE = BY_KIND["Node"]


def gpus(pod: dict[str, Any]) -> int:
    """The GPUs a pod asks for (limits imply the request for extended resources)."""
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        wanted = (resources.get("limits") or {}).get(GPU) or (resources.get("requests") or {}).get(
            GPU
        )
        total += int(wanted or 0)
    return total


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if t.get("operator") == "Exists":
            if not t.get("key") or t["key"] == taint["key"]:
                return True
        elif t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _affinity(spec: dict[str, Any], labels: dict[str, str]) -> bool:
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True

    def matches(expression: dict[str, Any]) -> bool:
        key, op, values = expression["key"], expression["operator"], expression.get("values", [])
        if op == "In":
            return labels.get(key) in values
        if op == "NotIn":
            return labels.get(key) not in values
        if op == "Exists":
            return key in labels
        if op == "DoesNotExist":
            return key not in labels
        return False

    return any(all(matches(e) for e in t.get("matchExpressions") or []) for t in terms)


def fits_shape(pod: dict[str, Any], node: dict[str, Any]) -> bool:
    """Whether the pod could run on an empty node like this one."""
    spec = pod.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    if not _affinity(spec, labels):
        return False
    taints = [
        t
        for t in (node.get("spec") or {}).get("taints") or []
        if t["effect"] in ("NoSchedule", "NoExecute")
    ]
    if not all(_tolerates(spec.get("tolerations") or [], t) for t in taints):
        return False
    return gpus(pod) <= int((node["status"].get("allocatable") or {}).get(GPU) or 0)


def _condition_true(obj: dict[str, Any], kind: str) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def ready(node: dict[str, Any]) -> bool:
    return _condition_true(node, "Ready")


def _owned_by(pod: dict[str, Any], owner: dict[str, Any]) -> bool:
    uid = owner["metadata"]["uid"]
    return any(r.get("uid") == uid for r in pod["metadata"].get("ownerReferences", []))


def fits(kube: KubeWorld, pod: dict[str, Any], node: dict[str, Any]) -> bool:
    """Whether the pod fits the node now, beside the pods it already runs."""
    if not ready(node) or not fits_shape(pod, node):
        return False
    held = sum(gpus(p) for p in on_node(kube, node["metadata"]["name"]))
    return gpus(pod) + held <= int((node["status"].get("allocatable") or {}).get(GPU) or 0)


def on_node(kube: KubeWorld, node: str) -> list[dict[str, Any]]:
    return [p for p in kube.list(POD, "") if (p.get("spec") or {}).get("nodeName") == node]


def bind(kube: KubeWorld, pod: dict[str, Any], node: str, start_s: float) -> None:
    pod["spec"]["nodeName"] = node
    pod.setdefault("_private", {})["start_at"] = time.time() + start_s
    pod["status"] = {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
    }
    stamp(pod, kube.bump())


def start_due(kube: KubeWorld) -> None:
    """Bound pods whose containers have started become Running and Ready."""
    now = time.time()
    for pod in kube.list(POD, ""):
        start_at = pod.get("_private", {}).get("start_at")
        if start_at is None or start_at > now:
            continue
        del pod["_private"]["start_at"]
        pod["status"] = {
            "phase": "Running",
            "hostIP": "10.0.0.2",
            "startTime": timestamp(now),
            "conditions": [
                {"type": t, "status": "True"}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
            "containerStatuses": running(pod["spec"]),
        }
        stamp(pod, kube.bump())


def running(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """containerStatuses of a pod whose containers run: `name`, `image`, `imageID`,
    `ready` and `restartCount` are required in core/v1 ContainerStatus (the generated
    clients refuse a status without them)."""
    return [
        {
            "name": c["name"],
            "image": c.get("image", ""),
            "imageID": c.get("image", "") if "@sha256:" in c.get("image", "") else "",
            "containerID": f"containerd://{uuid.uuid4().hex}",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": timestamp(time.time())}},
        }
        for c in spec.get("containers", [])
    ]


def collect_orphans(kube: KubeWorld) -> None:
    """Delete the pods bound to nodes that are gone (the pod garbage collector)."""
    names = {n["metadata"]["name"] for n in kube.list(NODE, "")}
    for pod in kube.list(POD, ""):
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node not in names:
            kube.delete(POD, pod["metadata"]["namespace"], pod["metadata"]["name"])


def daemonsets(kube: KubeWorld, latency: Latency) -> None:
    """One pod per fitting node for every DaemonSet that has rolled out, and its counts."""
    nodes = [n for n in kube.list(NODE, "") if ready(n)]
    for ds in kube.list(BY_KIND["DaemonSet"], ""):
        if not ds.get("_private", {}).get("done"):
            continue  # its first rollout is still under way (controllers.advance)
        namespace, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
        template = ds["spec"]["template"]
        probe = {"spec": template.get("spec") or {}}
        want = {n["metadata"]["name"] for n in nodes if fits_shape(probe, n)}
        owned = [p for p in kube.list(POD, namespace) if _owned_by(p, ds)]
        have = {p["spec"].get("nodeName"): p for p in owned}
        changed = False
        for node in sorted(want - set(have)):
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    **copy.deepcopy(template.get("metadata") or {}),
                    "name": f"{name}-{uuid.uuid4().hex[:5]}",
                    "namespace": namespace,
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "DaemonSet",
                            "name": name,
                            "uid": ds["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
            kube.put(POD, pod)
            bind(kube, pod, node, latency(INSTALLER_START_S))
            changed = True
        for node, pod in have.items():
            if node not in want:
                kube.delete(POD, namespace, pod["metadata"]["name"])
                changed = True
        pods = [
            p
            for p in kube.list(POD, namespace)
            if _owned_by(p, ds) and p["spec"].get("nodeName") in want
        ]
        running = sum(1 for p in pods if _condition_true(p, "Ready"))
        counts = {
            "desiredNumberScheduled": len(want),
            "currentNumberScheduled": len(pods),
            "updatedNumberScheduled": len(pods),
            "numberReady": running,
            "numberAvailable": running,
            "numberMisscheduled": 0,
        }
        if changed or any(ds["status"].get(k) != v for k, v in counts.items()):
            ds["status"].update(counts)
            stamp(ds, kube.bump())
