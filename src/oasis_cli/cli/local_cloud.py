"""`oasis local-cloud serve | ls | log | reset`: look into and drive the local cloud."""

from __future__ import annotations

from typing import Annotated

import typer

from oasis_cli.cli.app import OutputOption, YesOption, app, options

local_cloud = typer.Typer(help="The built-in local cloud (state in .oasis/local/cloud).")
app.add_typer(local_cloud, name="local-cloud")


@local_cloud.command()
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free).")] = 0,
) -> None:
    """Serve the local cloud in the foreground until Ctrl-C.

    Point another shell at it with the printed OASIS_ENDPOINTS and `oasis --local`.
    """
    from oasis_cli.commands import local_cloud as command

    command.serve(options(ctx), port=port)


@local_cloud.command("ls")
def list_resources(ctx: typer.Context, output: OutputOption = None) -> None:
    """Every simulated resource, as GET returns it."""
    from oasis_cli.commands import local_cloud as command

    command.list_resources(options(ctx, output=output))


@local_cloud.command("log")
def request_log(ctx: typer.Context, output: OutputOption = None) -> None:
    """The requests the local cloud served."""
    from oasis_cli.commands import local_cloud as command

    command.request_log(options(ctx, output=output))


@local_cloud.command()
def reset(ctx: typer.Context, yes: YesOption = False) -> None:
    """Forget the local cloud's world and the local ledgers."""
    from oasis_cli.commands import local_cloud as command

    opts = options(ctx, yes=yes)
    if not opts.yes:
        typer.confirm(f"Delete {opts.state_root}?", abort=True)
    command.reset(opts)
