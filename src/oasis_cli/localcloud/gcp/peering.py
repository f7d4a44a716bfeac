"""Service Networking v1 (private services access) as the local cloud serves it.

Rules kept: a connection needs reserved VPC_PEERING ranges on its network; a peered
network or its reserved range cannot be deleted while the connection exists.

deleteConnection is refused while a producer service holds resources behind the
connection, and producers hold them for a while after their own instance is deleted
(GoogleCloudPlatform/magic-modules#18476; hashicorp/terraform-provider-google#16275,
#19908): here a Cloud Build private pool on the network, and for `HOLD_S` after it
was deleted. The refusal comes in the operation, code 9, with the service's words
(terraform-provider-google#18834). Removing the `servicenetworking-googleapis-com`
peering through compute (`networks.removePeering`) removes the connection with it.
"""

from __future__ import annotations

import re
import time
from typing import Any

from oasis_cli.localcloud.gcp.compute_rules import relative
from oasis_cli.localcloud.gcp.projects import project_number
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import HttpError, Request, Response
from oasis_cli.localcloud.infra.rest import Handler, RestService, public

NETWORK = re.compile(r"^projects/([^/]+)/global/networks/([^/]+)$")
SERVICE = "services/servicenetworking.googleapis.com"
CONNECT_S = 60.0
HOLD_S = 3600.0  # producers keep resources "for a while" (Cloud SQL: days): an hour here
IN_USE = (
    "Failed to delete connection; Producer services (e.g. CloudSQL, Cloud Memstore, etc.) "
    "are still using this connection."
)


def hold(world: dict[str, Any], network_link: str, until: float) -> None:
    """A producer (the build pool on `network_link`) keeps the connection until `until`."""
    connection = connection_of(world, compute_network(world, network_link))
    if connection is not None:
        connection["_held_until"] = max(connection.get("_held_until", 0.0), until)


def compute_network(world: dict[str, Any], link: str) -> str:
    """`projects/{id}/global/networks/{name}` for a link naming the project by id or number."""
    match = NETWORK.match(link[link.find("projects/") :] if "projects/" in link else link)
    if match is None:
        raise HttpError(400, f"Invalid network: {link}")
    project, name = match.groups()
    if project.isdigit():
        for path in world_tables.NETWORKS.rows(world):
            other = path.split("/")[1]
            if project_number(other) == project and path.endswith(f"/networks/{name}"):
                return path
    return f"projects/{project}/global/networks/{name}"


def connection_of(world: dict[str, Any], network: str) -> dict[str, Any] | None:
    connection: dict[str, Any] | None = world_tables.CONNECTIONS.rows(world).get(network)
    return connection


class ServiceNetworking(RestService):
    api_name, api_version, service = "servicenetworking", "v1", "servicenetworking"
    tables = {"connections": "servicenetworking#connection"}

    def routes(self) -> dict[str, Handler]:
        return {
            "servicenetworking.services.connections.create": self._create,
            "servicenetworking.services.connections.list": self._list,
            "servicenetworking.services.connections.deleteConnection": self._delete,
            "servicenetworking.operations.get": self.get_operation,
        }

    def target(self, request: Request) -> str:
        body = request.body if isinstance(request.body, dict) else {}
        return str(body.get("network") or body.get("consumerNetwork") or "")

    def inventory(self, world: dict[str, Any]) -> list[dict[str, Any]]:
        """Connections are listed by their peering's name, not their network's."""
        return [{**item, "name": item["resource"]["peering"]} for item in super().inventory(world)]

    def _create(self, world: dict, params: dict, request: Request) -> Response:
        body = dict(request.body or {})
        network = compute_network(world, body.get("network", ""))
        if network not in world_tables.NETWORKS.rows(world):
            raise HttpError(400, f"Network {network} not found.")
        ranges = body.get("reservedPeeringRanges", [])
        if not ranges:
            raise HttpError(400, "reservedPeeringRanges is required.")
        project = network.split("/")[1]
        for name in ranges:
            address = world_tables.GLOBAL_ADDRESSES.rows(world).get(
                f"projects/{project}/global/addresses/{name}"
            )
            if (
                address is None
                or address.get("purpose") != "VPC_PEERING"
                or (relative(address.get("network", "")) != network)
            ):
                raise HttpError(
                    400, f"Reserved range {name} is not a VPC_PEERING range on {network}."
                )
        by_number = f"projects/{project_number(project)}/global/networks/{network.split('/')[-1]}"
        connection = {
            "network": by_number,
            "reservedPeeringRanges": ranges,
            "peering": "servicenetworking-googleapis-com",
            "service": SERVICE,
        }
        self.add(world, "connections", network, connection, CONNECT_S)
        return self.operation(
            world,
            request,
            prefix="",
            metadata_type="type.googleapis.com/google.protobuf.Empty",
            response={
                "@type": "type.googleapis.com/google.cloud.servicenetworking.v1.Connection",
                **connection,
            },
            target=("connections", network),
        )

    def _list(self, world: dict, params: dict, request: Request) -> Response:
        wanted = request.param("network")
        network = compute_network(world, wanted) if wanted else None
        found = [
            public(c)
            for key, c in sorted(self.table(world, "connections").items())
            if self.visible(c) and (network is None or key == network)
        ]
        return Response(200, {"connections": found})

    def _delete(self, world: dict, params: dict, request: Request) -> Response:
        network = compute_network(world, (request.body or {}).get("consumerNetwork", ""))
        connection = self.find(world, "connections", network)
        pools = [
            pool
            for pool in world_tables.WORKER_POOLS.rows(world).values()
            if compute_network(
                world,
                pool.get("privatePoolV1Config", {})
                .get("networkConfig", {})
                .get("peeredNetwork", "x/x"),
            )
            == network
        ]
        if pools or connection.get("_held_until", 0.0) > time.time():
            return self.operation(
                world,
                request,
                prefix="",
                metadata_type="type.googleapis.com/google.protobuf.Empty",
                response=None,
                target=None,
                refused={"code": "FAILED_PRECONDITION", "message": IN_USE, "status": 400},
            )
        self.remove(world, "connections", network, CONNECT_S / 2)
        return self.operation(
            world,
            request,
            prefix="",
            metadata_type="type.googleapis.com/google.protobuf.Empty",
            response={"@type": "type.googleapis.com/google.protobuf.Empty"},
            target=("connections", network),
        )
