"""IAM Admin v1 (service accounts) over gRPC, as the client library only speaks gRPC.

Served by an in-process `grpc.server` on its own port, sharing the world, request
log and fault rules with the HTTP services (an RPC is logged with method `RPC`).
Rules kept from IAM: account ids are 6-30 lowercase characters starting with a
letter, duplicates are ALREADY_EXISTS, unknown accounts NOT_FOUND.
"""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections.abc import Callable
from concurrent import futures
from typing import Any

from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.store import Store

ACCOUNT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
SERVICE = "google.iam.admin.v1.IAM"


class RpcError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class IamAdmin:
    """The service accounts of every project, in the world's `iam` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def accounts(world: dict[str, Any]) -> dict[str, Any]:
        table: dict[str, Any] = world_tables.SERVICE_ACCOUNTS.rows(world)
        return table

    def create(self, world: dict[str, Any], request: Any) -> dict[str, Any]:
        project = request.name.removeprefix("projects/")
        if not ACCOUNT_ID.match(request.account_id):
            raise RpcError(
                "INVALID_ARGUMENT",
                f"Invalid account id {request.account_id!r}: 6-30 lowercase letters, digits "
                "or hyphens, starting with a letter.",
            )
        email = f"{request.account_id}@{project}.iam.gserviceaccount.com"
        name = f"projects/{project}/serviceAccounts/{email}"
        if name in self.accounts(world):
            raise RpcError(
                "ALREADY_EXISTS", f"Service account {request.account_id} already exists."
            )
        account = {
            "name": name,
            "project_id": project,
            "unique_id": str(uuid.uuid4().int >> 64),
            "email": email,
            "display_name": request.service_account.display_name,
            "description": request.service_account.description,
            "etag": "MDEwMjE5MjA=",
            "oauth2_client_id": str(uuid.uuid4().int >> 64),
            "created": time.time(),
        }
        self.accounts(world)[name] = account
        return account

    def find(self, world: dict[str, Any], name: str) -> dict[str, Any]:
        email = name.rsplit("/", 1)[-1]
        for account in self.accounts(world).values():
            if account["email"] == email:
                return account
        raise RpcError("NOT_FOUND", f"Service account {email} does not exist.")

    def delete(self, world: dict[str, Any], name: str) -> None:
        account = self.find(world, name)
        self.accounts(world).pop(account["name"])

    def inventory(self, world: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "service": "iam",
                "kind": "iam#serviceAccount",
                "name": account["email"],
                "location": "global",
                "resource": {k: v for k, v in account.items() if k != "created"},
            }
            for account in self.accounts(world).values()
        ]


class GrpcServer:
    """Serves IamAdmin on 127.0.0.1 with generic handlers over the client's own types."""

    def __init__(self, store: Store, admin: IamAdmin) -> None:
        self.store = store
        self.admin = admin
        self._server: Any = None
        self.port = 0

    def start(self) -> None:
        import grpc
        from google.cloud.iam_admin_v1 import types
        from google.protobuf import empty_pb2

        def account(raw: dict[str, Any]) -> Any:
            fields = {k: v for k, v in raw.items() if k != "created"}
            return types.ServiceAccount(**fields)

        def create(request: Any, world: dict[str, Any]) -> Any:
            return account(self.admin.create(world, request))

        def get(request: Any, world: dict[str, Any]) -> Any:
            return account(self.admin.find(world, request.name))

        def delete(request: Any, world: dict[str, Any]) -> Any:
            self.admin.delete(world, request.name)
            return empty_pb2.Empty()

        methods: dict[str, tuple[Any, Callable[[Any, dict[str, Any]], Any], Any]] = {
            "CreateServiceAccount": (
                types.CreateServiceAccountRequest,
                create,
                types.ServiceAccount,
            ),
            "GetServiceAccount": (types.GetServiceAccountRequest, get, types.ServiceAccount),
            "DeleteServiceAccount": (types.DeleteServiceAccountRequest, delete, None),
        }
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                self._wrap(name, body),
                request_deserializer=request_type.deserialize,
                response_serializer=(
                    response_type.serialize if response_type else lambda m: m.SerializeToString()
                ),
            )
            for name, (request_type, body, response_type) in methods.items()
        }
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, handlers),)
        )
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    def _wrap(self, name: str, body: Callable[[Any, dict[str, Any]], Any]) -> Callable[..., Any]:
        import grpc

        path = f"/{SERVICE}/{name}"

        def handle(request: Any, context: Any) -> Any:
            started = time.time()
            target = getattr(request, "account_id", "") or getattr(request, "name", "")
            rule = faults.take(self.store, "RPC", path, target)
            status = "OK"
            try:
                if rule and rule.get("action", "error") == "error":
                    raise RpcError(rule.get("code", "UNAVAILABLE"), rule.get("message", "injected"))
                with self.store.transaction() as world:
                    response = body(request, world)
            except RpcError as exc:
                status = exc.code
                self.store.append_log(
                    {
                        "time": started,
                        "method": "RPC",
                        "service": "iam",
                        "path": path,
                        "status": status,
                    }
                )
                context.abort(getattr(grpc.StatusCode, exc.code), exc.message)
            self.store.append_log(
                {"time": started, "method": "RPC", "service": "iam", "path": path, "status": status}
            )
            if rule and rule.get("action") == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            return response

        return handle

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None
