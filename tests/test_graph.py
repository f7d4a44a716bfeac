"""The scheduler: dependency order, parallelism, stop-after-failure, serial groups."""

from __future__ import annotations

import threading
import time

from oasis_cli import graph
from oasis_cli.graph import Node


def nodes():
    return [
        Node("net", "k", "net", "global"),
        Node("sub-a", "k", "a", "r", ("net",)),
        Node("sub-b", "k", "b", "r", ("net",)),
        Node("fw", "k", "fw", "global", ("net",)),
    ]


def test_dependencies_run_first_and_reverse_for_teardown():
    seen: list[str] = []
    lock = threading.Lock()

    def work(node):
        with lock:
            seen.append(node.key)

    assert graph.run(nodes(), work, parallelism=4).ok
    assert seen[0] == "net"
    seen.clear()
    assert graph.run(nodes(), work, parallelism=4, reverse=True).ok
    assert seen[-1] == "net"
    assert [n.key for n in graph.order(nodes(), reverse=True)][-1] == "net"


def test_independent_nodes_overlap():
    barrier = threading.Barrier(3, timeout=5)

    def work(node):
        if node.key != "net":
            barrier.wait()  # only passes if the three siblings run at once

    assert graph.run(nodes(), work, parallelism=4).ok


def test_after_a_failure_nothing_new_starts_and_in_flight_finishes():
    started: list[str] = []
    finished: list[str] = []
    chain = [
        Node("a", "k", "a", "g"),
        Node("slow", "k", "s", "g"),
        Node("after-a", "k", "x", "g", ("a",)),
    ]

    def work(node):
        started.append(node.key)
        if node.key == "a":
            raise RuntimeError("boom")
        time.sleep(0.1)
        finished.append(node.key)

    outcome = graph.run(chain, work, parallelism=2)
    assert set(outcome.errors) == {"a"}
    assert "after-a" not in started
    assert finished == ["slow"]
    assert outcome.not_started == ["after-a"]
    assert not outcome.ok


def test_serial_nodes_never_overlap():
    active = 0
    peak = 0
    lock = threading.Lock()
    pools = [Node(f"pool-{i}", "k", f"p{i}", "r", serial="cluster") for i in range(4)]

    def work(node):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1

    assert graph.run(pools, work, parallelism=4).ok
    assert peak == 1
