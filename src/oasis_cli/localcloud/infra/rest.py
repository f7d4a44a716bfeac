"""Shared machinery of the simulated GAPIC-style REST services.

A `RestService` routes with its discovery document, validates request bodies with
it, and dispatches by method id (`artifactregistry.projects.locations.repositories.
create`) to a handler. Resources live in named tables of the persisted world; a
created resource becomes visible when its google.longrunning operation completes
(`_ready_at`), and a deleted one stays visible until its operation completes
(`_gone_at`). A `fail_operation` fault makes the operation end in error and the
resource never appear.
"""

from __future__ import annotations

import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from oasis_cli.localcloud.infra import operations
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.discovery import Api
from oasis_cli.localcloud.infra.http import HttpError, Latency, Request, Response, not_simulated
from oasis_cli.localcloud.infra.store import Store

Handler = Callable[[dict[str, Any], dict[str, str], Request], Response]


def normalize(message: Any, body: dict[str, Any], where: str) -> dict[str, Any]:
    """`body` parsed strictly as the client library's proto message `message` and
    re-emitted as Google answers (enum names, not the numbers clients send)."""
    from google.protobuf import json_format

    instance = message.pb()()
    try:
        json_format.ParseDict(body, instance, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise HttpError(400, f"Invalid JSON payload received at '{where}': {exc}") from None
    result: dict[str, Any] = json_format.MessageToDict(instance)
    return result


def public(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if not k.startswith("_")}


def timestamp(epoch: float) -> str:
    """RFC 3339 UTC with microseconds, as Google's JSON encodes a Timestamp (0, 3, 6
    or 9 fractional digits: protobuf's `google/protobuf/timestamp.proto`)."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{whole}.{int(epoch % 1 * 1_000_000):06d}Z"


class RestService(ABC):
    """Base of a simulated service; subclasses declare `routes()` and `tables`."""

    api_name: str
    api_version: str
    service: str  # the endpoint prefix and the world key
    tables: dict[str, str] = {}  # table name -> resource kind shown by `local-cloud ls`

    def __init__(self, store: Store, latency: Latency) -> None:
        self.store = store
        self.latency = latency
        self.handlers: dict[str, Handler] = self.routes()

    @abstractmethod
    def routes(self) -> dict[str, Handler]:
        """Handlers by discovery method id."""

    @property
    def api(self) -> Api:
        """The discovery document, read when the first request comes."""
        return Api.load(self.api_name, self.api_version)

    def target(self, request: Request) -> str:
        """What a request acts on, for fault rules: a create's `<resource>Id` query
        parameter (as every GAPIC create names it), else the body's name."""
        for key, values in sorted(request.query.items()):
            if key.endswith("Id") and key != "requestId" and values and values[0]:
                return values[0]
        if isinstance(request.body, dict):
            for key in ("name", "accountId", "serviceIds"):
                if key in request.body:
                    return str(request.body[key])
        return ""

    def handle(self, request: Request) -> Response:
        method, params = self.api.route_or_404(request.method, request.path)
        with self.store.transaction() as world:
            handler = self.handlers.get(method.id)
            if handler is None:
                raise not_simulated(method.id)
            if method.request_schema:
                problems = self.api.validate(method.request_schema, request.body or {})
                if problems:
                    raise HttpError(400, problems[0])
            return handler(world, params, request)

    # --- tables ----------------------------------------------------------------------

    def table(self, world: dict[str, Any], name: str) -> dict[str, Any]:
        return world_tables.table(self.service, name).rows(world)

    @staticmethod
    def visible(resource: dict[str, Any] | None) -> bool:
        return resource is not None and resource.get("_ready_at", 0) <= time.time()

    def find(self, world: dict[str, Any], table: str, name: str) -> dict[str, Any]:
        resource = self.table(world, table).get(name)
        if resource is None or not self.visible(resource):
            raise HttpError(404, f"Resource '{name}' was not found", "notFound")
        return resource

    def listed(self, world: dict[str, Any], table: str, prefix: str) -> list[dict[str, Any]]:
        """The visible resources of `table` named under `prefix`, as a list call answers."""
        rows = self.table(world, table).items()
        return [public(r) for n, r in sorted(rows) if n.startswith(prefix) and self.visible(r)]

    def add(
        self, world: dict[str, Any], table: str, name: str, resource: dict[str, Any], seconds: float
    ) -> dict[str, Any]:
        """Insert a resource that appears after `seconds` (latency-scaled); 409 if taken."""
        rows = self.table(world, table)
        if name in rows:
            raise HttpError(409, f"Resource '{name}' already exists", "alreadyExists")
        resource["_ready_at"] = time.time() + self.latency(seconds)
        rows[name] = resource
        return resource

    def remove(
        self, world: dict[str, Any], table: str, name: str, seconds: float
    ) -> dict[str, Any]:
        resource = self.find(world, table, name)
        if "_gone_at" in resource:
            raise HttpError(409, f"Resource '{name}' is being deleted", "conflict")
        resource["_gone_at"] = time.time() + self.latency(seconds)
        return resource

    def inventory(self, world: dict[str, Any]) -> list[dict[str, Any]]:
        self.advance(world)
        items = []
        for table, kind in self.tables.items():
            for name, resource in sorted(self.table(world, table).items()):
                if not self.visible(resource):
                    continue
                items.append(
                    {
                        "service": self.service,
                        "kind": kind,
                        "name": name.split("/")[-1],
                        "location": self.location(name, resource),
                        "resource": self.render(table, resource),
                    }
                )
        return items

    def location(self, name: str, resource: dict[str, Any]) -> str:
        parts = name.split("/")
        return parts[3] if len(parts) > 3 and parts[2] == "locations" else "global"

    def render(self, table: str, resource: dict[str, Any]) -> dict[str, Any]:
        """A resource as GET returns it."""
        return public(resource)

    # --- google.longrunning ----------------------------------------------------------

    def operation(
        self,
        world: dict[str, Any],
        request: Request,
        *,
        prefix: str,
        metadata_type: str,
        response: dict[str, Any] | None,
        target: tuple[str, str] | None,
        ready_at: float | None = None,
        refused: dict[str, Any] | None = None,
    ) -> Response:
        """Start an operation that completes with the target resource's readiness
        (or ends with `refused`, an `operations.failure`, when the service refuses it
        in the operation rather than in the call)."""
        name = (
            f"{prefix}/operations/{uuid.uuid4().hex}"
            if prefix
            else f"operations/{uuid.uuid4().hex}"
        )
        done_at = ready_at if ready_at is not None else time.time()
        if target is not None:
            resource = self.table(world, target[0]).get(target[1], {})
            done_at = resource.get("_gone_at", resource.get("_ready_at", done_at))
        record: dict[str, Any] = {
            "name": name,
            "done": False,
            "metadata": {"@type": metadata_type},
            "_response": response,
            "_target": list(target) if target else None,
        }
        failed = refused or operations.failure(
            request.fault, code="RESOURCE_EXHAUSTED", message="Quota exceeded", status=429
        )
        operations.start(world, self.service, name, record, done_at=done_at, failed=failed)
        self.advance(world)
        return Response(200, self.operation_view(record))

    @staticmethod
    def operation_view(record: dict[str, Any]) -> dict[str, Any]:
        view = public(record)
        if record["done"]:
            if "_failure" in record:
                view["error"] = operations.rpc_error(record["_failure"])
            elif record["_response"] is not None:
                view["response"] = record["_response"]
        return view

    def get_operation(
        self, world: dict[str, Any], params: dict[str, str], request: Request
    ) -> Response:
        record = operations.records(world, self.service).get(params["name"])
        if record is None:
            raise HttpError(404, f"Operation '{params['name']}' was not found", "notFound")
        return Response(200, self.operation_view(record))

    def advance(self, world: dict[str, Any]) -> None:
        """Finish due operations and purge deleted resources whose time has come."""
        now = time.time()
        for record in operations.due(world, self.service):
            record["done"] = True
            target = record.get("_target")
            if "_failure" in record and target:
                resource = self.table(world, target[0]).get(target[1])
                if resource is not None and "_gone_at" in resource:
                    resource.pop("_gone_at")  # a failed delete leaves the resource
                else:
                    self.table(world, target[0]).pop(target[1], None)
        for table_name, rows in world.get(self.service, {}).items():
            if table_name.startswith("_"):
                continue
            for name in [n for n, r in rows.items() if r.get("_gone_at", now + 1) <= now]:
                rows.pop(name)
