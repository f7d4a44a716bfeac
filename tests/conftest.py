"""Fixtures: an isolated workspace per test, the CLI run in-process through `main()`
(real exit codes, real HTTP to the in-process local cloud), and readers for the
simulated world and the ledger.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# google.auth reads this when first imported: never probe the metadata server.
os.environ.setdefault("NO_GCE_CHECK", "true")

from oasis_cli.config.model import Config
from oasis_cli.config.names import resolve
from oasis_cli.graphs import KINDS, infrastructure_nodes
from oasis_cli.localcloud.cloud import LocalCloud
from oasis_cli.localcloud.infra.store import Store
from oasis_cli.resources.apis import SERVICES

# The default deployment's graph: what `up` must converge to.
NODES = infrastructure_nodes(resolve(Config(), "oasis-local"))
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


def test_environment(home: Path) -> dict[str, str]:
    """The environment every oasis run in a test sees: no OASIS_* settings of the
    caller's, no metadata-server probe, no real gcloud config, an instant local cloud
    without a real Ray head (tests that want one opt in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OASIS_")}
    env.update(
        NO_GCE_CHECK="true",
        CLOUDSDK_CONFIG=str(home / "gcloud"),
        OASIS_LOCAL_LATENCY_SCALE="0",
        OASIS_LOCAL_RAY="0",
    )
    if KUBERAY_CRD.is_file():  # the simulated API then validates RayClusters against it
        env["OASIS_KUBERAY_CRD"] = str(KUBERAY_CRD)
    return env


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("OASIS_"):
            monkeypatch.delenv(name)
    for name, value in test_environment(tmp_path).items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
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


@dataclass
class Snapshot:
    """A workspace where some oasis commands ran once in this test session (per xdist
    worker): what they printed and what the world then held."""

    directory: Path
    results: list[Result]
    items: list[dict[str, Any]]


class Snapshots:
    """Deployed worlds made once and copied into each test that asks for one, instead
    of a full `up` (and builds, and a deploy) per test. Each is the previous one plus
    one more command, run as the user would run it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[tuple[tuple[str, ...], ...], Snapshot] = {}

    def get(self, *commands: tuple[str, ...]) -> Snapshot:
        if commands in self.made:
            return self.made[commands]
        directory = self.root / f"snapshot-{len(self.made)}"
        results: list[Result] = []
        if len(commands) > 1:
            before = self.get(*commands[:-1])
            shutil.copytree(before.directory, directory, symlinks=True)
            results = list(before.results)
        else:
            directory.mkdir()
        done = subprocess.run(
            [sys.executable, "-m", "oasis_cli", "--local", *commands[-1]],
            capture_output=True,
            text=True,
            cwd=directory,
            env=test_environment(directory),
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        results.append(Result(done.returncode, done.stdout, done.stderr))
        items = LocalCloud(directory / ".oasis" / "local" / "cloud").inventory()
        self.made[commands] = Snapshot(directory, results, items)
        return self.made[commands]

    def restore(self, workspace: Path, *commands: tuple[str, ...]) -> Snapshot:
        """Copy the state of the snapshot into `workspace` (its `.oasis/`)."""
        snapshot = self.get(*commands)
        shutil.rmtree(workspace / ".oasis", ignore_errors=True)
        shutil.copytree(snapshot.directory / ".oasis", workspace / ".oasis", symlinks=True)
        return snapshot


UP = ("up", "--yes")
BUILD = ("build-images",)
DEPLOY = ("ray", "deploy")


@pytest.fixture(scope="session")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Snapshots:
    return Snapshots(tmp_path_factory.mktemp("snapshots"))


@pytest.fixture
def deployed(snapshots: Snapshots, workspace: Path) -> dict[str, dict[str, Any]]:
    """`oasis --local up --yes` done; every simulated resource by name, as GET returns it."""
    snapshot = snapshots.restore(workspace, UP)
    return {item["name"]: copy.deepcopy(item["resource"]) for item in snapshot.items}


@pytest.fixture
def built(deployed: dict[str, Any], snapshots: Snapshots, workspace: Path) -> Result:
    """`up`, then `oasis --local build-images` done; the result of the build."""
    return snapshots.restore(workspace, UP, BUILD).results[-1]


@pytest.fixture
def ray_deployed(built: Result, snapshots: Snapshots, workspace: Path) -> Result:
    """`up`, `build-images`, then `oasis --local ray deploy` done; the deploy's result."""
    return snapshots.restore(workspace, UP, BUILD, DEPLOY).results[-1]


@pytest.fixture(scope="session")
def forks():
    """A fork server for tests that run oasis as many processes of its own."""
    from forkserver import ForkServer

    server = ForkServer()
    yield server
    server.close()


def compute_operations(cloud_dir: Path, region: str = "us-south1") -> list[Any]:
    """Every compute operation of the local project, listed as gcloud lists them."""
    from google.cloud import compute_v1

    with LocalCloud(cloud_dir) as cloud:
        scopes = [
            (gapic(cloud, compute_v1.GlobalOperationsClient, "compute"), {}),
            (gapic(cloud, compute_v1.RegionOperationsClient, "compute"), {"region": region}),
        ]
        return [
            operation
            for client, where in scopes
            for operation in client.list(project="oasis-local", **where)
        ]


CLUSTER = "projects/oasis-local/locations/us-south1/clusters/oasis-h200"


def kube_api(cloud: LocalCloud, directory: Path, token: str | None = "t") -> Any:
    """A kubernetes ApiClient for the deployment's simulated cluster, built as a user
    would: endpoint and CA from GKE, a bearer token."""
    import base64

    from google.cloud import container_v1
    from kubernetes import client as k8s

    cluster = gapic(cloud, container_v1.ClusterManagerClient, "container").get_cluster(name=CLUSTER)
    ca = directory / "cluster-ca.pem"
    ca.write_bytes(base64.b64decode(cluster.master_auth.cluster_ca_certificate))
    configuration = k8s.Configuration()
    configuration.host = f"https://{cluster.endpoint}"
    configuration.ssl_ca_cert = str(ca)
    if token:
        configuration.api_key = {"authorization": f"Bearer {token}"}
    return k8s.ApiClient(configuration)


def kube_objects(cloud_dir: Path) -> list[dict[str, Any]]:
    """Every object in the simulated cluster, enumerated through discovery and a list
    of each kind, as `kubectl api-resources` and `kubectl get` would."""
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.resource import ResourceList

    with LocalCloud(cloud_dir) as cloud:
        dynamic = DynamicClient(
            kube_api(cloud, cloud_dir), cache_file=str(cloud_dir / "test-discovery.json")
        )
        found: list[dict[str, Any]] = []
        for resource in dynamic.resources.search():
            listable = "list" in (resource.verbs or []) and "/" not in resource.name
            if isinstance(resource, ResourceList) or not listable:
                continue
            found += [item.to_dict() for item in resource.get().items]
        return found


TEST_PROJECTS = ("oasis-local", "p-test1", "test-project")
ALL_APIS = (*(f"{s}.googleapis.com" for s in SERVICES), "cloudquotas.googleapis.com")


def enable_apis(cloud: LocalCloud, *projects: str) -> None:
    """Enable every API oasis uses (and Cloud Quotas) in `projects`, through Service
    Usage, as a project owner would before calling the APIs directly."""
    from google.cloud import service_usage_v1

    usage = gapic(cloud, service_usage_v1.ServiceUsageClient, "serviceusage")
    for project in projects or TEST_PROJECTS:
        usage.batch_enable_services(
            request={"parent": f"projects/{project}", "service_ids": list(ALL_APIS)}
        ).result()


@pytest.fixture
def apis_enabled(cloud_dir: Path) -> Path:
    """The workspace's local cloud with every API enabled in oasis-local, for tests
    that call the APIs before any `oasis up` (which enables them itself)."""
    with LocalCloud(cloud_dir) as cloud:
        enable_apis(cloud, "oasis-local")
    return cloud_dir


@pytest.fixture
def local_cloud(tmp_path: Path):
    """A local cloud server of its own, for direct API tests, with the APIs enabled in
    the test projects."""
    with LocalCloud(tmp_path / "direct-cloud") as cloud:
        enable_apis(cloud)
        yield cloud


def reserve(
    cloud_dir: Path,
    name: str,
    *,
    project: str = "oasis-local",
    zone: str = "us-south1-b",
    machine_type: str = "a3-ultragpu-8g",
) -> None:
    """A specific reservation in the simulated project, as `gcloud compute reservations
    create --require-specific-reservation` would leave it."""
    from oasis_cli.localcloud.infra.store import Store

    with Store(cloud_dir).transaction() as world:
        reservations = world.setdefault("compute", {}).setdefault("reservations", {})
        reservations[f"projects/{project}/zones/{zone}/reservations/{name}"] = {
            "name": name,
            "specificReservationRequired": True,
            "specificReservation": {
                "count": "2",
                "instanceProperties": {"machineType": machine_type},
            },
            "status": "READY",
        }


SLOW_FIRST = ("test_ray_local.py", "test_up_all.py", "test_live_display.py", "test_kill_resume.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first, so the two workers do not end on one of them alone
    (xdist hands tests out in collection order)."""
    items.sort(key=lambda item: item.path.name not in SLOW_FIRST)


def free_ports(count: int = 3) -> int:
    """A port P with P..P+count-1 all free (checked by binding them)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        sockets = []
        try:
            for offset in range(count):
                held = socket.socket()
                sockets.append(held)
                held.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for held in sockets:
                held.close()
    raise AssertionError("no three free ports in a row")
