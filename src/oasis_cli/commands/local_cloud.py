"""`oasis local-cloud serve | ls | log | reset`: look into and drive the local cloud."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import threading

from oasis_cli.options import Options
from oasis_cli.ui import print_json


def serve(opts: Options, *, port: int) -> None:
    """Serve the local cloud in the foreground until Ctrl-C or SIGTERM."""
    from oasis_cli.localcloud.cloud import LocalCloud
    from oasis_cli.session import latency_scale

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalCloud(opts.local_cloud_dir, latency_scale=latency_scale(), port=port) as cloud:
        opts.stdout.print(
            f"export OASIS_ENDPOINTS='{json.dumps(cloud.endpoints)}'", highlight=False
        )
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


def list_resources(opts: Options) -> None:
    """Every simulated resource, as GET returns it."""
    from oasis_cli.localcloud.cloud import LocalCloud

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


def request_log(opts: Options) -> None:
    """The requests the local cloud served."""
    from oasis_cli.localcloud.infra.store import Store

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


def reset(opts: Options) -> None:
    """Forget the local cloud's world and the local ledgers (stopping its Ray heads)."""
    if opts.local_cloud_dir.is_dir():
        from oasis_cli.localcloud.infra.store import Store
        from oasis_cli.localcloud.kubernetes.controllers import stop_all

        with Store(opts.local_cloud_dir).transaction() as world:
            stop_all(world)  # the real Ray heads it started
    shutil.rmtree(opts.state_root, ignore_errors=True)
    opts.stderr.print(f"removed {opts.state_root}")
