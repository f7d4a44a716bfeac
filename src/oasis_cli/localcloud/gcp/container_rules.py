"""What GKE checks in a cluster or node pool it is asked to create: multi-networking
needs Dataplane V2 and VPC-native, additional node networks must exist and RDMA
subnets must be in their profile's zone, flex-start needs autoscaling from 0 and no
auto-repair, versions must be valid, networks and service accounts must exist.
"""

from __future__ import annotations

import ipaddress
import re

from oasis_cli.localcloud.gcp.container_versions import VERSIONS, version_key
from oasis_cli.localcloud.gcp.projects import service_account_exists
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import HttpError, not_simulated

NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
ROCE = re.compile(r"networkProfiles/([a-z]+-[a-z]+\d+-[a-z])-vpc-roce$")
GPUS = {
    "a3-ultragpu-8g": ("nvidia-h200-141gb", 8),
    "a3-megagpu-8g": ("nvidia-h100-mega-80gb", 8),
    "a3-highgpu-8g": ("nvidia-h100-80gb", 8),
    "a4-highgpu-8g": ("nvidia-b200", 8),
}


def compute_link(link: str, project: str, collection: str) -> str:
    path = link[link.find("projects/") :] if "projects/" in link else link
    if not path.startswith("projects/"):
        path = f"projects/{project}/{collection}/{path}"
    return path


def check_cluster(world: dict, project: str, location: str, cluster: dict) -> None:
    if "nodePools" in cluster and ("nodeConfig" in cluster or "initialNodeCount" in cluster):
        raise HttpError(400, "Cannot specify both nodePools and nodeConfig/initialNodeCount.")
    for zone in cluster.get("locations", []):
        if not zone.startswith(location + "-") and zone != location:
            raise HttpError(400, f"Node location {zone} is not in {location}.")
    network = compute_link(cluster.get("network", "default"), project, "global/networks")
    subnetwork = compute_link(
        cluster.get("subnetwork", ""), project, f"regions/{location}/subnetworks"
    )
    if network not in world_tables.NETWORKS.rows(world):
        raise HttpError(400, f'Network "{network}" does not exist.')
    if cluster.get("subnetwork") and subnetwork not in world_tables.SUBNETWORKS.rows(world):
        raise HttpError(400, f'Subnetwork "{subnetwork}" does not exist.')
    cluster["network"], cluster["subnetwork"] = (
        network.rsplit("/", 1)[-1],
        subnetwork.rsplit("/", 1)[-1],
    )
    cluster["networkConfig"] = {
        **cluster.get("networkConfig", {}),
        "network": network,
        "subnetwork": subnetwork,
    }
    net = cluster["networkConfig"]
    if net.get("enableMultiNetworking"):
        if net.get("datapathProvider") != "ADVANCED_DATAPATH":
            raise HttpError(400, "Multi-networking requires Dataplane V2 (ADVANCED_DATAPATH).")
        if not cluster.get("ipAllocationPolicy", {}).get("useIpAliases"):
            raise HttpError(400, "Multi-networking requires a VPC-native cluster.")
    pool = cluster.get("workloadIdentityConfig", {}).get("workloadPool")
    if pool is not None and pool != f"{project}.svc.id.goog":
        raise HttpError(400, f"Workload pool must be {project}.svc.id.goog, not {pool}.")
    version = cluster.get("initialClusterVersion")
    if version and version not in (*VERSIONS, "latest", "-"):
        raise HttpError(400, f'Master version "{version}" is unsupported.')
    endpoints = cluster.get("controlPlaneEndpointsConfig", {}).get("ipEndpointsConfig", {})
    blocks = endpoints.get("authorizedNetworksConfig", {}).get("cidrBlocks", [])
    blocks += cluster.get("masterAuthorizedNetworksConfig", {}).get("cidrBlocks", [])
    for block in blocks:
        try:
            ipaddress.IPv4Network(block.get("cidrBlock", ""))
        except ValueError:
            raise HttpError(400, f"Invalid CIDR block: {block.get('cidrBlock')}.") from None
    for pool_spec in cluster.get("nodePools", []):
        check_pool(world, project, location, cluster, pool_spec)


UPDATABLE = {
    "desiredControlPlaneEndpointsConfig": "controlPlaneEndpointsConfig",
    "desiredMasterAuthorizedNetworksConfig": "masterAuthorizedNetworksConfig",
    "desiredReleaseChannel": "releaseChannel",
    "desiredLoggingConfig": "loggingConfig",
    "desiredMonitoringConfig": "monitoringConfig",
    "desiredAddonsConfig": "addonsConfig",
    "desiredBinaryAuthorization": "binaryAuthorization",
    "desiredCostManagementConfig": "costManagementConfig",
    "desiredClusterAutoscaling": "autoscaling",
    "desiredSecretManagerConfig": "secretManagerConfig",
    "desiredWorkloadIdentityConfig": "workloadIdentityConfig",
    "desiredShieldedNodes": "shieldedNodes",
}
NETWORK_FLAGS = {
    "desiredDefaultEnablePrivateNodes": "defaultEnablePrivateNodes",
    "desiredEnableMultiNetworking": "enableMultiNetworking",
}


def apply_update(cluster: dict, update: dict) -> None:
    """Apply a ClusterUpdate's desired_* fields the simulation knows; a field it does not
    model is refused rather than silently ignored. The authorized networks are checked
    like a create's (valid CIDR blocks); a control plane version may only go up
    (https://cloud.google.com/kubernetes-engine/docs/how-to/upgrading-a-cluster)."""
    for field, value in update.items():
        if field == "desiredMasterVersion":
            current = cluster.get("currentMasterVersion", "")
            if value not in (*VERSIONS, "latest", "-"):
                raise HttpError(400, f'Master version "{value}" is unsupported.')
            if version_key(value) < version_key(current):
                raise HttpError(400, f"Cannot downgrade the control plane to {value}.")
            cluster["currentMasterVersion"] = value
            continue
        if field in NETWORK_FLAGS:
            cluster.setdefault("networkConfig", {})[NETWORK_FLAGS[field]] = bool(value)
            continue
        target = UPDATABLE.get(field)
        if target is None:
            raise not_simulated(f"ClusterUpdate.{field}")
        merged = _merge(cluster.get(target, {}), value)
        blocks = (
            merged.get("ipEndpointsConfig", {})
            .get("authorizedNetworksConfig", merged)
            .get("cidrBlocks", [])
        )
        for block in blocks:
            try:
                ipaddress.IPv4Network(block.get("cidrBlock", ""))
            except ValueError:
                raise HttpError(400, f"Invalid CIDR block: {block.get('cidrBlock')}.") from None
        cluster[target] = merged


def _merge(current: dict, change: dict) -> dict:
    """`change` over `current`, nested mappings merged, everything else replaced."""
    out = dict(current)
    for key, value in change.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}


def add_gpu_taint(cluster: dict, pool: dict) -> None:
    """GKE taints a GPU node pool `nvidia.com/gpu=present:NoSchedule` when the cluster
    has a pool without GPUs (https://cloud.google.com/kubernetes-engine/docs/how-to/
    gpus#taint), and the taint is part of the pool's config: a second one of the same
    key is refused "Found more than one taint with key nvidia.com/gpu"
    (hashicorp/terraform-provider-google#7928)."""
    config = pool.setdefault("config", {})
    if not config.get("accelerators"):
        return
    if not any(not p.get("config", {}).get("accelerators") for p in cluster.get("nodePools", [])):
        return
    taints = config.setdefault("taints", [])
    if not any(t.get("key") == GPU_TAINT["key"] for t in taints):
        taints.append(dict(GPU_TAINT))


def check_pool(world: dict, project: str, location: str, cluster: dict, pool: dict) -> None:
    name = pool.get("name", "")
    if not NAME.match(name):
        raise HttpError(400, f"Invalid node pool name '{name}'.")
    config = pool.get("config", {})
    email = config.get("serviceAccount")
    if email and email != "default" and not service_account_exists(world, email):
        # GKE's words for an account it cannot see (yet): terraform-google-modules/
        # terraform-google-kubernetes-engine#2002.
        raise HttpError(
            400,
            f'Failed precondition: failed to check status for "{email}"; Verify if principal '
            "exists and is valid.",
            "failedPrecondition",
        )
    machine = config.get("machineType", "e2-medium")
    accelerators = config.get("accelerators", [])
    if machine in GPUS:
        kind, count = GPUS[machine]
        if [
            (a.get("acceleratorType"), int(a.get("acceleratorCount", 0))) for a in accelerators
        ] != [(kind, count)]:
            raise HttpError(400, f"Machine type {machine} requires accelerator {kind} x {count}.")
    elif accelerators:
        raise HttpError(400, f"Machine type {machine} does not support accelerators.")
    autoscaling = pool.get("autoscaling", {})
    if ("minNodeCount" in autoscaling or "maxNodeCount" in autoscaling) and (
        "totalMinNodeCount" in autoscaling or "totalMaxNodeCount" in autoscaling
    ):
        raise HttpError(400, "Per-zone and total node count limits are mutually exclusive.")
    if config.get("spot") and config.get("flexStart"):
        raise HttpError(400, "A node pool cannot be both spot and flex-start.")
    if config.get("flexStart"):
        if not autoscaling.get("enabled") or pool.get("initialNodeCount", 0) != 0:
            raise HttpError(
                400, "Flex-start node pools need autoscaling enabled and 0 initial nodes."
            )
        if pool.get("management", {}).get("autoRepair"):
            raise HttpError(400, "Flex-start node pools do not support auto-repair.")
    affinity = config.get("reservationAffinity", {})
    if affinity.get("consumeReservationType") == "SPECIFIC_RESERVATION" and (
        affinity.get("key") != "compute.googleapis.com/reservation-name"
        or not affinity.get("values")
    ):
        raise HttpError(
            400,
            "A specific reservation needs key compute.googleapis.com/reservation-name and a name.",
        )
    additional = pool.get("networkConfig", {}).get("additionalNodeNetworkConfigs", [])
    if additional and not cluster.get("networkConfig", {}).get("enableMultiNetworking"):
        raise HttpError(400, "Additional node networks require multi-networking on the cluster.")
    zones = pool.get("locations") or cluster.get("locations") or []
    for extra in additional:
        network = compute_link(extra.get("network", ""), project, "global/networks")
        subnetwork = compute_link(
            extra.get("subnetwork", ""), project, f"regions/{location}/subnetworks"
        )
        found = world_tables.NETWORKS.rows(world).get(network)
        if found is None:
            raise HttpError(400, f'Additional network "{network}" does not exist.')
        if subnetwork not in world_tables.SUBNETWORKS.rows(world):
            raise HttpError(400, f'Additional subnetwork "{subnetwork}" does not exist.')
        profile = ROCE.search(found.get("networkProfile", ""))
        if profile and any(zone != profile.group(1) for zone in zones):
            raise HttpError(
                400,
                f"RDMA network {network} is limited to zone {profile.group(1)}; "
                f"node pool {name} runs in {', '.join(zones)}.",
            )
