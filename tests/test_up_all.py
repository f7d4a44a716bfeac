"""`oasis up --all`: infrastructure, images and the Ray layer as ONE graph, so the
images build while the cluster comes up."""

from __future__ import annotations


def test_up_all_builds_images_while_the_cluster_comes_up(
    oasis, monkeypatch, requests_log, ledger, cloud_dir
):
    from oasis_cli.localcloud.infra.store import Store

    monkeypatch.setenv("OASIS_LOCAL_LATENCY_SCALE", "0.01")  # the cluster takes ~5 s
    result = oasis("--local", "up", "--all", "--yes")
    assert result.code == 0, result.stderr
    assert "up finished: 66 created" in result.stderr
    log = requests_log()
    first_build = min(
        r["time"] for r in log if r["method"] == "POST" and r["path"].endswith("/builds")
    )
    first_kube = min(r["time"] for r in log if r["service"] == "kubernetes")
    assert first_build < first_kube  # built while the cluster was still being created
    ref = ledger()["resources"]["image:server"]["outputs"]["ref"]
    objects = Store(cloud_dir).read()["kubernetes"]
    (cluster,) = [
        o
        for objs in objects.values()
        for o in objs["objects"].values()
        if o["kind"] == "RayCluster"
    ]
    assert cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] == ref

    monkeypatch.setenv("OASIS_LOCAL_LATENCY_SCALE", "0")
    again = oasis("--local", "up", "--all", "--yes")
    assert again.code == 0, again.stderr
    assert "up finished: 66 unchanged" in again.stderr
