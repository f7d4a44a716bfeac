"""The H200 node pools of the cluster (SPEC section 3): one per capacity entry, each
with the gVNIC network and the 8 RDMA subnets as additional node networks, in NIC
order. The pools are created and deleted in parallel: "GKE only allows one
cluster-level operation or one operation per node pool to run at the same time"
(https://cloud.google.com/kubernetes-engine/docs/troubleshooting/concurrent-operations),
and a call refused because an incompatible operation runs is retried with backoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import POOL_SUFFIX, Deployment
from oasis_cli.errors import CloudError, OperationFailed
from oasis_cli.gcp.errors import (
    account_not_visible,
    api_errors,
    transient_retry,
    until_cluster_is_free,
)
from oasis_cli.gcp.messages import to_message
from oasis_cli.graph import Node
from oasis_cli.resources.base import Change, Kind, OnOperation, already_exists, diff, labelled
from oasis_cli.resources.gke import CLOUD_PLATFORM, GkeKind
from oasis_cli.resources.iam import email

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud

CLASS_LABEL = "cloud.google.com/compute-class"
FLEX_MAX_RUN = "604800s"


def pool_nodes(d: Deployment) -> list[Node]:
    account = email(d.project, d.names.cluster_service_account)
    return [_pool(d, account, entry) for entry in d.config.gpu.capacity]


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


class NodePool(GkeKind):
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
        return self.broken(observed) + diff(self._pool_spec(node), {**observed, "config": config})

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        return {"version": observed.get("version")}

    def _updatable(self, field: str) -> bool:
        return field.startswith("autoscaling")  # the rest of a pool needs recreation

    def _updates(self, cloud: Cloud, node: Node, changes: tuple[Change, ...]) -> list[Any]:
        """Autoscaling limits in place: nodePools.setAutoscaling."""
        request = {"name": self._path(cloud, node), "autoscaling": node.spec["autoscaling"]}
        return [partial(self._client(cloud).set_node_pool_autoscaling, request=request)]

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


KINDS: tuple[Kind, ...] = (NodePool(),)
