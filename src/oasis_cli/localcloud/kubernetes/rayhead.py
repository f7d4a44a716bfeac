"""A real local Ray head behind a simulated RayCluster (when Ray is installed).

The head runs CPU-only on 127.0.0.1 in its own process group and temp dir, with
explicit free ports, detached from the command that started it (so `oasis ray
deploy` can return and `oasis ray submit` find it later). Only what was started is
stopped: SIGTERM to its group, then SIGKILL; never `ray stop`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

HEAD_CPUS = 2
PORTS = (
    "gcs",
    "dashboard",
    "client",
    "agent",
    "agent_grpc",
    "runtime_env",
    "metrics",
    "node_manager",
    "object_manager",
)


def available() -> bool:
    """Whether a `ray` executable sits beside this interpreter (Ray is installed)."""
    if os.environ.get("OASIS_LOCAL_RAY", "1") == "0":
        return False
    return _ray_executable().exists()


def _ray_executable() -> Path:
    return Path(sys.executable).parent / "ray"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def mounts(cluster: dict[str, Any], directory: Path) -> dict[str, str]:
    """The head's environment for its GCS FUSE volume: the local cloud runs no GCS
    FUSE, so a directory beside its state stands in for the bucket the volume mounts
    (`OASIS_BUCKET_MOUNT`; a job writes there what it would write to /bucket)."""
    spec = cluster["spec"]["headGroupSpec"]["template"].get("spec", {})
    for volume in spec.get("volumes", []):
        csi = volume.get("csi") or {}
        if csi.get("driver") == "gcsfuse.csi.storage.gke.io":
            bucket = (csi.get("volumeAttributes") or {}).get("bucketName", "bucket")
            stand_in = directory / "gcsfuse" / bucket
            stand_in.mkdir(parents=True, exist_ok=True)
            return {"OASIS_BUCKET_MOUNT": str(stand_in)}
    return {}


def start(directory: Path, name: str, environment: dict[str, str] | None = None) -> dict[str, Any]:
    """Start a head with `environment` added to its own; returns what `stop()` and
    port-forwarding need."""
    temp = Path("/tmp") / f"oasis-ray-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    temp.mkdir(parents=True)
    # every port a head listens on, not only the three a RayCluster names: two heads
    # on one machine (two deployments, two test workers) otherwise meet on Ray's
    # defaults (the dashboard agent's 52365 first) and the second never takes jobs
    ports = {name: _free_port() for name in PORTS}
    log_path = directory / f"ray-{name}.log"
    log = log_path.open("ab")
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        # Ray >= 2.5x turns token authentication on for `ray start --head` whenever
        # ~/.ray/auth_token exists (any local `ray.init()` writes one): the head
        # stands for the RayCluster's, which oasis reaches without a Ray token
        "RAY_AUTH_MODE": "disabled",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **(environment or {}),
    }
    process = subprocess.Popen(
        [
            str(_ray_executable()),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={ports['dashboard']}",
            f"--port={ports['gcs']}",
            f"--ray-client-server-port={ports['client']}",
            f"--dashboard-agent-listen-port={ports['agent']}",
            f"--dashboard-agent-grpc-port={ports['agent_grpc']}",
            f"--runtime-env-agent-port={ports['runtime_env']}",
            f"--metrics-export-port={ports['metrics']}",
            f"--node-manager-port={ports['node_manager']}",
            f"--object-manager-port={ports['object_manager']}",
            f"--num-cpus={HEAD_CPUS}",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    log.close()
    return {"pid": process.pid, "ports": ports, "temp_dir": str(temp), "log": str(log_path)}


def serving(head: dict[str, Any]) -> bool:
    """Whether the head's dashboard answers (`GET /api/version`)."""
    url = f"http://127.0.0.1:{head['ports']['dashboard']}/api/version"
    try:
        with urllib.request.urlopen(url, timeout=0.5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def alive(head: dict[str, Any]) -> bool:
    """Whether a process of the head's group still runs. Zombies do not count: the
    leader stays one until this process reaps it, and its killed children until
    whatever adopted them does (a container's init may never), yet killpg finds
    their group all the while."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(head["pid"], os.WNOHANG)
    group = head["pid"]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":  # state, ppid, pgrp
            return True
    return False


def stop(head: dict[str, Any]) -> None:
    """Stop the head's process group (and only it), then remove its temp dir.

    SIGTERM gets a second: `ray start --block` then waits on its autoscaler monitor,
    which does not exit on SIGTERM (Ray 2.60), so a longer grace only delays the
    SIGKILL that ends the group anyway."""
    pid = head["pid"]
    for sig, wait_s in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and alive(head):
            time.sleep(0.1)
        if not alive(head):
            break
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if this process started it
    shutil.rmtree(head["temp_dir"], ignore_errors=True)
