"""Cloud Build v1 private worker pools as the local cloud serves them: a pool's peered
network needs a Service Networking connection (Cloud Build docs, "Set up your
environment to create private connections"); worker disks are 100-4000 GB (the
`WorkerConfig.diskSizeGb` reference). `CloudBuild` serves the builds on top.
"""

from __future__ import annotations

import re
import time

from oasis_cli.localcloud.gcp import peering
from oasis_cli.localcloud.gcp.peering import HOLD_S, NETWORK, compute_network, connection_of
from oasis_cli.localcloud.infra.http import HttpError, Request, Response
from oasis_cli.localcloud.infra.rest import RestService, normalize, public, timestamp

POOL_S = 180.0
TYPE = "type.googleapis.com/google.devtools.cloudbuild.v1."


class WorkerPools(RestService):
    """The worker pool handlers of the Cloud Build service."""

    def _create_pool(self, world: dict, params: dict, request: Request) -> Response:
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
            metadata_type=TYPE + "CreateWorkerPoolOperationMetadata",
            response={"@type": TYPE + "WorkerPool", **public(pool)},
            target=("workerPools", name),
        )

    def _get_pool(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, public(self.find(world, "workerPools", params["name"])))

    def _delete_pool(self, world: dict, params: dict, request: Request) -> Response:
        name = params["name"]
        pool = self.remove(world, "workerPools", name, POOL_S / 3)
        network = pool.get("privatePoolV1Config", {}).get("networkConfig", {})
        if network.get("peeredNetwork"):
            peering.hold(world, network["peeredNetwork"], pool["_gone_at"] + self.latency(HOLD_S))
        return self.operation(
            world,
            request,
            prefix=name.split("/workerPools/")[0],
            metadata_type=TYPE + "DeleteWorkerPoolOperationMetadata",
            response={"@type": "type.googleapis.com/google.protobuf.Empty"},
            target=("workerPools", name),
        )
