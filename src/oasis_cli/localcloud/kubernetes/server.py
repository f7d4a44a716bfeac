"""The simulated clusters' Kubernetes API over HTTPS, with the local cloud's CA.

Each cluster has a TLS port of its own and is served at its root, as kubectl expects
of a kubeconfig's server. Besides plain requests (`api`, `writes`) it serves the
OpenAPI documents (`openapi`), streams watches (`?watch=true`: one JSON event per
line, chunked) and port-forwards a head pod's ports to the real Ray head
(`pods/{pod}/portforward`, in the protocols of `portforward`).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from oasis_cli.localcloud.gcp.echo import caller_ip
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import Latency, Serving, stop_together
from oasis_cli.localcloud.infra.store import Store
from oasis_cli.localcloud.infra.tls import server_certificate
from oasis_cli.localcloud.kubernetes import api, controllers, objects, openapi, portforward

POD_PORTS = {8265: "dashboard", 10001: "client", 6379: "gcs"}
WATCH_POLL_S = 0.05
HANDSHAKE_TIMEOUT_S = 10.0


class KubeServer:
    """Each simulated cluster's API on a TLS port of its own, served at the host root
    as a GKE control plane serves it (kubectl asks `/api`, `/version`, ... of the
    kubeconfig's server); `advance` brings the whole world up to date before each
    request.

    With a base port P (`local-cloud serve --port P`) a cluster keeps its port across
    restarts: the first takes P+1, later ones P+3, P+4, ..., each recorded in the
    world (`KUBE_PORTS`) so a kubeconfig outlives the process that wrote it. With 0,
    each cluster gets a free port for this process's life."""

    def __init__(
        self, store: Store, latency: Latency, advance: Callable[[], None], port: int = 0
    ) -> None:
        self.store = store
        self.latency = latency
        self.advance = advance
        self._base = port
        self._context: ssl.SSLContext | None = None
        self._listeners: dict[str, _Listener] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        cert, key = server_certificate(self.store.directory)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        with self.store.transaction() as world:
            paths = list(world_tables.CLUSTERS.rows(world))
        for path in paths:
            self.endpoint(path)

    def stop(self) -> None:
        with self._lock:
            listeners, self._listeners = list(self._listeners.values()), {}
        stop_together(listeners)

    def endpoint(self, cluster_path: str) -> str:
        """The cluster's `host:port` (its GKE `endpoint`), listening from now on."""
        with self._lock:
            listener = self._listeners.get(cluster_path)
            if listener is None:
                listener = self._listen(cluster_path)
                self._listeners[cluster_path] = listener
            return f"127.0.0.1:{listener.port}"

    def _listen(self, cluster_path: str) -> _Listener:
        assert self._context is not None, "the Kubernetes API is not started"
        if not self._base:
            return _Listener(self, cluster_path, 0, self._context)
        with self.store.transaction() as world:
            ports = world_tables.KUBE_PORTS.rows(world)
            clusters = world_tables.CLUSTERS.rows(world)
            for gone in [p for p in ports if p not in clusters and p != cluster_path]:
                del ports[gone]
            taken = {port for path, port in ports.items() if path != cluster_path}
            wanted = [ports[cluster_path]] if cluster_path in ports else []
            wanted += [self._base + 1, *range(self._base + 3, self._base + 100)]
            for port in wanted:
                if port in taken:
                    continue
                try:
                    listener = _Listener(self, cluster_path, port, self._context)
                except OSError:
                    continue  # another process holds it
                ports[cluster_path] = port
                return listener
        raise OSError(f"no free port for {cluster_path}'s Kubernetes API above {self._base}")

    def env(self) -> objects.Env:
        return objects.Env(self.latency, self.store.directory)

    def admits(self, cluster_path: str) -> bool:
        """Whether the caller (`echo.caller_ip`) may reach this cluster's public
        endpoint. With authorized networks enabled GKE lets in only their CIDR blocks
        (https://cloud.google.com/kubernetes-engine/docs/how-to/authorized-networks)
        and drops everything else, so a client sees its connection fail, not an HTTP
        answer; here the connection is closed at once instead of timing out. A
        deleted cluster's endpoint answers nobody."""
        with self.store.transaction() as world:
            cluster = world_tables.CLUSTERS.rows(world).get(cluster_path)
        if cluster is None:
            return False
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


class _Listener(Serving):
    """One cluster's API server socket."""

    def __init__(
        self, kube: KubeServer, cluster_path: str, port: int, context: ssl.SSLContext
    ) -> None:
        handler = type("KubeHandler", (_Handler,), {"kube": kube, "cluster_path": cluster_path})
        server = _TlsServer(("127.0.0.1", port), handler)
        # The TLS handshake happens in each request's thread (`_Handler.setup`), not in
        # the accept loop, where one stalled client would stop the API and shutdown().
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.serve(server, f"oasis-local-kube {cluster_path}")


class _Handler(BaseHTTPRequestHandler):
    kube: KubeServer
    cluster_path: str
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
        query = dict(parse_qsl(url.query))
        cluster_path = self.cluster_path
        status = 500
        warnings: list[str] = []  # the API server's `Warning:` headers for this answer
        try:
            path = "/" + "/".join(p for p in url.path.split("/") if p)  # `/version/` too
            if not self.kube.admits(cluster_path):
                status = 0  # dropped: the caller is outside the authorized networks
                self.close_connection = True
                return
            if not self.headers.get("Authorization", "").startswith("Bearer "):
                raise objects.KubeError(401, "Unauthorized")
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if path.endswith("/portforward") and self.headers.get("Upgrade"):
                status = 101
                self._port_forward(cluster_path, path, query)
                return
            if query.get("watch") in ("true", "1"):
                status = 200
                self._watch(cluster_path, path, query)
                return
            status, body = self.kube.transact(
                cluster_path,
                lambda cluster, kube: self._call(cluster, kube, path, query, raw, warnings),
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
                    "cluster": cluster_path,
                    "path": url.path,
                    "status": status,
                }
            )
        if isinstance(body, bytes):  # the OpenAPI v2 protobuf
            payload, content_type = body, openapi.V2_PROTOBUF
        elif isinstance(body, str):  # a pod's log
            payload, content_type = body.encode(), "text/plain"
        else:
            payload, content_type = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for warning in warnings:
            # RFC 7234 warn-code 299, agent "-": how the API server sends warnings
            self.send_header("Warning", f"299 - {json.dumps(warning)}")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _call(
        self,
        cluster: dict,
        kube: objects.KubeWorld,
        path: str,
        query: dict,
        raw: bytes,
        warnings: list[str],
    ) -> Any:
        found = api.discovery(cluster, path)
        if found is not None:
            return 200, found
        if path.startswith("/openapi/"):
            document = openapi.answer(objects.served(cluster), path, self.headers.get("Accept", ""))
            if document is None:
                raise objects.KubeError(404, "the server could not find the requested resource")
            return 200, document
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
        call.user_agent = self.headers.get("User-Agent", "")
        answer = api.handle(cluster, kube, call, self.kube.env())
        warnings += call.warnings
        return answer

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
        """A pod's port-forward (`portforward.serve`) to the real Ray head behind it."""
        parts = path.strip("/").split("/")  # api v1 namespaces NS pods POD portforward
        namespace, pod = parts[3], parts[5]
        head, uid = self.kube.transact(
            cluster_path,
            lambda cluster, kube: (
                controllers.head_of_pod(kube, namespace, pod),
                (kube.get(controllers.POD, namespace, pod) or {}).get("metadata", {}).get("uid"),
            ),
        )
        label = f"{pod}, uid {uid}"  # as kubelet names the pod in its errors

        def connect(port: int) -> socket.socket:
            local = (head or {}).get("ports", {}).get(POD_PORTS.get(port, ""))
            if local is None:  # what dialing a port nothing listens on in the pod says
                raise OSError(f"dial tcp4 127.0.0.1:{port}: connect: connection refused")
            backend = socket.create_connection(("127.0.0.1", local), timeout=5)
            backend.settimeout(None)
            return backend

        portforward.serve(self, connect, label, query)
