"""`oasis local-cloud serve | ls | log | reset`: look into and drive the local cloud."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import threading
from typing import Any

from oasis_cli.errors import PreflightError
from oasis_cli.options import Options
from oasis_cli.ui import print_json


def serve(opts: Options, *, port: int) -> None:
    """Serve the local cloud in the foreground until Ctrl-C or SIGTERM."""
    from oasis_cli.localcloud.cloud import LocalCloud
    from oasis_cli.session import latency_scale

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cloud = LocalCloud(opts.local_cloud_dir, latency_scale=latency_scale(), port=port)
    try:
        cloud.start()
    except (OSError, RuntimeError) as exc:  # grpc raises RuntimeError for a taken port
        cloud.stop()
        raise PreflightError(
            f"cannot serve the local cloud on ports {port}-{port + 2}: {exc}",
            hint="Is `oasis local-cloud serve` running already? Or pick others with --port.",
        ) from None
    try:
        opts.stdout.print(
            f"export OASIS_ENDPOINTS='{json.dumps(cloud.endpoints)}'", highlight=False
        )
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        cloud.stop()


def list_resources(opts: Options) -> None:
    """Every simulated resource, as GET returns it."""
    from oasis_cli.localcloud.cloud import LocalCloud

    _show(
        opts,
        LocalCloud(opts.local_cloud_dir).inventory(),
        "{service:<18} {kind:<30} {location:<12} {name}",
    )


def request_log(opts: Options) -> None:
    """The requests the local cloud served."""
    from oasis_cli.localcloud.infra.store import Store

    _show(opts, Store(opts.local_cloud_dir).read_log(), "{status} {method:<6} /{service}{path}")


def _show(opts: Options, rows: list[dict[str, Any]], line: str) -> None:
    """Rows as JSON, or one `line` each, never wrapped (piped output keeps names whole)."""
    if opts.json:
        print_json(rows)
        return
    for row in rows:
        opts.stdout.print(line.format(**row), highlight=False, soft_wrap=True, markup=False)


def reset(opts: Options) -> None:
    """Forget the local cloud's world and the local ledgers (stopping its Ray heads)."""
    if opts.local_cloud_dir.is_dir():
        from oasis_cli.localcloud.infra.store import Store
        from oasis_cli.localcloud.kubernetes.controllers import stop_all

        with Store(opts.local_cloud_dir).transaction() as world:
            stop_all(world)  # the real Ray heads it started
    shutil.rmtree(opts.state_root, ignore_errors=True)
    opts.stderr.print(f"removed {opts.state_root}")
