"""`oasis verify` on a deployed platform, and on platforms broken on purpose: each
broken state fails the right check with its message, exit 1, and a report. With
`--gpus N` the simulated autoscaler brings nodes up through the ComputeClass's rules
(a stocked-out Spot pool falls back to flex-start). The Ray head here is simulated
without a real Ray behind it, so the data path (a Ray job) fails: the real run is in
test_ray_local."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oasis_cli.localcloud.infra.store import Store

from conftest import CLUSTER

CHECKS = [
    "resources",
    "gpu pools",
    "cluster api",
    "compute class",
    "networks",
    "nccl installer",
    "ray cluster",
    "dashboard",
    "ingress",
    "gpu nodes",
    "data path",
]
READ_ONLY = CHECKS[:-2]


def verified(oasis, *args: str) -> tuple[int, dict[str, Any]]:
    code, document = report(oasis, *args)
    return code, {c["name"]: c for c in document["checks"]}


def report(oasis, *args: str) -> tuple[int, dict[str, Any]]:
    result = oasis("--local", "verify", *args, "--output", "json")
    document = result.json()
    assert Path(document["report"]).is_file()
    assert json.loads(Path(document["report"]).read_text())["checks"] == document["checks"]
    return result.code, document


def test_a_deployed_platform_passes_every_read_only_check(ray_deployed, oasis):
    code, checks = verified(oasis)
    assert list(checks) == CHECKS
    assert {checks[name]["status"] for name in READ_ONLY} == {"pass"}
    assert checks["networks"]["detail"] == "18 ready"
    # the GPU pools scale from zero: nothing to check on a node yet
    assert checks["gpu nodes"]["status"] == "warn"
    assert "--gpus 2" in checks["gpu nodes"]["next"]
    # a head pod that is Ready with no Ray behind it cannot run the probe job
    assert checks["data path"]["status"] == "fail"
    assert checks["data path"]["detail"].startswith("the probe job could not run")
    assert code == 1


def test_the_table_names_each_check_the_next_step_of_a_failed_one_and_the_report(
    ray_deployed, oasis
):
    result = oasis("--local", "verify")
    assert all(name in result.stdout for name in CHECKS)
    assert "→ `oasis ray status` shows the head" in result.stdout  # the data path's next step
    assert "report: " in result.stderr and "checking data path..." in result.stderr
    assert result.code == 1 and "1 check(s) failed: data path" in result.stderr


def break_world(cloud_dir: Path, change) -> None:
    with Store(cloud_dir).transaction() as world:
        change(world)


def pool_in_error(world: dict[str, Any]) -> None:
    pools = world["container"]["clusters"][CLUSTER]["nodePools"]
    pool = next(p for p in pools if p["name"] == "oasis-h200-spot")
    pool.update(status="RUNNING_WITH_ERROR", statusMessage="Insufficient quota in us-south1-b")


def installer_deleted(world: dict[str, Any]) -> None:
    objects = world["kubernetes"][CLUSTER]["objects"]
    objects.pop(next(k for k, o in objects.items() if o["kind"] == "DaemonSet"))


def subnet_missing(world: dict[str, Any]) -> None:
    subnets = world["compute"]["subnetworks"]
    subnets.pop(next(k for k in subnets if k.endswith("/oasis-rdma-sub-3")))


def binding_removed(world: dict[str, Any]) -> None:
    policy = world["iam_policies"]["projects/_/buckets/oasis-local-oasis-data"]
    policy["bindings"] = []


@pytest.mark.parametrize(
    ("breakage", "check", "message"),
    [
        (pool_in_error, "gpu pools", "oasis-h200-spot is RUNNING_WITH_ERROR: Insufficient quota"),
        (
            installer_deleted,
            "nccl installer",
            "DaemonSet kube-system/nccl-rdma-installer does not exist",
        ),
        (subnet_missing, "networks", "SubnetNotFound"),
        (binding_removed, "resources", "iam:bucket is missing"),
    ],
    ids=["pool-error", "installer-deleted", "missing-subnet", "bucket-binding"],
)
def test_a_broken_platform_fails_the_right_check(
    ray_deployed, oasis, cloud_dir, breakage, check, message
):
    break_world(cloud_dir, breakage)
    code, checks = verified(oasis)
    assert code == 1
    assert checks[check]["status"] == "fail", checks[check]
    assert message in checks[check]["detail"]
    assert checks[check]["next"]


def test_up_all_verify_runs_the_checks_at_the_end(oasis):
    result = oasis("--local", "up", "--all", "--verify", "--yes")
    assert "up finished" in result.stderr and "report: " in result.stderr
    assert all(name in result.stdout for name in CHECKS)
    # only the Ray job fails here (no real Ray behind the simulated head)
    assert result.code == 1 and "1 check(s) failed: data path" in result.stderr


def test_verify_needs_all(oasis):
    result = oasis("--local", "up", "--verify", "--yes")
    assert result.code == 2 and "use it with --all" in result.stderr


# --- --gpus: the simulated autoscaler walks the ComputeClass's rules -------------------


def live(cloud_dir: Path, kind: str) -> list[dict[str, Any]]:
    objects = Store(cloud_dir).read()["kubernetes"][CLUSTER]["objects"]
    return [o for o in objects.values() if o["kind"] == kind]


def test_gpus_brings_nodes_up_through_the_first_rule_and_removes_its_probe(
    ray_deployed, oasis, cloud_dir
):
    _, document = report(oasis, "--gpus", "2")
    checks = {c["name"]: c for c in document["checks"]}
    assert checks["gpu capacity"]["status"] == "pass", checks["gpu capacity"]
    assert "2 GPU nodes in " in checks["gpu capacity"]["detail"]
    assert "2 from rule 1 of 2 (spot, pool oasis-h200-spot)" in checks["gpu capacity"]["detail"]
    assert {(p["pool"], p["rule"], p["source"]) for p in document["placements"]} == {
        ("oasis-h200-spot", 1, "spot")
    }
    assert len({p["node"] for p in document["placements"]}) == 2  # a node each
    assert document["tried"] == ["oasis-h200-spot"]
    # every GPU node was checked while the probe held it
    assert checks["gpu nodes"]["status"] == "pass", checks["gpu nodes"]
    assert checks["gpu nodes"]["detail"].startswith("2 GPU node(s) Ready, 8 GPUs each, 9 networks")
    # the probe's pods are gone; the autoscaler's events about them stay
    pods = [p["metadata"]["name"] for p in live(cloud_dir, "Pod")]
    assert not [p for p in pods if p.startswith("oasis-verify-gpu-")]
    scale_ups = [
        e["message"] for e in live(cloud_dir, "Event") if e["reason"] == "TriggeredScaleUp"
    ]
    assert len(scale_ups) == 2
    assert all("/instanceGroups/gke-oasis-h200-oasis-h200-spot-" in m for m in scale_ups)
    assert sorted(m.rsplit(" ", 3)[1:] for m in scale_ups) == [
        ["0->1", "(max:", "10)}]"],
        ["1->2", "(max:", "10)}]"],
    ]


def node_count(client: Any, want: int) -> int:
    """The cluster's currentNodeCount once it is `want` (each call lets the local
    cloud's controllers run once more), or the last one seen."""
    count = -1
    for _ in range(5):
        count = client.get_cluster(name=CLUSTER).current_node_count
        if count == want:
            break
    return count


def test_the_gke_api_counts_the_autoscaled_nodes_and_idle_ones_go(ray_deployed, cloud_dir):
    from google.cloud import container_v1
    from kubernetes import client as k8s

    from oasis_cli.localcloud.cloud import LocalCloud

    from conftest import gapic, kube_api

    with LocalCloud(cloud_dir) as cloud:
        container = gapic(cloud, container_v1.ClusterManagerClient, "container")
        core = k8s.CoreV1Api(kube_api(cloud, cloud_dir))
        before = node_count(container, 1)
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "trainer"},
            "spec": {
                "nodeSelector": {"cloud.google.com/compute-class": "h200-ccc"},
                "tolerations": [{"operator": "Exists"}],
                "containers": [
                    {"name": "t", "image": "t", "resources": {"limits": {"nvidia.com/gpu": "8"}}}
                ],
            },
        }
        core.create_namespaced_pod("default", pod)
        during = node_count(container, 2)
        core.delete_namespaced_pod(pod["metadata"]["name"], "default")
        after = node_count(container, 1)
    assert (before, during, after) == (1, 2, 1)  # at latency 0 an idle node goes at once


def test_spot_stocked_out_falls_back_to_flex_start(ray_deployed, oasis, cloud_dir):
    from oasis_cli.localcloud.infra import faults

    stockout = {"method": "SCALE_UP", "path": "/nodePools/oasis-h200-spot$", "count": -1}
    with faults.injected(Store(cloud_dir), stockout):
        _, document = report(oasis, "--gpus", "2")
    checks = {c["name"]: c for c in document["checks"]}
    detail = checks["gpu capacity"]["detail"]
    assert checks["gpu capacity"]["status"] == "pass", detail
    assert "2 from rule 2 of 2 (flex-start, pool oasis-h200-flex)" in detail
    assert "tried first without a node: oasis-h200-spot" in detail
    assert document["tried"] == ["oasis-h200-spot", "oasis-h200-flex"]
    assert {p["pool"] for p in document["placements"]} == {"oasis-h200-flex"}
    nodes = live(cloud_dir, "Node")
    flex = [n for n in nodes if n["metadata"]["labels"].get("cloud.google.com/gke-flex-start")]
    assert len(flex) == 2 and not [
        n for n in nodes if n["metadata"]["labels"].get("cloud.google.com/gke-spot")
    ]


def test_no_gpu_capacity_anywhere_fails_the_capacity_check(ray_deployed, oasis, cloud_dir):
    from oasis_cli.localcloud.infra import faults

    stockout = {"method": "SCALE_UP", "path": "/nodePools/", "count": -1}
    with faults.injected(Store(cloud_dir), stockout):
        code, checks = verified(oasis, "--gpus", "1", "--deadline", "1")
    assert code == 1
    capacity = checks["gpu capacity"]
    assert capacity["status"] == "fail"
    assert capacity["detail"].startswith("0 of 1 GPU nodes came up in 1s; ")
    assert "pod didn't trigger scale-up: 2 in backoff after failed scale-up" in capacity["detail"]
    assert "reservation" in capacity["next"]
    assert not [p for p in live(cloud_dir, "Pod") if "verify-gpu" in p["metadata"]["name"]]


def network_deleted(world: dict[str, Any]) -> None:
    objects = world["kubernetes"][CLUSTER]["objects"]
    objects.pop(next(k for k, o in objects.items() if k.endswith("/networks//rdma-3")))


def test_a_gpu_node_without_a_network_fails_the_node_check(ray_deployed, oasis, cloud_dir):
    break_world(cloud_dir, network_deleted)
    code, checks = verified(oasis, "--gpus", "1")
    assert code == 1
    nodes = checks["gpu nodes"]
    assert nodes["status"] == "fail"
    assert "networks not attached: rdma-3" in nodes["detail"]
    assert nodes["detail"].startswith("gke-oasis-h200-oasis-h200-spot-")


def test_nccl_needs_gpus_and_bad_values_change_nothing(ray_deployed, oasis, requests_log):
    before = len(requests_log())
    result = oasis("--local", "verify", "--nccl")
    assert result.code == 2 and "--nccl runs across the nodes --gpus brings up" in result.stderr
    result = oasis("--local", "verify", "--gpus", "2", "--nccl", "--nccl-threshold", "1.5")
    assert result.code == 2 and "--nccl-threshold 1.5: must be in (0, 1]" in result.stderr
    assert len(requests_log()) == before  # refused before any call


def test_ctrl_c_during_the_gpu_probe_removes_its_pods(ray_deployed, cloud_dir, workspace):
    import signal
    import subprocess
    import sys
    import time

    from oasis_cli.localcloud.infra import faults

    def probes() -> list[str]:
        return [
            p["metadata"]["name"]
            for p in live(cloud_dir, "Pod")
            if "verify-gpu" in p["metadata"]["name"]
        ]

    stockout = {"method": "SCALE_UP", "path": "/nodePools/", "count": -1}
    with faults.injected(Store(cloud_dir), stockout):
        child = subprocess.Popen(
            [sys.executable, "-m", "oasis_cli", "--local", "verify", "--gpus", "1"],
            cwd=workspace,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for _ in range(600):  # until the probe's pod is waiting for capacity
                if probes() or child.poll() is not None:
                    break
                time.sleep(0.05)
            assert probes(), child.communicate()
            child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=60)
        finally:
            child.kill()
    assert child.returncode == 130, err
    assert probes() == []


def test_new_gpu_nodes_are_waited_for_until_the_installer_has_put_gib_on_them(
    ray_deployed, oasis, monkeypatch
):
    # with time in the local cloud, a node's installer pod is Ready a while after the
    # probe's pod runs on it (its init container copies gIB first), as on GKE
    monkeypatch.setenv("OASIS_LOCAL_LATENCY_SCALE", "0.005")
    _, checks = verified(oasis, "--gpus", "1")
    assert checks["gpu capacity"]["status"] == "pass", checks["gpu capacity"]
    assert checks["gpu nodes"]["status"] == "pass", checks["gpu nodes"]
    assert checks["gpu nodes"]["seconds"] > 0  # it waited


# --- --nccl's grade -------------------------------------------------------------------


def nccl_result(nodes: int, busbw: float) -> dict[str, Any]:
    rows = [
        {"size": size, "time_us": 1.0, "algbw_gbps": busbw, "busbw_gbps": busbw}
        for size in (1 << 30, 2 << 30, 4 << 30, 8 << 30)
    ]
    return {
        "backend": "nccl",
        "nodes": nodes,
        "world_size": nodes * 8,
        "results": {"all_gather": rows, "all_reduce": rows},
    }


def test_the_expected_figure_is_the_two_node_reference_scaled_by_nccl_tests_bus_factor():
    from oasis_cli.verify.nccl import expected

    assert expected(325.0, 2, 8) == 325.0
    # f(N) = N/(N-1) * (8N-1)/8N: 2 nodes 1.875, 4 nodes 1.2917, many nodes -> 1
    assert expected(325.0, 4, 8) == pytest.approx(325.0 * (4 / 3 * 31 / 32) / 1.875)
    assert expected(325.0, 64, 8) == pytest.approx(325.0 / 1.875, rel=0.03)


@pytest.mark.parametrize(
    ("busbw", "passes", "words"),
    [
        (
            310.0,
            True,
            "all_gather busbw 310.0 GB/s at 4 GiB, 8 GiB over 2 nodes (expected 325, 95%)",
        ),
        (261.0, True, "(expected 325, 80%)"),
        (40.0, False, "below 80% of the expected 325 GB/s"),  # NCCL on TCP sockets
    ],
)
def test_nccl_is_graded_at_the_largest_sizes_against_80_percent_of_expected(busbw, passes, words):
    from oasis_cli.verify.nccl import grade
    from oasis_cli.verify.outcome import Failed

    if passes:
        detail, figures = grade(nccl_result(2, busbw), 325.0, 0.8, graded=True)
        assert words in detail and figures["all_gather_busbw_gbps"] == busbw
    else:
        with pytest.raises(Failed) as failed:
            grade(nccl_result(2, busbw), 325.0, 0.8, graded=True)
        assert words in failed.value.message and "NCCL_DEBUG" in failed.value.next_step


def test_an_unreachable_api_says_whether_your_address_is_outside_the_authorized_networks(
    ray_deployed, oasis, monkeypatch
):
    # the control plane admits the address `up` detected; the caller has moved since
    monkeypatch.setenv("OASIS_LOCAL_CALLER_IP", "198.51.100.77")
    _, checks = verified(oasis)
    api = checks["cluster api"]
    assert api["status"] == "fail"
    assert "your address 198.51.100.77/32 is outside the authorized networks (" in api["detail"]
    assert api["next"].startswith("run `oasis up` from this network")
