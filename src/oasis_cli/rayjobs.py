"""Ray jobs through the dashboard's Jobs REST API (no Ray needed on this machine).

The working directory is zipped as Ray packages it (files relative to the
directory, named `_ray_pkg_<hash>.zip` by content) and uploaded to the cluster's
package store unless it is there already; the job's runtime env names it as
`gcs://…`. Logs are read in full and printed from where the last read ended. `run()` reaches
the dashboard through a port-forward of its Service and stops the job if it is
interrupted (Ctrl-C), so nothing it started keeps running.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oasis_cli.errors import ConfigError, OasisError, PreflightError
from oasis_cli.sources import files

if TYPE_CHECKING:
    from oasis_cli.config.names import Deployment
    from oasis_cli.kube.client import Kube
    from oasis_cli.kube.forward import Forwarder

FINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
AGENT_WAIT_S = 60.0
DROP_RETRIES, DROP_PAUSE_S = 2, 0.25


class JobError(OasisError):
    """The dashboard refused a call."""


def runtime_env(path: Path) -> dict[str, Any]:
    """A Ray runtime env from a YAML file (`ray submit --runtime-env`, the examples')."""
    import yaml

    try:
        env = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--runtime-env {path}: {exc}") from None
    if not isinstance(env, dict):
        raise ConfigError(f"--runtime-env {path}: must be a mapping")
    return env


def _call(base: str, method: str, path: str, body: Any = None, data: bytes | None = None) -> Any:
    payload = json.dumps(body).encode() if body is not None else data
    request = urllib.request.Request(f"{base}{path}", data=payload, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            text = answer.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and method == "GET":
            return None
        raise JobError(
            f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}"
        ) from None
    return json.loads(text) if text.strip() else {}


def package(directory: Path) -> tuple[str, bytes]:
    """The working dir as Ray's package zip and its `gcs://` URI (content-addressed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in files(directory):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, (directory / name).read_bytes())
    data = buffer.getvalue()
    return f"gcs://_ray_pkg_{hashlib.sha1(data).hexdigest()[:16]}.zip", data


def _again(call: Callable[[], Any]) -> Any:
    """`call()`, sent again (DROP_RETRIES times, a moment apart) when its connection
    drops before an answer: a port-forward stream can fail once; a dashboard that
    does not answer at all fails at once, not after a minute."""
    for attempt in range(DROP_RETRIES + 1):
        try:
            return call()
        except (OSError, http.client.HTTPException):
            if attempt == DROP_RETRIES:
                raise
        time.sleep(DROP_PAUSE_S)


def submit(
    base: str,
    entrypoint: str,
    runtime_env: dict[str, Any],
    working_dir: Path | None,
) -> str:
    """Submit a job; returns its submission id.

    The id is chosen here, so a submit whose answer was lost can be sent again: the
    Jobs API refuses a second job of that id ("already exists"), which means the
    first was accepted."""
    deadline = time.monotonic() + AGENT_WAIT_S
    env = dict(runtime_env)
    if working_dir is not None:
        uri, data = package(working_dir)
        name = uri.removeprefix("gcs://")
        if _again(lambda: _call(base, "GET", f"/api/packages/gcs/{name}")) is None:
            _again(lambda: _call(base, "PUT", f"/api/packages/gcs/{name}", data=data))
        env["working_dir"] = uri
    submission = f"oasis-{uuid.uuid4().hex[:16]}"
    body = {"entrypoint": entrypoint, "runtime_env": env, "submission_id": submission}
    while True:
        try:
            answer = _again(lambda: _call(base, "POST", "/api/jobs/", body))
            return str(answer.get("submission_id") or submission)
        except JobError as exc:
            if "already exists" in exc.message:
                return submission  # an earlier attempt was accepted; its answer was lost
            # a head that has just started serves its dashboard before its job agent:
            # Ray answers 500 "No available agent to submit job, please try again later."
            if "No available agent" not in exc.message or time.monotonic() > deadline:
                raise
        time.sleep(1.0)


@dataclass(frozen=True)
class Ended:
    """How a job ended: its status, the Jobs API's message (why it failed) and its log."""

    status: str
    message: str
    logs: str


def follow(base: str, job: str, show: Callable[[str], None], poll_s: float = 0.5) -> Ended:
    """Print the job's log as it grows until it ends."""
    printed = 0
    while True:
        info = _call(base, "GET", f"/api/jobs/{job}")
        logs = (_call(base, "GET", f"/api/jobs/{job}/logs") or {}).get("logs", "")
        if len(logs) > printed:
            show(logs[printed:])
            printed = len(logs)
        if info["status"] in FINAL:
            return Ended(str(info["status"]), str(info.get("message") or ""), logs)
        time.sleep(poll_s)


TAIL_LINES = 20


def forwarder(
    kube: Kube, d: Deployment, local_port: int, on_event: Callable[[str], None]
) -> Forwarder:
    """A port-forward of the dashboard Service's pod; refuses (exit 3) without one."""
    from oasis_cli.config.names import DASHBOARD_PORT, DASHBOARD_SERVICE
    from oasis_cli.kube.forward import Forwarder, NoPod

    try:
        found = Forwarder(
            kube, d.config.ray.namespace, DASHBOARD_SERVICE, DASHBOARD_PORT, local_port, on_event
        )
        found.pod()  # fail now, clearly, if nothing serves the dashboard
    except NoPod as exc:
        raise PreflightError(str(exc), hint="Run `oasis ray deploy` first.") from None
    return found


def run(
    kube: Kube,
    d: Deployment,
    entrypoint: str,
    runtime_env: dict[str, Any],
    working_dir: Path | None,
    show: Callable[[str], None],
    on_submit: Callable[[str], None] = lambda job: None,
) -> tuple[str, Ended]:
    """Submit a job and follow it to its end: (its id, how it ended). Interrupted, it
    asks the Jobs API to stop the job before the interruption goes on."""
    import contextlib
    import threading

    forward = forwarder(kube, d, 0, lambda message: None)
    threading.Thread(target=forward.serve_forever, daemon=True).start()
    base, job = f"http://127.0.0.1:{forward.port}", ""
    try:
        job = submit(base, entrypoint, runtime_env, working_dir)
        on_submit(job)
        return job, follow(base, job, show)
    except BaseException:
        if job:
            with contextlib.suppress(Exception):
                _call(base, "POST", f"/api/jobs/{job}/stop")
        raise
    finally:
        forward.stop()


def failure(job: str, ended: Ended) -> str:
    """Why a job did not succeed: the Jobs API's reason and the log's last lines."""
    tail = ended.logs.rstrip("\n").splitlines()[-TAIL_LINES:]
    last = "\n  ".join(tail) if tail else "(the job wrote no log)"
    return (
        f"job {job} {ended.status}: {ended.message or 'no reason given'}\n"
        f"last {len(tail)} log lines:\n  {last}"
    )
