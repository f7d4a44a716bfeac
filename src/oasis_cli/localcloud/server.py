"""The local cloud's HTTP front end: one port, one path prefix per service.

A client library pointed at `http://127.0.0.1:PORT/<service>` sends its usual paths
below that prefix (`/compute/compute/v1/projects/...`). Every request is logged,
checked against the fault rules, and dispatched to the service's `handle()`.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from oasis_cli.localcloud import faults
from oasis_cli.localcloud.store import Store

GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}


class HttpError(Exception):
    """An error answer in Google's JSON error format."""

    def __init__(self, status: int, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
                "status": GOOGLE_STATUS.get(self.status, "UNKNOWN"),
            }
        }


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: Mapping[str, str]
    raw: bytes = b""
    fault: dict[str, Any] | None = None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class Service(Protocol):
    def handle(self, request: Request) -> Response: ...

    def inventory(self, world: dict[str, Any]) -> list[dict[str, Any]]:
        """Every visible resource as {service, kind, name, location, resource}."""
        ...

    def advance(self, world: dict[str, Any]) -> None:
        """Complete the operations whose time has come."""
        ...

    def target(self, request: Request) -> str:
        """What a request acts on, for fault rules (a create's resource name)."""
        ...


@dataclass(frozen=True)
class Latency:
    """Realistic durations in seconds, multiplied by `scale` (0 means instant)."""

    scale: float

    def __call__(self, seconds: float) -> float:
        return seconds * self.scale


class LocalCloud:
    """The simulated Google Cloud, served on 127.0.0.1 from a state directory."""

    def __init__(self, directory: Path, *, latency_scale: float = 0.0, port: int = 0) -> None:
        self.store = Store(directory)
        self.latency = Latency(latency_scale)
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.services: dict[str, Service] = {}
        from oasis_cli.localcloud.iam import GrpcServer, IamAdmin

        self.iam = IamAdmin(self.store)
        self._grpc = GrpcServer(self.store, self.iam)
        from oasis_cli.localcloud.kubeserver import KubeServer

        self.kube = KubeServer(self)

    def _build_services(self) -> dict[str, Service]:
        from oasis_cli.localcloud.binauthz import BinaryAuthorization
        from oasis_cli.localcloud.cloudbuild import CloudBuild
        from oasis_cli.localcloud.compute import Compute
        from oasis_cli.localcloud.container import Container
        from oasis_cli.localcloud.echo import Echo
        from oasis_cli.localcloud.peering import ServiceNetworking
        from oasis_cli.localcloud.projects import ResourceManager, ServiceUsage
        from oasis_cli.localcloud.registry import ArtifactRegistry
        from oasis_cli.localcloud.secrets import SecretManager
        from oasis_cli.localcloud.storage import Storage

        services: list[Any] = [
            Compute(self.store, self.latency),
            ResourceManager(self.store, self.latency),
            ServiceUsage(self.store, self.latency),
            Storage(self.store, self.latency),
            ArtifactRegistry(self.store, self.latency),
            Container(self.store, self.latency),
            SecretManager(self.store, self.latency),
            ServiceNetworking(self.store, self.latency),
            CloudBuild(self.store, self.latency),
            BinaryAuthorization(self.store, self.latency),
            Echo(),
        ]
        return {service.service: service for service in services}

    def advance(self) -> None:
        """Finish every due operation of every service, in a transaction of its own, so
        each request sees one up-to-date world even if it then fails."""
        from oasis_cli.localcloud import kubecontrol

        services = self.services or self._build_services()
        with self.store.transaction() as world:
            for service in services.values():
                service.advance(world)
            kubecontrol.advance_all(world)

    def inventory(self) -> list[dict[str, Any]]:
        """Every resource of every service, as GET returns it (what `local-cloud ls` shows)."""
        services = self.services or self._build_services()
        with self.store.transaction() as world:
            items = [item for service in services.values() for item in service.inventory(world)]
            return items + self.iam.inventory(world)

    def start(self) -> LocalCloud:
        self.services = self._build_services()
        handler = type("Handler", (_Handler,), {"cloud": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="oasis-local-cloud",
            daemon=True,
        )
        self._thread.start()
        self._grpc.start()
        self.kube.start()
        container = self.services["container"]
        container.kube_address = self.kube.address  # type: ignore[attr-defined]
        return self

    def stop(self) -> None:
        self.kube.stop()
        self._grpc.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "local cloud not started"
        return int(self._server.server_address[1])

    @property
    def endpoints(self) -> dict[str, str]:
        endpoints = {name: f"http://127.0.0.1:{self.port}/{name}" for name in self.services}
        endpoints["iam"] = f"127.0.0.1:{self._grpc.port}"  # gRPC: a host:port target
        endpoints["kubernetes"] = f"https://{self.kube.address}/k8s"
        return endpoints

    def dispatch(self, request: Request, service_name: str) -> Response:
        service = self.services.get(service_name)
        if service is None:
            raise HttpError(404, f"no service {service_name!r} in the local cloud", "notFound")
        self.advance()
        rule = faults.take(self.store, request.method, request.path, service.target(request))
        if rule and rule.get("action", "error") == "error":
            status = int(rule.get("status", 503))
            raise HttpError(
                status,
                rule.get("message", f"injected fault {status}"),
                rule.get("reason", "backendError"),
            )
        request.fault = rule
        return service.handle(request)


class _Handler(BaseHTTPRequestHandler):
    cloud: LocalCloud
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to the local cloud's request log, not stderr."""

    def _serve(self) -> None:
        started = time.time()
        url = urlsplit(self.path)
        service, _, rest = url.path.lstrip("/").partition("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path="/" + rest,
            query=parse_qs(url.query),
            body=None,
            headers={k.lower(): v for k, v in self.headers.items()},
            raw=raw,
        )
        content_type = self.headers.get("Content-Type", "application/json")
        try:
            if raw.strip() and content_type.startswith("application/json"):
                request.body = json.loads(raw)
        except json.JSONDecodeError:
            response = Response(400, HttpError(400, "Invalid JSON payload received.").body())
        else:
            try:
                response = self.cloud.dispatch(request, service)
            except HttpError as exc:
                response = Response(exc.status, exc.body())
            except Exception as exc:  # a simulation bug must answer, not hang the client
                import traceback

                traceback.print_exc()
                response = Response(500, HttpError(500, f"local cloud error: {exc!r}").body())
        self.cloud.store.append_log(
            {
                "time": started,
                "method": self.command,
                "service": service,
                "path": "/" + rest,
                "status": response.status,
            }
        )
        if request.fault and request.fault.get("action") == "kill":
            # Served, committed and logged; the caller never hears back.
            os.kill(os.getpid(), signal.SIGKILL)
        self._send(response)

    def _send(self, response: Response) -> None:
        if response.status == 204:
            payload, content_type = b"", ""
        elif isinstance(response.body, bytes):
            payload = response.body
            content_type = response.headers.get("Content-Type", "application/octet-stream")
        else:
            payload = json.dumps(response.body if response.body is not None else {}).encode()
            content_type = "application/json; charset=UTF-8"
        self.send_response(response.status, HTTPStatus(response.status).phrase)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            if name != "Content-Type":
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
