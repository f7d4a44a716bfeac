"""gcloud and kubectl, unmodified, pointed at the local cloud by `oasis local-cloud
env` (skipped where they are not installed)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator

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


@contextlib.contextmanager
def serving(oasis, cloud_dir) -> Iterator[Callable[..., str]]:
    """The local cloud served on stable ports, and a runner of tools with the settings
    `local-cloud env` prints for them (it returns their stdout)."""
    port = free_ports()
    run = runner(oasis, port)
    with LocalCloud(cloud_dir, port=port):
        yield run


def runner(oasis, port: int) -> Callable[..., str]:
    """Runs a tool with the settings `local-cloud env` prints; its stdout."""
    settings = shell_env(oasis, port)
    assert settings["CLOUDSDK_CORE_PROJECT"] == "oasis-local"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")}
    env.update(settings)

    def run(*command: str, fails: bool = False, extra: dict[str, str] | None = None) -> str:
        """The tool's stdout; with `fails`, its stderr, and it must fail. `extra` adds
        to the environment."""
        done = subprocess.run(
            command, capture_output=True, text=True, env={**env, **(extra or {})}, timeout=120
        )
        if fails:
            assert done.returncode != 0, done.stdout
            return done.stderr
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


@needs
def test_gcloud_and_kubectl_work_against_local_cloud_serve(deployed, oasis, cloud_dir):
    port = free_ports()
    run = runner(oasis, port)

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


@needs
def test_kubectl_knows_the_short_names_and_the_all_category(ray_deployed, oasis, cloud_dir):
    with serving(oasis, cloud_dir) as run:
        assert run("kubectl", "get", "svc", "-o", "name").split() == [
            "service/ray-dashboard-service"
        ]
        assert run("kubectl", "get", "ds", "-n", "kube-system", "-o", "name").split() == [
            "daemonset.apps/nccl-rdma-installer"
        ]
        everything = run("kubectl", "get", "all", "-o", "name").split()
        assert "service/ray-dashboard-service" in everything
        assert "raycluster.ray.io/ray-cluster-ccc" in everything
        assert any(name.startswith("pod/ray-cluster-ccc-head-") for name in everything)
        assert run("kubectl", "get", "sa", "oasis-ray", "-o", "name").strip() == (
            "serviceaccount/oasis-ray"
        )


@needs
def test_kubectl_lists_the_default_pools_node_as_gke_registers_it(deployed, oasis, cloud_dir):
    with serving(oasis, cloud_dir) as run:
        nodes = json.loads(run("kubectl", "get", "nodes", "-o", "json"))["items"]
        assert [n["metadata"]["labels"]["cloud.google.com/gke-nodepool"] for n in nodes] == [
            "default-pool"
        ]  # the GPU pools scale from zero
        (node,) = nodes
        assert node["metadata"]["name"].startswith("gke-oasis-h200-default-pool-")
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
        assert node["status"]["capacity"]["cpu"] == "32"
        assert (
            run("kubectl", "get", "no", "-o", "name").strip() == f"node/{node['metadata']['name']}"
        )


def columns(table: str) -> list[str]:
    """The header of a `kubectl get` table, split where kubectl aligns its columns."""
    import re

    return re.split(r"\s{2,}", table.splitlines()[0].strip())


@needs
def test_kubectl_get_prints_the_servers_tables(ray_deployed, oasis, cloud_dir):
    with serving(oasis, cloud_dir) as run:
        pods = run("kubectl", "get", "pods")
        nodes = run("kubectl", "get", "nodes", "-o", "wide")
        services = run("kubectl", "get", "svc")
        daemonsets = run("kubectl", "get", "ds", "-n", "kube-system")
        rayclusters = run("kubectl", "get", "rayclusters")
        classes = run("kubectl", "get", "computeclasses")
        head_log = run(
            "kubectl",
            "logs",
            next(
                line.split()[0]
                for line in pods.splitlines()
                if line.startswith("ray-cluster-ccc-head-")
            ),
        )
    assert columns(pods) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    head = next(line.split() for line in pods.splitlines() if "-head-" in line)
    assert head[1:4] == ["1/1", "Running", "0"]
    assert columns(nodes)[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert "CONTAINER-RUNTIME" in columns(nodes)  # -o wide adds the priority-1 columns
    assert nodes.splitlines()[1].split()[1] == "Ready"
    assert columns(services) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert "8265/TCP,10001/TCP" in services
    assert columns(daemonsets)[:6] == [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
    ]
    # KubeRay's printer columns
    assert columns(rayclusters) == [
        "NAME",
        "DESIRED WORKERS",
        "AVAILABLE WORKERS",
        "CPUS",
        "MEMORY",
        "GPUS",
        "STATUS",
        "AGE",
    ]
    assert " ready " in rayclusters
    assert columns(classes) == ["NAME", "AGE"]  # no printer columns: the default two
    assert head_log == ""  # this head pod has no real Ray behind it (OASIS_LOCAL_RAY=0)


@needs
def test_gcloud_lists_and_describes_what_a_user_looks_at_on_this_platform(
    ray_deployed, oasis, cloud_dir
):
    from concurrent.futures import ThreadPoolExecutor

    commands = {
        "accounts": ("iam", "service-accounts", "list", "--format=value(email)"),
        "builder": (
            "iam",
            "service-accounts",
            "describe",
            "oasis-builder@oasis-local.iam.gserviceaccount.com",
            "--format=value(projectId)",
        ),
        "addresses": ("compute", "addresses", "list", "--format=value(name)"),
        "firewalls": ("compute", "firewall-rules", "list", "--format=value(name)"),
        "pools": (
            "container",
            "node-pools",
            "list",
            "--cluster=oasis-h200",
            "--region=us-south1",
            "--format=value(name)",
        ),
        "images": (
            "artifacts",
            "docker",
            "images",
            "list",
            "us-south1-docker.pkg.dev/oasis-local/oasis",
            "--format=value(package)",
        ),
        "builds": ("builds", "list", "--region=us-south1", "--format=value(status)"),
        "objects": ("storage", "ls", "gs://oasis-local-oasis-build/source/"),
        "folders": ("storage", "ls", "gs://oasis-local-oasis-build/"),
        "secrets": ("secrets", "list", "--format=value(name)"),
    }
    with serving(oasis, cloud_dir) as run, ThreadPoolExecutor(4) as pool:
        answers = pool.map(lambda command: run("gcloud", *command), commands.values())
        out = dict(zip(commands, answers, strict=True))
        unknown = run(
            "gcloud",
            "iam",
            "service-accounts",
            "describe",
            "nobody@oasis-local.iam.gserviceaccount.com",
            fails=True,
        )
    assert "NOT_FOUND: Unknown service account" in unknown
    assert out["accounts"].split() == [
        "oasis-builder@oasis-local.iam.gserviceaccount.com",
        "oasis-cluster@oasis-local.iam.gserviceaccount.com",
    ]
    assert out["builder"].strip() == "oasis-local"
    assert out["addresses"] == ""  # none, answered at once (no 501 for gcloud to retry)
    assert "oasis-mgmt-internal" in out["firewalls"].split()
    assert sorted(out["pools"].split()) == ["default-pool", "oasis-h200-flex", "oasis-h200-spot"]
    assert sorted(p.rsplit("/", 1)[1] for p in out["images"].split()) == ["ray-base", "ray-server"]
    assert out["builds"].split() == ["SUCCESS", "SUCCESS"]
    assert len(out["objects"].split()) == 2
    assert out["folders"].split() == [  # objects.list's delimiter folds them into prefixes
        "gs://oasis-local-oasis-build/logs/",
        "gs://oasis-local-oasis-build/source/",
    ]
    assert out["secrets"].split() == ["oasis-secrets"]


@needs
@pytest.mark.skipif(
    shutil.which("gke-gcloud-auth-plugin") is None, reason="gke-gcloud-auth-plugin is not installed"
)
def test_get_credentials_writes_a_kubeconfig_kubectl_uses_through_the_auth_plugin(
    deployed, oasis, cloud_dir, tmp_path
):
    fresh = {"KUBECONFIG": str(tmp_path / "from-gcloud")}
    with serving(oasis, cloud_dir) as run:
        run(
            "gcloud",
            "container",
            "clusters",
            "get-credentials",
            "oasis-h200",
            "--region=us-south1",
            extra=fresh,
        )
        config = json.loads(run("kubectl", "config", "view", "-o", "json", extra=fresh))
        namespaces = run("kubectl", "get", "namespaces", extra=fresh)
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"  # as on GKE
    assert config["current-context"] == "gke_oasis-local_us-south1_oasis-h200"
    assert namespaces.split()[:3] == ["NAME", "STATUS", "AGE"]
    assert "kube-system" in namespaces
