"""Fixtures: an isolated workspace per test, the CLI run in-process through `main()`
(real exit codes, real HTTP to the in-process local cloud), and readers for the
simulated world and the ledger.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# google.auth reads this when first imported: never probe the metadata server.
os.environ.setdefault("NO_GCE_CHECK", "true")

from oasis_cli.config import Config, resolve
from oasis_cli.localcloud.cloud import LocalCloud
from oasis_cli.localcloud.infra.store import Store
from oasis_cli.resources import KINDS, build_graph

# The default deployment's graph: what `up` must converge to.
NODES = build_graph(resolve(Config(), "oasis-local"))
RETAINED = [n for n in NODES if KINDS[n.kind].retained(n, delete_data=False)]
DATA_BUCKET = "oasis-local-oasis-data"
KUBERAY_CRD = (
    Path(__file__).resolve().parents[2] / "shared/data/kuberay-v1.7.0/ray.io_rayclusters.yaml"
)


def made(items: list[dict[str, Any]]) -> list[str]:
    """Names of the resources `up` makes (every one but the APIs), sorted, duplicates kept."""
    return sorted(_short(item["name"]) for item in items if item["service"] != "serviceusage")


def _short(name: str) -> str:
    """A service account is listed by e-mail; the graph names it by account id."""
    return name.split("@")[0]


# The cluster brings its default pool along.
# Settings on other resources rather than resources of their own.
NOT_RESOURCES = ("serviceusage.apis", "iam.bindings")
EXPECTED = sorted([*(n.name for n in NODES if n.kind not in NOT_RESOURCES), "default-pool"])


def missing(items: list[dict[str, Any]]) -> list[str]:
    """Graph nodes that `up` should have made but the world lacks (APIs aside)."""
    names = {_short(item["name"]) for item in items}
    return [n.key for n in NODES if n.kind not in NOT_RESOURCES and n.name not in names]


def leftovers(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What `down` left behind that it should have deleted (it keeps the enabled APIs
    and, without --delete-data, the data bucket)."""
    return [
        item for item in items if item["service"] != "serviceusage" and item["name"] != DATA_BUCKET
    ]


def gapic(cloud: LocalCloud, client_class: Any, service: str) -> Any:
    """A client library client talking REST to one service of a running local cloud, as
    oasis's own clients do (anonymous credentials)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return client_class(
        transport="rest",
        client_options=ClientOptions(api_endpoint=cloud.endpoints[service]),
        credentials=AnonymousCredentials(),
    )


def gcs(cloud: LocalCloud, project: str = "oasis-local") -> Any:
    """A Cloud Storage client for a running local cloud."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": cloud.endpoints["storage"]},
    )


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("OASIS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("OASIS_LOCAL_LATENCY_SCALE", "0")
    monkeypatch.setenv("OASIS_LOCAL_RAY", "0")  # tests that want a real Ray head opt in
    if KUBERAY_CRD.is_file():  # the simulated API then validates RayClusters against it
        monkeypatch.setenv("OASIS_KUBERAY_CRD", str(KUBERAY_CRD))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def oasis(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `oasis ARGS...` in-process; returns its exit code and output."""
    from oasis_cli.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["oasis", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def run_subprocess(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run oasis in a child process (for kill tests and start-up checks)."""
    return subprocess.run(
        [sys.executable, "-m", "oasis_cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture
def cloud_dir(workspace: Path) -> Path:
    return workspace / ".oasis" / "local" / "cloud"


@pytest.fixture
def world(cloud_dir: Path):
    """The local cloud's resources, as `oasis local-cloud ls --output json` lists them."""

    def read() -> list[dict[str, Any]]:
        return LocalCloud(cloud_dir).inventory()

    return read


@pytest.fixture
def requests_log(cloud_dir: Path):
    def read() -> list[dict[str, Any]]:
        return Store(cloud_dir).read_log()

    return read


@pytest.fixture
def ledger(workspace: Path):
    def read(deployment: str = "oasis") -> dict[str, Any]:
        path = workspace / ".oasis" / "local" / deployment / "ledger.json"
        return json.loads(path.read_text())

    return read


@pytest.fixture
def deployed(oasis, world) -> dict[str, dict[str, Any]]:
    """`oasis --local up --yes` done; every simulated resource by name, as GET returns it."""
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    return {item["name"]: item["resource"] for item in world()}


@pytest.fixture
def local_cloud(tmp_path: Path):
    """A local cloud server of its own, for direct API tests."""
    with LocalCloud(tmp_path / "direct-cloud") as cloud:
        yield cloud
