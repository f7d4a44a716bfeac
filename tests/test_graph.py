"""The scheduler: dependency order, parallelism, stop-after-failure."""

from __future__ import annotations

import threading
import time

import pytest

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


def test_an_unknown_dependency_key_is_an_error_before_anything_runs():
    ran: list[str] = []
    misspelled = [*nodes(), Node("pool", "k", "pool", "r", ("netwrok",))]
    with pytest.raises(graph.GraphError, match="pool depends on 'netwrok'"):
        graph.run(misspelled, lambda node: ran.append(node.key), parallelism=2)
    assert ran == []


def test_a_dependency_declared_outside_the_graph_is_met():
    ran: list[str] = []
    on_top = [Node("image", "k", "image", "r", ("net",))]
    assert graph.run(on_top, lambda node: ran.append(node.key), parallelism=2, outside={"net"}).ok
    assert ran == ["image"]


def test_every_command_graph_names_only_keys_it_has_or_declares(tmp_path):
    """Each composed graph's dependencies resolve: within `up --all` all of them, and
    within each command's own graph every one it does not declare outside."""
    from oasis_cli import graphs
    from oasis_cli.config.loading import load
    from oasis_cli.config.names import resolve

    config = load(None, environ={}, overrides=["gpu.capacity=reservation:r1,spot,flex-start"])
    d = resolve(config, "oasis-local")
    for composed in (
        graphs.infrastructure(d),
        graphs.everything(d, tmp_path),
        graphs.image_builds(d, tmp_path),
        graphs.binauth_rule(d, enforce=False),
    ):
        assert graph.order(composed.nodes, outside=composed.outside)
    everything = graphs.everything(d, tmp_path)
    assert everything.outside == frozenset()


def test_keep_going_runs_what_does_not_wait_for_a_failure():
    chain = [
        Node("a", "k", "a", "r"),
        Node("after-a", "k", "x", "r", ("a",)),
        Node("after-after-a", "k", "y", "r", ("after-a",)),
        Node("other", "k", "o", "r"),
    ]

    def work(node):
        if node.key == "a":
            raise RuntimeError("boom")
        return node.key

    outcome = graph.run(chain, work, parallelism=1, keep_going=True)
    assert set(outcome.errors) == {"a"}
    assert outcome.results == {"other": "other"}
    assert outcome.waiting_for == {"after-a": ["a"], "after-after-a": ["a"]}
