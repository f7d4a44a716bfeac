"""GKE (container v1) as the local cloud serves it: clusters, node pools, operations
and server config, on the `parent`/`name` paths only (the legacy `/zones/` paths
are refused, as oasis must not use them).

"GKE only allows one cluster-level operation or one operation per node pool to run at
the same time" (https://cloud.google.com/kubernetes-engine/docs/troubleshooting/
concurrent-operations): pools are created and deleted concurrently, but not while a
cluster operation runs, and a cluster operation not while any other runs; the refusal
is that page's "Cluster is running incompatible operation OPERATION_NAME". What GKE
checks in a cluster or node pool body is in `container_rules`.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

from oasis_cli.localcloud.gcp import container_rules as rules
from oasis_cli.localcloud.gcp import container_versions as versions
from oasis_cli.localcloud.gcp.container_rules import NAME
from oasis_cli.localcloud.infra import operations
from oasis_cli.localcloud.infra.http import HttpError, Request, Response
from oasis_cli.localcloud.infra.rest import Handler, RestService, normalize, public, timestamp
from oasis_cli.localcloud.infra.tls import ca_certificate

CLUSTER_S, POOL_S = 480.0, 180.0


class Container(RestService):
    api_name, api_version, service = "container", "v1", "container"
    tables = {"clusters": "container#cluster"}

    @staticmethod
    def kube_endpoint(cluster_path: str) -> str:
        """The cluster's Kubernetes API; the running cloud's `KubeServer.endpoint`."""
        return "203.0.113.10"  # TEST-NET-3, while nothing serves (`local-cloud ls`)

    def _view(self, path: str, cluster: dict[str, Any]) -> dict[str, Any]:
        """A cluster as GET returns it: its endpoint is this cloud's Kubernetes API;
        `location`, the deprecated `zone` (which gcloud's list shows as LOCATION) and
        `selfLink` as the container v1 Cluster resource has them."""
        location = path.split("/")[3]
        return {
            **public(cluster),
            "location": location,
            "zone": location,
            "selfLink": f"https://container.googleapis.com/v1/{path}",
            "endpoint": self.kube_endpoint(path),
        }

    def routes(self) -> dict[str, Handler]:
        prefix = "container.projects.locations."
        routes: dict[str, Handler] = {
            prefix + "clusters.create": self._create_cluster,
            prefix + "clusters.get": self._get_cluster,
            prefix + "clusters.list": self._list_clusters,
            prefix + "clusters.delete": self._delete_cluster,
            prefix + "clusters.update": self._update_cluster,
            prefix + "clusters.nodePools.setAutoscaling": self._set_autoscaling,
            prefix + "clusters.nodePools.create": self._create_pool,
            prefix + "clusters.nodePools.get": self._get_pool,
            prefix + "clusters.nodePools.list": self._list_pools,
            prefix + "clusters.nodePools.delete": self._delete_pool,
            prefix + "operations.get": self._get_operation,
            prefix + "operations.list": self._list_operations,
            prefix + "getServerConfig": self._server_config,
        }
        for method in self.api.methods:
            if method.id.startswith("container.projects.zones."):
                routes[method.id] = self._legacy
        return routes

    def target(self, request: Request) -> str:
        body = request.body if isinstance(request.body, dict) else {}
        for field in ("cluster", "nodePool"):
            if isinstance(body.get(field), dict):
                return str(body[field].get("name", ""))
        return super().target(request)

    def _legacy(self, world: dict, params: dict, request: Request) -> Response:
        raise HttpError(
            400,
            "The local cloud accepts only projects/*/locations/* paths (parent/name).",
        )

    # --- operations ------------------------------------------------------------------

    def _start(
        self,
        world: dict,
        location: str,
        kind: str,
        target: str,
        cluster: dict,
        seconds: float,
        request: Request,
    ) -> Response:
        now = time.time()
        name = f"operation-{int(now * 1000)}-{uuid.uuid4().hex[:8]}"
        path = f"{location}/operations/{name}"
        op: dict[str, Any] = {
            "name": name,
            "operationType": kind,
            "status": "RUNNING",
            "selfLink": f"https://container.googleapis.com/v1/{path}",
            "targetLink": f"https://container.googleapis.com/v1/{target}",
            "startTime": timestamp(now),
            "_target": target,
        }
        failed = operations.failure(
            request.fault,
            code="RESOURCE_EXHAUSTED",
            message="ZONE_RESOURCE_POOL_EXHAUSTED",
            status=429,
        )
        done_at = now + self.latency(seconds)
        operations.start(world, self.service, path, op, done_at=done_at, failed=failed)
        if "/nodePools/" in target:
            cluster.setdefault("_pool_operations", {})[target.rsplit("/", 1)[-1]] = path
        else:
            cluster["_operation"] = path
        return Response(200, self._op_view(op))

    @staticmethod
    def _op_view(op: dict[str, Any]) -> dict[str, Any]:
        view = public(op)
        if op["status"] == "DONE" and "_failure" in op:
            view["error"] = operations.rpc_error(op["_failure"])
            view["statusMessage"] = op["_failure"]["message"]
        return view

    def advance(self, world: dict[str, Any]) -> None:
        clusters = self.table(world, "clusters")
        now = time.time()
        for op in operations.due(world, self.service):
            op["status"] = "DONE"
            op["endTime"] = timestamp(now)
            self._finish(clusters, op)
        for cluster in clusters.values():
            idle = not cluster.get("_operation") and not cluster.get("_pool_operations")
            if cluster["status"] == "RUNNING" and idle and cluster.get("_upgrade_at", 0) <= now:
                versions.auto_upgrade(cluster)

    def _finish(self, clusters: dict[str, Any], op: dict[str, Any]) -> None:
        cluster_path = op["_target"].split("/nodePools/")[0]
        cluster = clusters.get(cluster_path)
        if cluster is None:
            return
        if "/nodePools/" in op["_target"]:
            cluster.get("_pool_operations", {}).pop(op["_target"].rsplit("/", 1)[-1], None)
        else:
            cluster.pop("_operation", None)
        failed = "_failure" in op
        kind = op["operationType"]
        if kind == "CREATE_CLUSTER":
            cluster["status"] = "ERROR" if failed else "RUNNING"
            for pool in cluster.get("nodePools", []):
                pool["status"] = "ERROR" if failed else "RUNNING"
        elif kind == "DELETE_CLUSTER" and not failed:
            clusters.pop(cluster_path)
        elif kind == "CREATE_NODE_POOL":
            pool_name = op["_target"].rsplit("/", 1)[-1]
            pools = cluster.get("nodePools", [])
            if failed:
                cluster["nodePools"] = [p for p in pools if p["name"] != pool_name]
            for pool in pools:
                if pool["name"] == pool_name and not failed:
                    pool["status"] = "RUNNING"
        elif kind == "DELETE_NODE_POOL" and not failed:
            pool_name = op["_target"].rsplit("/", 1)[-1]
            cluster["nodePools"] = [p for p in cluster["nodePools"] if p["name"] != pool_name]

    def _get_operation(self, world: dict, params: dict, request: Request) -> Response:
        op = operations.records(world, self.service).get(params["name"])
        if op is None:
            raise HttpError(404, f"Operation '{params['name']}' not found.", "notFound")
        return Response(200, self._op_view(op))

    def _list_operations(self, world: dict, params: dict, request: Request) -> Response:
        """Every operation of a location (`-` for all), as `gcloud container operations
        list` reads them."""
        location = params["parent"]
        prefix = "" if location.endswith("/locations/-") else f"{location}/operations/"
        ops = [
            self._op_view(op)
            for path, op in sorted(operations.records(world, self.service).items())
            if path.startswith(prefix)
        ]
        return Response(200, {"operations": ops})

    def _server_config(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, versions.server_config())

    # --- clusters --------------------------------------------------------------------

    def _cluster(self, world: dict, name: str) -> dict[str, Any]:
        cluster = self.table(world, "clusters").get(name)
        if cluster is None:
            raise HttpError(404, f"Not found: {name}.", "notFound")
        return cluster

    def _create_cluster(self, world: dict, params: dict, request: Request) -> Response:
        from google.cloud import container_v1

        parent = params["parent"]
        _, project, _, location = parent.split("/")
        body = normalize(container_v1.CreateClusterRequest, request.body or {}, "request")
        cluster = body.get("cluster", {})
        name = cluster.get("name", "")
        if not NAME.match(name):
            raise HttpError(400, f"Invalid cluster name '{name}': 1-40 lowercase characters.")
        path = f"{parent}/clusters/{name}"
        if path in self.table(world, "clusters"):
            raise HttpError(409, f"Already exists: {path}.", "alreadyExists")
        rules.check_cluster(world, project, location, cluster)
        version = versions.enroll(cluster)
        now = time.time()
        cluster.update(
            {
                "selfLink": f"https://container.googleapis.com/v1/{path}",
                "location": location,
                "status": "PROVISIONING",
                "currentMasterVersion": version,
                "currentNodeVersion": version,
                "createTime": timestamp(now),
                "_upgrade_at": now + self.latency(versions.AUTO_UPGRADE_S),
                "masterAuth": {
                    "clusterCaCertificate": base64.b64encode(
                        ca_certificate(self.store.directory)
                    ).decode()
                },
            }
        )
        for pool in cluster.get("nodePools", []):
            pool.update(
                {
                    "status": "PROVISIONING",
                    "version": version,
                    "selfLink": f"https://container.googleapis.com/v1/{path}/nodePools/{pool['name']}",
                }
            )
        self.table(world, "clusters")[path] = cluster
        return self._start(world, parent, "CREATE_CLUSTER", path, cluster, CLUSTER_S, request)

    def _list_clusters(self, world: dict, params: dict, request: Request) -> Response:
        """A location's clusters (`-`: every location of the project)."""
        parent = params["parent"]
        prefix = parent.removesuffix("-") if parent.endswith("/locations/-") else parent + "/"
        found = [
            self._view(path, c)
            for path, c in sorted(self.table(world, "clusters").items())
            if path.startswith(prefix)
        ]
        return Response(200, {"clusters": found})

    def _get_cluster(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, self._view(params["name"], self._cluster(world, params["name"])))

    def _busy(self, world: dict, cluster: dict, pool: str | None = None) -> None:
        """Refuse an operation on the cluster (`pool` None) while any operation runs on
        it, or one on `pool` while a cluster operation or one on that pool runs."""
        pools = cluster.get("_pool_operations", {})
        running = cluster.get("_operation") or (
            pools.get(pool) if pool else next(iter(pools.values()), None)
        )
        if running:
            raise HttpError(
                400,
                f"Cluster is running incompatible operation {running.rsplit('/', 1)[-1]}.",
                "failedPrecondition",
            )

    def _delete_cluster(self, world: dict, params: dict, request: Request) -> Response:
        cluster = self._cluster(world, params["name"])
        self._busy(world, cluster)
        cluster["status"] = "STOPPING"
        location = params["name"].split("/clusters/")[0]
        return self._start(
            world, location, "DELETE_CLUSTER", params["name"], cluster, CLUSTER_S / 2, request
        )

    def _update_cluster(self, world: dict, params: dict, request: Request) -> Response:
        """clusters.update: the desired_* fields GKE changes in place, as a cluster-level
        operation (nothing else may run meanwhile)."""
        from google.cloud import container_v1

        cluster = self._cluster(world, params["name"])
        self._busy(world, cluster)
        body = normalize(container_v1.UpdateClusterRequest, request.body or {}, "request")
        update = body.get("update", {})
        if not update:
            raise HttpError(400, "update must set a desired_* field.")
        rules.apply_update(cluster, update)
        location = params["name"].split("/clusters/")[0]
        return self._start(world, location, "UPDATE_CLUSTER", params["name"], cluster, 60, request)

    def _set_autoscaling(self, world: dict, params: dict, request: Request) -> Response:
        from google.cloud import container_v1

        cluster, pool = self._pool(world, params["name"])
        self._busy(world, cluster, pool["name"])
        body = normalize(container_v1.SetNodePoolAutoscalingRequest, request.body or {}, "r")
        candidate = {**pool, "autoscaling": body.get("autoscaling", {})}
        _, project, _, location = params["name"].split("/clusters/")[0].split("/")
        rules.check_pool(world, project, location, cluster, candidate)
        pool["autoscaling"] = candidate["autoscaling"]
        location_path = params["name"].split("/clusters/")[0]
        return self._start(
            world, location_path, "SET_NODE_POOL_AUTOSCALING", params["name"], cluster, 10, request
        )

    # --- node pools ------------------------------------------------------------------

    def _create_pool(self, world: dict, params: dict, request: Request) -> Response:
        from google.cloud import container_v1

        cluster_path = params["parent"]
        cluster = self._cluster(world, cluster_path)
        body = normalize(container_v1.CreateNodePoolRequest, request.body or {}, "request")
        pool = body.get("nodePool", {})
        self._busy(world, cluster, str(pool.get("name", "")))
        if cluster["status"] != "RUNNING":
            raise HttpError(
                400,
                f"Cluster {cluster['name']} is not running ({cluster['status']}).",
                "failedPrecondition",
            )
        _, project, _, location = cluster_path.split("/clusters/")[0].split("/")
        if any(p["name"] == pool.get("name") for p in cluster.get("nodePools", [])):
            raise HttpError(
                409,
                f"Already exists: {cluster_path}/nodePools/{pool.get('name')}.",
                "alreadyExists",
            )
        rules.check_pool(world, project, location, cluster, pool)
        rules.add_gpu_taint(cluster, pool)
        path = f"{cluster_path}/nodePools/{pool['name']}"
        pool.update(
            {
                "status": "PROVISIONING",
                "version": cluster["currentNodeVersion"],
                "selfLink": f"https://container.googleapis.com/v1/{path}",
            }
        )
        cluster.setdefault("nodePools", []).append(pool)
        location_path = cluster_path.split("/clusters/")[0]
        return self._start(world, location_path, "CREATE_NODE_POOL", path, cluster, POOL_S, request)

    def _pool(self, world: dict, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        cluster_path, _, pool_name = name.partition("/nodePools/")
        cluster = self._cluster(world, cluster_path)
        for pool in cluster.get("nodePools", []):
            if pool["name"] == pool_name:
                return cluster, pool
        raise HttpError(404, f"Not found: {name}.", "notFound")

    def _get_pool(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, public(self._pool(world, params["name"])[1]))

    def _list_pools(self, world: dict, params: dict, request: Request) -> Response:
        cluster = self._cluster(world, params["parent"])
        return Response(200, {"nodePools": [public(p) for p in cluster.get("nodePools", [])]})

    def _delete_pool(self, world: dict, params: dict, request: Request) -> Response:
        cluster, pool = self._pool(world, params["name"])
        self._busy(world, cluster, pool["name"])
        pool["status"] = "STOPPING"
        location = params["name"].split("/clusters/")[0]
        return self._start(
            world, location, "DELETE_NODE_POOL", params["name"], cluster, POOL_S / 2, request
        )

    def inventory(self, world: dict[str, Any]) -> list[dict[str, Any]]:
        self.advance(world)
        items = []
        for path, cluster in sorted(self.table(world, "clusters").items()):
            items.append(
                {
                    "service": "container",
                    "kind": "container#cluster",
                    "name": cluster["name"],
                    "location": cluster["location"],
                    "resource": self._view(path, cluster),
                }
            )
            for pool in cluster.get("nodePools", []):
                items.append(
                    {
                        "service": "container",
                        "kind": "container#nodePool",
                        "name": pool["name"],
                        "location": cluster["location"],
                        "resource": public(pool),
                    }
                )
        return items
