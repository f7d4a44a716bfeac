"""The Cloud Build private pool `{d}-build-pool` (e2-highmem-8, 100 GB), peered to
the management VPC through the reserved range `{d}-worker-pool-range` (VPC_PEERING,
/16) and a Service Networking connection.

Service Networking has no GAPIC client: it is called over REST through google-auth's
AuthorizedSession, with the same endpoint override, errors and waiter as the rest.
Cloud Build names the peered network by project number; `observe` reports it by
project id so that desired and live settings compare directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from oasis_cli.config.names import Deployment
from oasis_cli.errors import OperationFailed
from oasis_cli.gcp.clients import Cloud
from oasis_cli.gcp.errors import api_errors, transient_retry
from oasis_cli.gcp.messages import to_message, to_plain
from oasis_cli.gcp.waiter import wait_compute
from oasis_cli.graph import Node
from oasis_cli.polling import wait_until
from oasis_cli.resources.base import Kind, OnOperation, already_exists
from oasis_cli.resources.compute import ComputeKind
from oasis_cli.resources.template import PlainKind

SERVICE = "v1/services/servicenetworking.googleapis.com"
DELETE_ATTEMPTS = 4  # deleteConnection tries before the peering is removed instead
PEERING = "servicenetworking-googleapis-com"  # the VPC peering the connection makes
log = logging.getLogger(__name__)


def build_pool_nodes(d: Deployment) -> list[Node]:
    network = d.names.mgmt_network
    link = f"projects/{d.project}/global/networks/{network}"
    range_name = d.names.worker_pool_range
    address = {
        "name": range_name,
        "description": d.marker,
        "purpose": "VPC_PEERING",
        "address_type": "INTERNAL",
        "prefix_length": 16,
        "network": link,
    }
    pool = {
        "display_name": f"{d.name} private build pool",
        "annotations": d.label,
        "private_pool_v1_config": {
            "worker_config": {"machine_type": "e2-highmem-8", "disk_size_gb": "100"},
            "network_config": {"peered_network": link},
        },
    }
    return [
        Node(
            "address:worker-pool-range",
            "compute.globalAddress",
            range_name,
            "global",
            ("network:mgmt",),
            address,
        ),
        Node(
            "peering:servicenetworking",
            "servicenetworking.connection",
            PEERING,
            "global",
            ("address:worker-pool-range",),
            {"network": link, "ranges": [range_name]},
        ),
        Node(
            "buildpool",
            "cloudbuild.workerPool",
            d.names.build_pool,
            d.region,
            ("apis", "peering:servicenetworking"),
            pool,
        ),
    ]


def _by_number(cloud: Cloud, link: str) -> str:
    return link.replace(f"projects/{cloud.project}/", f"projects/{cloud.project_number()}/", 1)


def _by_id(cloud: Cloud, link: str) -> str:
    return link.replace(f"projects/{cloud.project_number()}/", f"projects/{cloud.project}/", 1)


class Connection(Kind):
    """The private services access connection of the management VPC."""

    kind = "servicenetworking.connection"

    def _session(self, cloud: Cloud) -> Any:
        from google.auth.transport.requests import AuthorizedSession

        return AuthorizedSession(cloud.credentials)

    def _base(self, cloud: Cloud) -> str:
        return cloud.endpoints.get("servicenetworking", "https://servicenetworking.googleapis.com")

    def _call(self, cloud: Cloud, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call, retried on transient failures inside a deadline like every
        client library call (Service Networking has no client library)."""
        from google.api_core import exceptions

        def call() -> Any:
            url = f"{self._base(cloud)}/{path}"
            response = self._session(cloud).request(method, url, **kwargs)
            if response.status_code >= 400:
                raise exceptions.from_http_response(response)
            return response.json()

        return transient_retry(cloud.poll.initial_s)(call)()

    def connections(self, cloud: Cloud, network: str) -> list[dict[str, Any]]:
        """The Service Networking connections of `network` (projects/ID/global/...)."""
        params = {"network": _by_number(cloud, network)}
        found = self._call(cloud, "GET", f"{SERVICE}/connections", params=params)
        connections: list[dict[str, Any]] = found.get("connections", [])
        return connections

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        with api_errors(f"{node.key} ({node.name})"):
            found = self.connections(cloud, node.spec["network"])
        for connection in found:
            return {
                "network": _by_id(cloud, connection["network"]),
                "ranges": connection.get("reservedPeeringRanges", []),
            }
        return None

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return set(node.spec["ranges"]) <= set(observed.get("ranges", []))

    def _wait(self, cloud: Cloud, node: Node, operation: dict[str, Any]) -> None:
        latest = operation

        def done() -> bool:
            nonlocal latest
            if not latest.get("done"):
                latest = self._call(cloud, "GET", f"v1/{operation['name']}")
            return bool(latest.get("done"))

        wait_until(done, name=operation["name"], policy=cloud.poll)
        if "error" in latest:
            error = latest["error"]
            raise OperationFailed(
                operation["name"], error.get("code", "error"), error.get("message", "")
            )

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        body = {
            "network": _by_number(cloud, node.spec["network"]),
            "reservedPeeringRanges": node.spec["ranges"],
        }
        with api_errors(f"{node.key} ({node.name})"):
            try:
                operation = self._call(cloud, "POST", f"{SERVICE}/connections", json=body)
            except already_exists() as exc:  # a retry after a create that was served
                self.adopt_existing(cloud, node, exc)
                return {"peering": PEERING}
            on_operation(operation["name"])
            self._wait(cloud, node, operation)
        return {"peering": PEERING}

    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None:
        """deleteConnection, retried while producer services still hold the connection;
        if they keep holding it, remove its VPC peering through compute instead, as
        Terraform's REMOVE_PEERING deletion policy does (GoogleCloudPlatform/
        magic-modules#18476): producers keep resources behind a connection for a while
        after their own instance is gone (terraform-provider-google#16275, #19908), and
        the network cannot be deleted while the peering stays."""
        body = {"consumerNetwork": _by_number(cloud, node.spec["network"])}
        path = f"{SERVICE}/connections/{PEERING}"  # deleteConnection: POST to its name
        delay = cloud.poll.initial_s
        with api_errors(f"{node.key} ({node.name})"):
            for attempt in range(DELETE_ATTEMPTS):
                if self.observe(cloud, node) is None:
                    return  # gone (an earlier attempt, or the peering's removal)
                operation = self._call(cloud, "POST", path, json=body)
                on_operation(operation["name"])
                try:
                    self._wait(cloud, node, operation)
                    return
                except OperationFailed as failed:
                    if not _held(failed):
                        raise
                log.info("%s: still held by producer services (attempt %d)", node.key, attempt + 1)
                time.sleep(delay)
                delay = min(delay * 2, cloud.poll.maximum_s)
            self._remove_peering(cloud, node, on_operation)

    def _remove_peering(self, cloud: Cloud, node: Node, on_operation: OnOperation) -> None:
        from google.cloud import compute_v1

        network = node.spec["network"].rsplit("/", 1)[-1]
        request = compute_v1.RemovePeeringNetworkRequest(
            project=cloud.project,
            network=network,
            networks_remove_peering_request_resource={"name": PEERING},
        )
        operation = cloud.compute("NetworksClient").remove_peering(
            request=request, retry=transient_retry(cloud.poll.initial_s)
        )
        on_operation(operation.name)
        wait_compute(cloud, operation, scope="global")


def _held(failed: OperationFailed) -> bool:
    """deleteConnection's refusal while producers hold the connection (code 9,
    FAILED_PRECONDITION: terraform-provider-google#18834)."""
    return "Producer services" in str(failed) and "still using this connection" in str(failed)


class WorkerPool(PlainKind):
    """The private pool; Cloud Build names its peered network by project number."""

    kind = "cloudbuild.workerPool"
    service, module = "cloudbuild", "google.cloud.devtools.cloudbuild_v1"
    client_name, message = "CloudBuildClient", "WorkerPool"
    resource, collection, regional, longrunning = "worker_pool", "workerPools", True, True
    labels_field = "annotations"

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        found = super().observe(cloud, node)
        network = (found or {}).get("private_pool_v1_config", {}).get("network_config", {})
        if "peered_network" in network:
            network["peered_network"] = _by_id(cloud, network["peered_network"])
        return found

    def body(self, cloud: Cloud, node: Node) -> Any:
        from google.cloud.devtools import cloudbuild_v1

        spec = to_plain(to_message(cloudbuild_v1.WorkerPool, node.spec))
        network = spec["private_pool_v1_config"]["network_config"]
        network["peered_network"] = _by_number(cloud, network["peered_network"])
        return to_message(cloudbuild_v1.WorkerPool, spec)


class GlobalAddress(ComputeKind):
    kind = "compute.globalAddress"
    client = "GlobalAddressesClient"
    message = "Address"
    request_stem = "GlobalAddress"
    name_field = "address"
    regional = False


KINDS: tuple[Kind, ...] = (GlobalAddress(), Connection(), WorkerPool())
