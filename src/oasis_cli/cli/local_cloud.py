"""`oasis local-cloud serve | ls | log | reset`: look into and drive the local cloud."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import threading
from typing import Annotated

import typer

from oasis_cli.cli.app import OutputOption, YesOption, app, options
from oasis_cli.ui import print_json

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
    from oasis_cli.localcloud.cloud import LocalCloud
    from oasis_cli.session import latency_scale

    opts = options(ctx)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalCloud(opts.local_cloud_dir, latency_scale=latency_scale(), port=port) as cloud:
        opts.stdout.print(
            f"export OASIS_ENDPOINTS='{json.dumps(cloud.endpoints)}'", highlight=False
        )
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


@local_cloud.command("ls")
def list_resources(ctx: typer.Context, output: OutputOption = None) -> None:
    """Every simulated resource, as GET returns it."""
    from oasis_cli.localcloud.cloud import LocalCloud

    opts = options(ctx, output=output)
    items = LocalCloud(opts.local_cloud_dir).inventory()
    if opts.json:
        print_json(items)
        return
    for item in items:
        opts.stdout.print(
            f"{item['service']:<18} {item['kind']:<30} {item['location']:<12} {item['name']}",
            highlight=False,
            soft_wrap=True,
        )


@local_cloud.command("log")
def request_log(ctx: typer.Context, output: OutputOption = None) -> None:
    """The requests the local cloud served."""
    from oasis_cli.localcloud.infra.store import Store

    opts = options(ctx, output=output)
    records = Store(opts.local_cloud_dir).read_log()
    if opts.json:
        print_json(records)
        return
    for record in records:
        opts.stdout.print(
            f"{record['status']} {record['method']:<6} /{record['service']}{record['path']}",
            highlight=False,
            soft_wrap=True,
        )


@local_cloud.command()
def reset(ctx: typer.Context, yes: YesOption = False) -> None:
    """Forget the local cloud's world and the local ledgers."""
    opts = options(ctx, yes=yes)
    if not opts.yes:
        typer.confirm(f"Delete {opts.state_root}?", abort=True)
    if opts.local_cloud_dir.is_dir():
        from oasis_cli.localcloud.infra.store import Store
        from oasis_cli.localcloud.kubernetes.controllers import stop_all

        with Store(opts.local_cloud_dir).transaction() as world:
            stop_all(world)  # the real Ray heads it started
    shutil.rmtree(opts.state_root, ignore_errors=True)
    opts.stderr.print(f"removed {opts.state_root}")
