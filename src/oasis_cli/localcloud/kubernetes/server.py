"""The simulated clusters' Kubernetes API over HTTPS, with the local cloud's CA.

One TLS port serves every cluster at `/k8s/{project}/{location}/{cluster}`. Besides
plain requests it streams watches (`?watch=true`: one JSON event per line, chunked)
and serves port-forward WebSockets (`pods/{pod}/portforward`, subprotocol
`v4.channel.k8s.io`: data channel 0 and error channel 1 for the one port, each
first sending the port number; one WebSocket carries one TCP stream).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from oasis_cli.localcloud.gcp.echo import caller_ip
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import Latency, Serving
from oasis_cli.localcloud.infra.store import Store
from oasis_cli.localcloud.infra.tls import server_certificate
from oasis_cli.localcloud.kubernetes import api, controllers, objects

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOL = "v4.channel.k8s.io"
POD_PORTS = {8265: "dashboard", 10001: "client", 6379: "gcs"}
WATCH_POLL_S = 0.05
HANDSHAKE_TIMEOUT_S = 10.0


class KubeServer(Serving):
    """Every simulated cluster's API on one TLS port; `advance` brings the whole world
    up to date before each request."""

    def __init__(
        self, store: Store, latency: Latency, advance: Callable[[], None], port: int = 0
    ) -> None:
        self.store = store
        self.latency = latency
        self.advance = advance
        self._want_port = port

    def start(self) -> None:
        cert, key = server_certificate(self.store.directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        handler = type("KubeHandler", (_Handler,), {"kube": self})
        server = _TlsServer(("127.0.0.1", self._want_port), handler)
        # The TLS handshake happens in each request's thread (`_Handler.setup`), not in
        # the accept loop, where one stalled client would stop the API and shutdown().
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.serve(server, "oasis-local-kube")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> objects.Env:
        return objects.Env(self.latency, self.store.directory)

    def admits(self, cluster_path: str) -> bool:
        """Whether the caller (`echo.caller_ip`) may reach this cluster's public
        endpoint. With authorized networks enabled GKE lets in only their CIDR blocks
        (https://cloud.google.com/kubernetes-engine/docs/how-to/authorized-networks)
        and drops everything else, so a client sees its connection fail, not an HTTP
        answer; here the connection is closed at once instead of timing out."""
        with self.store.transaction() as world:
            cluster = world_tables.CLUSTERS.rows(world).get(cluster_path) or {}
        config = (
            cluster.get("controlPlaneEndpointsConfig", {})
            .get("ipEndpointsConfig", {})
            .get("authorizedNetworksConfig")
            or cluster.get("masterAuthorizedNetworksConfig")
            or {}
        )
        if not config.get("enabled"):
            return True
        caller = ipaddress.ip_address(caller_ip())
        blocks = [b.get("cidrBlock", "") for b in config.get("cidrBlocks", [])]
        return any(caller in ipaddress.ip_network(b, strict=False) for b in blocks if b)

    def transact(self, cluster_path: str, work: Callable[[dict, objects.KubeWorld], Any]) -> Any:
        """Run `work(cluster, kube)` on a running cluster, in one committed transaction."""
        with self.store.transaction() as world:
            self.advance()
            cluster = world_tables.CLUSTERS.rows(world).get(cluster_path)
            if cluster is None:
                raise objects.KubeError(404, f"no cluster {cluster_path}")
            if cluster.get("status") != "RUNNING":
                raise objects.KubeError(503, f"cluster {cluster_path} is {cluster.get('status')}")
            return work(cluster, objects.KubeWorld(world, cluster_path))


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up or failed its handshake is not the server's error."""
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    kube: KubeServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (about 40 ms a response on Linux).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to the local cloud's request log, not stderr."""

    def setup(self) -> None:
        self.request.settimeout(HANDSHAKE_TIMEOUT_S)
        self.request.do_handshake()
        self.request.settimeout(None)
        super().setup()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.split("/")
        query = dict(parse_qsl(url.query))
        status = 500
        try:
            if len(parts) < 5 or parts[1] != "k8s":
                raise objects.KubeError(404, "the server could not find the requested resource")
            project, location, name = parts[2:5]
            cluster_path = f"projects/{project}/locations/{location}/clusters/{name}"
            path = "/" + "/".join(p for p in parts[5:] if p)  # `/version/` is `/version`
            if not self.kube.admits(cluster_path):
                status = 0  # dropped: the caller is outside the authorized networks
                self.close_connection = True
                return
            if not self.headers.get("Authorization", "").startswith("Bearer "):
                raise objects.KubeError(401, "Unauthorized")
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if path.endswith("/portforward") and self.headers.get("Upgrade", "").lower() == (
                "websocket"
            ):
                status = 101
                self._port_forward(cluster_path, path, query)
                return
            if query.get("watch") in ("true", "1"):
                status = 200
                self._watch(cluster_path, path, query)
                return
            status, body = self.kube.transact(
                cluster_path, lambda cluster, kube: self._call(cluster, kube, path, query, raw)
            )
        except objects.KubeError as exc:
            status, body = exc.code, exc.status()
        except Exception as exc:  # a simulation bug must answer, not hang the client
            import traceback

            traceback.print_exc()
            status, body = 500, objects.KubeError(500, f"local cloud error: {exc!r}").status()
        finally:
            self.kube.store.append_log(
                {
                    "time": time.time(),
                    "method": self.command,
                    "service": "kubernetes",
                    "path": url.path,
                    "status": status,
                }
            )
        text = isinstance(body, str)  # a pod's log
        payload = body.encode() if text else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if text else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _call(
        self, cluster: dict, kube: objects.KubeWorld, path: str, query: dict, raw: bytes
    ) -> Any:
        found = api.discovery(cluster, path)
        if found is not None:
            return 200, found
        content_type = self.headers.get("Content-Type", "")
        body: Any = None
        if raw:
            try:
                import yaml

                body = yaml.safe_load(raw) if "yaml" in content_type else json.loads(raw)
            except (ValueError, yaml.YAMLError) as exc:
                raise objects.KubeError(400, f"the request body is not valid: {exc}") from None
        call = api.parse(cluster, self.command, path, query, body, content_type)
        call.accept = self.headers.get("Accept", "")
        return api.handle(cluster, kube, call, self.kube.env())

    # --- watch -------------------------------------------------------------------

    def _watch(self, cluster_path: str, path: str, query: dict[str, str]) -> None:
        def snapshot(cluster: dict, kube: objects.KubeWorld) -> dict[str, dict]:
            call = api.parse(cluster, "GET", path, query, None, "")
            items = kube.list(call.kind, call.namespace, query.get("labelSelector", ""))
            if call.name:
                items = [i for i in items if i["metadata"]["name"] == call.name]
            return {
                f"{i['metadata'].get('namespace', '')}/{i['metadata']['name']}": i for i in items
            }

        seen = self.kube.transact(cluster_path, snapshot)  # errors answer as a Status
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        since = int(query.get("resourceVersion") or 0)
        deadline = time.monotonic() + min(float(query.get("timeoutSeconds") or 60), 300)
        sent: dict[str, str] = {}
        try:
            while True:
                for key, obj in seen.items():
                    version = obj["metadata"]["resourceVersion"]
                    if sent.get(key) != version and int(version) > since:
                        self._chunk(
                            {
                                "type": "MODIFIED" if key in sent else "ADDED",
                                "object": objects.public(obj),
                            }
                        )
                    sent[key] = version
                for key in [k for k in sent if k not in seen]:
                    self._chunk({"type": "DELETED", "object": {"metadata": {"name": key}}})
                    sent.pop(key)
                if time.monotonic() > deadline:
                    break
                time.sleep(WATCH_POLL_S)
                seen = self.kube.transact(cluster_path, snapshot)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, objects.KubeError):
            self.close_connection = True

    def _chunk(self, event: dict[str, Any]) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # --- port-forward ------------------------------------------------------------

    def _port_forward(self, cluster_path: str, path: str, query: dict[str, str]) -> None:
        parts = path.strip("/").split("/")  # api v1 namespaces NS pods POD portforward
        namespace, pod = parts[3], parts[5]
        port = int(query.get("ports", "0").split(",")[0] or 0)
        head = self.kube.transact(
            cluster_path, lambda cluster, kube: controllers.head_of_pod(kube, namespace, pod)
        )
        protocols = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if PROTOCOL not in protocols:
            raise objects.KubeError(400, f"port-forward needs the {PROTOCOL} subprotocol")
        accept = base64.b64encode(
            hashlib.sha1((self.headers["Sec-WebSocket-Key"] + WEBSOCKET_GUID).encode()).digest()
        ).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", PROTOCOL)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        socket_ = WebSocket(self.connection, self.rfile)
        number = struct.pack("<H", port)
        socket_.send(b"\x00" + number)
        socket_.send(b"\x01" + number)
        local = (head or {}).get("ports", {}).get(POD_PORTS.get(port, ""))
        if local is None:
            socket_.send(
                b"\x01" + f"error forwarding port {port} to pod {pod}: nothing listening".encode()
            )
            socket_.close()
            return
        try:
            backend = socket.create_connection(("127.0.0.1", local), timeout=5)
        except OSError as exc:
            socket_.send(b"\x01" + f"error forwarding port {port}: {exc}".encode())
            socket_.close()
            return
        backend.settimeout(None)
        socket_.pump(backend)


class WebSocket:
    """The server side of RFC 6455, enough for port-forward: binary frames, ping,
    close; client frames are masked."""

    def __init__(self, connection: Any, reader: Any) -> None:
        self.connection = connection
        self.reader = reader
        self.lock = threading.Lock()

    def send(self, payload: bytes, opcode: int = 0x2) -> None:
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([length])
        elif length < 1 << 16:
            header += bytes([126]) + struct.pack(">H", length)
        else:
            header += bytes([127]) + struct.pack(">Q", length)
        with self.lock:
            self.connection.sendall(header + payload)

    def receive(self) -> tuple[int, bytes] | None:
        head = self.reader.read(2)
        if len(head) < 2:
            return None
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            length = struct.unpack(">H", self.reader.read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self.reader.read(8))[0]
        mask = self.reader.read(4) if head[1] & 0x80 else b"\0\0\0\0"
        data = self.reader.read(length)
        return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send(struct.pack(">H", 1000), opcode=0x8)

    def pump(self, backend: socket.socket) -> None:
        """Copy data both ways until either side closes."""

        def to_client() -> None:
            try:
                while chunk := backend.recv(65536):
                    self.send(b"\x00" + chunk)
            except OSError:
                pass
            self.close()

        threading.Thread(target=to_client, daemon=True).start()
        try:
            while (frame := self.receive()) is not None:
                opcode, data = frame
                if opcode == 0x8:
                    break
                if opcode == 0x9:
                    self.send(data, opcode=0xA)
                elif opcode in (0x0, 0x2) and data[:1] == b"\x00" and len(data) > 1:
                    backend.sendall(data[1:])
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                backend.shutdown(socket.SHUT_RDWR)
            backend.close()
