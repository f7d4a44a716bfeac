"""gRPC serving for the services whose client library speaks only gRPC (IAM Admin).

An in-process `grpc.server` on 127.0.0.1 with generic handlers over the client
library's own request and response types, sharing the world, the request log
(method `RPC`) and the fault rules with the HTTP services: an `error` rule aborts
with its `code` (a gRPC status name, UNAVAILABLE by default), a `lose_answer` rule
commits the call and then answers UNAVAILABLE, a `kill` rule commits the call and
then kills the serving process before it answers.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass
from typing import Any

from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra.store import Store


class RpcError(Exception):
    """A gRPC error answer: a status code name and its message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Rpc:
    request_type: Any  # a proto-plus message class (deserializes the request)
    handler: Callable[[Any, dict[str, Any]], Any]  # (request, world) -> response
    response_type: Any  # a proto-plus message class, or None for google.protobuf.Empty


class GrpcServer:
    """Serves `methods` of the gRPC service `service` (e.g. google.iam.admin.v1.IAM)."""

    def __init__(
        self,
        store: Store,
        service: str,
        log_name: str,
        methods: Mapping[str, Rpc],
        port: int = 0,
    ):
        self.store = store
        self._want_port = port
        self.service = service
        self.log_name = log_name
        self.methods = methods
        self._server: Any = None
        self.port = 0

    def start(self) -> None:
        import grpc

        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                self._wrap(name, rpc.handler),
                request_deserializer=rpc.request_type.deserialize,
                response_serializer=(
                    rpc.response_type.serialize
                    if rpc.response_type
                    else lambda message: message.SerializeToString()
                ),
            )
            for name, rpc in self.methods.items()
        }
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(self.service, handlers),)
        )
        self.port = self._server.add_insecure_port(f"127.0.0.1:{self._want_port}")
        if not self.port:  # grpc answers 0 instead of raising when the port is taken
            raise OSError(f"127.0.0.1:{self._want_port} is in use")
        self._server.start()

    def _log(self, started: float, path: str, status: str) -> None:
        self.store.append_log(
            {
                "time": started,
                "method": "RPC",
                "service": self.log_name,
                "path": path,
                "status": status,
            }
        )

    def _wrap(self, name: str, body: Callable[[Any, dict[str, Any]], Any]) -> Callable[..., Any]:
        import grpc

        path = f"/{self.service}/{name}"

        def handle(request: Any, context: Any) -> Any:
            started = time.time()
            target = getattr(request, "account_id", "") or getattr(request, "name", "")
            rule = faults.take(self.store, "RPC", path, target)
            try:
                if rule and rule.get("action", "error") == "error":
                    raise RpcError(rule.get("code", "UNAVAILABLE"), rule.get("message", "injected"))
                with self.store.transaction() as world:
                    response = body(request, world)
            except RpcError as exc:
                self._log(started, path, exc.code)
                context.abort(getattr(grpc.StatusCode, exc.code), exc.message)
            if rule and rule.get("action") == "lose_answer":  # committed, answer lost
                self._log(started, path, "UNAVAILABLE")
                context.abort(grpc.StatusCode.UNAVAILABLE, rule.get("message", "unavailable"))
            self._log(started, path, "OK")
            if rule and rule.get("action") == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            return response

        return handle

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None
