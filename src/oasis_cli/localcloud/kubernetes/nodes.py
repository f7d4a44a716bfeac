"""The Node objects of a simulated cluster, as GKE's node pools register them: one
per node a pool runs (a pool's `initialNodeCount` per zone, plus the nodes the
cluster autoscaler added, `autoscaler`; GPU pools that scale from zero have none
until a workload asks for them).

Names follow GKE's `gke-{cluster}-{pool}-{8 hex}-{4 chars}` (the instance group's
hash, then the instance's suffix, as GKE names the VMs of a pool's managed instance
group), with the labels GKE sets (node pool, machine type, zone, hostname), the
pool's taints (NO_SCHEDULE becomes NoSchedule), Ready with the reason and message of
kubelet's own `setNodeReadyCondition` (kubernetes/kubernetes pkg/kubelet/nodestatus),
and the machine's CPUs and memory as capacity. Allocatable is a stand-in (below).

GPU nodes also carry what GKE gives them:
- the label `cloud.google.com/gke-accelerator` (the accelerator type; GKE's GPU docs
  select GPU nodes by it, as the NCCL installer's node affinity does), and
  `cloud.google.com/gke-spot` / `cloud.google.com/gke-flex-start` = "true" on spot and
  flex-start pools (cluster-autoscaler's GCE provider, `FlexStartLabel`, and GKE's
  Spot VM docs);
- `nvidia.com/gpu` in capacity and allocatable (the device plugin's resource);
- for multi-networking, the annotations of GoogleCloudPlatform/gke-networking-api
  (apis/network/v1): `networking.gke.io/nic-info`, one `{birthIP, pciAddress,
  birthName}` per host NIC (eth0 first), and `networking.gke.io/north-interfaces`,
  one `{network, ipAddress}` per additional network, named by the Network object whose
  GKENetworkParamSet holds that VPC and subnet.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import time
from typing import Any

from oasis_cli.localcloud.gcp.catalog import MACHINES
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.kubernetes.objects import BY_KIND, KubeWorld

EFFECTS = {
    "NO_SCHEDULE": "NoSchedule",
    "PREFER_NO_SCHEDULE": "PreferNoSchedule",
    "NO_EXECUTE": "NoExecute",
}
GPU = "nvidia.com/gpu"


def _hex(*parts: str, length: int) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def group_name(cluster_path: str, pool: str) -> str:
    """The name stem of a pool's instance group (its VMs are `{stem}-{suffix}`)."""
    name = cluster_path.rsplit("/", 1)[-1]
    return f"gke-{name}-{pool}-{_hex(cluster_path, pool, length=8)}"


def scaled(kube: KubeWorld) -> dict[str, Any]:
    """The autoscaler's record: `nodes` (name -> pool, zone, `ready_at` once it will
    register or `fails_at` when its create fails) and `backoff` (pool -> until when)."""
    state: dict[str, Any] = kube.state.setdefault("autoscaler", {"nodes": {}, "backoff": {}})
    return state


def registered(kube: KubeWorld, pool: str | None = None) -> list[tuple[str, str]]:
    """(name, zone) of the nodes the autoscaler added (to `pool`) that have registered."""
    now = time.time()
    return sorted(
        (name, node["zone"])
        for name, node in scaled(kube)["nodes"].items()
        if pool in (None, node["pool"]) and node.get("ready_at", now + 1) <= now
    )


def wanted(kube: KubeWorld, cluster_path: str, cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """The Node objects the cluster's pools run now."""
    project = cluster_path.split("/")[1]
    version = cluster.get("currentNodeVersion") or cluster.get("currentMasterVersion", "")
    nodes = []
    for pool in cluster.get("nodePools", []):
        if pool.get("status") not in (None, "RUNNING", "RECONCILING"):
            continue
        stem = group_name(cluster_path, pool["name"])
        for zone in pool.get("locations") or cluster.get("locations") or []:
            for i in range(int(pool.get("initialNodeCount") or 0)):
                node = f"{stem}-{_hex(zone, str(i), length=4)}"
                nodes.append(_node(kube, node, pool, project, zone, version))
        for node, zone in registered(kube, pool["name"]):
            nodes.append(_node(kube, node, pool, project, zone, version))
    return nodes


def template(kube: KubeWorld, pool: dict[str, Any], project: str, zone: str) -> dict[str, Any]:
    """A node of `pool` as it would register (what the autoscaler tests a pod against)."""
    return _node(kube, f"{pool['name']}-template", pool, project, zone, "")


def _node(
    kube: KubeWorld, name: str, pool: dict[str, Any], project: str, zone: str, version: str
) -> dict[str, Any]:
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
    capacity = {"cpu": str(cpus), "memory": f"{memory_mb * 1024}Ki", "pods": "110"}
    # GKE reserves some of each machine for the system (its "node allocatable"
    # table); this keeps one CPU and a tenth of the memory back as a stand-in
    allocatable = {
        "cpu": f"{cpus * 1000 - 1000}m",
        "memory": f"{memory_mb * 1024 * 9 // 10}Ki",
        "pods": "110",
    }
    annotations: dict[str, str] = {}
    accelerators = config.get("accelerators") or []
    if accelerators:
        labels["cloud.google.com/gke-accelerator"] = accelerators[0]["acceleratorType"]
        count = str(sum(int(a.get("acceleratorCount", 0)) for a in accelerators))
        capacity[GPU] = allocatable[GPU] = count
    if config.get("spot"):
        labels["cloud.google.com/gke-spot"] = "true"
    if config.get("flexStart"):
        labels["cloud.google.com/gke-flex-start"] = "true"
    extra = (pool.get("networkConfig") or {}).get("additionalNodeNetworkConfigs") or []
    if extra:
        annotations.update(_interfaces(kube, name, extra))
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            **({"annotations": annotations} if annotations else {}),
        },
        "spec": {
            "providerID": f"gce://{project}/{zone}/{name}",
            **({"taints": taints} if taints else {}),
        },
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [ready],
            # every field of core/v1 NodeSystemInfo is required (generated clients
            # refuse a node without them); the kernel and containerd versions are
            # stand-ins of ours of the kind COS reports, the IDs derived from the name
            "nodeInfo": {
                "machineID": _hex(name, "machine", length=32),
                "systemUUID": _hex(name, "uuid", length=32),
                "bootID": _hex(name, "boot", length=32),
                "kernelVersion": "6.6.93+",
                "osImage": "Container-Optimized OS from Google",
                "containerRuntimeVersion": "containerd://1.7.27",
                "kubeletVersion": f"v{version}",
                "kubeProxyVersion": f"v{version}",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def _interfaces(kube: KubeWorld, node: str, extra: list[dict[str, Any]]) -> dict[str, str]:
    """nic-info and north-interfaces for a node on the default network plus `extra`."""
    subnets = world_tables.SUBNETWORKS.rows(kube.world)
    host = int(_hex(node, length=4), 16) % 200 + 10
    by_vpc_subnet = _networks_by_vpc_subnet(kube)
    nics, north = [], []
    for i, network in enumerate([{}, *extra]):
        subnet = next(
            (s for path, s in subnets.items() if path.endswith(f"/{network.get('subnetwork')}")),
            None,
        )
        cidr = (subnet or {}).get("ipCidrRange") or f"10.{128 + i}.0.0/24"
        address = str(ipaddress.ip_network(cidr, strict=False)[host])
        nics.append(
            {"birthIP": address, "pciAddress": f"0000:{0x04 + i:02x}:00.0", "birthName": f"eth{i}"}
        )
        name = by_vpc_subnet.get((network.get("network"), network.get("subnetwork")))
        if i and name:
            north.append({"network": name, "ipAddress": address})
    return {
        "networking.gke.io/nic-info": json.dumps(nics, separators=(",", ":")),
        "networking.gke.io/north-interfaces": json.dumps(north, separators=(",", ":")),
    }


def _networks_by_vpc_subnet(kube: KubeWorld) -> dict[tuple[Any, Any], str]:
    """(vpc, subnet) -> the Network object whose parameter set names them."""
    params = {
        obj["metadata"]["name"]: obj.get("spec") or {}
        for obj in kube.list(BY_KIND["GKENetworkParamSet"], "")
    }
    found = {}
    for network in kube.list(BY_KIND["Network"], ""):
        ref = (network.get("spec") or {}).get("parametersRef") or {}
        spec = params.get(ref.get("name", ""))
        if spec is not None:
            found[(spec.get("vpc"), spec.get("vpcSubnet"))] = network["metadata"]["name"]
    return found


def sync(kube: KubeWorld, cluster_path: str, cluster: dict[str, Any]) -> None:
    """Register the nodes the pools run and remove the ones they no longer do (only
    when the pools or the autoscaled nodes changed: this runs before every request);
    the cluster's `currentNodeCount` follows."""
    pools = [
        (p["name"], p.get("status"), p.get("initialNodeCount"), p.get("locations"))
        for p in cluster.get("nodePools", [])
    ]
    fingerprint = _hex(
        repr(pools),
        repr(registered(kube)),
        cluster.get("currentMasterVersion", ""),
        length=16,
    )
    if kube.state.get("nodes_of") == fingerprint:
        return
    kube.state["nodes_of"] = fingerprint
    kind = BY_KIND["Node"]
    want = {node["metadata"]["name"]: node for node in wanted(kube, cluster_path, cluster)}
    for have in kube.list(kind, ""):
        if have["metadata"]["name"] not in want:
            kube.delete(kind, "", have["metadata"]["name"])
    for name, node in want.items():
        if kube.get(kind, "", name) is None:
            kube.put(kind, node)
    cluster["currentNodeCount"] = len(want)
