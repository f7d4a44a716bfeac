"""GKE (container v1) as the local cloud serves it: clusters, node pools, operations
and server config, on the `parent`/`name` paths only (the legacy `/zones/` paths
are refused, as oasis must not use them).

Rules kept from GKE: one operation at a time per cluster (FAILED_PRECONDITION
otherwise), multi-networking needs Dataplane V2 and VPC-native, additional node
networks must exist and RDMA subnets must be in their profile's zone, flex-start
needs autoscaling from 0 and no auto-repair, versions must be valid, networks and
service accounts must exist.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import time
import uuid
from typing import Any

from oasis_cli.localcloud.gcp.projects import service_account_exists
from oasis_cli.localcloud.infra.http import HttpError, Request, Response
from oasis_cli.localcloud.infra.rest import Handler, RestService, normalize, public, timestamp
from oasis_cli.localcloud.infra.tls import ca_certificate

NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
ROCE = re.compile(r"networkProfiles/([a-z]+-[a-z]+\d+-[a-z])-vpc-roce$")
VERSIONS = ["1.31.6-gke.1020000", "1.32.4-gke.1415000", "1.33.5-gke.1080000", "1.34.1-gke.1431000"]
DEFAULT_VERSION = "1.33.5-gke.1080000"
GPUS = {
    "a3-ultragpu-8g": ("nvidia-h200-141gb", 8),
    "a3-megagpu-8g": ("nvidia-h100-mega-80gb", 8),
    "a3-highgpu-8g": ("nvidia-h100-80gb", 8),
    "a4-highgpu-8g": ("nvidia-b200", 8),
}
CLUSTER_S, POOL_S = 480.0, 180.0


def _compute_link(link: str, project: str, collection: str) -> str:
    path = link[link.find("projects/") :] if "projects/" in link else link
    if not path.startswith("projects/"):
        path = f"projects/{project}/{collection}/{path}"
    return path


class Container(RestService):
    api_name, api_version, service = "container", "v1", "container"
    tables = {"clusters": "container#cluster"}
    kube_address = "203.0.113.10"  # the local cloud's Kubernetes API, once it serves

    def _view(self, path: str, cluster: dict[str, Any]) -> dict[str, Any]:
        """A cluster as GET returns it: its endpoint is this cloud's Kubernetes API."""
        _, project, _, location, _, name = path.split("/")
        return {
            **public(cluster),
            "endpoint": f"{self.kube_address}/k8s/{project}/{location}/{name}",
        }

    def routes(self) -> dict[str, Handler]:
        prefix = "container.projects.locations."
        routes: dict[str, Handler] = {
            prefix + "clusters.create": self._create_cluster,
            prefix + "clusters.get": self._get_cluster,
            prefix + "clusters.delete": self._delete_cluster,
            prefix + "clusters.nodePools.create": self._create_pool,
            prefix + "clusters.nodePools.get": self._get_pool,
            prefix + "clusters.nodePools.delete": self._delete_pool,
            prefix + "operations.get": self._get_operation,
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

    def _ops(self, world: dict) -> dict[str, Any]:
        ops: dict[str, Any] = world.setdefault("container", {}).setdefault("_gke_operations", {})
        return ops

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
            "_done_at": now + self.latency(seconds),
            "_target": target,
        }
        fault = request.fault
        if fault and fault.get("action") == "fail_operation":
            op["_error"] = {
                "code": 8,
                "message": fault.get("message", "ZONE_RESOURCE_POOL_EXHAUSTED"),
            }
        self._ops(world)[path] = op
        cluster["_operation"] = path
        return Response(200, self._op_view(op))

    @staticmethod
    def _op_view(op: dict[str, Any]) -> dict[str, Any]:
        view = public(op)
        if op["status"] == "DONE" and "_error" in op:
            view["error"] = op["_error"]
            view["statusMessage"] = op["_error"]["message"]
        return view

    def advance(self, world: dict[str, Any]) -> None:
        now = time.time()
        clusters = self.table(world, "clusters")
        for op in self._ops(world).values():
            if op["status"] == "DONE" or op["_done_at"] > now:
                continue
            op["status"] = "DONE"
            op["endTime"] = timestamp(now)
            self._finish(clusters, op)

    def _finish(self, clusters: dict[str, Any], op: dict[str, Any]) -> None:
        cluster_path = op["_target"].split("/nodePools/")[0]
        cluster = clusters.get(cluster_path)
        if cluster is None:
            return
        cluster.pop("_operation", None)
        failed = "_error" in op
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
        op = self._ops(world).get(params["name"])
        if op is None:
            raise HttpError(404, f"Operation '{params['name']}' not found.", "notFound")
        return Response(200, self._op_view(op))

    def _server_config(self, world: dict, params: dict, request: Request) -> Response:
        return Response(
            200,
            {
                "defaultClusterVersion": DEFAULT_VERSION,
                "validMasterVersions": list(reversed(VERSIONS)),
                "validNodeVersions": list(reversed(VERSIONS)),
                "defaultImageType": "COS_CONTAINERD",
                "channels": [
                    {
                        "channel": channel,
                        "defaultVersion": DEFAULT_VERSION,
                        "validVersions": list(reversed(VERSIONS)),
                    }
                    for channel in ("RAPID", "REGULAR", "STABLE")
                ],
            },
        )

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
        self._check_cluster(world, project, location, cluster)
        version = cluster.get("initialClusterVersion", DEFAULT_VERSION)
        if version in ("latest", "-"):
            version = VERSIONS[-1]
        now = time.time()
        cluster.update(
            {
                "selfLink": f"https://container.googleapis.com/v1/{path}",
                "location": location,
                "status": "PROVISIONING",
                "currentMasterVersion": version,
                "currentNodeVersion": version,
                "createTime": timestamp(now),
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

    def _check_cluster(self, world: dict, project: str, location: str, cluster: dict) -> None:
        if "nodePools" in cluster and ("nodeConfig" in cluster or "initialNodeCount" in cluster):
            raise HttpError(400, "Cannot specify both nodePools and nodeConfig/initialNodeCount.")
        for zone in cluster.get("locations", []):
            if not zone.startswith(location + "-") and zone != location:
                raise HttpError(400, f"Node location {zone} is not in {location}.")
        network = _compute_link(cluster.get("network", "default"), project, "global/networks")
        subnetwork = _compute_link(
            cluster.get("subnetwork", ""), project, f"regions/{location}/subnetworks"
        )
        compute = world.get("compute", {})
        if network not in compute.get("networks", {}):
            raise HttpError(400, f'Network "{network}" does not exist.')
        if cluster.get("subnetwork") and subnetwork not in compute.get("subnetworks", {}):
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
            self._check_pool(world, project, location, cluster, pool_spec)

    def _get_cluster(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, self._view(params["name"], self._cluster(world, params["name"])))

    def _busy(self, world: dict, cluster: dict) -> None:
        running = cluster.get("_operation")
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

    # --- node pools ------------------------------------------------------------------

    def _check_pool(
        self, world: dict, project: str, location: str, cluster: dict, pool: dict
    ) -> None:
        name = pool.get("name", "")
        if not NAME.match(name):
            raise HttpError(400, f"Invalid node pool name '{name}'.")
        config = pool.get("config", {})
        email = config.get("serviceAccount")
        if email and email != "default" and not service_account_exists(world, email):
            raise HttpError(400, f'Service account "{email}" does not exist.')
        machine = config.get("machineType", "e2-medium")
        accelerators = config.get("accelerators", [])
        if machine in GPUS:
            kind, count = GPUS[machine]
            if [
                (a.get("acceleratorType"), int(a.get("acceleratorCount", 0))) for a in accelerators
            ] != [(kind, count)]:
                raise HttpError(
                    400, f"Machine type {machine} requires accelerator {kind} x {count}."
                )
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
                "A specific reservation needs key compute.googleapis.com/reservation-name "
                "and a name.",
            )
        additional = pool.get("networkConfig", {}).get("additionalNodeNetworkConfigs", [])
        if additional and not cluster.get("networkConfig", {}).get("enableMultiNetworking"):
            raise HttpError(
                400, "Additional node networks require multi-networking on the cluster."
            )
        zones = pool.get("locations") or cluster.get("locations") or []
        compute = world.get("compute", {})
        for extra in additional:
            network = _compute_link(extra.get("network", ""), project, "global/networks")
            subnetwork = _compute_link(
                extra.get("subnetwork", ""), project, f"regions/{location}/subnetworks"
            )
            found = compute.get("networks", {}).get(network)
            if found is None:
                raise HttpError(400, f'Additional network "{network}" does not exist.')
            if subnetwork not in compute.get("subnetworks", {}):
                raise HttpError(400, f'Additional subnetwork "{subnetwork}" does not exist.')
            profile = ROCE.search(found.get("networkProfile", ""))
            if profile and any(zone != profile.group(1) for zone in zones):
                raise HttpError(
                    400,
                    f"RDMA network {network} is limited to zone {profile.group(1)}; "
                    f"node pool {name} runs in {', '.join(zones)}.",
                )

    def _create_pool(self, world: dict, params: dict, request: Request) -> Response:
        from google.cloud import container_v1

        cluster_path = params["parent"]
        cluster = self._cluster(world, cluster_path)
        if cluster["status"] != "RUNNING":
            raise HttpError(
                400,
                f"Cluster {cluster['name']} is not running ({cluster['status']}).",
                "failedPrecondition",
            )
        self._busy(world, cluster)
        body = normalize(container_v1.CreateNodePoolRequest, request.body or {}, "request")
        pool = body.get("nodePool", {})
        _, project, _, location = cluster_path.split("/clusters/")[0].split("/")
        if any(p["name"] == pool.get("name") for p in cluster.get("nodePools", [])):
            raise HttpError(
                409,
                f"Already exists: {cluster_path}/nodePools/{pool.get('name')}.",
                "alreadyExists",
            )
        self._check_pool(world, project, location, cluster, pool)
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

    def _delete_pool(self, world: dict, params: dict, request: Request) -> Response:
        cluster, pool = self._pool(world, params["name"])
        self._busy(world, cluster)
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
