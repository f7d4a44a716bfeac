"""GKE's cluster autoscaler on a simulated cluster.

A pending pod that asks for GPUs and selects a ComputeClass (`nodeSelector`
`cloud.google.com/compute-class`) is served by walking the class's `priorities` in
order, as GKE's autoscaler does with custom compute classes (GKE docs, "About custom
compute classes": "GKE attempts to create nodes in the order of the priority
rules"; with `nodepools` rules, each names existing node pools). For each pool, in
order, a scale-up is tried unless:
- one of its nodes could not run the pod (selector, affinity, taints, GPUs);
- it is at its maximum (`maxNodeCount` per zone, or `totalMaxNodeCount`);
- it is backed off after a failed scale-up (cluster-autoscaler FAQ:
  `--initial-node-group-backoff-duration`, 5 minutes).
A scale-up adds one node and records the `TriggeredScaleUp` event on the pod, worded
as upstream's `EventingScaleUpStatusProcessor` has it ("pod triggered scale-up:
[{<group> <current>-><new> (max: <max>)}]", the group being the GCE provider's MIG URL).
When no pool can take the pod it stays pending with a `NotTriggerScaleUp` event
naming the reasons ("pod didn't trigger scale-up: 1 in backoff after failed
scale-up, ..."), as `ReasonsMessage` aggregates them; the ComputeClass's
`whenUnsatisfiable: DoNotScaleUp` means nothing else is tried.

A stockout is a fault rule with method `SCALE_UP` whose `path` matches the pool
(`.../nodePools/{pool}`): the new VM is never created and fails with the rule's
`reason`, default `ZONE_RESOURCE_POOL_EXHAUSTED` (GCE's stockout; the GCE provider
classes it `OutOfResourcesErrorClass` and backs the group off), so the next rule is
tried. The node count moves: the cluster's `currentNodeCount` in the GKE API counts
the registered nodes (`nodes.sync`). A node without pods of its own (DaemonSet pods
do not count) goes away after `--scale-down-unneeded-time`, 10 minutes (FAQ).

Durations are scaled by the latency: a node registers after SCALE_UP_S and a stocked
out create fails after STOCKOUT_S, stand-ins of ours below the autoscaler's
`--max-node-provision-time` (15 minutes). A backoff lasts at least MIN_BACKOFF_S of
real time, so that a zero-latency world walks on to the next rule instead of
retrying the same pool at once.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra.http import Latency
from oasis_cli.localcloud.infra.rest import timestamp
from oasis_cli.localcloud.infra.store import Store
from oasis_cli.localcloud.kubernetes import nodes
from oasis_cli.localcloud.kubernetes.gkecontrollers import CLASS_LABEL
from oasis_cli.localcloud.kubernetes.objects import BY_KIND, POD, KubeWorld, stamp
from oasis_cli.localcloud.kubernetes.scheduling import (
    NODE,
    POD_START_S,
    bind,
    fits,
    fits_shape,
    gpus,
    on_node,
)

SCALE_UP_S, STOCKOUT_S, BACKOFF_S, UNNEEDED_S = 180.0, 30.0, 300.0, 600.0
MIN_BACKOFF_S = 5.0
STOCKOUT = "ZONE_RESOURCE_POOL_EXHAUSTED"
EVENT = BY_KIND["Event"]


def run(
    kube: KubeWorld,
    cluster_path: str,
    cluster: dict[str, Any],
    store: Store | None,
    latency: Latency,
) -> None:
    """One autoscaler loop: failed creates back their pool off, pending GPU pods are
    bound to a node that fits or scale a pool up, unneeded nodes go."""
    now, state = time.time(), nodes.scaled(kube)
    for name, node in list(state["nodes"].items()):
        if node.get("fails_at", now + 1) <= now:
            del state["nodes"][name]
            until = now + max(latency(BACKOFF_S), MIN_BACKOFF_S)
            state["backoff"][node["pool"]] = {"until": until, "error": node["error"]}
    present = kube.list(NODE, "")
    for pod in kube.list(POD, ""):
        if (pod.get("spec") or {}).get("nodeName") or gpus(pod) == 0:
            continue
        node = next((n for n in present if fits(kube, pod, n)), None)
        if node is not None:
            bind(kube, pod, node["metadata"]["name"], latency(POD_START_S))
            continue
        uid = pod["metadata"]["uid"]
        if any(
            n["for"] == uid and n.get("ready_at", now + 1) > now for n in state["nodes"].values()
        ):
            continue  # its node is on the way (or its create has not failed yet)
        _scale_up(kube, cluster_path, cluster, pod, store, latency, now)
    _scale_down(kube, state, latency, now)


def _candidates(kube: KubeWorld, cluster: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    """The pools to try for a pod, in order: its ComputeClass's rules, or every pool."""
    wanted = ((pod.get("spec") or {}).get("nodeSelector") or {}).get(CLASS_LABEL)
    if wanted is None:
        return [p["name"] for p in cluster.get("nodePools", [])]
    found = kube.get(BY_KIND["ComputeClass"], "", wanted)
    if found is None:
        return []
    rules = (found.get("spec") or {}).get("priorities") or []
    return [pool for rule in rules for pool in rule.get("nodepools") or []]


def _scale_up(
    kube: KubeWorld,
    cluster_path: str,
    cluster: dict[str, Any],
    pod: dict[str, Any],
    store: Store | None,
    latency: Latency,
    now: float,
) -> None:
    state, project = nodes.scaled(kube), cluster_path.split("/")[1]
    pools = {p["name"]: p for p in cluster.get("nodePools", [])}
    reasons: Counter[str] = Counter()
    for name in _candidates(kube, cluster, pod):
        pool = pools.get(name)
        autoscaling = (pool or {}).get("autoscaling") or {}
        if pool is None or pool.get("status") != "RUNNING" or not autoscaling.get("enabled"):
            reasons["node group not ready or not autoscaled"] += 1
            continue
        zones = pool.get("locations") or cluster.get("locations") or []
        template = nodes.template(kube, pool, project, zones[0])
        if not fits_shape(pod, template):
            reasons["node(s) didn't match the pod's requirements"] += 1
            continue
        backoff = state["backoff"].get(name)
        if backoff and backoff["until"] > now:
            reasons["in backoff after failed scale-up"] += 1
            continue
        size = int(pool.get("initialNodeCount") or 0) * len(zones) + sum(
            1 for n in state["nodes"].values() if n["pool"] == name
        )
        most = int(autoscaling.get("totalMaxNodeCount") or 0) or int(
            autoscaling.get("maxNodeCount") or 0
        ) * len(zones)
        if size >= most:
            reasons["max node group size reached"] += 1
            continue
        stem = nodes.group_name(cluster_path, name)
        record: dict[str, Any] = {"pool": name, "zone": zones[0], "for": pod["metadata"]["uid"]}
        rule = (
            faults.take(store, "SCALE_UP", f"{cluster_path}/nodePools/{name}", name)
            if store
            else None
        )
        if rule is None:
            record["ready_at"] = now + latency(SCALE_UP_S)
        else:
            record["fails_at"] = now + latency(STOCKOUT_S)
            record["error"] = rule.get("reason") or STOCKOUT
        state["nodes"][f"{stem}-{uuid.uuid4().hex[:4]}"] = record
        group = (
            f"https://www.googleapis.com/compute/v1/projects/{project}/zones/{zones[0]}"
            f"/instanceGroups/{stem}-grp"
        )
        event(
            kube,
            pod,
            "Normal",
            "TriggeredScaleUp",
            f"pod triggered scale-up: [{{{group} {size}->{size + 1} (max: {most})}}]",
        )
        return
    why = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    event(
        kube,
        pod,
        "Normal",
        "NotTriggerScaleUp",
        "pod didn't trigger scale-up: " + (why or "no node group for its compute class"),
    )


def _scale_down(kube: KubeWorld, state: dict[str, Any], latency: Latency, now: float) -> None:
    for name, node in list(state["nodes"].items()):
        if kube.get(NODE, "", name) is None:
            continue  # not registered yet: its pod has had no chance to land on it
        if any(
            not any(r.get("kind") == "DaemonSet" for r in p["metadata"].get("ownerReferences", []))
            for p in on_node(kube, name)
        ):
            node.pop("idle_since", None)
            continue
        node.setdefault("idle_since", now)
        if now - node["idle_since"] >= latency(UNNEEDED_S):
            del state["nodes"][name]


def event(kube: KubeWorld, obj: dict[str, Any], kind: str, reason: str, message: str) -> None:
    """Record an Event about `obj` as the autoscaler does (one per reason and message,
    its count going up when it repeats)."""
    metadata = obj["metadata"]
    namespace = metadata.get("namespace") or "default"
    now = timestamp(time.time())
    for found in kube.list(EVENT, namespace):
        involved = found["involvedObject"]
        if (involved.get("uid"), found["reason"], found["message"]) == (
            metadata["uid"],
            reason,
            message,
        ):
            found["count"] += 1
            found["lastTimestamp"] = now
            stamp(found, kube.bump())
            return
    kube.put(
        EVENT,
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{metadata['name']}.{uuid.uuid4().hex[:16]}",
                "namespace": namespace,
            },
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", "v1"),
                "kind": obj.get("kind", "Pod"),
                "name": metadata["name"],
                "namespace": namespace,
                "uid": metadata["uid"],
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": "cluster-autoscaler"},
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
        },
    )
