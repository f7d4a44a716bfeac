"""Polling with a deadline and backoff: the one loop every wait in oasis runs on.

`wait_until(poll, name=..., policy=...)` calls `poll()` until it reports done,
sleeping `initial_s` x `multiplier` up to `maximum_s` between calls, and raises
`OperationTimeout` at the deadline. Cloud operations (`gcp.waiter`) and Kubernetes
readiness (`resources.kubeobjects`) both wait through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from oasis_cli.errors import OperationTimeout


@dataclass(frozen=True)
class PollPolicy:
    initial_s: float = 2.0
    maximum_s: float = 10.0  # an operation seen done at most 10 s late
    multiplier: float = 1.5
    deadline_s: float = 3600.0


def wait_until(
    poll: Callable[[], bool],
    *,
    name: str,
    policy: PollPolicy,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    deadline = clock() + policy.deadline_s
    delay = policy.initial_s
    while not poll():
        remaining = deadline - clock()
        if remaining <= 0:
            raise OperationTimeout(name, policy.deadline_s)
        sleep(min(delay, remaining))
        delay = min(delay * policy.multiplier, policy.maximum_s)
