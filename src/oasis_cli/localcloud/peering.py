"""Service Networking v1 (private services access) and Cloud Build v1 worker pools,
as the local cloud serves them.

Rules kept: a connection needs reserved VPC_PEERING ranges on its network; a
private pool's peered network needs a Service Networking connection; a peered
network or its reserved range cannot be deleted while the connection exists;
worker disks are 100-4000 GB.
"""

from __future__ import annotations

import re
import time
from typing import Any

from oasis_cli.localcloud.compute import relative
from oasis_cli.localcloud.projects import project_number
from oasis_cli.localcloud.rest import Handler, RestService, normalize, public, timestamp
from oasis_cli.localcloud.server import HttpError, Request, Response

NETWORK = re.compile(r"^projects/([^/]+)/global/networks/([^/]+)$")
SERVICE = "services/servicenetworking.googleapis.com"
CONNECT_S, POOL_S = 60.0, 180.0


def compute_network(world: dict[str, Any], link: str) -> str:
    """`projects/{id}/global/networks/{name}` for a link naming the project by id or number."""
    match = NETWORK.match(link[link.find("projects/") :] if "projects/" in link else link)
    if match is None:
        raise HttpError(400, f"Invalid network: {link}")
    project, name = match.groups()
    if project.isdigit():
        for path in world.get("compute", {}).get("networks", {}):
            other = path.split("/")[1]
            if project_number(other) == project and path.endswith(f"/networks/{name}"):
                return path
    return f"projects/{project}/global/networks/{name}"


def connection_of(world: dict[str, Any], network: str) -> dict[str, Any] | None:
    connection: dict[str, Any] | None = (
        world.get("servicenetworking", {}).get("connections", {}).get(network)
    )
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
        if network not in world.get("compute", {}).get("networks", {}):
            raise HttpError(400, f"Network {network} not found.")
        ranges = body.get("reservedPeeringRanges", [])
        if not ranges:
            raise HttpError(400, "reservedPeeringRanges is required.")
        project = network.split("/")[1]
        for name in ranges:
            address = (
                world.get("compute", {})
                .get("globalAddresses", {})
                .get(f"projects/{project}/global/addresses/{name}")
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
        if network in self.table(world, "connections"):
            for pool in world.get("cloudbuild", {}).get("workerPools", {}).values():
                peered = pool.get("privatePoolV1Config", {}).get("networkConfig", {})
                if compute_network(world, peered.get("peeredNetwork", "x/x")) == network:
                    raise HttpError(
                        400,
                        f"Connection is in use by worker pool {pool['name']}.",
                        "failedPrecondition",
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


class CloudBuild(RestService):
    api_name, api_version, service = "cloudbuild", "v1", "cloudbuild"
    tables = {"workerPools": "cloudbuild#workerPool"}
    TYPE = "type.googleapis.com/google.devtools.cloudbuild.v1."

    def routes(self) -> dict[str, Handler]:
        prefix = "cloudbuild.projects.locations."
        return {
            prefix + "workerPools.create": self._create,
            prefix + "workerPools.get": self._get,
            prefix + "workerPools.delete": self._delete,
            prefix + "operations.get": self.get_operation,
        }

    def _create(self, world: dict, params: dict, request: Request) -> Response:
        from google.cloud.devtools import cloudbuild_v1

        parent = params["parent"]
        pool_id = request.param("workerPoolId") or ""
        if not re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", pool_id):
            raise HttpError(400, f"Invalid worker pool id: '{pool_id}'")
        body = normalize(cloudbuild_v1.WorkerPool, request.body or {}, "workerPool")
        config = body.get("privatePoolV1Config", {})
        worker = config.get("workerConfig", {})
        disk = int(worker.get("diskSizeGb", 100))
        if not 100 <= disk <= 4000:
            raise HttpError(400, f"diskSizeGb must be between 100 and 4000, not {disk}.")
        peered = config.get("networkConfig", {}).get("peeredNetwork")
        if peered:
            if not NETWORK.match(peered) or not peered.split("/")[1].isdigit():
                raise HttpError(400, "peeredNetwork must name the project by number.")
            network = compute_network(world, peered)
            connection = connection_of(world, network)
            if connection is None or not self.visible(connection):
                raise HttpError(
                    400,
                    f"Network {peered} is not peered with Service Networking "
                    "(create a private services connection first).",
                    "failedPrecondition",
                )
        name = f"{parent}/workerPools/{pool_id}"
        now = timestamp(time.time())
        pool = {
            **body,
            "name": name,
            "state": "RUNNING",
            "createTime": now,
            "updateTime": now,
            "etag": "W/1",
        }
        self.add(world, "workerPools", name, pool, POOL_S)
        return self.operation(
            world,
            request,
            prefix=parent,
            metadata_type=self.TYPE + "CreateWorkerPoolOperationMetadata",
            response={"@type": self.TYPE + "WorkerPool", **public(pool)},
            target=("workerPools", name),
        )

    def _get(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, public(self.find(world, "workerPools", params["name"])))

    def _delete(self, world: dict, params: dict, request: Request) -> Response:
        name = params["name"]
        self.remove(world, "workerPools", name, POOL_S / 3)
        return self.operation(
            world,
            request,
            prefix=name.split("/workerPools/")[0],
            metadata_type=self.TYPE + "DeleteWorkerPoolOperationMetadata",
            response={"@type": "type.googleapis.com/google.protobuf.Empty"},
            target=("workerPools", name),
        )
