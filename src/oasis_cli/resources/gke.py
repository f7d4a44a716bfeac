"""The GKE cluster and its H200 node pools (SPEC section 3).

The cluster is regional with node locations [zone], on the management VPC, private
nodes, multi-networking on Dataplane V2, Workload Identity, and the add-ons the
platform needs. One GPU node pool per capacity entry, each with the gVNIC network
and the 8 RDMA subnets as additional node networks, in NIC order. The pools are
created and deleted in parallel: "GKE only allows one cluster-level operation or one
operation per node pool to run at the same time"
(https://cloud.google.com/kubernetes-engine/docs/troubleshooting/concurrent-operations),
and a call refused because an incompatible operation runs is retried with backoff.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.errors import CloudError, OperationFailed
from oasis_cli.gcp.errors import (
    account_not_visible,
    api_errors,
    transient_retry,
    until_account_is_usable,
    until_cluster_is_free,
)
from oasis_cli.gcp.messages import to_message
from oasis_cli.gcp.waiter import wait_gke
from oasis_cli.graph import Node
from oasis_cli.polling import wait_until
from oasis_cli.resources.base import (
    Change,
    Kind,
    OnOperation,
    already_exists,
    diff,
    fetch,
    labelled,
    remove,
)
from oasis_cli.resources.iam import email

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
CLASS_LABEL = "cloud.google.com/compute-class"
FLEX_MAX_RUN = "604800s"
POOL_SUFFIX = {"spot": "spot", "flex-start": "flex", "reservation": "res"}


def cluster_nodes(d: Deployment) -> list[Node]:
    names = d.names
    config = d.config
    project, region = d.project, d.region
    cluster_sa = email(project, names.cluster_service_account)
    spec: dict[str, Any] = {
        "name": names.cluster,
        "resource_labels": d.label,
        "network": names.mgmt_network,
        "subnetwork": names.mgmt_subnet,
        "locations": [d.zone],
        "ip_allocation_policy": {"use_ip_aliases": True},
        "network_config": {
            "datapath_provider": "ADVANCED_DATAPATH",
            "enable_multi_networking": True,
            # privateClusterConfig.enablePrivateNodes is deprecated for this
            # (https://cloud.google.com/kubernetes-engine/docs/how-to/latest/network-isolation)
            "default_enable_private_nodes": True,
        },
        "control_plane_endpoints_config": {
            "dns_endpoint_config": {"allow_external_traffic": False},
            "ip_endpoints_config": {
                "enabled": True,
                "enable_public_endpoint": True,
                "global_access": True,
                "authorized_networks_config": {
                    "enabled": True,
                    "cidr_blocks": [
                        {"display_name": "oasis", "cidr_block": cidr}
                        for cidr in d.authorized_networks
                    ],
                },
            },
        },
        "workload_identity_config": {"workload_pool": f"{project}.svc.id.goog"},
        "shielded_nodes": {"enabled": True},
        "secret_manager_config": {"enabled": True},
        "binary_authorization": {"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"},
        "addons_config": {
            "gcs_fuse_csi_driver_config": {"enabled": True},
            "ray_operator_config": {
                "enabled": True,
                "ray_cluster_logging_config": {"enabled": True},
                "ray_cluster_monitoring_config": {"enabled": True},
            },
        },
        "logging_config": {
            "component_config": {"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]}
        },
        "monitoring_config": {"managed_prometheus_config": {"enabled": True}},
        "autoscaling": {"autoscaling_profile": "OPTIMIZE_UTILIZATION"},
        "cost_management_config": {"enabled": True},
        "node_pools": [
            {
                "name": "default-pool",
                "initial_node_count": 1,
                "config": {
                    "machine_type": config.cluster.default_pool_machine_type,
                    "service_account": cluster_sa,
                    "oauth_scopes": [CLOUD_PLATFORM],
                    "gcfs_config": {"enabled": True},
                    "shielded_instance_config": {
                        "enable_secure_boot": True,
                        "enable_integrity_monitoring": True,
                    },
                },
            }
        ],
    }
    if config.cluster.version:
        spec["initial_cluster_version"] = config.cluster.version
    deps = ("apis", "network:mgmt", "subnet:mgmt", "sa:cluster")
    cluster = Node("cluster", "container.cluster", spec["name"], region, deps, spec)
    return [cluster, *(_pool(d, cluster_sa, entry) for entry in config.gpu.capacity)]


def _pool(d: Deployment, service_account: str, entry: str) -> Node:
    gpu = d.config.gpu
    kind, _, reservation = entry.partition(":")
    name = d.pool_name(entry)
    networks = [{"network": vpc, "subnetwork": subnet} for vpc, subnet in d.node_networks()]
    config: dict[str, Any] = {
        "machine_type": gpu.machine_type,
        "accelerators": [
            {
                "accelerator_count": str(gpu.count),
                "accelerator_type": gpu.accelerator,
                "gpu_driver_installation_config": {"gpu_driver_version": gpu.driver},
            }
        ],
        "service_account": service_account,
        "oauth_scopes": [CLOUD_PLATFORM],
        "gvnic": {"enabled": True},
        "gcfs_config": {"enabled": True},
        "ephemeral_storage_local_ssd_config": {"local_ssd_count": 32},
        "shielded_instance_config": {
            "enable_secure_boot": True,
            "enable_integrity_monitoring": True,
        },
        "labels": {CLASS_LABEL: d.names.compute_class},
        "taints": [{"key": CLASS_LABEL, "value": d.names.compute_class, "effect": "NO_SCHEDULE"}],
        "resource_labels": d.label,
    }
    autoscaling: dict[str, Any] = {
        "enabled": True,
        "min_node_count": 0,
        "max_node_count": gpu.max_nodes,
    }
    if kind == "spot":
        # Spot VMs would otherwise consume a matching reservation first ("ANY" is the
        # default affinity); the reservation has a pool of its own.
        config.update(
            spot=True, reservation_affinity={"consume_reservation_type": "NO_RESERVATION"}
        )
    elif kind == "flex-start":
        config.update(
            flex_start=True,
            max_run_duration=FLEX_MAX_RUN,
            reservation_affinity={"consume_reservation_type": "NO_RESERVATION"},
            disk_type="hyperdisk-balanced",
            disk_size_gb=100,
        )
        autoscaling = {
            "enabled": True,
            "total_min_node_count": 0,
            "total_max_node_count": gpu.max_nodes,
            "location_policy": "ANY",
        }
    else:
        config["reservation_affinity"] = {
            "consume_reservation_type": "SPECIFIC_RESERVATION",
            "key": "compute.googleapis.com/reservation-name",
            "values": [reservation],
        }
    spec = {
        "name": name,
        "initial_node_count": 0,
        "locations": [d.zone],
        "config": config,
        "autoscaling": autoscaling,
        "management": {"auto_repair": False, "auto_upgrade": True},
        "network_config": {"additional_node_network_configs": networks},
    }
    deps = (
        "cluster",
        "sa:cluster",
        "subnet:primary",
        *(f"subnet:rdma-{i}" for i in range(len(d.rdma_subnets))),
    )
    return Node(
        f"nodepool:{POOL_SUFFIX[kind]}",
        "container.nodePool",
        name,
        d.region,
        deps,
        {**spec, "cluster": d.names.cluster},
    )


class _GkeKind(Kind):
    """What clusters and node pools share: paths, operations, waiting until RUNNING,
    deleting."""

    delete_method: str  # the ClusterManagerClient method that deletes one

    def _client(self, cloud: Cloud) -> Any:
        return cloud.container()

    @staticmethod
    def _location(cloud: Cloud, node: Node) -> str:
        return f"projects/{cloud.project}/locations/{node.location}"

    @abstractmethod
    def _path(self, cloud: Cloud, node: Node) -> str:
        """The resource's full name."""

    @abstractmethod
    def _get(self, cloud: Cloud, name: str) -> Any:
        """Read the resource by full name."""

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        return fetch(node, lambda: self._get(cloud, self._path(cloud, node)))

    def _wait(self, cloud: Cloud, node: Node, operation: Any, on_operation: OnOperation) -> None:
        on_operation(operation.name)
        wait_gke(cloud, f"{self._location(cloud, node)}/operations/{operation.name}")

    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None:
        """Delete by full name, retrying while another operation holds the cluster."""
        retry = until_cluster_is_free(cloud.poll.initial_s, cloud.poll.deadline_s)
        name = self._path(cloud, node)
        delete = getattr(self._client(cloud), self.delete_method)
        remove(
            node,
            lambda: delete(name=name, retry=retry),
            lambda operation: self._wait(cloud, node, operation, on_operation),
        )

    def settle(self, cloud: Cloud, node: Node, observed: dict[str, Any]) -> dict[str, Any]:
        """Wait until a resource found PROVISIONING (an interrupted create) is RUNNING."""
        latest = observed

        def running() -> bool:
            nonlocal latest
            if latest.get("status") in ("RUNNING", "RECONCILING"):
                return True
            if latest.get("status") in ("ERROR", "DEGRADED", "STOPPING"):
                raise CloudError(f"{node.key} ({node.name})", f"is {latest.get('status')}")
            latest = self.observe(cloud, node) or {}
            return False

        wait_until(running, name=node.key, policy=cloud.poll)
        return latest


class Cluster(_GkeKind):
    delete_method = "delete_cluster"
    kind = "container.cluster"

    def _path(self, cloud: Cloud, node: Node) -> str:
        return f"{self._location(cloud, node)}/clusters/{node.name}"

    def _get(self, cloud: Cloud, name: str) -> Any:
        return self._client(cloud).get_cluster(
            name=name, retry=transient_retry(cloud.poll.initial_s)
        )

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return labelled(observed.get("resource_labels"), node.spec["resource_labels"])

    def compare(self, node: Node, observed: Mapping[str, Any]) -> list[Change]:
        """The settings, not the node pools (managed as nodes of their own)."""
        spec = {
            k: v for k, v in node.spec.items() if k not in ("node_pools", "initial_cluster_version")
        }
        changes = diff(spec, observed)
        version = node.spec.get("initial_cluster_version")
        if version and observed.get("current_master_version") != version:
            changes.append(
                Change("current_master_version", observed.get("current_master_version"), version)
            )
        return changes

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "endpoint": observed.get("endpoint"),
            "version": observed.get("current_master_version"),
        }

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        from google.cloud import container_v1

        cluster = to_message(container_v1.Cluster, node.spec)
        with api_errors(f"{node.key} ({node.name})"):
            try:
                operation = self._client(cloud).create_cluster(
                    parent=self._location(cloud, node),
                    cluster=cluster,
                    retry=until_account_is_usable(cloud.poll.initial_s, cloud.poll.maximum_s),
                )
            except already_exists() as exc:
                return self.outputs(self.adopt_existing(cloud, node, exc))
            self._wait(cloud, node, operation, on_operation)
        return self.outputs(self.observe(cloud, node) or {})


class NodePool(_GkeKind):
    delete_method = "delete_node_pool"
    kind = "container.nodePool"

    def _path(self, cloud: Cloud, node: Node) -> str:
        return (
            f"{self._location(cloud, node)}/clusters/{node.spec['cluster']}/nodePools/{node.name}"
        )

    def _get(self, cloud: Cloud, name: str) -> Any:
        return self._client(cloud).get_node_pool(
            name=name, retry=transient_retry(cloud.poll.initial_s)
        )

    def _pool_spec(self, node: Node) -> dict[str, Any]:
        return {k: v for k, v in node.spec.items() if k != "cluster"}

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        wanted = node.spec.get("config", {}).get("resource_labels", {})
        return labelled(observed.get("config", {}).get("resource_labels"), wanted)

    def compare(self, node: Node, observed: Mapping[str, Any]) -> list[Change]:
        """Drift from the spec; taints GKE adds to a GPU pool on its own (keys oasis
        does not set, such as nvidia.com/gpu) are GKE's, not drift. Labels are compared
        by the keys oasis sets already."""
        config = dict(observed.get("config", {}))
        ours = {t["key"] for t in node.spec.get("config", {}).get("taints", [])}
        config["taints"] = [t for t in config.get("taints", []) if t.get("key") in ours]
        return diff(self._pool_spec(node), {**observed, "config": config})

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        return {"version": observed.get("version")}

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        from google.cloud import container_v1

        pool = to_message(container_v1.NodePool, self._pool_spec(node))
        parent = self._path(cloud, node).rsplit("/nodePools/", 1)[0]
        with api_errors(f"{node.key} ({node.name})"):
            try:
                operation = self._client(cloud).create_node_pool(
                    parent=parent,
                    node_pool=pool,
                    retry=until_cluster_is_free(
                        cloud.poll.initial_s, cloud.poll.deadline_s, account_not_visible
                    ),
                )
            except already_exists() as exc:
                return self.outputs(self.adopt_existing(cloud, node, exc))
            try:
                self._wait(cloud, node, operation, on_operation)
            except OperationFailed as failed:
                raise CloudError(
                    f"{node.key} ({node.name})",
                    str(failed),
                    hint="GPU capacity may be exhausted: try another capacity entry or zone.",
                ) from None
        return self.outputs(self.observe(cloud, node) or {})


KINDS: tuple[Kind, ...] = (Cluster(), NodePool())
