"""The Google APIs the platform needs, enabled in one Service Usage batch.

First in the graph; a run where every API is on costs one batchGet. `down` leaves
them enabled: other workloads in the project may rely on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.gcp.errors import api_errors, transient_retry
from oasis_cli.gcp.waiter import wait_longrunning
from oasis_cli.graph import Node
from oasis_cli.resources.base import Change, Kind, OnOperation

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud

SERVICES = (
    "compute",
    "container",
    "storage",
    "iam",
    "iamcredentials",
    "artifactregistry",
    "cloudbuild",
    "secretmanager",
    "servicenetworking",
    "containeranalysis",
    "containerscanning",
    "binaryauthorization",
    "cloudresourcemanager",
)


def api_nodes(d: Deployment) -> list[Node]:
    services = [f"{service}.googleapis.com" for service in SERVICES]
    return [
        Node(
            "apis",
            "serviceusage.apis",
            f"{len(services)} APIs",
            "global",
            (),
            {"services": services},
        )
    ]


class Apis(Kind):
    kind = "serviceusage.apis"

    def _client(self, cloud: Cloud) -> Any:
        return cloud.client("serviceusage", "google.cloud.service_usage_v1", "ServiceUsageClient")

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        from google.cloud import service_usage_v1

        parent = f"projects/{cloud.project}"
        names = [f"{parent}/services/{service}" for service in node.spec["services"]]
        with api_errors("apis"):
            response = self._client(cloud).batch_get_services(
                request={"parent": parent, "names": names},
                retry=transient_retry(cloud.poll.initial_s),
            )
        enabled = sorted(
            service.config.name
            for service in response.services
            if service.state == service_usage_v1.State.ENABLED
        )
        return {"enabled": enabled} if enabled else None

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return True

    def compare(self, node: Node, observed: Mapping[str, Any]) -> list[Change]:
        missing = [s for s in node.spec["services"] if s not in observed.get("enabled", [])]
        return [Change("disabled", missing, [])] if missing else []

    def _enable(
        self, cloud: Cloud, services: list[str], on_operation: OnOperation
    ) -> dict[str, Any]:
        with api_errors("apis"):
            operation = self._client(cloud).batch_enable_services(
                request={"parent": f"projects/{cloud.project}", "service_ids": services},
                retry=transient_retry(cloud.poll.initial_s),
            )
            on_operation(operation.operation.name)
            wait_longrunning(cloud, operation)
        return {"enabled": services}

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        return self._enable(cloud, list(node.spec["services"]), on_operation)

    def update(
        self,
        cloud: Cloud,
        node: Node,
        changes: tuple[Change, ...],
        request_id: str,
        on_operation: OnOperation,
    ) -> dict[str, Any]:
        self._enable(cloud, list(changes[0].current), on_operation)
        return {"enabled": list(node.spec["services"])}

    def in_place(self, change: Change) -> bool:
        return True  # enabling more APIs

    def retained(self, node: Node, delete_data: bool) -> str | None:
        return "APIs stay enabled: other workloads in the project may use them"

    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None:
        """Never called: APIs are retained."""


KINDS: tuple[Kind, ...] = (Apis(),)
