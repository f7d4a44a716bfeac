"""Every mutation of `up` and `down` served and committed, its answer lost (503 or
UNAVAILABLE), once each: re-running converges with nothing made twice and nothing
left behind. The answer a client gets for a request that was acted on anyway, which
is what a create retried after a timeout meets (AIP-194)."""

from __future__ import annotations

from collections import Counter

import pytest

from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra.store import Store

from conftest import EXPECTED, NODES, RETAINED, compute_operations, leftovers, made

SEQUENTIAL = ("--set", "run.parallelism=1")


# answered 503 (UNAVAILABLE over gRPC), or the connection closed without an answer
LOST = pytest.mark.parametrize("action", ["lose_answer", "drop_answer"])


def lose_every_answer_once(oasis, store: Store, action: str, *command: str) -> int:
    """Re-run `command` until it succeeds, each mutation's first answer lost; the
    number of runs that failed (the mutations without a retry)."""
    rule = {"action": action, "mutating": True, "distinct": True, "count": -1}
    with faults.injected(store, rule):
        for failures in range(2 * len(NODES) + 1):
            result = oasis("--local", *SEQUENTIAL, *command, "--yes")
            if result.code == 0:
                return failures
            assert result.code == 1, result.stderr
            assert "run `oasis" in result.stderr  # says what to run next
    raise AssertionError(f"{command} never converged")


@LOST
def test_up_with_every_answer_lost_once_converges_without_duplicates(
    oasis, cloud_dir, world, action
):
    lose_every_answer_once(oasis, Store(cloud_dir), action, "up")
    assert made(world()) == EXPECTED  # nothing missing, nothing twice
    compute_nodes = [n for n in NODES if n.kind.startswith("compute.")]
    inserts = Counter(op.operation_type for op in compute_operations(cloud_dir))
    assert inserts == {"insert": len(compute_nodes)}


@LOST
def test_down_with_every_answer_lost_once_converges(
    oasis, deployed, cloud_dir, world, ledger, action
):
    lose_every_answer_once(oasis, Store(cloud_dir), action, "down")
    assert leftovers(world()) == []
    states = Counter(entry["state"] for entry in ledger()["resources"].values())
    assert states == {"deleted": len(NODES) - len(RETAINED), "done": len(RETAINED)}
