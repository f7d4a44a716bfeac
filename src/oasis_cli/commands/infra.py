"""`oasis init | plan | up | down | status | doctor`: the base infrastructure."""

from __future__ import annotations

import dataclasses
from typing import Any

from oasis_cli import deploy, graphs
from oasis_cli.commands.outcome import Confirm, confirm, finish
from oasis_cli.errors import ConfigError, OasisError, PreflightError
from oasis_cli.options import Options
from oasis_cli.resources.base import Action
from oasis_cli.session import Context, open_session
from oasis_cli.ui import plan_table, print_json


def init(opts: Options, *, force: bool) -> None:
    """Write a commented oasis.toml with every setting at its default."""
    from oasis_cli.config.docs import render_init

    path = opts.config_path
    if path.exists() and not force:
        raise ConfigError(f"{path} exists", hint="Use --force to overwrite it.")
    path.write_text(render_init())
    opts.stderr.print(f"wrote {path}")


def plan(opts: Options) -> None:
    """Show what `up` would create, change or leave alone (read-only)."""
    with open_session(opts, "plan", read_only=True) as context:
        plans = deploy.plan_up(context)
    if opts.json:
        print_json(
            {
                "deployment": context.deployment.name,
                "project": context.deployment.project,
                "plan": [
                    {
                        "key": p.node.key,
                        "kind": p.node.kind,
                        "name": p.node.name,
                        "location": p.node.location,
                        "action": p.action.value,
                        "changes": [str(c) for c in p.changes],
                        "reason": p.reason,
                        "depends_on": list(p.node.deps),
                        "settings": p.node.spec,
                    }
                    for p in plans
                ],
            }
        )
        return
    opts.stdout.print(plan_table(plans))
    opts.stdout.print(f"\n{summary(plans, every=True)}.")


PHRASES = (
    (Action.CREATE, "to create"),
    (Action.UPDATE, "to change"),
    (Action.NOOP, "unchanged"),
    (Action.CONFLICT, "in conflict"),
)


def summary(plans: list[Any], *, every: bool = False) -> str:
    """`38 to create, 2 unchanged` (with `every`, the zero counts too)."""
    counts = {action: sum(p.action is action for p in plans) for action in Action}
    return ", ".join(
        f"{counts[action]} {phrase}" for action, phrase in PHRASES if every or counts[action]
    )


def up(opts: Options, *, everything: bool, ask: Confirm, interactive: bool) -> None:
    """Create or adopt the base infrastructure (and with `everything`, the images and
    the Ray layer as one graph). On a terminal without --yes, show the plan and ask."""
    from oasis_cli import preflight

    with open_session(opts, "up") as context:
        cloud, d = context.cloud, context.deployment
        deferred = preflight.check(cloud, d)  # before anything is created
        after = {"apis": lambda: preflight.check(cloud, d, only=deferred)} if deferred else {}
        graph = None
        if everything:
            graph = graphs.everything(context.deployment, opts.config_path.parent)
        if not opts.yes and interactive and not opts.json:
            plans = deploy.plan_up(context, graph)
            opts.stdout.print(plan_table(plans))
            if all(p.action is Action.NOOP for p in plans):
                opts.stdout.print("Nothing to do.")
                return
            ask(f"{summary(plans)}. Apply?")
        outcome = deploy.up(context, graph, after)
    retry = "oasis up --all" if everything else "oasis up"
    finish(opts, context, outcome, "up", retry=retry)


def down(opts: Options, *, delete_data: bool, ask: Confirm, sweep: bool = False) -> None:
    """Delete everything the deployment owns, in reverse order; the data bucket only
    with `delete_data`, asked a second time. With `sweep`, also what the APIs show
    carrying its label or marker (renamed since, or from a lost ledger), listed first
    and asked for."""
    question = (
        "Delete every resource of this deployment, the data bucket and its objects too?"
        if delete_data
        else "Delete every resource of this deployment (the data bucket is kept)?"
    )
    confirm(opts, ask, question)
    with open_session(opts, "down", detect_ip=False) as context:
        if delete_data:
            bucket = context.deployment.names.bucket
            confirm(
                opts,
                ask,
                f"Also delete bucket {bucket} and ALL its objects? This cannot be undone.",
            )
            context.delete_data = True
        graph = graphs.teardown(context.deployment, context.ledger)
        if sweep:
            graph = _swept(opts, context, graph, ask)
        outcome = deploy.down(context, graph)
    finish(opts, context, outcome, "down", retry="oasis down")


def status(opts: Options) -> None:
    """Each resource: its ledger state, live state, drift and time taken."""
    with open_session(opts, "status", read_only=True, detect_ip=False) as context:
        rows = deploy.status(context)
    if opts.json:
        print_json({"deployment": context.deployment.name, "resources": rows})
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("resource", "name", "location", "state", "live", "time", "drift"):
        table.add_column(column)
    for row in rows:
        duration = f"{row['duration_s']:.1f}s" if row["duration_s"] is not None else ""
        table.add_row(
            row["key"],
            row["name"],
            row["location"],
            row["state"],
            row["live"],
            duration,
            "; ".join(row["drift"]),
        )
    opts.stdout.print(table)


def doctor(opts: Options) -> None:
    """Read-only preflight; PreflightError (exit 3) if any check fails."""
    from oasis_cli.doctor import checks

    with open_session(opts, "doctor", read_only=True, detect_ip=False) as context:
        results = checks(context.cloud, context.deployment)
    failed = [check for check in results if check.status == "fail"]
    if opts.json:
        print_json({"ok": not failed, "checks": [vars(check) for check in results]})
    else:
        style = {"ok": "green", "warn": "yellow", "fail": "bold red"}
        for check in results:
            opts.stdout.print(
                f"[{style[check.status]}]{check.status:<4}[/] {check.name:<12} {check.detail}",
                soft_wrap=True,
            )
            if check.hint and check.status != "ok":
                opts.stdout.print(f"     {'':<12} {check.hint}", soft_wrap=True)
    if failed:
        raise PreflightError(
            f"{len(failed)} check(s) failed: " + ", ".join(c.name for c in failed),
            hint="Fix them, then run `oasis doctor` again.",
        )


def _swept(opts: Options, context: Context, graph: graphs.Graph, ask: Confirm) -> graphs.Graph:
    """The teardown plus what the sweep finds beyond it, shown and confirmed."""
    from oasis_cli.sweep import rank_of, sweep_nodes

    spec = graphs.ownership_spec(context.deployment)
    found = sweep_nodes(context.cloud, context.deployment, spec)
    swept = graphs.with_swept(graph, found, rank_of)
    extra = swept.nodes[len(graph.nodes) :]
    if not extra:
        opts.stderr.print("sweep: nothing beyond what the ledger and config name.")
        return graph
    listed = "\n".join(f"  {n.kind} {n.name} ({n.location})" for n in extra)
    opts.stderr.print(
        f"sweep: found {len(extra)} more by label or marker:\n{listed}", highlight=False
    )
    confirm(opts, ask, f"Delete these {len(extra)} too?")
    return swept


def verify(opts: Options, request: Any = None) -> None:
    """Check that the platform is usable; exit 1 if any check fails. The report is
    kept as JSON under the deployment's state directory (with `--nccl`, its plot too).
    `request` (a `verify.suite.Request`) asks for the GPU probe and the NCCL run."""
    import json
    import time

    from rich.table import Table

    from oasis_cli.ledger import private_dir
    from oasis_cli.verify import suite

    request = request or suite.Request()
    suite.validate(request)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with open_session(opts, "verify", read_only=True, detect_ip=False) as context:
        directory = private_dir(opts.state_root / context.deployment.name / "verify")
        if request.nccl:
            request = dataclasses.replace(request, plot=directory / f"{stamp}-nccl.png")
        announce = (
            (lambda name: None)
            if opts.json
            else (lambda name: opts.stderr.print(f"checking {name}...", highlight=False))
        )
        found = suite.run(context, request, announce)
    results = found.results
    failed = [r for r in results if r.status == "fail"]
    report = directory / f"{stamp}.json"
    document = {
        "deployment": context.deployment.name,
        "ok": not failed,
        "checks": [r.as_dict() for r in results],
        **found.extra,
    }
    report.write_text(json.dumps(document, indent=2) + "\n")
    if opts.json:
        print_json({**document, "report": str(report)})
    else:
        style = {"pass": "green", "warn": "yellow", "fail": "bold red"}
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("result", "check", "detail", "time"):
            table.add_column(column)
        for r in results:
            detail = r.detail if r.status == "pass" else f"{r.detail}\n→ {r.next}"
            table.add_row(f"[{style[r.status]}]{r.status}[/]", r.name, detail, f"{r.seconds:.1f}s")
        opts.stdout.print(table)
        opts.stderr.print(f"report: {report}", highlight=False)
    if failed:
        raise OasisError(
            f"{len(failed)} check(s) failed: " + ", ".join(r.name for r in failed),
            hint="Fix them as each says, then run `oasis verify` again.",
        )
