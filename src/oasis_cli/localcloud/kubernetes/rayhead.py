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


def start(directory: Path, name: str) -> dict[str, Any]:
    """Start a head; returns what `stop()` and port-forwarding need."""
    temp = Path("/tmp") / f"oasis-ray-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    temp.mkdir(parents=True)
    ports = {"gcs": _free_port(), "dashboard": _free_port(), "client": _free_port()}
    log = (directory / f"ray-{name}.log").open("ab")
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        # Ray >= 2.5x turns token authentication on for `ray start --head` whenever
        # ~/.ray/auth_token exists (any local `ray.init()` writes one): the head
        # stands for the RayCluster's, which oasis reaches without a Ray token
        "RAY_AUTH_MODE": "disabled",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
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
    return {"pid": process.pid, "ports": ports, "temp_dir": str(temp)}


def serving(head: dict[str, Any]) -> bool:
    """Whether the head's dashboard answers (`GET /api/version`)."""
    url = f"http://127.0.0.1:{head['ports']['dashboard']}/api/version"
    try:
        with urllib.request.urlopen(url, timeout=0.5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def alive(head: dict[str, Any]) -> bool:
    try:
        os.killpg(head["pid"], 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


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
