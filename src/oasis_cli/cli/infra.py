"""`oasis init | plan | up | status | down | doctor`: parse, then call one function."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from oasis_cli.cli.app import AllowAnyIpOption, OutputOption, YesOption, app, options


def ask(question: str) -> None:
    """Ask on the terminal; answering no aborts (exit 1, nothing changed)."""
    typer.confirm(question, abort=True)


@app.command()
def init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented oasis.toml with every setting at its default."""
    from oasis_cli.commands import infra

    infra.init(options(ctx), force=force)


@app.command()
def plan(
    ctx: typer.Context, allow_any_ip: AllowAnyIpOption = False, output: OutputOption = None
) -> None:
    """Show what `up` would create, change or leave alone (read-only)."""
    from oasis_cli.commands import infra

    infra.plan(options(ctx, output=output, allow_any_ip=allow_any_ip))


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
    then_verify: Annotated[
        bool,
        typer.Option("--verify", help="Run `oasis verify` once up has finished (needs --all)."),
    ] = False,
    yes: YesOption = False,
    output: OutputOption = None,
) -> None:
    """Create or adopt the base infrastructure; safe to re-run, resumes after a crash."""
    from oasis_cli.commands import infra
    from oasis_cli.errors import ConfigError

    if then_verify and not everything:
        raise ConfigError("--verify checks the whole platform: use it with --all")
    opts = options(ctx, output=output, yes=yes, allow_any_ip=allow_any_ip)
    infra.up(opts, everything=everything, ask=ask, interactive=sys.stdin.isatty())
    if then_verify:
        infra.verify(opts)


@app.command()
def down(
    ctx: typer.Context,
    delete_data: Annotated[
        bool,
        typer.Option("--delete-data", help="Also delete the data bucket and every object in it."),
    ] = False,
    sweep: Annotated[
        bool,
        typer.Option(
            "--sweep",
            help="Also find, show and delete resources carrying this deployment's label or "
            "marker that the ledger and config do not name.",
        ),
    ] = False,
    yes: YesOption = False,
    output: OutputOption = None,
) -> None:
    """Delete everything the deployment owns, in reverse order, in one run.

    The data bucket is kept unless --delete-data is given.
    """
    from oasis_cli.commands import infra

    opts = options(ctx, output=output, yes=yes)
    infra.down(opts, delete_data=delete_data, ask=ask, sweep=sweep)


@app.command()
def status(ctx: typer.Context, output: OutputOption = None) -> None:
    """Each resource: its ledger state, live state, drift and time taken."""
    from oasis_cli.commands import infra

    infra.status(options(ctx, output=output))


@app.command()
def verify(
    ctx: typer.Context,
    gpus: Annotated[
        int,
        typer.Option(
            "--gpus",
            help="Bring up N GPU nodes through the ComputeClass and report which rule and "
            "pool served them, and how fast (the probe pods are removed afterwards).",
        ),
    ] = 0,
    nccl: Annotated[
        bool,
        typer.Option(
            "--nccl",
            help="Run the NCCL test across the --gpus nodes and grade all_gather's bus "
            "bandwidth; writes a PNG plot beside the report.",
        ),
    ] = False,
    deadline: Annotated[
        float, typer.Option("--deadline", help="Seconds to wait for the --gpus nodes.")
    ] = 1800.0,
    expected: Annotated[
        float,
        typer.Option(
            "--nccl-expected",
            help="Expected all_gather bus bandwidth of 2 nodes in GB/s (published A3 Ultra "
            "figure), scaled for N.",
        ),
    ] = 325.0,
    threshold: Annotated[
        float,
        typer.Option("--nccl-threshold", help="Fail below this fraction of the expected figure."),
    ] = 0.8,
    output: OutputOption = None,
) -> None:
    """Check that the platform is usable; exit 1 if any check fails.

    No drift, GPU pools RUNNING, the cluster API reachable, the ComputeClass healthy,
    network objects Ready, the NCCL installer rolled out, the RayCluster and its head
    Ready, the dashboard Service's endpoint, the Ingress's address, every GPU node's
    GPUs, networks and gIB, and the data path (a Ray job writes, reads and removes a
    file under /bucket and reads the secret's metadata). The report is kept under
    .oasis/<deployment>/verify/.
    """
    from oasis_cli.commands import infra
    from oasis_cli.verify.nccl import Grading
    from oasis_cli.verify.suite import Request

    request = Request(gpus, nccl, deadline, Grading(expected, threshold))
    infra.verify(options(ctx, output=output), request)


@app.command()
def doctor(ctx: typer.Context, output: OutputOption = None) -> None:
    """Read-only preflight; exit code 3 if anything would fail.

    Checks credentials, the project, permissions, APIs, the GPU machine in the zone,
    GPU and CPU quota and the GKE version.
    """
    from oasis_cli.commands import infra

    infra.doctor(options(ctx, output=output))
