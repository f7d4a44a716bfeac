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
    with LocalCloud(cloud_dir, port=port):  # started first: it gives clusters their ports
        yield runner(oasis, port)


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

    run.env = env  # type: ignore[attr-defined]
    return run


@needs
def test_gcloud_and_kubectl_work_against_local_cloud_serve(deployed, oasis, cloud_dir):
    with serving(oasis, cloud_dir) as run:
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


def kubectl_of(version: str | None) -> str | None:
    """kubectl itself, or the binary of one minor version beside it (gcloud's
    component ships kubectl.1.27 ... kubectl.1.33); None where it is not installed."""
    found = shutil.which("kubectl")
    if found is None or version is None:
        return found
    versioned = os.path.join(os.path.dirname(os.path.realpath(found)), f"kubectl.{version}")
    return versioned if os.access(versioned, os.X_OK) else None


@contextlib.contextmanager
def dashboard_stand_in(cloud_dir) -> Iterator[None]:
    """A stand-in for the Ray head's dashboard (an HTTP server answering
    /api/version), put behind the head pod as a real head would be."""
    import http.server
    import threading

    from oasis_cli.localcloud.infra.store import Store

    from conftest import CLUSTER

    class Dashboard(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"ray_version": "stand-in", "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            """kubectl closing its end early is no error of the dashboard's."""

    server = Quiet(("127.0.0.1", 0), Dashboard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with Store(cloud_dir).transaction() as world:
        for obj in world["kubernetes"][CLUSTER]["objects"].values():
            if obj["kind"] == "RayCluster":
                obj["_private"]["ray"] = {"ports": {"dashboard": server.server_address[1]}}
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def port_forward(kubectl: str, env: dict[str, str], *args: str) -> Iterator[subprocess.Popen]:
    """`kubectl port-forward ARGS` running until it says it forwards."""
    process = subprocess.Popen(
        [kubectl, "port-forward", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Forwarding from 127.0.0.1:"), (line, process.stderr.read())
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@needs
@pytest.mark.parametrize(
    "version", [None, "1.30"], ids=["spdy-in-websocket", "spdy-upgrade-kubectl-1.30"]
)
def test_kubectl_port_forward_of_the_guide_serves_the_dashboard(
    version, ray_deployed, oasis, cloud_dir
):
    """The guide's `kubectl port-forward svc/ray-dashboard-service 8265:8265`, on a
    free local port: kubectl 1.31+ tunnels SPDY in a WebSocket, 1.30 upgrades to
    SPDY itself; both reach what listens behind the head pod, several connections
    over one tunnel."""
    from urllib.request import urlopen

    kubectl = kubectl_of(version)
    if kubectl is None:
        pytest.skip(f"kubectl {version} is not installed")
    local = free_ports(1)
    with dashboard_stand_in(cloud_dir), serving(oasis, cloud_dir) as run:
        env = run.env  # type: ignore[attr-defined]
        with port_forward(kubectl, env, "svc/ray-dashboard-service", f"{local}:8265"):
            answers = [
                json.loads(
                    urlopen(f"http://127.0.0.1:{local}/api/version?n={n}", timeout=10).read()
                )
                for n in range(3)
            ]
    assert [a["path"] for a in answers] == [f"/api/version?n={n}" for n in range(3)]


@needs
def test_kubectl_port_forward_to_a_port_nothing_listens_on_says_so(ray_deployed, oasis, cloud_dir):
    """kubelet writes a failed dial on the stream pair's error stream; kubectl shows it."""
    from urllib.error import URLError
    from urllib.request import urlopen

    local = free_ports(1)
    with serving(oasis, cloud_dir) as run:
        pod = run("kubectl", "get", "pods", "-o", "name").split()[0]
        with port_forward("kubectl", run.env, pod, f"{local}:9999") as process:  # type: ignore[attr-defined]
            with pytest.raises((URLError, ConnectionError)):
                urlopen(f"http://127.0.0.1:{local}/", timeout=10)
            process.terminate()
            error = process.stderr.read()
    assert "error forwarding port 9999 to pod ray-cluster-ccc-head-" in error


SERVICE_BY_ANOTHER = """\
apiVersion: v1
kind: Service
metadata:
  name: ray-dashboard-service
  namespace: default
  labels: {oasis-deployment: someone-else}
spec:
  ports: [{name: dashboard, port: 8265, targetPort: 8265, protocol: TCP}]
"""


@needs
def test_kubectl_writes_as_the_api_server_lets_it(ray_deployed, oasis, cloud_dir, tmp_path):
    """kubectl's own validation (OpenAPI v2 and v3) passes; another field manager's
    server-side apply of an oasis object is a conflict until forced; client-side
    apply, label, annotate and patch work; the cluster answers at its host root."""
    manifest = tmp_path / "service.yaml"
    manifest.write_text(SERVICE_BY_ANOTHER)
    configmap = tmp_path / "configmap.yaml"
    configmap.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe, namespace: default}\n"
        "data: {mode: train}\n"
    )
    with serving(oasis, cloud_dir) as run:
        api = json.loads(run("kubectl", "get", "--raw", "/api"))
        v3 = json.loads(run("kubectl", "get", "--raw", "/openapi/v3"))
        refused = run("kubectl", "apply", "--server-side", "-f", str(manifest), fails=True)
        kept = run("kubectl", "get", "svc", "ray-dashboard-service", "-o", "json")
        created = run("kubectl", "apply", "-f", str(configmap))
        configmap.write_text(configmap.read_text().replace("train", "serve"))
        changed = run("kubectl", "apply", "-f", str(configmap))
        run("kubectl", "label", "configmap", "probe", "team=ml")
        run("kubectl", "annotate", "raycluster", "ray-cluster-ccc", "oasis.dev/note=hi")
        run("kubectl", "patch", "configmap", "probe", "--type=json", "-p",
            '[{"op": "add", "path": "/data/size", "value": "8"}]')  # fmt: skip
        probe = json.loads(
            run("kubectl", "get", "configmap", "probe", "-o", "json", "--show-managed-fields")
        )
        note = run("kubectl", "get", "raycluster", "ray-cluster-ccc",
                   "-o", "jsonpath={.metadata.annotations.oasis\\.dev/note}")  # fmt: skip
        typo = tmp_path / "typo.yaml"
        typo.write_text(configmap.read_text().replace("name: probe", "name: typo") + "bogus: 1\n")
        strict = run("kubectl", "apply", "-f", str(typo), fails=True)
        lenient = run("kubectl", "apply", "--validate=false", "-f", str(typo))
        forced = run("kubectl", "apply", "--server-side", "--force-conflicts", "-f", str(manifest))
        taken = json.loads(
            run(
                "kubectl",
                "get",
                "svc",
                "ray-dashboard-service",
                "-o",
                "json",
                "--show-managed-fields",
            )
        )
    assert api["kind"] == "APIVersions"
    assert "api/v1" in v3["paths"] and "apis/ray.io/v1" in v3["paths"]
    assert (
        'Apply failed with 1 conflict: conflict with "oasis": .metadata.labels.oasis-deployment'
        in refused
    )
    assert json.loads(kept)["metadata"]["labels"]["oasis-deployment"] == "oasis"
    assert created.strip() == "configmap/probe created"
    assert changed.strip() == "configmap/probe configured"
    assert probe["data"] == {"mode": "serve", "size": "8"}
    assert probe["metadata"]["labels"] == {"team": "ml"}
    assert {e["manager"] for e in probe["metadata"]["managedFields"]} == {
        "kubectl-client-side-apply",
        "kubectl-label",
        "kubectl-patch",
    }
    assert note == "hi"
    # kubectl validates strictly by default (fieldValidation=Strict); --validate=false
    # is Ignore: the unknown field is dropped
    assert 'strict decoding error: unknown field "bogus"' in strict
    assert lenient.strip() == "configmap/typo created"
    assert forced.strip() == "service/ray-dashboard-service serverside-applied"
    assert taken["metadata"]["labels"]["oasis-deployment"] == "someone-else"
    owners = {e["manager"] for e in taken["metadata"]["managedFields"]}
    assert owners == {"oasis", "kubectl"}


def submit_base(run, *extra: str) -> str:
    """`gcloud builds submit` of images/base as its cloudbuild.yaml says, `--async`
    (gcloud tails GCS logs from https://storage.googleapis.com itself, which no
    endpoint override reaches); the build's id."""
    from pathlib import Path

    project, region, d = "oasis-local", "us-south1", "oasis"
    base = Path(__file__).parent.parent / "images" / "base"
    registry = f"{region}-docker.pkg.dev/{project}"
    return run(
        "gcloud", "builds", "submit", str(base), "--config", str(base / "cloudbuild.yaml"),
        "--region", region, "--async", "--format=value(id)",
        "--worker-pool", f"projects/{project}/locations/{region}/workerPools/{d}-build-pool",
        "--service-account",
        f"projects/{project}/serviceAccounts/{d}-builder@{project}.iam.gserviceaccount.com",
        "--gcs-log-dir", f"gs://{project}-{d}-build/logs",
        "--substitutions",
        f"_REGISTRY={registry}/{d},_VIRTUAL_REGISTRY={registry}/{d}-virtual,"
        "_RAY_IMAGE=rayproject/ray:2.48.0-py312-cu128,_TAG=manual",
        *extra,
    ).strip()  # fmt: skip


def finished(run, build: str) -> list[str]:
    """The build's status and detail once it is done."""
    import time

    for _ in range(200):
        described = run(
            "gcloud", "builds", "describe", build, "--region", "us-south1",
            "--format=value(status,statusDetail)",
        ).strip().split("\t")  # fmt: skip
        if described[0] not in ("QUEUED", "WORKING", "PENDING"):
            return described
        time.sleep(0.05)
    raise AssertionError(f"build {build} did not finish")


@needs
def test_gcloud_builds_submit_of_images_base_as_its_config_says(deployed, oasis, cloud_dir):
    """gcloud's default staging bucket (PROJECT_cloudbuild) fails as on GCP: the
    builder reads only the build bucket. Staged there, the build pushes the image
    and its log is readable with gcloud storage."""
    with serving(oasis, cloud_dir) as run:
        default = finished(run, submit_base(run))
        staged = submit_base(run, "--gcs-source-staging-dir", "gs://oasis-local-oasis-build/source")
        status = finished(run, staged)
        tags = run(
            "gcloud", "artifacts", "docker", "images", "list",
            "us-south1-docker.pkg.dev/oasis-local/oasis", "--include-tags",
            "--format=value(package,tags)",
        )  # fmt: skip
        log = run("gcloud", "storage", "cat", f"gs://oasis-local-oasis-build/logs/log-{staged}.txt")
    assert default[0] == "FAILURE"
    assert default[1].startswith("failed to fetch source gs://oasis-local_cloudbuild/source/")
    assert status == ["SUCCESS"]
    assert "us-south1-docker.pkg.dev/oasis-local/oasis/ray-base\tmanual" in tags
    assert log.rstrip().endswith("DONE")


@needs
def test_a_method_the_local_cloud_does_not_simulate_fails_at_once(
    deployed, oasis, cloud_dir, requests_log
):
    """Answered 400 FAILED_PRECONDITION, not 501, which gcloud retries for half a
    minute: one request, a message that says why."""
    with serving(oasis, cloud_dir) as run:
        error = run(
            "gcloud", "compute", "addresses", "create", "probe", "--region=us-south1",
            fails=True,
        )  # fmt: skip
    assert "compute.addresses.insert is not simulated by the local cloud" in error
    tries = [r for r in requests_log() if r["path"].endswith("/regions/us-south1/addresses")]
    assert [(r["method"], r["status"]) for r in tries] == [("POST", 400)]
