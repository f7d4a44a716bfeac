"""The local cloud's HTTP front end and wire types: one port, one path prefix per service.

A client library pointed at `http://127.0.0.1:PORT/<service>` sends its usual paths
below that prefix (`/compute/compute/v1/projects/...`). `HttpFront` parses each
request, hands it to a dispatcher, answers in Google's JSON error format, and logs
it; services see only `Request`, `Response` and `HttpError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from oasis_cli.localcloud.infra.store import Store

MEDIA_ROOTS = ("upload", "download")  # Cloud Storage's media paths beside /storage/v1

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

    def __init__(
        self,
        status: int,
        message: str,
        reason: str = "invalid",
        details: list[dict[str, Any]] | None = None,
        code_name: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.details = details or []
        self.code_name = code_name or GOOGLE_STATUS.get(status, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.status,
            "message": self.message,
            "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
            "status": self.code_name,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


def not_simulated(what: str) -> HttpError:
    """A real method or field the local cloud does not simulate: 400
    FAILED_PRECONDITION, which clients take as final. Not 501: gcloud's apitools
    treats every status of 500 and above as retryable (apitools base/py/
    http_wrapper.py `CheckResponse`), and its list calls retried one for about 30 s."""
    message = f"{what} is not simulated by the local cloud"
    return HttpError(400, message, "notSimulated", code_name="FAILED_PRECONDITION")


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


Dispatch = Callable[[Request, str], Response]


def _lost(rule: dict[str, Any]) -> Response:
    """The answer a client gets when the request was served and committed but its
    answer was lost on the way (a front end timing out on a backend that acted):
    `status` (503 by default), as Google's front ends answer then."""
    status = int(rule.get("status", 503))
    message = rule.get("message", "The service is currently unavailable.")
    return Response(status, HttpError(status, message, rule.get("reason", "backendError")).body())


class Serving:
    """A ThreadingHTTPServer running in a daemon thread of its own until `stop()`,
    which also ends the connections still open (a keep-alive client's): their
    handler threads would otherwise outlive the server, each holding both ends of a
    socket in a process that runs many commands (the test suite)."""

    _server: ThreadingHTTPServer | None = None

    def serve(self, server: ThreadingHTTPServer, name: str) -> None:
        server.daemon_threads = True
        self._server = server
        self._open: set[Any] = set()
        lock = threading.Lock()
        process, finish = server.process_request, server.shutdown_request

        def process_request(request: Any, address: Any) -> None:
            with lock:
                self._open.add(request)
            process(request, address)

        def shutdown_request(request: Any) -> None:
            with lock:
                self._open.discard(request)
            finish(request)

        server.process_request = process_request  # type: ignore[method-assign,assignment]
        server.shutdown_request = shutdown_request  # type: ignore[method-assign]
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            for request in list(self._open):
                with contextlib.suppress(OSError):
                    request.shutdown(socket.SHUT_RDWR)
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "local cloud not started"
        return int(self._server.server_address[1])


def stop_together(servers: Iterable[Any]) -> None:
    """`stop()` each server at once: each waits for its accept loop to notice."""
    stopping = [threading.Thread(target=server.stop) for server in servers]
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join()


class HttpFront(Serving):
    """Serves `dispatch(request, service)` on 127.0.0.1; the first path segment names
    the service."""

    def __init__(self, store: Store, dispatch: Dispatch, port: int = 0) -> None:
        self.store = store
        self.dispatch = dispatch
        self._port = port

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"front": self})
        self.serve(ThreadingHTTPServer(("127.0.0.1", self._port), handler), "oasis-local-cloud")


class _Handler(BaseHTTPRequestHandler):
    front: HttpFront
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (about 40 ms a response on Linux).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to the local cloud's request log, not stderr."""

    def _serve(self) -> None:
        started = time.time()
        url = urlsplit(self.path)
        service, _, rest = url.path.lstrip("/").partition("/")
        if service in MEDIA_ROOTS and rest.startswith("storage/"):
            # a client given the storage endpoint's root (gcloud) sends media to
            # /upload/storage/v1/... beside it, as to storage.googleapis.com
            service, rest = "storage", url.path.lstrip("/")
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
                response = self.front.dispatch(request, service)
            except HttpError as exc:
                response = Response(exc.status, exc.body())
            except Exception as exc:  # a simulation bug must answer, not hang the client
                import traceback

                traceback.print_exc()
                response = Response(500, HttpError(500, f"local cloud error: {exc!r}").body())
            if request.fault and request.fault.get("action") == "lose_answer":
                response = _lost(request.fault)
        self.front.store.append_log(
            {
                "time": started,
                "method": self.command,
                "service": service,
                "path": "/" + rest,
                "status": response.status,
            }
        )
        if request.fault and request.fault.get("action") == "drop_answer":
            self.close_connection = True  # served and committed; the client hears nothing
            return
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
