"""The controllers of each simulated cluster, run by time before every request.

GKE's own controllers (ComputeClass health, network objects' readiness) are in
`gkecontrollers`.

A DaemonSet rolls out (no GPU node exists until a worker is scheduled, so it wants 0
pods); a RayCluster gets a head pod that becomes Running and Ready, and its state
becomes `ready`; when Ray is installed the head pod is backed by a real local Ray
head (`rayhead`), stopped with the RayCluster, the cluster or `local-cloud reset`.
An Ingress gets an internal address, a Service a cluster IP.
"""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import Latency
from oasis_cli.localcloud.infra.store import Store
from oasis_cli.localcloud.kubernetes import autoscaler, gkecontrollers, nodes, rayhead, scheduling
from oasis_cli.localcloud.kubernetes.objects import (
    POD,
    RAYCLUSTER,
    Env,
    Kind,
    KubeError,
    KubeWorld,
    stamp,
)

HEAD_READY_S, DAEMONSET_S, INGRESS_S = 60.0, 10.0, 120.0


# --- controllers ---------------------------------------------------------------------


def react(kube: KubeWorld, kind: Kind, obj: dict[str, Any], env: Env) -> None:
    """What the cluster's controllers start when an object is created or changed."""
    now, latency = time.time(), env.latency
    if kind.kind in gkecontrollers.RECONCILED:
        private = obj.setdefault("_private", {})
        private.setdefault(
            "reconcile_at", now + latency(gkecontrollers.first_reconcile_s(kind.kind))
        )
        obj.setdefault("status", {})
    elif kind.kind == "Service":
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
                private["ray"] = rayhead.start(
                    env.directory, obj["metadata"]["name"], rayhead.mounts(obj, env.directory)
                )
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
        reconcile_at = obj.get("_private", {}).get("reconcile_at")
        if reconcile_at is not None and reconcile_at <= now and gkecontrollers.reconcile(kube, obj):
            kube.objects[key] = stamp(obj, kube.bump())
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
        kube.objects[key] = stamp(obj, kube.bump())


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
            "containerStatuses": scheduling.running(pod["spec"]),
        }
        stamp(pod, kube.bump())
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


def advance_all(
    world: dict[str, Any], store: Store | None = None, latency: Latency | None = None
) -> None:
    """Run every cluster's controllers, its autoscaler and scheduler; a deleted GKE
    cluster takes its objects, and the Ray heads behind them, along. `store` holds the
    fault rules (stockouts) and `latency` scales the autoscaler's durations."""
    latency = latency or Latency(0.0)
    clusters = world_tables.CLUSTERS.rows(world)
    running = [k for k, c in clusters.items() if c.get("status") in ("RUNNING", "RECONCILING")]
    for key in sorted({*world_tables.KUBERNETES.rows(world), *running}):
        kube = KubeWorld(world, key)
        if key in clusters:
            nodes.sync(kube, key, clusters[key])  # the pools' nodes register themselves
            advance(kube)
            autoscaler.run(kube, key, clusters[key], store, latency)
            scheduling.start_due(kube)
            scheduling.collect_orphans(kube)
            scheduling.daemonsets(kube, latency)
            continue
        for head in heads(kube):
            rayhead.stop(head)
        world_tables.KUBERNETES.rows(world).pop(key)


def stop_all(world: dict[str, Any]) -> None:
    """Stop every real Ray head the local cloud started (`local-cloud reset`)."""
    for key in list(world_tables.KUBERNETES.rows(world)):
        for head in heads(KubeWorld(world, key)):
            rayhead.stop(head)
