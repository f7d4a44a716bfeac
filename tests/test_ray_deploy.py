"""`oasis ray deploy`, `oasis ray status`, `oasis kubeconfig` and the Kubernetes layer
in `down`, against the simulated cluster's Kubernetes API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from conftest import kube_objects


def find(cloud_dir: Path, kind: str, name: str) -> dict[str, Any]:
    matches = [
        o for o in kube_objects(cloud_dir) if o["kind"] == kind and o["metadata"]["name"] == name
    ]
    assert len(matches) == 1, (kind, name)
    return matches[0]


def test_deploy_applies_every_object_with_the_digest_pinned_image(ray_deployed, cloud_dir, ledger):
    entries = ledger()["resources"]
    ref = entries["image:server"]["outputs"]["ref"]
    assert "@sha256:" in ref
    kinds = sorted(
        o["kind"] for o in kube_objects(cloud_dir) if o["kind"] not in ("Namespace", "Pod", "Node")
    )
    assert kinds == sorted(
        ["ServiceAccount", "ComputeClass", "DaemonSet", "RayCluster", "Service", "Ingress"]
        + ["GKENetworkParamSet", "Network"] * 9
    )
    cluster = find(cloud_dir, "RayCluster", "ray-cluster-ccc")
    head = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    worker = cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert head["image"] == worker["image"] == ref
    assert cluster["status"]["state"] == "ready"
    for obj in kube_objects(cloud_dir):
        if obj["kind"] not in ("Namespace", "Pod", "Node"):
            assert [m["manager"] for m in obj["metadata"]["managedFields"]] == ["oasis"]
            assert obj["metadata"]["labels"]["oasis-deployment"] == "oasis"
    k8s = {k: e for k, e in entries.items() if k.startswith("k8s:")}
    assert len(k8s) == 24 and {e["state"] for e in k8s.values()} == {"done"}


def test_objects_are_applied_in_spec_order(ray_deployed, requests_log):
    applied = [
        r["path"].split("/")[-2]
        for r in requests_log()
        if r["service"] == "kubernetes" and r["method"] == "PATCH"
    ]
    order = [
        "serviceaccounts",
        "computeclasses",
        "daemonsets",
        "rayclusters",
        "services",
        "ingresses",
    ]
    firsts = [applied.index(plural) for plural in order]
    assert firsts == sorted(firsts)
    networks = [i for i, p in enumerate(applied) if p in ("gkenetworkparamsets", "networks")]
    assert len(networks) == 18
    assert applied.index("computeclasses") < min(networks) and max(networks) < applied.index(
        "daemonsets"
    )


def test_a_rerun_changes_nothing(ray_deployed, oasis, requests_log):
    before = len(requests_log())
    result = oasis("--local", "ray", "deploy")
    assert result.code == 0, result.stderr
    assert "ray deploy finished: 24 unchanged" in result.stderr
    assert not [r for r in requests_log()[before:] if r["method"] != "GET"]


def test_ray_status_shows_the_ready_head(ray_deployed, oasis):
    status = oasis("--local", "ray", "status", "--output", "json").json()
    assert status["state"] == "ready"
    assert [(p["type"], p["phase"], p["ready"]) for p in status["pods"]] == [
        ("head", "Running", True)
    ]


def test_deploy_without_images_tells_to_build_them(deployed, oasis, requests_log):
    result = oasis("--local", "ray", "deploy")
    assert result.code == 3
    assert "Run `oasis build-images` first" in result.stderr
    assert not [r for r in requests_log() if r["service"] == "kubernetes"]


def test_down_deletes_the_kubernetes_layer_first_ingress_and_service_leading(
    ray_deployed, oasis, requests_log, ledger
):
    before = len(requests_log())
    assert oasis("--local", "down", "--yes").code == 0
    log = requests_log()[before:]
    deletes = [
        r["path"].split("/")[-2]
        for r in log
        if r["service"] == "kubernetes" and r["method"] == "DELETE"
    ]
    assert len(deletes) == 24
    assert deletes.index("ingresses") < deletes.index("services") < deletes.index("rayclusters")
    assert (
        deletes.index("rayclusters")
        < deletes.index("daemonsets")
        < deletes.index("serviceaccounts")
    )
    cluster_delete = next(
        i
        for i, r in enumerate(log)
        if r["service"] == "container"
        and r["method"] == "DELETE"
        and r["path"].endswith("/clusters/oasis-h200")
    )
    last_kube_delete = max(
        i for i, r in enumerate(log) if r["service"] == "kubernetes" and r["method"] == "DELETE"
    )
    assert last_kube_delete < cluster_delete
    assert {e["state"] for k, e in ledger()["resources"].items() if k.startswith("k8s:")} == {
        "deleted"
    }


def test_kubeconfig_gets_a_gke_context(deployed, oasis, workspace):
    path = workspace / "kube" / "config"
    path.parent.mkdir()
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "other", "cluster": {"server": "https://x"}}],
                "current-context": "other",
            }
        )
    )
    result = oasis("--local", "kubeconfig", "--path", str(path))
    assert result.code == 0, result.stderr
    assert (
        "gke_oasis-local_us-south1_oasis-h200" in result.stderr
        and "current context" in result.stderr
    )
    assert "`kubectl config use-context other` switches back" in result.stderr
    assert "oasis local-cloud serve" in result.stderr
    config = yaml.safe_load(path.read_text())
    name = "gke_oasis-local_us-south1_oasis-h200"
    assert config["current-context"] == name
    assert [c["name"] for c in config["clusters"]] == ["other", name]
    cluster = next(c for c in config["clusters"] if c["name"] == name)["cluster"]
    assert cluster["server"].startswith("https://127.0.0.1:")
    assert cluster["certificate-authority-data"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_kubeconfig_for_a_real_cluster_uses_the_gke_auth_plugin(tmp_path):
    from oasis_cli.kube.client import Endpoint
    from oasis_cli.kube.kubeconfig import write

    path, _ = write(
        tmp_path / "config",
        "p-1",
        "us-south1",
        "c",
        Endpoint("https://34.1.2.3", b"CA"),
        local=False,
    )
    config = yaml.safe_load(path.read_text())
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert "token" not in config["users"][0]["user"]


def test_the_applied_objects_carry_every_rendered_setting(ray_deployed, cloud_dir, ledger):
    from oasis_cli.config.model import Config
    from oasis_cli.config.names import resolve
    from oasis_cli.resources.base import diff
    from oasis_cli.resources.kubeobjects import rendered

    ref = ledger()["resources"]["image:server"]["outputs"]["ref"]
    for obj in rendered(resolve(Config(), "oasis-local"), ref):
        applied = find(cloud_dir, obj["kind"], obj["metadata"]["name"])
        assert diff(obj, applied) == [], obj["kind"]


def test_a_caller_outside_the_authorized_networks_cannot_reach_the_cluster(
    built, oasis, monkeypatch, requests_log
):
    """GKE admits only the authorized networks to the control plane; from another
    address (the echo service answers who the caller is) the connection drops."""
    monkeypatch.setenv("OASIS_LOCAL_CALLER_IP", "198.51.100.9")
    before = len(requests_log())
    result = oasis("--local", "ray", "deploy")
    assert result.code == 1
    assert "cannot reach the cluster's API" in result.stderr
    assert "authorized networks" in result.stderr
    kube = [r for r in requests_log()[before:] if r["service"] == "kubernetes"]
    assert kube and {r["status"] for r in kube} == {0}  # every one dropped unanswered


def set_worker_replicas(cloud_dir: Path, replicas: int) -> None:
    """What the Ray autoscaler does once the cluster runs: it owns the replicas."""
    from oasis_cli.localcloud.infra.store import Store

    with Store(cloud_dir).transaction() as world:
        for objects in world["kubernetes"].values():
            for obj in objects["objects"].values():
                if obj["kind"] == "RayCluster":
                    obj["spec"]["workerGroupSpecs"][0]["replicas"] = replicas


def test_a_redeploy_leaves_the_autoscalers_worker_replicas_alone(ray_deployed, oasis, cloud_dir):
    set_worker_replicas(cloud_dir, 2)
    result = oasis("--local", "ray", "deploy")
    assert result.code == 0, result.stderr
    assert "ray deploy finished: 24 unchanged" in result.stderr
    cluster = find(cloud_dir, "RayCluster", "ray-cluster-ccc")
    assert cluster["spec"]["workerGroupSpecs"][0]["replicas"] == 2


def test_a_changed_ray_cluster_is_reapplied_with_the_live_worker_replicas(
    ray_deployed, oasis, cloud_dir
):
    set_worker_replicas(cloud_dir, 2)
    result = oasis("--local", "--set", "ray.idle_timeout_s=900", "ray", "deploy")
    assert result.code == 0, result.stderr
    cluster = find(cloud_dir, "RayCluster", "ray-cluster-ccc")
    assert cluster["spec"]["autoscalerOptions"]["idleTimeoutSeconds"] == 900
    assert cluster["spec"]["workerGroupSpecs"][0]["replicas"] == 2


def test_deploy_rows_name_objects_as_kubectl_does(ray_deployed, oasis):
    result = oasis("--local", "ray", "deploy")
    assert result.code == 0, result.stderr
    rows = [line.split() for line in result.stderr.splitlines() if line.startswith("  unchanged")]
    assert rows[0][:3] == ["unchanged", "ServiceAccount", "default/oasis-ray"]
    assert not [row for row in rows if row[1].startswith("k8s:")]
