"""Compute Engine v1 as the local cloud serves it: networks, subnetworks, firewalls,
routers (with Cloud NAT), global addresses, and global/region/zone operations.

Requests are routed and validated with the compute v1 discovery document. A create
reserves the name at once but the resource becomes visible only when its operation
completes (after the latency model's duration), as in GCP. `requestId` makes a
retried mutation return the original operation instead of acting twice. To add a
collection: add a `Collection` entry and, if GCP checks more than the schema, its
check and in-use rule in `compute_rules`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from oasis_cli.localcloud.gcp import catalog
from oasis_cli.localcloud.gcp import compute_rules as rules
from oasis_cli.localcloud.gcp.compute_absent import unsimulated
from oasis_cli.localcloud.gcp.compute_rules import BASE, NAME, relative
from oasis_cli.localcloud.infra import operations
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.discovery import Api
from oasis_cli.localcloud.infra.http import HttpError, Latency, Request, Response, not_simulated
from oasis_cli.localcloud.infra.rest import public
from oasis_cli.localcloud.infra.store import Store


@dataclass(frozen=True)
class Collection:
    schema: str
    scope: str  # "global" or "regions"
    segment: str  # URL path segment
    kind: str
    create_s: float
    delete_s: float


COLLECTIONS = {
    "networks": Collection("Network", "global", "networks", "compute#network", 25, 20),
    "subnetworks": Collection("Subnetwork", "regions", "subnetworks", "compute#subnetwork", 15, 15),
    "firewalls": Collection("Firewall", "global", "firewalls", "compute#firewall", 8, 8),
    "routers": Collection("Router", "regions", "routers", "compute#router", 12, 10),
    "globalAddresses": Collection("Address", "global", "addresses", "compute#address", 8, 8),
}


CATALOG = ("regions", "zones", "acceleratorTypes", "machineTypes", "reservations")


class Compute:
    service = "compute"

    def __init__(self, store: Store, latency: Latency) -> None:
        self.store = store
        self.latency = latency

    @property
    def api(self) -> Api:
        """The discovery document, read when the first request comes."""
        return Api.load("compute", "v1")

    def target(self, request: Request) -> str:
        if isinstance(request.body, dict):
            return str(request.body.get("name", ""))
        return ""

    def handle(self, request: Request) -> Response:
        method, params = self.api.route_or_404(request.method, request.path)
        _, collection, verb = method.id.split(".")
        with self.store.transaction() as world:
            if collection in ("globalOperations", "regionOperations", "zoneOperations"):
                return self._operation(world, collection, verb, params)
            if collection in CATALOG:
                if verb != "get":
                    raise not_simulated(method.id)
                return Response(200, catalog.get(world, collection, params))
            if collection not in COLLECTIONS:
                return unsimulated(self.api, method, collection, verb, params)
            region = params.get("region")
            if region is not None and region not in catalog.ZONES:
                # Compute's answer for a zone it does not know, for a region
                raise HttpError(
                    400, f"Invalid value for field 'region': '{region}'. Unknown region.", "invalid"
                )
            handler = getattr(self, f"_{verb}", None)
            if handler is None:
                raise not_simulated(method.id)
            if verb in ("insert", "delete", "patch", "removePeering"):
                replay = self._replay(world, request)
                if replay is not None:
                    return replay
            if method.request_schema and verb in ("insert", "patch"):
                problems = self.api.validate(method.request_schema, request.body or {})
                if problems:
                    raise HttpError(400, problems[0])
            result: Response = handler(world, collection, params, request)
            return result

    def inventory(self, world: dict[str, Any]) -> list[dict[str, Any]]:
        self.advance(world)
        items = []
        for collection, spec in COLLECTIONS.items():
            for path, resource in sorted(rules.table(world, collection).items()):
                if resource.get("_creating"):
                    continue
                location = "global" if spec.scope == "global" else path.split("/")[3]
                items.append(
                    {
                        "service": "compute",
                        "kind": resource["kind"],
                        "name": resource["name"],
                        "location": location,
                        "resource": public(resource),
                    }
                )
        return items

    # --- addressing ------------------------------------------------------------------

    def _scope_path(self, collection: str, params: dict[str, str]) -> str:
        spec = COLLECTIONS[collection]
        if spec.scope == "global":
            return f"projects/{params['project']}/global/{spec.segment}"
        return f"projects/{params['project']}/regions/{params['region']}/{spec.segment}"

    def _path(self, collection: str, params: dict[str, str], name: str) -> str:
        return f"{self._scope_path(collection, params)}/{name}"

    def _visible(self, world: dict[str, Any], collection: str, path: str) -> dict[str, Any]:
        resource = rules.table(world, collection).get(path)
        if resource is None or resource.get("_creating"):
            raise rules.not_found(path)
        return resource

    # --- verbs -----------------------------------------------------------------------

    def _get(self, world: dict, collection: str, params: dict, request: Request) -> Response:
        name = params[_name_param(collection)]
        return Response(
            200, public(self._visible(world, collection, self._path(collection, params, name)))
        )

    def _list(self, world: dict, collection: str, params: dict, request: Request) -> Response:
        prefix = self._scope_path(collection, params) + "/"
        items = [
            public(r)
            for path, r in sorted(rules.table(world, collection).items())
            if path.startswith(prefix) and not r.get("_creating")
        ]
        return Response(
            200,
            {
                "kind": COLLECTIONS[collection].kind + "List",
                "id": prefix.rstrip("/"),
                "items": items,
                "selfLink": BASE + prefix.rstrip("/"),
            },
        )

    def _aggregatedList(
        self, world: dict, collection: str, params: dict, request: Request
    ) -> Response:
        """A regional collection across every region, keyed `regions/{region}` as
        Compute's aggregatedList answers it (compute v1 discovery: items is a map of
        scope to a scoped list); regions without items are left out."""
        project = params["project"]
        scopes: dict[str, dict[str, list[Any]]] = {}
        for path, resource in sorted(rules.table(world, collection).items()):
            if path.startswith(f"projects/{project}/regions/") and not resource.get("_creating"):
                scope = "/".join(path.split("/")[2:4])
                scopes.setdefault(scope, {collection: []})[collection].append(public(resource))
        kind = COLLECTIONS[collection].kind.replace("compute#", "")
        return Response(
            200,
            {
                "kind": f"compute#{kind}AggregatedList",
                "id": f"projects/{project}/aggregated/{collection}",
                "items": scopes,
                "selfLink": f"{BASE}projects/{project}/aggregated/{collection}",
            },
        )

    def _insert(self, world: dict, collection: str, params: dict, request: Request) -> Response:
        body = dict(request.body or {})
        name = body.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise HttpError(
                400,
                f"Invalid value for field 'resource.name': '{name}'. Must be a match of "
                "regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
            )
        path = self._path(collection, params, name)
        table = rules.table(world, collection)
        if path in table:
            raise HttpError(409, f"The resource '{path}' already exists", "alreadyExists")
        rules.CHECKS[collection](world, params, body)
        spec = COLLECTIONS[collection]
        now = time.time()
        resource = {
            **body,
            "kind": spec.kind,
            "id": _decimal_id(),
            "creationTimestamp": _timestamp(now),
            "selfLink": BASE + path,
            "_creating": True,
        }
        if spec.scope == "regions":
            resource["region"] = BASE + f"projects/{params['project']}/regions/{params['region']}"
        rules.fill_defaults(collection, resource)
        table[path] = resource
        return self._start(world, params, request, "insert", path, spec.create_s, resource["id"])

    def _delete(self, world: dict, collection: str, params: dict, request: Request) -> Response:
        path = self._path(collection, params, params[_name_param(collection)])
        resource = self._visible(world, collection, path)
        if resource.get("_deleting"):
            raise HttpError(400, f"The resource '{path}' is not ready", "resourceNotReady")
        user = rules.user_of(world, collection, path)
        if user is not None:
            raise HttpError(
                400,
                f"The {_singular(collection)} resource '{path}' is already being used by '{user}'",
                "resourceInUseByAnotherResource",
            )
        resource["_deleting"] = True
        spec = COLLECTIONS[collection]
        return self._start(world, params, request, "delete", path, spec.delete_s, resource["id"])

    def _patch(self, world: dict, collection: str, params: dict, request: Request) -> Response:
        path = self._path(collection, params, params[_name_param(collection)])
        resource = self._visible(world, collection, path)
        body = dict(request.body or {})
        if body.get("name", resource["name"]) != resource["name"]:
            raise HttpError(400, "Invalid value for field 'resource.name': cannot be changed")
        merged = {**public(resource), **body}
        rules.CHECKS[collection](world, params, merged, patching=True)
        resource.update(body)
        spec = COLLECTIONS[collection]
        return self._start(world, params, request, "patch", path, spec.create_s / 2, resource["id"])

    def _removePeering(
        self, world: dict, collection: str, params: dict, request: Request
    ) -> Response:
        """networks.removePeering: the Service Networking peering goes, and its
        connection with it (what Terraform falls back to when deleteConnection is
        refused: GoogleCloudPlatform/magic-modules#18476)."""
        if collection != "networks":
            raise not_simulated(f"compute.{collection}.removePeering")
        path = self._path(collection, params, params["network"])
        resource = self._visible(world, collection, path)
        name = (request.body or {}).get("name", "")
        connection = world_tables.CONNECTIONS.rows(world).get(path)
        if connection is None or connection.get("peering") != name:
            raise HttpError(400, f"There is no peering '{name}' on network '{path}'.", "invalid")
        world_tables.CONNECTIONS.rows(world).pop(path)
        return self._start(world, params, request, "removePeering", path, 5, resource["id"])

    # --- operations ------------------------------------------------------------------

    def _replay(self, world: dict, request: Request) -> Response | None:
        request_id = request.param("requestId")
        if request_id is None:
            return None
        try:
            parsed = uuid.UUID(request_id)
        except ValueError:
            parsed = None
        if parsed is None or parsed.int == 0:
            raise HttpError(400, f"Invalid value for field 'requestId': '{request_id}'")
        op_path = rules.table(world, "_request_ids").get(request_id)
        if op_path is None:
            return None
        return Response(200, public(operations.records(world, "compute")[op_path]))

    def _start(
        self,
        world: dict,
        params: dict,
        request: Request,
        op_type: str,
        target: str,
        duration_s: float,
        target_id: str,
    ) -> Response:
        now = time.time()
        name = f"operation-{int(now * 1000)}-{uuid.uuid4().hex[:12]}"
        if "region" in params:
            scope = f"projects/{params['project']}/regions/{params['region']}"
        else:
            scope = f"projects/{params['project']}/global"
        op_path = f"{scope}/operations/{name}"
        operation: dict[str, Any] = {
            "kind": "compute#operation",
            "id": _decimal_id(),
            "name": name,
            "operationType": op_type,
            "targetLink": BASE + target,
            "targetId": target_id,
            "status": "RUNNING",
            "progress": 0,
            "insertTime": _timestamp(now),
            "startTime": _timestamp(now),
            "selfLink": BASE + op_path,
            "user": "local-user@oasis.local",
        }
        if "region" in params:
            operation["region"] = BASE + scope
        failed = operations.failure(
            request.fault, code="QUOTA_EXCEEDED", message="Quota exceeded", status=403
        )
        done_at = now + self.latency(duration_s)
        operations.start(world, "compute", op_path, operation, done_at=done_at, failed=failed)
        request_id = request.param("requestId")
        if request_id is not None:
            rules.table(world, "_request_ids")[request_id] = op_path
        self.advance(world)
        return Response(200, public(operation))

    def advance(self, world: dict) -> None:
        """Complete every operation whose time has come, applying its effect."""
        now = time.time()
        for operation in operations.due(world, "compute"):
            target = relative(operation["targetLink"])
            collection = _collection_of(target)
            table = rules.table(world, collection)
            resource = table.get(target)
            failure = operation.get("_failure")
            if failure is not None:
                operation.update(operations.compute_error(failure))
                if operation["operationType"] == "insert":
                    table.pop(target, None)
                elif resource is not None:
                    resource.pop("_deleting", None)
            elif resource is not None:
                if operation["operationType"] == "insert":
                    resource.pop("_creating", None)
                    rules.on_created(world, collection, resource)
                elif operation["operationType"] == "delete":
                    table.pop(target)
                    rules.on_deleted(world, collection, resource)
            operation["status"] = "DONE"
            operation["progress"] = 100
            operation["endTime"] = _timestamp(now)

    def _operation(self, world: dict, collection: str, verb: str, params: dict) -> Response:
        if collection == "globalOperations":
            scope = f"projects/{params['project']}/global"
        elif collection == "regionOperations":
            scope = f"projects/{params['project']}/regions/{params['region']}"
        else:
            scope = f"projects/{params['project']}/zones/{params['zone']}"
        if verb == "list":
            prefix = scope + "/operations/"
            items = [
                public(op)
                for path, op in operations.records(world, "compute").items()
                if path.startswith(prefix)
            ]
            return Response(200, {"kind": "compute#operationList", "items": items})
        path = f"{scope}/operations/{params['operation']}"
        operation = operations.records(world, "compute").get(path)
        if operation is None:
            raise rules.not_found(path)
        if verb not in ("get", "wait"):
            raise not_simulated(f"compute.{collection}.{verb}")
        # `wait` answers at once with the current state (GCP may return before DONE too).
        return Response(200, public(operation))


def _name_param(collection: str) -> str:
    return {"globalAddresses": "address"}.get(collection, _singular(collection))


def _singular(collection: str) -> str:
    return {
        "networks": "network",
        "subnetworks": "subnetwork",
        "firewalls": "firewall",
        "routers": "router",
        "globalAddresses": "address",
    }[collection]


def _collection_of(path: str) -> str:
    segment = path.split("/")[-2]
    for name, spec in COLLECTIONS.items():
        if spec.segment == segment and (spec.scope == "global") == ("/global/" in path):
            return name
    raise KeyError(path)


def _decimal_id() -> str:
    return str(uuid.uuid4().int >> 65)


def _timestamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime(epoch))
