"""The server side of WebSocket (RFC 6455), as far as port-forward needs it: the
upgrade's accept key, binary frames, ping, close; client frames are masked."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    """The `Sec-WebSocket-Accept` answer to a client's `Sec-WebSocket-Key`."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class WebSocket:
    """One upgraded connection."""

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

    def messages(self) -> Iterator[bytes]:
        """The payloads of the client's data frames until it closes; pings answered."""
        while (frame := self.receive()) is not None:
            opcode, data = frame
            if opcode == 0x8:
                return
            if opcode == 0x9:
                self.send(data, opcode=0xA)
            elif opcode in (0x0, 0x2):
                yield data

    def pump(self, backend: socket.socket) -> None:
        """Copy data both ways until either side closes (`v4.channel.k8s.io`: each
        message starts with its channel, 0 for data)."""

        def to_client() -> None:
            try:
                while chunk := backend.recv(65536):
                    self.send(b"\x00" + chunk)
            except OSError:
                pass
            self.close()

        threading.Thread(target=to_client, daemon=True).start()
        try:
            for data in self.messages():
                if data[:1] == b"\x00" and len(data) > 1:
                    backend.sendall(data[1:])
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                backend.shutdown(socket.SHUT_RDWR)
            backend.close()

    def byte_reader(self) -> Callable[[int], bytes]:
        """`read(n)` over the messages' payloads as one byte stream (how a tunnel
        carries SPDY); at the close it returns what is left."""
        messages, buffered = self.messages(), bytearray()

        def read(count: int) -> bytes:
            while len(buffered) < count and (data := next(messages, None)) is not None:
                buffered.extend(data)
            taken = bytes(buffered[:count])
            del buffered[:count]
            return taken

        return read
