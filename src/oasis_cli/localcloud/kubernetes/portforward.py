"""Port-forward to a pod, in whichever of the three protocols the client asks for:
SPDY tunnelled in WebSocket (kubectl 1.31+, subprotocol `SPDY/3.1+portforward.k8s.io`),
SPDY on the upgraded connection (older kubectl, and newer ones' fallback; `Upgrade:
SPDY/3.1`, `X-Stream-Protocol-Version: portforward.k8s.io`), or the
`v4.channel.k8s.io` WebSocket channels (the Python client, `kube/forward.py`).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from oasis_cli.localcloud.kubernetes import spdy
from oasis_cli.localcloud.kubernetes.objects import KubeError
from oasis_cli.localcloud.kubernetes.websocket import WebSocket, accept_key

CHANNEL_PROTOCOL = "v4.channel.k8s.io"
SPDY_PROTOCOL = "portforward.k8s.io"  # k8s.io/apimachinery util/portforward constants
TUNNEL_PROTOCOL = "SPDY/3.1+" + SPDY_PROTOCOL


def serve(
    handler: BaseHTTPRequestHandler,
    connect: Callable[[int], socket.socket],
    label: str,
    query: dict[str, str],
) -> None:
    """Upgrade the handler's connection and forward until the client goes away;
    `connect(port)` opens the pod's port, `label` names the pod in errors."""
    upgrade = handler.headers.get("Upgrade", "").lower()
    protocols = [p.strip() for p in handler.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if upgrade == "spdy/3.1":
        _switch(handler, {"Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": SPDY_PROTOCOL})
        framer = spdy.Framer(handler.rfile.read, handler.connection.sendall)
        spdy.PortForward(framer, connect, label).run()
    elif TUNNEL_PROTOCOL in protocols:
        socket_ = _accept_websocket(handler, TUNNEL_PROTOCOL)
        framer = spdy.Framer(socket_.byte_reader(), socket_.send)
        spdy.PortForward(framer, connect, label).run()
        socket_.close()
    elif upgrade == "websocket" and CHANNEL_PROTOCOL in protocols:
        socket_ = _accept_websocket(handler, CHANNEL_PROTOCOL)
        _channels(socket_, connect, int(query.get("ports", "0").split(",")[0] or 0), label)
    else:
        raise KubeError(
            400, f"port-forward needs {TUNNEL_PROTOCOL}, {CHANNEL_PROTOCOL} or SPDY/3.1"
        )


def _switch(handler: BaseHTTPRequestHandler, headers: dict[str, str]) -> None:
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Connection", "Upgrade")
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True


def _accept_websocket(handler: BaseHTTPRequestHandler, protocol: str) -> WebSocket:
    _switch(
        handler,
        {
            "Upgrade": "websocket",
            "Sec-WebSocket-Accept": accept_key(handler.headers["Sec-WebSocket-Key"]),
            "Sec-WebSocket-Protocol": protocol,
        },
    )
    return WebSocket(handler.connection, handler.rfile)


def _channels(
    socket_: WebSocket, connect: Callable[[int], socket.socket], port: int, label: str
) -> None:
    """`v4.channel.k8s.io`: data channel 0 and error channel 1 for the one port,
    each first sending the port number; one WebSocket carries one TCP stream."""
    number = struct.pack("<H", port)
    socket_.send(b"\x00" + number)
    socket_.send(b"\x01" + number)
    try:
        backend = connect(port)
    except OSError as exc:
        socket_.send(b"\x01" + spdy.forwarding_error(port, label, exc).encode())
        socket_.close()
        return
    socket_.pump(backend)
