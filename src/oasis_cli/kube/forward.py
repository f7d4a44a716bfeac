"""Forward a local port to a Service's pod, as `kubectl port-forward svc/...` does.

The API has no Service port-forward: the Service's selector is resolved here to a
Running, Ready pod, and each accepted local connection gets its own port-forward
WebSocket to that pod (one WebSocket carries one TCP stream). When opening a stream
fails (the pod went away) or a stream ends with an error (the connection dropped),
the pod is resolved again and the next connection goes to the one the Service
selects then; `on_event` says so.

Each stream opens on an ApiClient of its own: the kubernetes client's
`portforward()` swaps `api_client.call_api` out and back around the call, which is
not thread-safe (two connections at once, as any browser opens, would leave a
shared client's `call_api` pointing at a closed WebSocket). The clients share the
configuration (endpoint, CA, token refresh), not the connection pool.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from oasis_cli.errors import OasisError
from oasis_cli.kube.client import pod_ready

log = logging.getLogger(__name__)
ACCEPT_POLL_S = 0.2


class NoPod(OasisError):
    """No Running, Ready pod behind the Service."""


class Forwarder:
    def __init__(
        self,
        kube: Any,
        namespace: str,
        service: str,
        remote_port: int,
        local_port: int = 0,
        on_event: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.service = service
        self.remote_port = remote_port
        self.on_event = on_event
        self._pod: str | None = None
        self._gone: str | None = None  # the pod a failed stream went to
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", local_port), reuse_port=False)
        self.listener.settimeout(ACCEPT_POLL_S)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def pod(self, *, refresh: bool = False) -> str:
        """The pod the Service selects (Running and Ready), resolved once until a stream
        to it fails."""
        with self._lock:
            if self._pod is not None and not refresh:
                return self._pod
            service = self.kube.get("v1", "Service", self.service, self.namespace)
            if service is None:
                raise NoPod(f"service {self.namespace}/{self.service} does not exist")
            selector = ",".join(
                f"{k}={v}" for k, v in (service["spec"].get("selector") or {}).items()
            )
            for pod in self.kube.list("v1", "Pod", self.namespace, selector):
                if (pod.get("status") or {}).get("phase") == "Running" and pod_ready(pod):
                    name = pod["metadata"]["name"]
                    before = self._pod or self._gone
                    if name != self._pod:
                        changed = f"pod {before} is gone; " if before and before != name else ""
                        self.on_event(f"{changed}forwarding to pod {name}")
                    self._pod, self._gone = name, None
                    return name
            raise NoPod(f"no Running, Ready pod behind service {self.namespace}/{self.service}")

    def _open(self, pod: str) -> tuple[Any, Any, Any]:
        """A stream to `pod`'s port: (socket, the PortForward, its own ApiClient)."""
        from kubernetes import client
        from kubernetes.stream import portforward

        api = client.ApiClient(self.kube.api.configuration)
        try:
            forward = portforward(
                client.CoreV1Api(api).connect_get_namespaced_pod_portforward,
                pod,
                self.namespace,
                ports=str(self.remote_port),
            )
        except BaseException:
            api.close()
            raise
        return forward.socket(self.remote_port), forward, api

    def serve_forever(self) -> None:
        """Accept connections until `stop()`; Ctrl-C propagates to the caller."""
        try:
            while not self._stop.is_set():
                try:
                    connection, _ = self.listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    break
                threading.Thread(target=self._handle, args=(connection,), daemon=True).start()
        finally:
            self.listener.close()

    def stop(self) -> None:
        self._stop.set()

    def _forget(self, pod: str) -> None:
        """Resolve the Service again on the next connection (if nobody did already)."""
        with self._lock:
            if self._pod == pod:
                self._pod = None
                self._gone = pod

    def _handle(self, connection: socket.socket) -> None:
        for attempt in range(2):
            pod = ""
            try:
                pod = self.pod(refresh=attempt > 0)
                remote, forward, api = self._open(pod)
                break
            except Exception as exc:  # a dropped pod or connection: resolve again once
                log.info("port-forward attempt %d to %s failed: %s", attempt + 1, pod, exc)
                if attempt:
                    self.on_event(f"cannot forward: {exc}")
                    connection.close()
                    return
        try:
            _pump(connection, remote)
            error = forward.error(self.remote_port)
        finally:
            forward.close()
            api.close()
        if error:
            self.on_event(
                f"the stream to pod {pod} failed ({error}); the next connection reconnects"
            )
            self._forget(pod)


def _pump(local: socket.socket, remote: Any) -> None:
    """Copy bytes both ways until either side closes."""

    def copy(source: Any, target: Any) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for side in (source, target):
            with contextlib.suppress(OSError):
                side.shutdown(socket.SHUT_RDWR)

    other = threading.Thread(target=copy, args=(remote, local), daemon=True)
    other.start()
    copy(local, remote)
    other.join(timeout=5)
    local.close()
    remote.close()
