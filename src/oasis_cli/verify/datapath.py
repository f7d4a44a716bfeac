"""The data-path check of `oasis verify`: a Ray job on the platform writes a file
under /bucket, reads it back and removes it (GCS FUSE plus Workload Identity), then
reads the secret's metadata as the Ray service account (`probe/datapath_probe.py`).
No secret value is read or printed.

Against the local cloud only the endpoint and the credentials differ: the job is
told the local Secret Manager's address and a local token, and the local Ray head's
stand-in for the bucket mount (OASIS_BUCKET_MOUNT, set by the local cloud).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oasis_cli.verify.outcome import Failed

if TYPE_CHECKING:
    from oasis_cli.kube.client import Kube
    from oasis_cli.session import Context

PROBE = Path(__file__).resolve().parent / "probe"
MARKER = "OASIS_PROBE "


def marked(logs: str, marker: str) -> dict[str, Any] | None:
    """The JSON after the last `marker` line of a job's log."""
    lines = [line for line in logs.splitlines() if line.startswith(marker)]
    if not lines:
        return None
    try:
        found = json.loads(lines[-1][len(marker) :])
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def check(ctx: Context, kube: Kube) -> str:
    from oasis_cli import rayjobs
    from oasis_cli.kube.client import LOCAL_TOKEN

    d = ctx.deployment
    secret = f"projects/{d.project}/secrets/{d.names.secret}"
    env: dict[str, str] = {"OASIS_PROBE_SECRET": secret}
    if ctx.cloud.anonymous:
        env["OASIS_PROBE_TOKEN"] = LOCAL_TOKEN
        if "secretmanager" in ctx.cloud.endpoints:
            env["OASIS_SECRETMANAGER"] = ctx.cloud.endpoints["secretmanager"]
    try:
        job, ended = rayjobs.run(
            kube,
            d,
            "python datapath_probe.py",
            {"env_vars": env},
            PROBE,
            lambda text: None,
        )
    except Exception as exc:
        raise Failed(
            f"the probe job could not run: {str(exc).splitlines()[0]}",
            "`oasis ray status` shows the head; `oasis ray deploy` restores it",
        ) from None
    found = marked(ended.logs, MARKER)
    if found is None:
        raise Failed(rayjobs.failure(job, ended), "`oasis dashboard` shows the job's log")
    bucket, secret_read = found.get("bucket") or {}, found.get("secret") or {}
    problems = []
    if "error" in bucket or not bucket.get("read_back") or not bucket.get("removed"):
        problems.append(f"/bucket: {bucket.get('error') or 'the file did not read back or stayed'}")
    if "error" in secret_read:
        problems.append(f"secret metadata as the Ray service account: {secret_read['error']}")
    if problems:
        raise Failed(
            "; ".join(problems),
            "check the bucket's and the secret's IAM bindings (`oasis plan` shows drift)",
        )
    return (
        f"wrote, read back and removed {bucket['bytes']} bytes under the bucket mount; "
        f"read {d.names.secret}'s metadata as the Ray service account"
    )
