"""The Node objects of a simulated cluster, as GKE's node pools register them: one
per node a pool runs (a pool's `initialNodeCount` per zone; GPU pools that scale from
zero have none until a workload asks for them).

Names follow GKE's `gke-{cluster}-{pool}-{8 hex}-{4 chars}` (the instance group's
hash, then the instance's suffix, as GKE names the VMs of a pool's managed instance
group), with the labels GKE sets (node pool, machine type, zone, hostname), the
pool's taints (NO_SCHEDULE becomes NoSchedule), Ready with the reason and message of
kubelet's own `setNodeReadyCondition` (kubernetes/kubernetes pkg/kubelet/nodestatus),
and the machine's CPUs and memory as capacity. Allocatable is a stand-in (below).
"""

from __future__ import annotations

import hashlib
from typing import Any

from oasis_cli.localcloud.gcp.catalog import MACHINES
from oasis_cli.localcloud.kubernetes.objects import BY_KIND, KubeWorld

EFFECTS = {
    "NO_SCHEDULE": "NoSchedule",
    "PREFER_NO_SCHEDULE": "PreferNoSchedule",
    "NO_EXECUTE": "NoExecute",
}


def _hex(*parts: str, length: int) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def wanted(cluster_path: str, cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """The Node objects the cluster's pools run now."""
    _, project, _, _, _, name = cluster_path.split("/")
    version = cluster.get("currentNodeVersion") or cluster.get("currentMasterVersion", "")
    nodes = []
    for pool in cluster.get("nodePools", []):
        if pool.get("status") not in (None, "RUNNING", "RECONCILING"):
            continue
        group = _hex(cluster_path, pool["name"], length=8)
        for zone in pool.get("locations") or cluster.get("locations") or []:
            for i in range(int(pool.get("initialNodeCount") or 0)):
                node = f"gke-{name}-{pool['name']}-{group}-{_hex(zone, str(i), length=4)}"
                nodes.append(_node(node, pool, project, zone, version))
    return nodes


def _node(name: str, pool: dict[str, Any], project: str, zone: str, version: str) -> dict[str, Any]:
    config = pool.get("config", {})
    machine = config.get("machineType", "e2-medium")
    cpus, memory_mb, _ = MACHINES.get(machine, (2, 4096, None))
    taints = [
        {"key": t["key"], "value": t.get("value", ""), "effect": EFFECTS[t["effect"]]}
        for t in config.get("taints", [])
    ]
    labels = {
        "cloud.google.com/gke-nodepool": pool["name"],
        "node.kubernetes.io/instance-type": machine,
        "topology.kubernetes.io/zone": zone,
        "topology.kubernetes.io/region": zone.rsplit("-", 1)[0],
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        **config.get("labels", {}),
    }
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "providerID": f"gce://{project}/{zone}/{name}",
            **({"taints": taints} if taints else {}),
        },
        "status": {
            "capacity": {"cpu": str(cpus), "memory": f"{memory_mb * 1024}Ki", "pods": "110"},
            # GKE reserves some of each machine for the system (its "node allocatable"
            # table); this keeps one CPU and a tenth of the memory back as a stand-in
            "allocatable": {
                "cpu": f"{cpus * 1000 - 1000}m",
                "memory": f"{memory_mb * 1024 * 9 // 10}Ki",
                "pods": "110",
            },
            "conditions": [ready],
            "nodeInfo": {
                "kubeletVersion": f"v{version}",
                "osImage": "Container-Optimized OS from Google",
            },
        },
    }


def sync(kube: KubeWorld, cluster_path: str, cluster: dict[str, Any]) -> None:
    """Register the nodes the pools run and remove the ones they no longer do (only
    when the pools changed: this runs before every request)."""
    pools = [
        (p["name"], p.get("status"), p.get("initialNodeCount"), p.get("locations"))
        for p in cluster.get("nodePools", [])
    ]
    fingerprint = _hex(repr(pools), cluster.get("currentMasterVersion", ""), length=16)
    if kube.state.get("nodes_of") == fingerprint:
        return
    kube.state["nodes_of"] = fingerprint
    kind = BY_KIND["Node"]
    want = {node["metadata"]["name"]: node for node in wanted(cluster_path, cluster)}
    for have in kube.list(kind, ""):
        if have["metadata"]["name"] not in want:
            kube.delete(kind, "", have["metadata"]["name"])
    for name, node in want.items():
        if kube.get(kind, "", name) is None:
            kube.put(kind, node)
