"""Garbage-collector settings for a command-line run (imports nothing heavy, so the
benchmark can apply them to its baseline too)."""

from __future__ import annotations

import atexit
import gc
import platform


def tune() -> None:
    """Collect less often, and not at all on the way out.

    The client libraries leave about a million long-lived objects (protobuf
    descriptors), which CPython's default thresholds walk again and again, and once
    more in the final collection at exit: half a second of a no-op `up`. Like mypy
    (`gc.set_threshold(200 * 1000, 30, 30)`, "otherwise we can spend a large fraction
    of cpu in gc"), the young generation waits for 200,000 allocations; at exit,
    `gc.freeze()` (Python's gc docs: "avoid costs of repeated collections of
    long-lived objects") spares the last walk; by then every file and the ledger
    are closed.
    """
    if platform.python_implementation() == "CPython":
        gc.set_threshold(200_000, 30, 30)
        atexit.unregister(gc.freeze)  # once, however often main() runs in one process
        atexit.register(gc.freeze)
