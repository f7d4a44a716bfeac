"""Ray jobs through the dashboard's Jobs REST API (no Ray needed on this machine).

The working directory is zipped as Ray packages it (files relative to the
directory, named `_ray_pkg_<hash>.zip` by content) and uploaded to the cluster's
package store unless it is there already; the job's runtime env names it as
`gcs://…`. Logs are read in full and printed from where the last read ended.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oasis_cli.errors import OasisError
from oasis_cli.sources import files

FINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


class JobError(OasisError):
    """The dashboard refused a call."""


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


def submit(
    base: str,
    entrypoint: str,
    runtime_env: dict[str, Any],
    working_dir: Path | None,
) -> str:
    """Submit a job; returns its submission id."""
    env = dict(runtime_env)
    if working_dir is not None:
        uri, data = package(working_dir)
        name = uri.removeprefix("gcs://")
        if _call(base, "GET", f"/api/packages/gcs/{name}") is None:
            _call(base, "PUT", f"/api/packages/gcs/{name}", data=data)
        env["working_dir"] = uri
    answer = _call(base, "POST", "/api/jobs/", {"entrypoint": entrypoint, "runtime_env": env})
    return str(answer["submission_id"])


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
