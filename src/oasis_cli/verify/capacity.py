"""`oasis verify --gpus N`: bring up N GPU nodes through the ComputeClass and report
which rule and pool gave the capacity and how long it took.

The probe is N pods, each asking for a whole node's GPUs (`gpu.count` of
`nvidia.com/gpu`, so no two share a node) and selecting the class by its node label
with the pools' taints tolerated, running only the pause image the NCCL installer
pins (exempt from the Binary Authorization policy). GKE's autoscaler serves them by
walking the class's rules in order (GKE docs, "About custom compute classes"), so the
node a pod lands on names the rule that served it; the pods' `TriggeredScaleUp`
events (cluster-autoscaler's EventingScaleUpStatusProcessor) name every pool a
scale-up was tried on, so a rule tried before the one that served (a Spot stockout)
shows too. The pods are always deleted (`remove`), also on Ctrl-C; the nodes then go
when the autoscaler finds them unneeded.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oasis_cli.resources.nodepools import CLASS_LABEL
from oasis_cli.verify.outcome import Failed

if TYPE_CHECKING:
    from oasis_cli.kube.client import Kube
    from oasis_cli.session import Context

PROBE_LABEL = "oasis.dev/verify-probe"
POOL_LABEL = "cloud.google.com/gke-nodepool"
POLL_S = 2.0


@dataclass
class Placement:
    pod: str
    node: str
    pool: str
    rule: int  # 1-based, in the class's priorities
    source: str  # the capacity entry: spot, flex-start, reservation:x
    seconds: float


@dataclass
class Probe:
    """The probe pods of one run and what they found."""

    run: str
    pods: list[str]
    placements: list[Placement]
    tried: list[str]  # pools a scale-up was tried on, in order


def manifest(ctx: Context, run: str, index: int) -> dict[str, Any]:
    from oasis_cli.resources.kubeobjects import PAUSE_IMAGE

    d = ctx.deployment
    klass = d.names.compute_class
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"oasis-verify-gpu-{run}-{index}",
            "namespace": d.config.ray.namespace,
            "labels": {**d.label, PROBE_LABEL: run},
        },
        "spec": {
            "nodeSelector": {CLASS_LABEL: klass},
            "tolerations": [
                {"key": CLASS_LABEL, "operator": "Equal", "value": klass, "effect": "NoSchedule"},
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            ],
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "probe",
                    "image": PAUSE_IMAGE,
                    "resources": {"limits": {"nvidia.com/gpu": str(d.config.gpu.count)}},
                }
            ],
        },
    }


def bring_up(ctx: Context, kube: Kube, count: int, deadline_s: float, probe: Probe) -> str:
    """Create the probe pods and wait until each runs on a GPU node (Failed at the
    deadline, with what the autoscaler said)."""
    d = ctx.deployment
    namespace = d.config.ray.namespace
    started = time.monotonic()
    for index in range(count):
        pod = manifest(ctx, probe.run, index)
        probe.pods.append(pod["metadata"]["name"])
        kube.apply(pod)
    rules = _rules(kube, d.names.compute_class)
    sources = {pool: entry for entry, pool in d.names.gpu_pools.items()}
    placed: dict[str, Placement] = {}
    while True:
        for name in probe.pods:
            if name in placed:
                continue
            pod = kube.get("v1", "Pod", name, namespace) or {}
            node = (pod.get("spec") or {}).get("nodeName")
            if node and (pod.get("status") or {}).get("phase") == "Running":
                found = kube.get("v1", "Node", node) or {}
                pool = ((found.get("metadata") or {}).get("labels") or {}).get(POOL_LABEL, "")
                placed[name] = Placement(
                    name,
                    node,
                    pool,
                    rules.index(pool) + 1 if pool in rules else 0,
                    sources.get(pool, "?"),
                    round(time.monotonic() - started, 1),
                )
        probe.tried = _tried(kube, namespace, probe.pods, rules)
        if len(placed) == count:
            break
        if time.monotonic() - started > deadline_s:
            raise Failed(
                f"{len(placed)} of {count} GPU nodes came up in {deadline_s:.0f}s; "
                + _why(kube, namespace, [p for p in probe.pods if p not in placed]),
                "no capacity in any rule: add a reservation (gpu.capacity), or retry later",
            )
        time.sleep(min(POLL_S, ctx.cloud.poll.initial_s))  # the local cloud polls faster
    probe.placements = [placed[name] for name in probe.pods]
    return describe(probe, rules)


def describe(probe: Probe, rules: list[str]) -> str:
    counts: dict[tuple[int, str, str], int] = {}
    for p in probe.placements:
        counts[(p.rule, p.pool, p.source)] = counts.get((p.rule, p.pool, p.source), 0) + 1
    served = "; ".join(
        f"{n} from rule {rule} of {len(rules)} ({source}, pool {pool})"
        for (rule, pool, source), n in sorted(counts.items())
    )
    slowest = max(p.seconds for p in probe.placements)
    used = {p.pool for p in probe.placements}
    skipped = [pool for pool in probe.tried if pool not in used]
    note = f"; tried first without a node: {', '.join(skipped)}" if skipped else ""
    return f"{len(probe.placements)} GPU nodes in {slowest:.1f}s: {served}{note}"


def _rules(kube: Kube, klass: str) -> list[str]:
    """The class's pools in rule order (one pool per rule, as oasis writes them)."""
    found = kube.get("cloud.google.com/v1", "ComputeClass", klass) or {}
    rules = (found.get("spec") or {}).get("priorities") or []
    return [pool for rule in rules for pool in rule.get("nodepools") or []]


def _events(kube: Kube, namespace: str, pods: list[str]) -> list[dict[str, Any]]:
    wanted = set(pods)
    events = [
        e
        for e in kube.list("v1", "Event", namespace)
        if (e.get("involvedObject") or {}).get("name") in wanted
    ]
    return sorted(events, key=lambda e: str(e.get("firstTimestamp")))


def _tried(kube: Kube, namespace: str, pods: list[str], rules: list[str]) -> list[str]:
    """The pools the autoscaler tried a scale-up on for the probe, in order: each
    `TriggeredScaleUp` names the group (`.../instanceGroups/gke-{cluster}-{pool}-...`)."""
    tried: list[str] = []
    for e in _events(kube, namespace, pods):
        if e.get("reason") != "TriggeredScaleUp":
            continue
        for pool in rules:
            if f"-{pool}-" in str(e.get("message")) and pool not in tried:
                tried.append(pool)
    return tried


def _why(kube: Kube, namespace: str, pods: list[str]) -> str:
    said = [
        str(e.get("message"))
        for e in _events(kube, namespace, pods)
        if e.get("reason") == "NotTriggerScaleUp"
    ]
    return said[-1] if said else "the autoscaler gave no reason yet"


def remove(kube: Kube, ctx: Context, probe: Probe) -> None:
    """Delete the probe's pods (all of this run's, whatever happened)."""
    namespace = ctx.deployment.config.ray.namespace
    for pod in kube.list("v1", "Pod", namespace, f"{PROBE_LABEL}={probe.run}"):
        kube.delete("v1", "Pod", pod["metadata"]["name"], namespace)


def new_probe() -> Probe:
    return Probe(uuid.uuid4().hex[:6], [], [], [])
