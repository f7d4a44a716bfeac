"""What `plan`, `up`, `down` and `status` do, over the graph, the ledger and the cloud.

`up` observes each node, plans it, and creates, updates or adopts it, journaling
every mutation in the ledger before the call. `down` walks the reversed graph,
including resources the ledger knows but the config no longer names, and deletes
only what carries the deployment's marker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from oasis_cli.errors import ApiDisabled, CloudError
from oasis_cli.graph import Node, Outcome, order, run
from oasis_cli.graphs import KINDS, Graph, infrastructure, teardown
from oasis_cli.resources.base import Action, OnOperation, Plan, plan
from oasis_cli.session import Context

log = logging.getLogger(__name__)


def _observe_all(ctx: Context, graph: Graph) -> dict[str, Plan]:
    """Plan every node from read-only calls, all at once (lookups need no ordering)."""
    plans: dict[str, Plan] = {}
    nodes = graph.nodes
    by_key = {node.key: node for node in nodes}

    def work(unordered: Node) -> None:
        node = bind(ctx, by_key[unordered.key])
        kind = KINDS[node.kind]
        try:
            observed = kind.observe(ctx.cloud, node)
        except ApiDisabled:
            observed = None  # nothing of an API the project has not enabled can exist yet
        plans[node.key] = plan(node, observed, kind)

    outcome = run([replace(node, deps=()) for node in nodes], work, parallelism=ctx.parallelism)
    _raise_first(outcome)
    return {node.key: plans[node.key] for node in order(nodes, outside=graph.outside)}


def _raise_first(outcome: Outcome) -> None:
    for error in outcome.errors.values():
        raise error


def plan_up(ctx: Context, graph: Graph | None = None) -> list[Plan]:
    """What `up` would do (to `graph`, the base infrastructure by default), from
    read-only calls."""
    return list(_observe_all(ctx, graph or infrastructure(ctx.deployment)).values())


def up(
    ctx: Context,
    graph: Graph | None = None,
    after: Mapping[str, Callable[[], object]] | None = None,
) -> Outcome:
    """Converge `graph` (the base infrastructure by default) in dependency order.
    `after[key]` runs once that node has converged, before anything that depends on
    it starts; if it raises, the node counts as failed (its dependents never start)."""
    graph = graph or infrastructure(ctx.deployment)
    ctx.reporter.start(graph.nodes)
    hooks = after or {}

    def work(node: Node) -> str:
        result = _converge(ctx, node)
        if node.key in hooks:
            try:
                hooks[node.key]()
            except Exception as exc:
                ctx.reporter.update(node.key, "failed", str(exc).splitlines()[0])
                raise
        return result

    return run(graph.nodes, work, parallelism=ctx.parallelism, outside=graph.outside)


def bind(ctx: Context, node: Node) -> Node:
    """The node with its inputs filled from what its dependencies recorded (None while
    a dependency has recorded nothing)."""
    if not node.inputs:
        return node
    spec = dict(node.spec)
    for field, (dep, output) in node.inputs.items():
        entry = ctx.ledger.get(dep)
        spec[field] = entry.outputs.get(output) if entry and entry.state == "done" else None
    return replace(node, spec=spec)


def _converge(ctx: Context, node: Node) -> str:
    node = bind(ctx, node)
    kind = KINDS[node.kind]
    report = ctx.reporter.update
    report(node.key, "checking")
    observed = kind.observe(ctx.cloud, node)
    current = plan(node, observed, kind)
    entry = ctx.ledger.get(node.key)
    args = (node.key, node.kind, node.name, node.location, list(node.deps))
    if current.action is Action.CONFLICT:
        report(node.key, "conflict", current.reason)
        raise CloudError(
            f"{node.key} ({node.name})",
            current.reason,
            hint="oasis never modifies what it does not own: rename it in oasis.toml "
            "or remove it, then run `oasis up` again.",
        )
    if current.action is Action.NOOP:
        observed = kind.settle(ctx.cloud, node, observed or {})
        found = kind.outputs(observed)
        journaled = entry.outputs if entry is not None else {}
        if entry is not None and entry.state == "done":
            if any(journaled.get(k, v) != v for k, v in found.items()):
                # what the resource says now (an image found again by its sources, the
                # local cloud's endpoint) wins over what an earlier run recorded
                ctx.ledger.record(node.key, outputs={**journaled, **found})
            report(node.key, "unchanged")
            return "unchanged"
        found = kind.outputs(kind.adopted(ctx.cloud, node, observed))
        ctx.ledger.adopt(*args, outputs={**journaled, **found})
        report(node.key, "adopted")
        return "adopted"
    # what an earlier, unfinished or finished, create recorded (not a deleted one's)
    previous = dict(entry.outputs) if entry is not None and entry.state != "deleted" else {}
    entry = ctx.ledger.journal_create(*args)
    # an update keeps what the live resource's outputs were (a failed rebuild of an
    # image leaves the last good digest on record)
    kept = previous if current.action is Action.UPDATE else {}
    intent = {**kept, **kind.intent(ctx.cloud, node, observed, previous)}
    if intent:
        entry = ctx.ledger.record(node.key, outputs=intent)
    request_id = entry.request_id or ""
    on_operation = _operation_recorder(ctx, node.key)
    report(node.key, "creating" if current.action is Action.CREATE else "updating")
    try:
        if current.action is Action.CREATE:
            outputs = kind.create(ctx.cloud, node, request_id, on_operation)
        else:
            outputs = kind.update(ctx.cloud, node, current.changes, request_id, on_operation)
    except Exception as exc:
        log.debug("%s failed", node.key, exc_info=True)
        ctx.ledger.record(node.key, state="failed", error=str(exc))
        report(node.key, "failed", str(exc))
        raise
    ctx.ledger.record(node.key, state="done", outputs={**entry.outputs, **outputs})
    verb = "created" if current.action is Action.CREATE else "updated"
    report(node.key, verb)
    return verb


def _operation_recorder(ctx: Context, key: str) -> OnOperation:
    def record(operation: str) -> None:
        ctx.ledger.record(key, operation=operation)
        ctx.reporter.update(key, "running", operation=operation)

    def show(detail: str, lines: Sequence[str]) -> None:
        ctx.reporter.update(key, "running", detail)
        ctx.reporter.lines_of(key, lines)

    return OnOperation(record, show)


def down(ctx: Context, graph: Graph | None = None) -> Outcome:
    """Delete `graph` (the deployment's teardown by default) in reverse order."""
    graph = graph or teardown(ctx.deployment, ctx.ledger)
    ctx.reporter.start(graph.nodes)
    return run(
        graph.nodes,
        lambda node: _remove(ctx, node),
        parallelism=ctx.parallelism,
        reverse=True,
        outside=graph.outside,
        keep_going=True,  # one failure must not leave unrelated resources behind
    )


def _remove(ctx: Context, node: Node) -> str:
    kind = KINDS[node.kind]
    report = ctx.reporter.update
    report(node.key, "checking")
    observed = kind.observe(ctx.cloud, node)  # read-only, also for what down keeps
    entry = ctx.ledger.get(node.key)
    if observed is None:  # a data bucket deleted by an earlier --delete-data is gone
        if entry is not None and entry.state != "deleted":
            ctx.ledger.record(node.key, state="deleted")
        report(node.key, "absent")
        return "absent"
    retained = kind.retained(node, ctx.delete_data)
    if retained is not None:
        report(node.key, "kept", retained)
        return "kept"
    if not kind.owned(node, observed):
        report(node.key, "kept", "exists but does not belong to this deployment")
        return "kept"
    kept = kind.keeps(ctx.cloud, node, observed, entry.outputs if entry else {}, ctx.delete_data)
    if kept is not None:
        report(node.key, "kept", kept)
        return "kept"
    entry = ctx.ledger.journal_delete(
        node.key, node.kind, node.name, node.location, list(node.deps)
    )
    report(node.key, "deleting")
    try:
        kind.delete(
            ctx.cloud,
            node,
            entry.request_id or "",
            _operation_recorder(ctx, node.key),
            recorded=entry.outputs,
        )
    except Exception as exc:
        log.debug("%s failed", node.key, exc_info=True)
        ctx.ledger.record(node.key, error=str(exc))
        report(node.key, "failed", str(exc))
        raise
    ctx.ledger.record(node.key, state="deleted")
    report(node.key, "deleted")
    return "deleted"


def status(ctx: Context) -> list[dict[str, Any]]:
    """The ledger joined with live state: each resource, its state, drift, time taken."""
    graph = teardown(ctx.deployment, ctx.ledger)
    nodes = {node.key: node for node in graph.nodes}
    plans = _observe_all(ctx, graph)
    rows = []
    for key, current in plans.items():
        entry = ctx.ledger.get(key)
        node = nodes[key]
        live = {
            Action.CREATE: "missing",
            Action.CONFLICT: "not ours",
            Action.UPDATE: "drifted",
            Action.NOOP: "ok",
        }[current.action]
        rows.append(
            {
                "key": key,
                "kind": node.kind,
                "name": entry.name if entry else node.name,
                "location": entry.location if entry else node.location,
                "state": entry.state if entry else "absent",
                "live": live,
                "drift": [str(change) for change in current.changes],
                "duration_s": entry.duration_s if entry else None,
                "operation": entry.operation if entry else None,
                "outputs": entry.outputs if entry else {},
            }
        )
    return rows
