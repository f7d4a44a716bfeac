"""Real-cloud commands without Google credentials: one clear message at once, before
any other work (no public-IP detection, no graph of failing calls). Each run is in a
network namespace of its own (`unshare -n`), so nothing leaves the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def isolated() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    not isolated(), reason="needs `unshare -n` (a network namespace) to run a real-cloud path"
)


def run_offline(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OASIS_", "GOOGLE_"))}
    env.update(HOME=str(workspace), CLOUDSDK_CONFIG=str(workspace / "gcloud"), NO_GCE_CHECK="true")
    return subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "oasis_cli", "--project", "p-test1", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=workspace,
        timeout=120,
    )


@pytest.mark.parametrize(
    "command",
    [("plan",), ("status",), ("doctor",), ("down", "--yes"), ("up", "--yes")],
    ids=lambda c: c[0],
)
def test_without_credentials_a_command_says_so_once_and_stops(workspace, command):
    result = run_offline(workspace, *command)
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("no Google credentials found") == 1, result.stderr
    assert "gcloud auth application-default login" in result.stderr
    assert "public IP" not in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workspace / ".oasis" / "oasis" / "ledger.json").exists()
