"""SPDY/3.1, the server side of what `kubectl port-forward` speaks over it.

kubectl opens one SPDY connection and, for each local connection it accepts, two
streams with the headers `streamtype` (`error` or `data`), `port` and `requestid`
(kubelet's pkg/kubelet/cri/streaming/portforward/httpstream.go). The server answers
each SYN_STREAM with an empty SYN_REPLY (k8s.io/apimachinery httpstream/spdy
`newSpdyStream`), copies the data stream to and from the pod's port, and writes a
failure as text on the error stream; closing a stream is a DATA frame with FIN.
kubectl 1.31+ carries these same bytes in WebSocket binary messages (subprotocol
`SPDY/3.1+portforward.k8s.io`, client-go tools/portforward/tunneling_dialer.go);
older ones upgrade the HTTP connection itself (`Upgrade: SPDY/3.1`).

Frames are as moby/spdystream's `spdy` package writes and reads them (the SPDY/3
draft, http://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3): a control
frame is `0x8003`, its type, flags and a 24-bit length; a data frame a 31-bit
stream id, flags and length. Header blocks are 32-bit counted name/value pairs,
compressed with one zlib stream per direction, primed with the draft's dictionary
(section 2.6.10.1) and sync-flushed after each block.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1,
    2,
    3,
    4,
    6,
    7,
    8,
    9,
)
FLAG_FIN = 0x01
CANCEL = 5  # RST_STREAM status (spdy/types.go RstStreamStatus)
CHUNK = 32 * 1024

_WORDS = [
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
]
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416"
    "417502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
    "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
    "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
    "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
    "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset="
    "iso-8859-1,utf-,*,enq=0."
)
# The SPDY/3 header dictionary: each word after its 32-bit length, then a run of raw
# text (status codes, reasons, dates, types)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


class Framer:
    """Reads and writes frames on a byte stream; `read(n)` returns exactly n bytes
    or fewer at its end, `write` sends all it is given."""

    def __init__(self, read: Callable[[int], bytes], write: Callable[[bytes], None]) -> None:
        self._read = read
        self._write = write
        self._lock = threading.RLock()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(9, zdict=DICTIONARY)

    def _exactly(self, count: int) -> bytes:
        data = self._read(count) if count else b""
        if len(data) < count:
            raise EOFError("the SPDY connection closed")
        return data

    def read(self) -> tuple[int, int, int, bytes]:
        """The next frame as (type, flags, stream id, payload); type 0 is DATA. A
        SYN_STREAM's payload is its header block, decompressed."""
        first, second = struct.unpack(">II", self._exactly(8))
        flags, length = second >> 24, second & 0xFFFFFF
        payload = self._exactly(length)
        if not first & 0x80000000:
            return 0, flags, first & 0x7FFFFFFF, payload
        kind = first & 0xFFFF
        if kind in (SYN_STREAM, SYN_REPLY, HEADERS, RST_STREAM, WINDOW_UPDATE):
            stream = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
        else:
            stream = 0
        if kind == SYN_STREAM:
            payload = self._inflate.decompress(payload[10:])
        elif kind in (SYN_REPLY, HEADERS):
            payload = self._inflate.decompress(payload[4:])
        return kind, flags, stream, payload

    def control(self, kind: int, body: bytes, flags: int = 0) -> None:
        header = struct.pack(">HHI", 0x8003, kind, flags << 24 | len(body))
        with self._lock:
            self._write(header + body)

    def reply(self, stream: int) -> None:
        """An empty SYN_REPLY, as the API server answers each accepted stream; the
        header block is compressed and sent under one lock, the zlib stream's order."""
        with self._lock:
            block = self._deflate.compress(struct.pack(">I", 0))
            block += self._deflate.flush(zlib.Z_SYNC_FLUSH)
            self.control(SYN_REPLY, struct.pack(">I", stream) + block)

    def data(self, stream: int, data: bytes, fin: bool = False) -> None:
        header = struct.pack(">II", stream, (FLAG_FIN if fin else 0) << 24 | len(data))
        with self._lock:
            self._write(header + data)


def forwarding_error(port: int, pod: str, exc: OSError) -> str:
    """A failed dial as kubelet reports it, on either protocol (portforward
    httpstream.go and websocket.go): `pod` is "NAME, uid UID"."""
    return f"error forwarding port {port} to pod {pod}: {exc}"


def headers(block: bytes) -> dict[str, str]:
    """A decompressed header block's names and values (several joined by NUL)."""
    (count,) = struct.unpack(">I", block[:4])
    found, at = {}, 4
    for _ in range(count):
        (size,) = struct.unpack(">I", block[at : at + 4])
        name = block[at + 4 : at + 4 + size].decode()
        at += 4 + size
        (size,) = struct.unpack(">I", block[at : at + 4])
        found[name.lower()] = block[at + 4 : at + 4 + size].decode()
        at += 4 + size
    return found


@dataclass
class _Pair:
    """One forwarded connection: its error and data streams, and the pod's socket."""

    error: int = 0
    data: int = 0
    port: int = 0
    backend: socket.socket | None = None
    ready: threading.Event = field(default_factory=threading.Event)


class PortForward:
    """Serves one port-forward connection: `connect(port)` opens the pod's port (a
    socket) or raises OSError, whose message kubectl shows; `run()` returns when the
    client goes away."""

    def __init__(self, framer: Framer, connect: Callable[[int], socket.socket], pod: str) -> None:
        self.framer = framer
        self.connect = connect
        self.pod = pod
        self._pairs: dict[str, _Pair] = {}
        self._by_stream: dict[int, _Pair] = {}
        self._lock = threading.Lock()

    def run(self) -> None:
        try:
            while True:
                kind, flags, stream, payload = self.framer.read()
                if kind == SYN_STREAM:
                    self._stream(stream, headers(payload))
                elif kind == 0:
                    self._data(stream, flags, payload)
                elif kind == PING:
                    self.framer.control(PING, payload)  # answered with its own id
                elif kind == RST_STREAM:
                    self._close(self._by_stream.get(stream))
                elif kind == GOAWAY:
                    break
        except (EOFError, OSError, zlib.error, struct.error):
            pass
        finally:
            for pair in list(self._pairs.values()):
                self._close(pair)

    def _stream(self, stream: int, found: dict[str, str]) -> None:
        kind, port = found.get("streamtype"), found.get("port", "")
        if kind not in ("error", "data") or not port.isdigit() or not 0 < int(port) < 65536:
            # kubelet's httpStreamReceived refuses it; apimachinery's spdy connection
            # then resets the stream, which moby/spdystream sends as CANCEL (5)
            self.framer.control(RST_STREAM, struct.pack(">II", stream, CANCEL))
            return
        self.framer.reply(stream)
        # without a requestid (old clients) kubelet pairs stream n's error with n+2's data
        key = found.get("requestid") or str(stream if kind == "error" else stream - 2)
        with self._lock:
            pair = self._pairs.setdefault(key, _Pair(port=int(port)))
            self._by_stream[stream] = pair
            if kind == "error":
                pair.error = stream
            else:
                pair.data = stream
            complete = bool(pair.error and pair.data)
        if complete:
            threading.Thread(target=self._forward, args=(pair,), daemon=True).start()

    def _data(self, stream: int, flags: int, payload: bytes) -> None:
        pair = self._by_stream.get(stream)
        if pair is None or stream != pair.data:
            return  # the client half-closes its error stream at once
        pair.ready.wait(10)
        if pair.backend is None:
            return
        with contextlib.suppress(OSError):
            if payload:
                pair.backend.sendall(payload)
            if flags & FLAG_FIN:
                pair.backend.shutdown(socket.SHUT_WR)

    def _forward(self, pair: _Pair) -> None:
        """Copy the pod's port to the data stream; a failure to connect goes on the
        error stream, worded as kubelet words it."""
        try:
            pair.backend = self.connect(pair.port)
        except OSError as exc:
            message = forwarding_error(pair.port, self.pod, exc)
            with contextlib.suppress(OSError):
                self.framer.data(pair.error, message.encode())
            pair.ready.set()
            self._close(pair)
            return
        pair.ready.set()
        try:
            while chunk := pair.backend.recv(CHUNK):
                self.framer.data(pair.data, chunk)
        except OSError:
            pass
        self._close(pair)

    def _close(self, pair: _Pair | None) -> None:
        """Finish both streams of a pair (once) and close its pod socket."""
        with self._lock:
            keys = [k for k, p in self._pairs.items() if p is pair]
            for key in keys:
                del self._pairs[key]
            for stream in [s for s, p in self._by_stream.items() if p is pair]:
                del self._by_stream[stream]  # later frames for it are dropped
        if pair is None or not keys:
            return
        for stream in (pair.data, pair.error):
            with contextlib.suppress(OSError):
                self.framer.data(stream, b"", fin=True)
        if pair.backend is not None:
            with contextlib.suppress(OSError):
                pair.backend.close()
