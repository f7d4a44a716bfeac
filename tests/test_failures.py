"""Failures: foreign resources, transient errors, failed operations, drift, resume."""

from __future__ import annotations

import signal
import sys

import pytest
from google.cloud import compute_v1

from oasis_cli.localcloud.cloud import LocalCloud
from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra.store import Store

from conftest import EXPECTED, compute_operations, gapic, leftovers, made, missing, run_subprocess


def compute_client(cloud_dir, name):
    cloud = LocalCloud(cloud_dir).start()
    return cloud, gapic(cloud, getattr(compute_v1, name), "compute")


def test_same_named_resource_without_our_marker_is_a_conflict_and_untouched(
    apis_enabled, oasis, cloud_dir, world
):
    cloud, networks = compute_client(cloud_dir, "NetworksClient")
    networks.insert(
        project="oasis-local",
        network_resource={
            "name": "oasis-rdma-net",
            "auto_create_subnetworks": False,
            "description": "made by hand",
        },
    )
    cloud.stop()
    result = oasis("--local", "up", "--yes")
    assert result.code == 1
    assert "oasis-rdma-net exists but does not belong to this deployment" in result.stderr
    assert "oasis up" in result.stderr
    foreign = [i for i in world() if i["name"] == "oasis-rdma-net"]
    assert [f["resource"]["description"] for f in foreign] == ["made by hand"]
    assert not [i for i in world() if i["name"].startswith("oasis-rdma-sub")]

    down = oasis("--local", "down", "--yes")
    assert down.code == 0
    assert [i["name"] for i in leftovers(world())] == ["oasis-rdma-net"]
    assert "kept" in down.stderr


def test_transient_errors_are_retried(oasis, cloud_dir, world):
    faults.add(Store(cloud_dir), {"action": "error", "status": 503, "mutating": True, "count": 3})
    faults.add(Store(cloud_dir), {"action": "error", "status": 429, "method": "GET", "count": 2})
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    assert missing(world()) == []


def test_failed_operation_is_reported_and_a_rerun_converges(oasis, cloud_dir, world, ledger):
    faults.add(
        Store(cloud_dir),
        {
            "action": "fail_operation",
            "path": "/global/networks$",
            "reason": "QUOTA_EXCEEDED",
            "message": "Quota 'NETWORKS' exceeded. Limit: 5.0 globally.",
        },
    )
    result = oasis("--local", "up", "--yes")
    assert result.code == 1
    assert "QUOTA_EXCEEDED" in result.stderr
    assert "Quota 'NETWORKS' exceeded" in result.stderr
    assert "run `oasis up` again" in result.stderr
    states = {key: e["state"] for key, e in ledger()["resources"].items()}
    assert "failed" in states.values()
    assert "pending" not in states.values()

    assert oasis("--local", "up", "--yes").code == 0
    assert missing(world()) == []
    assert {e["state"] for e in ledger()["resources"].values()} == {"done"}


def test_drifted_firewall_is_planned_and_repaired(oasis, cloud_dir, world):
    assert oasis("--local", "up", "--yes").code == 0
    cloud, firewalls = compute_client(cloud_dir, "FirewallsClient")
    firewalls.patch(
        project="oasis-local",
        firewall="oasis-mgmt-internal",
        firewall_resource={"name": "oasis-mgmt-internal", "source_ranges": ["0.0.0.0/0"]},
    )
    cloud.stop()
    plan = oasis("--local", "plan", "--output", "json").json()["plan"]
    drifted = [
        {k: p[k] for k in ("action", "changes", "key", "kind", "location", "name", "reason")}
        for p in plan
        if p["action"] != "noop"
    ]
    assert drifted == [
        {
            "action": "update",
            "changes": ["source_ranges: ['0.0.0.0/0'] -> ['10.99.0.0/24']"],
            "key": "firewall:mgmt",
            "kind": "compute.firewall",
            "location": "global",
            "name": "oasis-mgmt-internal",
            "reason": "",
        }
    ]
    assert oasis("--local", "up", "--yes").code == 0
    fw = next(i for i in world() if i["name"] == "oasis-mgmt-internal")
    assert fw["resource"]["sourceRanges"] == ["10.99.0.0/24"]


def test_resume_replays_a_create_still_running_under_its_request_id(oasis, cloud_dir, ledger):
    store = Store(cloud_dir)
    faults.add(store, {"action": "kill", "path": "/global/networks$"})
    slow = {"OASIS_RUN_PARALLELISM": "1", "OASIS_LOCAL_LATENCY_SCALE": "0.2"}
    killed = run_subprocess("--local", "up", "--yes", env=slow)
    assert killed.returncode == -signal.SIGKILL
    pending = [e for e in ledger()["resources"].values() if e["state"] == "pending"]
    assert len(pending) == 1
    killed_log = store.read_log()
    # the insert's operation (5 s at that scale) is still running when oasis resumes;
    # everything the resumed run starts itself completes at once
    assert oasis("--local", "up", "--yes").code == 0
    network_posts = [
        r for r in store.read_log() if r["method"] == "POST" and r["path"].endswith("/networks")
    ]
    assert len(network_posts) == 4  # 3 networks + one replay under the same request id
    inserts = [op for op in compute_operations(cloud_dir) if "/global/networks/" in op.target_link]
    assert len(inserts) == 3
    resumed = store.read_log()[len(killed_log) :]
    looked_up = [
        r["status"]
        for r in resumed
        if r["method"] == "GET" and r["path"].endswith(f"/global/networks/{pending[0]['name']}")
    ]
    assert looked_up[0] == 404  # resumed while its create was still running: not visible yet


HEAVY = (
    "google.cloud",
    "kubernetes",
    "grpc",
    "pydantic",
    "oasis_cli.config",
    "oasis_cli.graph",
    "oasis_cli.resources",
    "oasis_cli.localcloud",
)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        *([command, "--help"] for command in ("up", "down", "plan", "build-images")),
        ["ray", "deploy", "--help"],
        ["local-cloud", "ls", "--help"],
    ],
)
def test_help_is_instant_because_nothing_heavy_is_imported(args):
    """Help imports neither the client libraries nor pydantic, the config model, the
    graph or the resources: they load in the command that needs them."""
    probe = (
        f"import sys; sys.argv = ['oasis', *{args!r}]\n"
        "from oasis_cli.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"heavy = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))\n"
        "print('HEAVY', heavy)\n"
    )
    result = run_subprocess_code(probe)
    assert "HEAVY []" in result.stdout, result.stdout
    assert "Usage:" in result.stdout


def run_subprocess_code(code: str):
    import subprocess

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_interrupted_message_and_exit_code(oasis, monkeypatch):
    from oasis_cli import deploy

    def interrupted(ctx, nodes=None, after=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(deploy, "up", interrupted)
    result = oasis("--local", "up", "--yes")
    assert result.code == 130
    assert "run the same command again to resume" in result.stderr


def test_log_file_path_is_printed_and_written(oasis, workspace):
    result = oasis("--local", "up", "--yes")
    line = next(x for x in result.stderr.splitlines() if x.startswith("log: "))
    path = workspace / line.removeprefix("log: ")
    assert "network:mgmt created" in path.read_text()


def test_the_local_cloud_is_reached_directly_whatever_proxy_is_set(oasis, monkeypatch):
    """A user's HTTP(S)_PROXY (here one that answers nothing) is for the internet, not
    for the local cloud on loopback."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    result = oasis("--local", "plan")
    assert result.code == 0, result.stderr
    assert "to create" in result.stdout


@pytest.mark.parametrize("action", ["lose_answer", "drop_answer"])
@pytest.mark.parametrize(
    "path",
    ["/clusters$", "/nodePools$", "/global/networks$"],
    ids=["cluster", "node pool", "network"],
)
def test_a_retried_create_whose_answer_was_lost_is_adopted_in_the_same_run(
    oasis, cloud_dir, world, path, action
):
    """The create is served and committed but answered 503; the client's retry then
    gets 409, which REST clients raise as Conflict (never AlreadyExists): the same run
    adopts what it made, with no duplicate (compute replays its request id)."""
    faults.add(Store(cloud_dir), {"action": action, "method": "POST", "path": path})
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    assert made(world()) == EXPECTED


@pytest.mark.parametrize("action", ["lose_answer", "drop_answer"])
@pytest.mark.parametrize(
    "path", ["/repositories$", "/secrets$", "/workerPools$"], ids=["registry", "secret", "pool"]
)
def test_a_plain_create_whose_answer_was_lost_is_retried_and_adopted(
    oasis, cloud_dir, world, path, action
):
    """Every plain kind retries its create, and adopts what the lost answer made."""
    faults.add(Store(cloud_dir), {"action": action, "method": "POST", "path": path})
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    assert made(world()) == EXPECTED


def test_down_deletes_everything_a_failure_does_not_hold_back(oasis, deployed, cloud_dir, world):
    """A secret whose delete is refused for good: only what waits for it stays; the
    cluster and everything else are deleted, and the summary says what remains and why."""
    faults.add(
        Store(cloud_dir),
        {
            "action": "error",
            "status": 403,
            "method": "DELETE",
            "path": "/secrets/",
            "count": -1,
            "message": "Permission denied on secret.",
        },
    )
    result = oasis("--local", "down", "--yes")
    assert result.code == 1
    assert "secret (oasis-secrets): 403" in result.stderr
    assert "not started (waiting for secret, which failed): apis" in result.stderr
    left = {item["name"] for item in leftovers(world())}
    assert left == {"oasis-secrets"}


def test_down_sweep_of_an_intact_deployment_is_plain_down(oasis, deployed, world, monkeypatch):
    """What the ledger names is not swept a second time (two deletes of one subnet at
    once: the second is refused while the first runs)."""
    monkeypatch.setenv("OASIS_LOCAL_LATENCY_SCALE", "0.001")  # deletes take a moment
    result = oasis("--local", "down", "--sweep", "--yes")
    assert result.code == 0, result.stderr
    assert "sweep: nothing beyond what the ledger and config name." in result.stderr
    assert leftovers(world()) == []


def test_down_sweep_finds_what_the_ledger_and_config_no_longer_name(
    oasis, deployed, workspace, world
):
    """The ledger is lost and the config has renamed the VPCs, the cluster and the
    service accounts since: plain `down` leaves the old ones, `down --sweep` finds them
    by label and marker, shows them and deletes them (the data bucket still kept)."""
    (workspace / ".oasis" / "local" / "oasis" / "ledger.json").unlink()
    renamed = (
        "--local",
        "--set",
        "network.mgmt_network={deployment}-mgmt2",
        "--set",
        "network.rdma_network={deployment}-rdma2",
        "--set",
        "cluster.name={deployment}-other",
        "--set",
        "iam.cluster_service_account={deployment}-nodes2",
    )
    plain = oasis(*renamed, "down", "--yes")
    assert plain.code == 1  # the old cluster still uses the subnets
    left = {item["name"] for item in leftovers(world())}
    assert {"oasis-mgmt-net", "oasis-rdma-net", "oasis-h200", "oasis-cluster"} <= {
        name.split("@")[0] for name in left
    }
    swept = oasis(*renamed, "down", "--sweep", "--yes")
    assert swept.code == 0, swept.stderr
    assert "sweep: found" in swept.stderr
    assert "compute.network oasis-mgmt-net (global)" in swept.stderr
    assert "container.cluster oasis-h200 (us-south1)" in swept.stderr
    assert leftovers(world()) == []
    again = oasis(*renamed, "down", "--sweep", "--yes")
    assert "sweep: nothing beyond" in again.stderr


def test_a_create_racing_another_runs_is_adopted_once_it_is_readable(
    oasis, apis_enabled, cloud_dir, world
):
    """Another operator's run created the Docker repository a moment ago; it is not
    readable yet (Artifact Registry takes seconds), so our create meets 409: oasis waits
    until it can read it, finds it ours, and adopts it instead of failing."""
    from google.cloud import artifactregistry_v1

    from oasis_cli.localcloud.cloud import LocalCloud

    from conftest import gapic

    with LocalCloud(cloud_dir, latency_scale=0.3) as slow:  # readable after 3 s
        gapic(
            slow, artifactregistry_v1.ArtifactRegistryClient, "artifactregistry"
        ).create_repository(
            parent="projects/oasis-local/locations/us-south1",
            repository_id="oasis",
            repository={"format_": "DOCKER", "labels": {"oasis-deployment": "oasis"}},
        )
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    assert made(world()) == EXPECTED
