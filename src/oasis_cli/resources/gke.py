"""The GKE cluster (SPEC section 3), and what it shares with its node pools
(`nodepools`): paths, operations, waiting until RUNNING, deleting.

The cluster is regional with node locations [zone], on the management VPC, private
nodes, multi-networking on Dataplane V2, Workload Identity, and the add-ons the
platform needs; it is enrolled in a release channel, which upgrades it.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.config.versions import gke_version
from oasis_cli.errors import CloudError
from oasis_cli.gcp.errors import (
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
PIN = "oasis-no-minor-or-node-upgrades"
PIN_WINDOW = {
    "start_time": "2025-12-01T00:00:00Z",
    "maintenance_exclusion_options": {
        "scope": "NO_MINOR_OR_NODE_UPGRADES",
        "end_time_behavior": "UNTIL_END_OF_SUPPORT",
    },
}
"""`cluster.pin_version`: the release channel keeps patching the control plane but
makes no minor or node upgrade until the minor's end of support, as Google's A3 Ultra
blueprint pins its clusters (GoogleCloudPlatform/cluster-toolkit
examples/gke-a3-ultragpu/gke-a3-ultragpu.yaml: release_channel REGULAR plus a
NO_MINOR_OR_NODE_UPGRADES exclusion, UNTIL_END_OF_SUPPORT)."""


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
    spec["release_channel"] = {"channel": config.cluster.release_channel}
    if config.cluster.pin_version:
        spec["maintenance_policy"] = {"window": {"maintenance_exclusions": {PIN: PIN_WINDOW}}}
    if config.cluster.version:
        spec["initial_cluster_version"] = config.cluster.version
    deps = ("apis", "network:mgmt", "subnet:mgmt", "sa:cluster")
    return [Node("cluster", "container.cluster", spec["name"], region, deps, spec)]


def _older(live: str, wanted: str) -> bool:
    """Whether GKE version `live` is older than `wanted` (unparseable: different)."""
    try:
        return gke_version(live) < gke_version(wanted)
    except ValueError:
        return live != wanted


class GkeKind(Kind):
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
        """The resource; one being deleted (a killed `down`) is waited for until it is
        gone, so that `up` creates it again instead of stopping at STOPPING."""
        found = fetch(node, lambda: self._get(cloud, self._path(cloud, node)))
        if found is None or found.get("status") != "STOPPING":
            return found

        def gone() -> bool:
            nonlocal found
            found = fetch(node, lambda: self._get(cloud, self._path(cloud, node)))
            return found is None or found.get("status") != "STOPPING"

        wait_until(gone, name=f"{node.key} ({node.name}) to finish deleting", policy=cloud.poll)
        return found

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

    def broken(self, observed: Mapping[str, Any]) -> list[Change]:
        """A resource GKE left in ERROR (a failed create) is replaced: planned as a
        change, made by deleting and creating it again (`replace`)."""
        status = observed.get("status")
        return [Change("status", status, REPLACED)] if status == "ERROR" else []

    def in_place(self, change: Change) -> bool:
        return change.field == "status" or self._updatable(change.field)

    @abstractmethod
    def _updatable(self, field: str) -> bool:
        """Whether GKE changes the setting at spec path `field` in place."""

    @abstractmethod
    def _updates(self, cloud: Cloud, node: Node, changes: tuple[Change, ...]) -> list[Any]:
        """The calls that make `changes`, one GKE operation each; each is called with
        `retry=`."""

    def update(
        self,
        cloud: Cloud,
        node: Node,
        changes: tuple[Change, ...],
        request_id: str,
        on_operation: OnOperation,
    ) -> dict[str, Any]:
        """A resource in ERROR is replaced; what GKE changes in place is changed, one
        operation at a time (retried while another holds the cluster); anything else
        needs recreation, which oasis does not do on its own."""
        if any(c.field == "status" for c in changes):
            return self.replace(cloud, node, request_id, on_operation)
        if any(not self.in_place(c) for c in changes):
            return super().update(cloud, node, changes, request_id, on_operation)
        retry = until_cluster_is_free(cloud.poll.initial_s, cloud.poll.deadline_s)
        with api_errors(f"{node.key} ({node.name})"):
            for call in self._updates(cloud, node, changes):
                self._wait(cloud, node, call(retry=retry), on_operation)
        return self.outputs(self.observe(cloud, node) or {})

    def replace(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        self.delete(cloud, node, request_id, on_operation, {})
        return self.create(cloud, node, request_id, on_operation)

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


REPLACED = "RUNNING (deleted and created again)"


Desired = Callable[[Mapping[str, Any]], tuple[str, Any]]  # spec -> (desired_* field, value)


def _desired_endpoints(spec: Mapping[str, Any]) -> tuple[str, Any]:
    ip = spec["control_plane_endpoints_config"]["ip_endpoints_config"]
    networks = {"authorized_networks_config": ip["authorized_networks_config"]}
    return "desired_control_plane_endpoints_config", {"ip_endpoints_config": networks}


IN_PLACE: dict[str, Desired] = {
    "control_plane_endpoints_config.ip_endpoints_config.authorized_networks_config": (
        _desired_endpoints
    ),
    "release_channel": lambda spec: ("desired_release_channel", spec["release_channel"]),
    "current_master_version": lambda spec: (
        "desired_master_version",
        spec["initial_cluster_version"],
    ),
}


def _whole(field: str, *path: str) -> Desired:
    def desired(spec: Mapping[str, Any]) -> tuple[str, Any]:
        value: Any = spec
        for part in path:
            value = value[part]
        return field, value

    return desired


WHOLE = (  # settings ClusterUpdate takes whole (container v1 ClusterUpdate.desired_*)
    ("logging_config", "desired_logging_config"),
    ("monitoring_config", "desired_monitoring_config"),
    ("addons_config", "desired_addons_config"),
    ("binary_authorization", "desired_binary_authorization"),
    ("cost_management_config", "desired_cost_management_config"),
    ("autoscaling", "desired_cluster_autoscaling"),
    ("secret_manager_config", "desired_secret_manager_config"),
    ("workload_identity_config", "desired_workload_identity_config"),
    ("shielded_nodes", "desired_shielded_nodes"),
    ("network_config.default_enable_private_nodes", "desired_default_enable_private_nodes"),
    ("network_config.enable_multi_networking", "desired_enable_multi_networking"),
)
IN_PLACE.update({setting: _whole(field, *setting.split(".")) for setting, field in WHOLE})
"""Cluster settings GKE updates in place (ClusterUpdate's desired_* fields), by the
spec path a change names, with the update that makes it. Not among them, so planned
as needing recreation: the network and subnetwork, node locations, the datapath
provider (Dataplane V2 cannot be turned on for an existing cluster), the IP allocation
policy, the default pool (a node pool of its own)."""


class Cluster(GkeKind):
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
        endpoints = spec.get("control_plane_endpoints_config", {}).get("ip_endpoints_config", {})
        if not endpoints.get("authorized_networks_config", {}).get("cidr_blocks", True):
            # the caller's address is detected by `up` and `plan`; a command that does
            # not detect it (status, down) takes the cluster's networks as they are
            endpoints = {k: v for k, v in endpoints.items() if k != "authorized_networks_config"}
            spec["control_plane_endpoints_config"] = {
                **spec["control_plane_endpoints_config"],
                "ip_endpoints_config": endpoints,
            }
        changes = self.broken(observed) + diff(spec, observed)
        version = node.spec.get("initial_cluster_version")
        live = observed.get("current_master_version") or ""
        if version and _older(live, version):
            # a channel upgrades a cluster (never downgrades): a newer live version is
            # the channel at work, not drift
            changes.append(Change("current_master_version", live, version))
        return changes

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "endpoint": observed.get("endpoint"),
            "version": observed.get("current_master_version"),
        }

    def _updatable(self, field: str) -> bool:
        return any(field.startswith(prefix) for prefix in IN_PLACE)

    def _updates(self, cloud: Cloud, node: Node, changes: tuple[Change, ...]) -> list[Any]:
        """One `clusters.update` per setting changed: the authorized networks (the
        operator's IP changes), the release channel, the control plane's version (an
        upgrade; GKE never downgrades), and the rest ClusterUpdate takes whole."""
        prefixes = sorted({p for c in changes for p in IN_PLACE if c.field.startswith(p)})
        update, name = self._client(cloud).update_cluster, self._path(cloud, node)
        return [partial(update, name=name, update=dict([IN_PLACE[p](node.spec)])) for p in prefixes]

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


KINDS: tuple[Kind, ...] = (Cluster(),)
