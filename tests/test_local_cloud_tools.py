"""gcloud and kubectl, unmodified, pointed at the local cloud by `oasis local-cloud
env` (skipped where they are not installed)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess

import pytest

from oasis_cli.localcloud.cloud import LocalCloud

from conftest import free_ports

needs = pytest.mark.skipif(
    shutil.which("gcloud") is None or shutil.which("kubectl") is None,
    reason="gcloud and kubectl are not installed",
)


def shell_env(oasis, port: int) -> dict[str, str]:
    """What `eval "$(oasis local-cloud env --port P)"` would set."""
    result = oasis("local-cloud", "env", "--port", str(port))
    assert result.code == 0, result.stderr
    settings = {}
    for line in result.stdout.splitlines():
        assert line.startswith("export "), line
        (assignment,) = shlex.split(line.removeprefix("export "))
        name, _, value = assignment.partition("=")
        settings[name] = value
    return settings


@needs
def test_gcloud_and_kubectl_work_against_local_cloud_serve(deployed, oasis, cloud_dir):
    port = free_ports()
    settings = shell_env(oasis, port)
    assert settings["CLOUDSDK_CORE_PROJECT"] == "oasis-local"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")}
    env.update(settings)

    def run(*command: str) -> str:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    with LocalCloud(cloud_dir, port=port):
        networks = run("gcloud", "compute", "networks", "list", "--format=value(name)")
        assert networks.split() == ["oasis-mgmt-net", "oasis-primary-net", "oasis-rdma-net"]
        subnets = run("gcloud", "compute", "networks", "subnets", "list", "--format=value(name)")
        assert len(subnets.split()) == 11 and "oasis-rdma-sub-7" in subnets.split()  # aggregated
        routers = run("gcloud", "compute", "routers", "list", "--format=value(name,region)")
        assert routers.split() == [
            "oasis-mgmt-router",
            "us-south1",
            "oasis-primary-router",
            "us-south1",
        ]
        clusters = run("gcloud", "container", "clusters", "list", "--format=value(name,location)")
        assert clusters.split() == ["oasis-h200", "us-south1"]
        enabled = run("gcloud", "services", "list", "--enabled", "--format=value(config.name)")
        assert "container.googleapis.com" in enabled.split()
        version = json.loads(run("kubectl", "version", "-o", "json"))
        assert version["serverVersion"]["gitVersion"].startswith("v1.")
        assert json.loads(run("kubectl", "config", "view", "-o", "json"))["current-context"] == (
            "gke_oasis-local_us-south1_oasis-h200"
        )
