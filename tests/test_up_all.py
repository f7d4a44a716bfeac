"""`oasis up --all`: infrastructure, images and the Ray layer as ONE graph, so the
images build while the cluster comes up."""

from __future__ import annotations


def test_up_all_builds_images_while_the_cluster_comes_up(
    oasis, monkeypatch, requests_log, ledger, cloud_dir
):
    from conftest import kube_objects

    monkeypatch.setenv("OASIS_LOCAL_LATENCY_SCALE", "0.003")  # the cluster takes ~1.5 s
    result = oasis("--local", "up", "--all", "--yes")
    assert result.code == 0, result.stderr
    assert "up finished: 66 created, 1 updated" in result.stderr
    log = requests_log()
    first_build = min(
        r["time"] for r in log if r["method"] == "POST" and r["path"].endswith("/builds")
    )
    first_kube = min(r["time"] for r in log if r["service"] == "kubernetes")
    assert first_build < first_kube  # built while the cluster was still being created
    ref = ledger()["resources"]["image:server"]["outputs"]["ref"]
    (cluster,) = [o for o in kube_objects(cloud_dir) if o["kind"] == "RayCluster"]
    assert cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] == ref

    monkeypatch.setenv("OASIS_LOCAL_LATENCY_SCALE", "0")
    again = oasis("--local", "up", "--all", "--yes")
    assert again.code == 0, again.stderr
    assert "up finished: 67 unchanged" in again.stderr
