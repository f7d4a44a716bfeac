"""A REAL local Ray head behind the simulated RayCluster: `oasis ray submit` runs jobs
on it, `oasis dashboard` forwards its dashboard, `oasis down` stops it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from oasis_cli.localcloud.kubernetes import rayhead

pytest.importorskip("ray", reason="Ray is part of the test extra: pip install -e '.[test]'")


def ray_heads() -> dict[int, Path]:
    """The Ray heads this test process started (through the in-process local cloud),
    found in the process table: pid -> its temp dir."""
    heads = {}
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().decode().split("\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        temp = [a.removeprefix("--temp-dir=") for a in argv if a.startswith("--temp-dir=")]
        if parent == os.getpid() and "--head" in argv and temp:
            heads[int(entry.name)] = Path(temp[0])
    return heads


@pytest.fixture
def ray_head(built, oasis, monkeypatch) -> dict:
    monkeypatch.setenv("OASIS_LOCAL_RAY", "1")
    result = oasis("--local", "ray", "deploy")
    assert result.code == 0, result.stderr
    heads = ray_heads()
    assert len(heads) == 1, heads  # one real head for the one RayCluster
    ((pid, temp_dir),) = heads.items()
    yield {"pid": pid, "temp_dir": str(temp_dir)}
    rayhead.stop({"pid": pid, "temp_dir": str(temp_dir)})  # leave no Ray behind


def test_one_real_head_runs_jobs_examples_verify_and_the_dashboard_and_down_stops_it(
    ray_head, oasis, workspace, cloud_dir
):
    """One real head for all of it (each start and stop of one costs seconds)."""
    result = oasis(
        "--local",
        "ray",
        "submit",
        "--",
        "python",
        "-c",
        "import ray; ray.init(); print('resources', ray.cluster_resources())",
    )
    assert result.code == 0, result.stderr
    assert "resources {" in result.stdout and "'CPU': 2.0" in result.stdout
    assert "SUCCEEDED" in result.stderr

    job_dir = workspace / "job"
    job_dir.mkdir()
    (job_dir / "job.py").write_text("import sys\nprint('from the working dir')\nsys.exit(3)\n")
    (workspace / "env.yaml").write_text("env_vars:\n  GREETING: hi\n")
    failed = oasis(
        "--local",
        "ray",
        "submit",
        "--working-dir",
        str(job_dir),
        "--runtime-env",
        str(workspace / "env.yaml"),
        "--",
        "python",
        "job.py",
    )
    assert failed.code == 1
    assert "from the working dir" in failed.stdout
    # the Jobs API's reason and the log's last lines, not just FAILED
    assert "FAILED: Job entrypoint command failed with exit code 3" in failed.stderr
    tail = failed.stderr.split("log lines:\n", 1)[1]
    assert tail.splitlines()[-2:] == ["  from the working dir", failed.stderr.splitlines()[-1]]

    run_the_training_example_on_cpu_with_gloo(oasis)  # on the same real head
    verify_runs_every_check_and_the_nccl_example(oasis)
    dashboard_serves_the_real_dashboard_to_many_connections_and_a_dropped_one()
    the_guides_kubectl_port_forward_serves_the_real_dashboard(oasis, cloud_dir)
    the_head_pods_log_is_the_real_heads(cloud_dir)

    assert oasis("--local", "down", "--yes").code == 0
    assert ray_heads() == {}
    assert not rayhead.alive(ray_head)
    assert not Path(ray_head["temp_dir"]).exists()


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read()


def dashboard_serves_the_real_dashboard_to_many_connections_and_a_dropped_one() -> None:
    """`oasis dashboard` (a process of its own) forwards the real head's dashboard."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OASIS_LOCAL_RAY": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "oasis_cli", "--local", "dashboard", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                version = get(f"http://127.0.0.1:{port}/api/version")
                break
            except OSError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "the dashboard never answered"
                time.sleep(0.2)
        assert b'"ray_version"' in version
        with ThreadPoolExecutor(max_workers=16) as pool:  # a browser's parallel requests
            answers = list(pool.map(get, [f"http://127.0.0.1:{port}/api/version"] * 32))
        assert all(b'"ray_version"' in answer for answer in answers)
        dropped = socket.create_connection(("127.0.0.1", port))
        dropped.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\n")  # then vanish mid-request
        dropped.close()
        assert b'"ray_version"' in get(f"http://127.0.0.1:{port}/api/version")
        assert get(f"http://127.0.0.1:{port}/").lstrip().lower().startswith(b"<!doctype html")
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"Ray dashboard: http://127.0.0.1:{port}" in out
    assert "stopped." in err


def the_guides_kubectl_port_forward_serves_the_real_dashboard(oasis, cloud_dir: Path) -> None:
    """`kubectl port-forward svc/ray-dashboard-service 8265:8265` with the settings of
    `local-cloud env` (on a free local port), then the dashboard's own API."""
    import shutil

    from test_local_cloud_tools import port_forward, serving

    from conftest import free_ports

    if shutil.which("kubectl") is None or shutil.which("gcloud") is None:
        return  # the conformance tests say why they skip
    local = free_ports(1)
    with (
        serving(oasis, cloud_dir) as run,
        port_forward("kubectl", run.env, "svc/ray-dashboard-service", f"{local}:8265"),
    ):
        version = get(f"http://127.0.0.1:{local}/api/version")
        page = get(f"http://127.0.0.1:{local}/")
    assert b'"ray_version"' in version
    assert page.lstrip().lower().startswith(b"<!doctype html")


def the_head_pods_log_is_the_real_heads(cloud_dir: Path) -> None:
    """`kubectl logs` of the head pod (here through the kubernetes client, as kubectl
    calls it) reads the real head's log; `tailLines` keeps the last lines."""
    from kubernetes import client as k8s

    from oasis_cli.localcloud.cloud import LocalCloud

    from conftest import kube_api

    with LocalCloud(cloud_dir) as cloud:
        core = k8s.CoreV1Api(kube_api(cloud, cloud_dir))
        (pod,) = core.list_namespaced_pod("default", label_selector="ray.io/node-type=head").items
        whole = core.read_namespaced_pod_log(pod.metadata.name, "default")
        last = core.read_namespaced_pod_log(pod.metadata.name, "default", tail_lines=2)
    assert "Ray runtime started." in whole
    assert last.splitlines() == whole.splitlines()[-2:]


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_the_training_example_on_cpu_with_gloo(oasis) -> None:
    """The training example's plumbing without GPUs (SPEC section 5): Ray Train with
    one worker per rank on gloo, on the real local Ray."""
    pytest.importorskip("torch", reason="the examples need torch: pip install -e '.[test]'")
    train = oasis(
        "--local",
        "ray",
        "submit",
        "--working-dir",
        str(EXAMPLES / "train"),
        "--",
        "python",
        "train.py",
        "--cpu",
        "--workers",
        "2",
        "--epochs",
        "1",
    )
    assert train.code == 0, train.stderr + train.stdout[-3000:]
    assert "epoch 0: loss" in train.stdout and "over 2 workers" in train.stdout
    assert "training finished: 2 workers, 1 epochs" in train.stdout


def verify_runs_every_check_and_the_nccl_example(oasis) -> None:
    """`oasis --local verify --gpus 2 --nccl` on a platform with a real Ray head: every
    check passes, the data path's job ran on Ray, and the NCCL example ran on CPU with
    gloo (reported, not graded) with its figures as nccl-tests defines them and a plot."""
    result = oasis("--local", "verify", "--gpus", "2", "--nccl", "--output", "json")
    document = result.json()
    checks = {c["name"]: c for c in document["checks"]}
    assert result.code == 0, checks
    assert {c["status"] for c in checks.values()} == {"pass"}, checks
    assert list(checks)[-5:] == ["ray workers", "gpu capacity", "gpu nodes", "data path", "nccl"]
    assert (
        "read oasis-secrets's metadata as the Ray service account" in checks["data path"]["detail"]
    )
    assert "not graded" in checks["nccl"]["detail"]
    nccl = document["nccl"]
    assert nccl["graded"] is False and nccl["expected_gbps"] == 325.0
    assert Path(nccl["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figures = nccl["result"]
    assert (figures["backend"], figures["world_size"], figures["nodes"]) == ("gloo", 2, 1)
    assert set(figures["results"]) == {"all_gather", "all_reduce"}
    for op, factor in (("all_gather", 0.5), ("all_reduce", 1.0)):  # (n-1)/n, 2(n-1)/n
        rows = figures["results"][op]
        assert [r["size"] for r in rows] == [4096 << i for i in range(5)]
        for row in rows:
            assert row["algbw_gbps"] == pytest.approx(row["size"] / row["time_us"] / 1e3)
            assert row["busbw_gbps"] == pytest.approx(row["algbw_gbps"] * factor)
