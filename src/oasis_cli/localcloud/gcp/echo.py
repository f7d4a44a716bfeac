"""The IP echo endpoint: answers the caller's "public" IP, a TEST-NET-3 address
(documentation range, never routed), so public IP detection runs the same code.

It defines who the caller is for the whole local cloud: the simulated cluster APIs
admit only this address when it is inside their authorized networks. Set
`OASIS_LOCAL_CALLER_IP` to play a caller whose address changed.
"""

from __future__ import annotations

import os
from typing import Any

from oasis_cli.localcloud.infra.http import Request, Response

PUBLIC_IP = "203.0.113.7"


def caller_ip() -> str:
    return os.environ.get("OASIS_LOCAL_CALLER_IP", PUBLIC_IP)


class Echo:
    service = "echo"

    def handle(self, request: Request) -> Response:
        return Response(200, caller_ip().encode() + b"\n", {"Content-Type": "text/plain"})

    def target(self, request: Request) -> str:
        return ""

    def inventory(self, world: dict[str, Any]) -> list[dict[str, Any]]:
        return []

    def advance(self, world: dict[str, Any]) -> None:
        """Nothing runs long here."""
