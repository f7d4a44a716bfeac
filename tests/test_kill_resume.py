"""Crash oasis right after each mutating call is sent, re-run, and check convergence.

The fault rule `kill` makes the local cloud serve and commit a request, then kill
the (in-process) server's own process before it answers: exactly a crash between
"the cloud acted" and "oasis recorded it". With `distinct`, each run dies at the
first mutation that has not been a crash point yet, so a chain of runs crashes once
at every mutation of `up` (run one at a time, so every mutation is reached).
"""

from __future__ import annotations

import signal
from collections import Counter

from forkserver import ForkServer
from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra.store import Store

from conftest import EXPECTED, NODES, RETAINED, compute_operations, leftovers, made

SEQUENTIAL = {"OASIS_RUN_PARALLELISM": "1", "OASIS_LOCAL_LATENCY_SCALE": "0"}


def crash_at_every_mutation(forks: ForkServer, store: Store, command: str) -> int:
    """Re-run `command` until it succeeds, crashing once at each new mutation; kills.
    Each run is a process of its own (forked from a warm interpreter)."""
    faults.add(store, {"action": "kill", "mutating": True, "distinct": True, "count": -1})
    for kills in range(2 * len(NODES) + 1):
        result = forks.run("--local", command, "--yes", env=SEQUENTIAL)
        if result.returncode == 0:
            store.write_faults([])
            return kills
        assert result.returncode == -signal.SIGKILL, result.stderr
    raise AssertionError(f"{command} never converged")


def test_up_killed_after_every_mutation_converges_without_duplicates(
    forks, cloud_dir, world, ledger
):
    store = Store(cloud_dir)
    assert crash_at_every_mutation(forks, store, "up") == len(NODES)
    assert made(world()) == EXPECTED  # nothing missing, nothing twice
    entries = ledger()["resources"]
    assert len(entries) == len(NODES)
    assert {entry["state"] for entry in entries.values()} == {"done"}
    # each resource was inserted by exactly one operation: nothing acted twice
    operations = compute_operations(cloud_dir)
    compute_nodes = [n for n in NODES if n.kind.startswith("compute.")]
    assert Counter(op.operation_type for op in operations) == {"insert": len(compute_nodes)}

    result = forks.run("--local", "down", "--yes")
    assert result.returncode == 0, result.stderr
    assert leftovers(world()) == []


def test_down_killed_after_every_delete_converges(forks, deployed, cloud_dir, world):
    kills = crash_at_every_mutation(forks, Store(cloud_dir), "down")
    assert kills == len(NODES) - len(RETAINED)
    assert leftovers(world()) == []


def test_ctrl_c_returns_while_the_cluster_create_still_runs(cloud_dir, ledger):
    """Ctrl-C does not wait for creates in flight (minutes on a real cloud): the process
    exits 130 while the cluster's create operation is still running, and the ledger
    holds it as pending with its operation, for the next run to follow."""
    import os
    import subprocess
    import sys
    import time

    from oasis_cli.localcloud.cloud import LocalCloud

    env = {**os.environ, "OASIS_LOCAL_LATENCY_SCALE": "0.05"}  # the cluster takes 24 s
    child = subprocess.Popen(
        [sys.executable, "-m", "oasis_cli", "--local", "up", "--yes"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = Store(cloud_dir)

    def created(r: dict) -> bool:  # accepted: a refused try (the node account still
        # propagating) does not count
        return r["method"] == "POST" and r["path"].endswith("/clusters") and r["status"] == 200

    for _ in range(600):  # until the cluster's create has been accepted
        if any(created(r) for r in store.read_log()):
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "run the same command again to resume" in err
    with LocalCloud(cloud_dir) as cloud:  # scale 0: the stored due time stands
        (cluster,) = [i for i in cloud.inventory() if i["kind"] == "container#cluster"]
    assert cluster["resource"]["status"] == "PROVISIONING"
    entry = ledger()["resources"]["cluster"]
    assert entry["state"] == "pending" and entry["operation"]
