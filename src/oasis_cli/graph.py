"""Resource dependency graph and its parallel scheduler.

A `Node` is one cloud resource: a stable key, its kind, full name and location, the
keys it depends on, its desired settings, and the settings it takes from what a
dependency recorded (an image built FROM another image's digest). `run()` walks the graph with
`graphlib.TopologicalSorter` over a bounded thread pool (reversed for teardown).
After the first failure nothing new starts; work in flight finishes and is recorded.
A dependency must be a node of
the graph or one of the keys declared `outside` it (made by an earlier command); any
other key is a bug in a node builder and raises `GraphError`.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from oasis_cli.errors import OasisError


@dataclass(frozen=True)
class Node:
    key: str
    kind: str
    name: str
    location: str
    deps: tuple[str, ...] = ()
    spec: Mapping[str, Any] = field(default_factory=dict)
    # spec field -> (dependency key, output name): filled from the ledger at run time
    inputs: Mapping[str, tuple[str, str]] = field(default_factory=dict)


class GraphError(OasisError):
    """A node depends on a key that is neither in its graph nor declared outside it."""


@dataclass
class Outcome:
    """What a graph run did: results by key, errors by key, and what never started."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)
    not_started: list[str] = field(default_factory=list)
    waiting_for: dict[str, list[str]] = field(default_factory=dict)  # key -> failed keys

    @property
    def ok(self) -> bool:
        return not self.errors and not self.not_started


def order(
    nodes: Iterable[Node], *, reverse: bool = False, outside: Collection[str] = ()
) -> list[Node]:
    """A deterministic topological order (dependencies first, or last if reversed)."""
    by_key = {node.key: node for node in nodes}
    sorter = graphlib.TopologicalSorter(_edges(by_key, reverse, outside))
    return [by_key[key] for key in sorter.static_order()]


def _edges(
    by_key: Mapping[str, Node], reverse: bool, outside: Collection[str]
) -> dict[str, set[str]]:
    """Predecessors of every node; a dependency declared `outside` is already met."""
    edges: dict[str, set[str]] = {key: set() for key in sorted(by_key)}
    for key in sorted(by_key):
        for dep in by_key[key].deps:
            if dep not in by_key:
                if dep not in outside:
                    raise GraphError(f"{key} depends on {dep!r}, which no node provides")
                continue
            if reverse:
                edges[dep].add(key)
            else:
                edges[key].add(dep)
    return edges


def run(
    nodes: Iterable[Node],
    work: Callable[[Node], Any],
    *,
    parallelism: int,
    reverse: bool = False,
    outside: Collection[str] = (),
    keep_going: bool = False,
) -> Outcome:
    """Run `work` on every node once its predecessors succeeded. After a failure
    nothing new starts, unless `keep_going`: then only what depends on a failed node
    waits (`Outcome.waiting_for` says on which)."""
    by_key = {node.key: node for node in nodes}
    edges = _edges(by_key, reverse, outside)
    sorter = graphlib.TopologicalSorter(edges)
    sorter.prepare()
    outcome = Outcome()
    in_flight: dict[Future[Any], str] = {}
    pool = ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="oasis")
    try:
        while sorter.is_active():
            if keep_going or not outcome.errors:
                for key in sorted(sorter.get_ready()):
                    in_flight[pool.submit(work, by_key[key])] = key
            if not in_flight:
                break
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                key = in_flight.pop(future)
                error = future.exception()
                if error is None:
                    outcome.results[key] = future.result()
                    sorter.done(key)
                else:
                    outcome.errors[key] = error
    except BaseException:
        # Ctrl-C: return at once. What is in flight keeps running in the cloud; the
        # ledger has it pending with its operation, and the next run follows it.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    finished_keys = outcome.results.keys() | outcome.errors.keys()
    outcome.not_started = [key for key in by_key if key not in finished_keys]
    for key in outcome.not_started:
        failed = _failed_before(key, edges, outcome.errors.keys())
        if failed:
            outcome.waiting_for[key] = failed
    return outcome


def _failed_before(key: str, edges: Mapping[str, set[str]], failed: Collection[str]) -> list[str]:
    """The failed nodes `key` waits for, directly or through others."""
    seen, stack, found = set(), list(edges[key]), set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in failed:
            found.add(current)
        else:
            stack.extend(edges.get(current, ()))
    return sorted(found)
