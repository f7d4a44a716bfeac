"""The IP echo endpoint: answers the caller's "public" IP, a TEST-NET-3 address
(documentation range, never routed), so public IP detection runs the same code."""

from __future__ import annotations

from typing import Any

from oasis_cli.localcloud.infra.http import Request, Response

PUBLIC_IP = "203.0.113.7"


class Echo:
    service = "echo"

    def handle(self, request: Request) -> Response:
        return Response(200, PUBLIC_IP.encode() + b"\n", {"Content-Type": "text/plain"})

    def target(self, request: Request) -> str:
        return ""

    def inventory(self, world: dict[str, Any]) -> list[dict[str, Any]]:
        return []

    def advance(self, world: dict[str, Any]) -> None:
        """Nothing runs long here."""
