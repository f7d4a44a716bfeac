"""Everything one command needs, built once: config, project, cloud, ledger, log.

`open_session()` yields the one Context a command works with. It validates the
config before any API call, starts the in-process local cloud for `--local` (or uses
`OASIS_ENDPOINTS`), locks the deployment's ledger and opens the log file; leaving
it stops what it started.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from oasis_cli.config.names import Deployment
from oasis_cli.errors import ConfigError, OasisError
from oasis_cli.options import Options
from oasis_cli.progress import Reporter
from oasis_cli.ui import setup_logging

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud
    from oasis_cli.ledger import Ledger

LOCAL_PROJECT = "oasis-local"
DEFAULT_LATENCY_SCALE = 0.01


def latency_scale() -> float:
    raw = os.environ.get("OASIS_LOCAL_LATENCY_SCALE", "")
    try:
        return float(raw) if raw else DEFAULT_LATENCY_SCALE
    except ValueError:
        raise ConfigError(f"OASIS_LOCAL_LATENCY_SCALE: {raw!r}: must be a number") from None


def load_deployment(options: Options) -> Deployment:
    """Validate the config and bind its project; no API call is made for a local run."""
    from oasis_cli.config.loading import load
    from oasis_cli.config.names import resolve

    if not options.config_explicit and not options.config_path.exists():
        options.stderr.print(
            f"no {options.config_path} here: using the defaults (`oasis init` writes one)",
            highlight=False,
        )
    config = load(
        options.config_path, required=options.config_explicit, overrides=options.overrides
    )
    project = config.project
    if project is None and options.local:
        project = LOCAL_PROJECT
    if project is None:
        from oasis_cli.gcp.clients import default_project

        project = default_project()
    if project is None:
        raise ConfigError(
            "project: not set, and Application Default Credentials name no project",
            hint="Set `project` in oasis.toml, OASIS_PROJECT, or --project.",
        )
    return resolve(config, project)


LOOPBACK = ("127.0.0.1", "localhost")


def bypass_proxies_for_loopback() -> None:
    """The local cloud is reached directly, never through an HTTP(S)_PROXY a user has
    set: loopback goes into `no_proxy` (as curl and requests read it). Listing the
    host there also spares requests a scan of the whole environment per request."""
    for name in ("no_proxy", "NO_PROXY"):
        listed = [host for host in os.environ.get(name, "").split(",") if host.strip()]
        os.environ[name] = ",".join([*listed, *(h for h in LOOPBACK if h not in listed)])


@dataclass
class Context:
    """Everything one command works with, built once by `open_session()`."""

    options: Options
    deployment: Deployment
    cloud: Cloud
    ledger: Ledger
    reporter: Reporter
    log_path: Path
    delete_data: bool = False

    @property
    def parallelism(self) -> int:
        return self.deployment.config.run.parallelism


@contextlib.contextmanager
def open_session(
    options: Options, command: str, *, read_only: bool = False, detect_ip: bool = True
) -> Iterator[Context]:
    """Yield the command's Context.

    The ledger stays locked until exit, except for `read_only` commands (plan,
    status), which read it as it stands so they work while another run is going.
    """
    from oasis_cli.gcp.clients import Cloud, endpoints_from_env
    from oasis_cli.ledger import Ledger, private_dir
    from oasis_cli.polling import PollPolicy

    deployment = load_deployment(options)
    run = deployment.config.run
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = private_dir(options.state_root / deployment.name) / "logs" / f"{stamp}-{command}.log"
    setup_logging(log_path, debug=options.debug)
    if not options.json:
        options.stderr.print(f"[dim]log: {log_path}[/]", highlight=False)
    reporter = Reporter(options.stderr, json_mode=options.json, title=command)
    endpoints = endpoints_from_env()
    with contextlib.ExitStack() as stack:
        poll = PollPolicy(initial_s=run.poll_interval_s, deadline_s=run.operation_timeout_s)
        if options.local:
            bypass_proxies_for_loopback()
            scale = latency_scale()
            poll = PollPolicy(
                initial_s=max(0.02, run.poll_interval_s * scale),
                maximum_s=max(0.05, PollPolicy.maximum_s * scale),
                deadline_s=run.operation_timeout_s,
            )
            if not endpoints:
                from oasis_cli.localcloud.cloud import LocalCloud

                cloud_server = LocalCloud(options.local_cloud_dir, latency_scale=scale)
                stack.enter_context(cloud_server)
                endpoints = cloud_server.endpoints
        cloud = Cloud(
            project=deployment.project, endpoints=endpoints, anonymous=options.local, poll=poll
        )
        stack.callback(cloud.close)  # before the local cloud (entered earlier) stops
        cloud.check_credentials()  # one clear message at once, before anything else
        cluster = deployment.config.cluster
        if detect_ip and not cluster.authorized_networks:
            from oasis_cli.gcp.publicip import caller

            detected = caller(endpoints, cluster)
            deployment = replace(deployment, detected_networks=(detected,))
        if read_only:
            path = options.state_root / deployment.name / "ledger.json"
            try:
                ledger = Ledger.load(path, deployment.name, deployment.project)
            except OasisError as exc:  # plan and status still answer from the cloud
                options.stderr.print(f"[yellow]warning:[/] {exc}", highlight=False)
                ledger = Ledger(path, deployment.name, deployment.project)
        else:
            ledger = stack.enter_context(
                Ledger.open(options.state_root, deployment.name, deployment.project)
            )
        try:
            yield Context(options, deployment, cloud, ledger, reporter, log_path)
        except KeyboardInterrupt:
            reporter.interrupted()  # at once, before waiting on anything
            raise
        finally:
            reporter.stop()
