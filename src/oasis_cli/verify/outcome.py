"""What a check gives: a Result (pass, warn or fail, a detail, its time, what to run
next), and the exceptions a check raises to fail or warn."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from oasis_cli.errors import OasisError


@dataclass
class Result:
    name: str
    status: str  # pass | warn | fail
    detail: str
    seconds: float = 0.0
    next: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Failed(OasisError):
    """A check's failure: its detail and the command to run next."""

    def __init__(self, detail: str, next_step: str) -> None:
        super().__init__(detail, hint=next_step)
        self.next_step = next_step


class Warned(Failed):
    """Not broken, not ready yet (a load balancer still provisioning)."""
