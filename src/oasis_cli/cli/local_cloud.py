"""`oasis local-cloud serve | ls | log | reset`: look into and drive the local cloud."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from oasis_cli.cli.app import OutputOption, YesOption, app, options
from oasis_cli.options import Options

local_cloud = typer.Typer(help="The built-in local cloud (state in .oasis/local/cloud).")
app.add_typer(local_cloud, name="local-cloud")
DEFAULT_PORT = 8470


def local(ctx: typer.Context, **kwargs: Any) -> Options:
    """The options, always for the local cloud: `local-cloud` acts on nothing else
    (without this, `ls` and `log` without --local would open an empty second world)."""
    return replace(options(ctx, **kwargs), local=True)


@local_cloud.command()
def serve(
    ctx: typer.Context,
    port: Annotated[
        int,
        typer.Option(
            "--port",
            help="HTTP port; the Kubernetes API is on PORT+1, IAM on PORT+2 (0: any free).",
        ),
    ] = DEFAULT_PORT,
) -> None:
    """Serve the local cloud in the foreground until Ctrl-C, on stable ports.

    Point another shell at it with the printed OASIS_ENDPOINTS and `oasis --local`.
    """
    from oasis_cli.commands import local_cloud as command

    command.serve(local(ctx), port=port)


@local_cloud.command()
def env(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option("--port", help="The port `local-cloud serve` listens on.")
    ] = DEFAULT_PORT,
) -> None:
    """Print the shell settings for gcloud, kubectl and oasis against `local-cloud
    serve`: eval "$(oasis local-cloud env)"."""
    from oasis_cli.commands import local_cloud as command

    command.env(local(ctx), port=port)


@local_cloud.command("ls")
def list_resources(ctx: typer.Context, output: OutputOption = None) -> None:
    """Every simulated resource, as GET returns it."""
    from oasis_cli.commands import local_cloud as command

    command.list_resources(local(ctx, output=output))


@local_cloud.command("log")
def request_log(ctx: typer.Context, output: OutputOption = None) -> None:
    """The requests the local cloud served."""
    from oasis_cli.commands import local_cloud as command

    command.request_log(local(ctx, output=output))


@local_cloud.command()
def reset(ctx: typer.Context, yes: YesOption = False) -> None:
    """Forget the local cloud's world and the local ledgers."""
    from oasis_cli.commands import local_cloud as command

    opts = local(ctx, yes=yes)
    if not opts.yes:
        typer.confirm(f"Delete {opts.state_root}?", abort=True)
    command.reset(opts)
