"""`doctor -> up --all -> status -> down` against a real Google Cloud project.

What the local cloud cannot prove (quotas, permissions, capacity, API-specific
validation) is checked here. Skipped unless OASIS_CLOUD_TEST_PROJECT names a project
with billing, Application Default Credentials and GPU quota in the chosen zone;
teardown (`down --delete-data --yes`) always runs, even when `up` fails.

    OASIS_CLOUD_TEST_PROJECT=my-project python -m pytest tests/cloud -n 0 -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

PROJECT = os.environ.get("OASIS_CLOUD_TEST_PROJECT")

pytestmark = pytest.mark.skipif(
    not PROJECT, reason="set OASIS_CLOUD_TEST_PROJECT to run against a real project"
)


def oasis(workdir: Path, deployment: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OASIS_")}
    env["OASIS_PROJECT"] = PROJECT or ""
    env["OASIS_DEPLOYMENT"] = deployment
    return subprocess.run(
        [sys.executable, "-m", "oasis_cli", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=3 * 3600,
    )


def test_doctor_up_all_status_down_on_a_real_project(tmp_path: Path):
    deployment = f"ci{uuid.uuid4().hex[:6]}"  # one deployment for every command
    doctor = oasis(tmp_path, deployment, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    try:
        up = oasis(tmp_path, deployment, "up", "--all", "--yes")  # images and Ray too
        assert up.returncode == 0, up.stderr
        status = oasis(tmp_path, deployment, "status", "--output", "json")
        assert status.returncode == 0, status.stderr
        rows = json.loads(status.stdout)["resources"]
        assert {row["state"] for row in rows} == {"done"}
        assert {row["live"] for row in rows} == {"ok"}
    finally:
        down = oasis(tmp_path, deployment, "down", "--delete-data", "--yes")
    assert down.returncode == 0, down.stderr
