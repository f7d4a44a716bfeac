"""`oasis init | plan | up | status | down | doctor`: parse, load, call one function, render."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Annotated

import typer

from oasis_cli import deploy
from oasis_cli.cli.app import AllowAnyIpOption, OutputOption, YesOption, app, options
from oasis_cli.errors import ConfigError, OasisError
from oasis_cli.graph import Outcome
from oasis_cli.resources.base import Action
from oasis_cli.session import Options, Session, open_session
from oasis_cli.ui import plan_table, print_json


@app.command()
def init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented oasis.toml with every setting at its default."""
    opts = options(ctx)
    path = opts.config_path
    if path.exists() and not force:
        raise ConfigError(f"{path} exists", hint="Use --force to overwrite it.")
    from oasis_cli.config.docs import render_init

    path.write_text(render_init())
    opts.stderr.print(f"wrote {path}")


@app.command()
def plan(
    ctx: typer.Context, allow_any_ip: AllowAnyIpOption = False, output: OutputOption = None
) -> None:
    """Show what `up` would create, change or leave alone (read-only)."""
    opts = options(ctx, output=output, allow_any_ip=allow_any_ip)
    with open_session(opts, "plan", read_only=True) as (session, context):
        plans = deploy.plan_up(context)
    if opts.json:
        print_json(
            {
                "deployment": session.deployment.name,
                "project": session.deployment.project,
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
    counts = {action: sum(p.action is action for p in plans) for action in Action}
    opts.stdout.print(
        f"\n{counts[Action.CREATE]} to create, {counts[Action.UPDATE]} to change, "
        f"{counts[Action.NOOP]} unchanged, {counts[Action.CONFLICT]} in conflict."
    )


@app.command()
def up(
    ctx: typer.Context,
    allow_any_ip: AllowAnyIpOption = False,
    everything: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also build the images and deploy the Ray layer, as one graph (the images "
            "build while the cluster comes up).",
        ),
    ] = False,
    yes: YesOption = False,
    output: OutputOption = None,
) -> None:
    """Create or adopt the base infrastructure; safe to re-run, resumes after a crash."""
    opts = options(ctx, output=output, yes=yes, allow_any_ip=allow_any_ip)
    with open_session(opts, "up") as (session, context):
        graph = None
        if everything:
            from oasis_cli import graphs

            graph = graphs.everything(session.deployment, opts.config_path.parent)
        if not opts.yes and sys.stdin.isatty() and not opts.json:
            plans = deploy.plan_up(context, graph)
            opts.stdout.print(plan_table(plans))
            if all(p.action is Action.NOOP for p in plans):
                opts.stdout.print("Nothing to do.")
                return
            typer.confirm("Apply this plan?", abort=True)
        outcome = deploy.up(context, graph)
    retry = "oasis up --all" if everything else "oasis up"
    finish(opts, session, outcome, "up", retry=retry)


@app.command()
def down(
    ctx: typer.Context,
    delete_data: Annotated[
        bool,
        typer.Option("--delete-data", help="Also delete the data bucket and every object in it."),
    ] = False,
    yes: YesOption = False,
    output: OutputOption = None,
) -> None:
    """Delete everything the deployment owns, in reverse order, in one run.

    The data bucket is kept unless --delete-data is given.
    """
    opts = options(ctx, output=output, yes=yes)
    confirm(opts, "Delete every resource of this deployment (the data bucket is kept)?")
    with open_session(opts, "down", detect_ip=False) as (session, context):
        if delete_data:
            bucket = session.deployment.names.bucket
            confirm(
                opts, f"Also delete bucket {bucket} and ALL its objects? This cannot be undone."
            )
            context.delete_data = True
        outcome = deploy.down(context)
    finish(opts, session, outcome, "down", retry="oasis down")


@app.command()
def status(ctx: typer.Context, output: OutputOption = None) -> None:
    """Each resource: its ledger state, live state, drift and time taken."""
    opts = options(ctx, output=output)
    with open_session(opts, "status", read_only=True) as (session, context):
        rows = deploy.status(context)
    if opts.json:
        print_json({"deployment": session.deployment.name, "resources": rows})
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


def confirm(opts: Options, question: str) -> None:
    if opts.yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"{question} Needs confirmation.", hint="Re-run with --yes.")
    typer.confirm(question, abort=True)


def finish(opts: Options, session: Session, outcome: Outcome, command: str, retry: str) -> None:
    results = {key: str(value) for key, value in outcome.results.items()}
    errors = {key: str(error) for key, error in outcome.errors.items()}
    if opts.json:
        print_json(
            {
                "deployment": session.deployment.name,
                "command": command,
                "ok": outcome.ok,
                "results": results,
                "errors": errors,
                "not_started": outcome.not_started,
                "log": str(session.log_path),
            }
        )
    if outcome.ok:
        if not opts.json:
            counts = Counter(results.values())
            summary = ", ".join(f"{n} {verb}" for verb, n in sorted(counts.items()))
            opts.stderr.print(f"[green]{command} finished[/]: {summary}.", soft_wrap=True)
        return
    lines = [f"{key}: {message}" for key, message in errors.items()]
    if outcome.not_started:
        lines.append(f"not started: {', '.join(outcome.not_started)}")
    raise OasisError(
        f"{command} failed:\n  " + "\n  ".join(lines),
        hint=f"The ledger is consistent. Fix the cause, then run `{retry}` again; it resumes "
        f"where this run stopped. Log: {session.log_path}",
    )


@app.command()
def doctor(ctx: typer.Context, output: OutputOption = None) -> None:
    """Read-only preflight; exit code 3 if anything would fail.

    Checks credentials, the project, permissions, APIs, the GPU machine in the zone,
    GPU and CPU quota and the GKE version.
    """
    from oasis_cli.doctor import checks
    from oasis_cli.errors import PreflightError

    opts = options(ctx, output=output)
    with open_session(opts, "doctor", read_only=True, detect_ip=False) as (session, context):
        results = checks(context.cloud, session.deployment)
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
