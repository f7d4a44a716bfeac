"""The simulated cluster autoscaler and scheduler, driven through the kubernetes
client as a user's workload would be: GPU pods select the ComputeClass, the
autoscaler walks its rules within each pool's limits, DaemonSets follow the nodes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oasis_cli.localcloud.infra.store import Store

from conftest import CLUSTER, kube_api


def gpu_pod(name: str, tolerate: bool = True, gpus: int = 8) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"cloud.google.com/compute-class": "h200-ccc"},
            "tolerations": [{"operator": "Exists"}] if tolerate else [],
            "containers": [
                {"name": "t", "image": "t", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}
            ],
        },
    }


@contextlib.contextmanager
def core(cloud_dir: Path) -> Iterator[Any]:
    from kubernetes import client as k8s

    from oasis_cli.localcloud.cloud import LocalCloud

    with LocalCloud(cloud_dir) as cloud:
        yield k8s.CoreV1Api(kube_api(cloud, cloud_dir))


def settle(api: Any, times: int = 4) -> None:
    """Let the controllers run a few loops (each request runs them once)."""
    for _ in range(times):
        api.list_node()


def events(api: Any, pod: str) -> list[tuple[str, str]]:
    found = api.list_namespaced_event("default").items
    return [(e.reason, e.message) for e in found if e.involved_object.name == pod]


def set_max(cloud_dir: Path, **most: int) -> None:
    with Store(cloud_dir).transaction() as world:
        for pool in world["container"]["clusters"][CLUSTER]["nodePools"]:
            limit = most.get(pool["name"].removeprefix("oasis-h200-"))
            if limit is not None:
                key = (
                    "totalMaxNodeCount"
                    if "totalMaxNodeCount" in pool["autoscaling"]
                    else "maxNodeCount"
                )
                pool["autoscaling"][key] = limit


def test_a_gpu_node_is_labelled_tainted_and_offers_its_gpus_as_gke_registers_it(
    ray_deployed, cloud_dir
):
    with core(cloud_dir) as api:
        api.create_namespaced_pod("default", gpu_pod("a"))
        settle(api)
        pod = api.read_namespaced_pod("a", "default")
        node = api.read_node(pod.spec.node_name)
    labels = node.metadata.labels
    assert labels["cloud.google.com/gke-nodepool"] == "oasis-h200-spot"
    assert labels["cloud.google.com/gke-spot"] == "true"
    assert labels["cloud.google.com/gke-accelerator"] == "nvidia-h200-141gb"
    assert node.status.allocatable["nvidia.com/gpu"] == "8"
    assert {(t.key, t.effect) for t in node.spec.taints} == {
        ("cloud.google.com/compute-class", "NoSchedule"),
        ("nvidia.com/gpu", "NoSchedule"),
    }
    assert pod.status.phase == "Running"
    assert node.metadata.annotations["networking.gke.io/north-interfaces"].count('"network"') == 9


def test_a_pod_that_does_not_tolerate_the_pools_taints_triggers_no_scale_up(
    ray_deployed, cloud_dir
):
    with core(cloud_dir) as api:
        api.create_namespaced_pod("default", gpu_pod("untolerated", tolerate=False))
        settle(api)
        pod = api.read_namespaced_pod("untolerated", "default")
        said = events(api, "untolerated")
    assert pod.spec.node_name is None
    assert said == [
        (
            "NotTriggerScaleUp",
            "pod didn't trigger scale-up: 2 node(s) didn't match the pod's requirements",
        )
    ]


def test_each_pool_scales_within_its_limit_then_the_next_rule_serves(ray_deployed, cloud_dir):
    set_max(cloud_dir, spot=1, flex=1)
    with core(cloud_dir) as api:
        for name in ("one", "two", "three"):
            api.create_namespaced_pod("default", gpu_pod(name))
            settle(api)
        placed = {
            name: api.read_namespaced_pod(name, "default").spec.node_name
            for name in ("one", "two", "three")
        }
        said = events(api, "three")
    assert "-oasis-h200-spot-" in placed["one"] and "-oasis-h200-flex-" in placed["two"]
    assert placed["three"] is None
    assert (
        "NotTriggerScaleUp",
        "pod didn't trigger scale-up: 2 max node group size reached",
    ) in said


def test_the_installer_runs_one_ready_pod_per_gpu_node_and_its_status_counts_them(
    ray_deployed, cloud_dir
):
    from kubernetes import client as k8s

    from oasis_cli.localcloud.cloud import LocalCloud

    with LocalCloud(cloud_dir) as cloud:
        api = kube_api(cloud, cloud_dir)
        core_api, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
        for name in ("a", "b"):
            core_api.create_namespaced_pod("default", gpu_pod(name))
        settle(core_api, 6)
        gpu_nodes = {core_api.read_namespaced_pod(n, "default").spec.node_name for n in "ab"}
        installers = core_api.list_namespaced_pod(
            "kube-system", label_selector="k8s-app=nccl-rdma-installer"
        ).items
        status = apps.read_namespaced_daemon_set("nccl-rdma-installer", "kube-system").status
        core_api.delete_namespaced_pod("a", "default")
        settle(core_api, 4)
        after = apps.read_namespaced_daemon_set("nccl-rdma-installer", "kube-system").status
    assert {p.spec.node_name for p in installers} == gpu_nodes and len(installers) == 2
    assert all(p.status.phase == "Running" for p in installers)
    assert (status.desired_number_scheduled, status.number_ready) == (2, 2)
    # the idle node went (latency 0), and its installer pod with it
    assert (after.desired_number_scheduled, after.number_ready) == (1, 1)


@pytest.mark.parametrize("kind", ["pod", "configmap"])
def test_delete_answers_the_object_or_a_status_as_kubernetes_declares(
    ray_deployed, cloud_dir, kind
):
    with core(cloud_dir) as api:
        if kind == "pod":
            api.create_namespaced_pod("default", gpu_pod("gone"))
            answer = api.delete_namespaced_pod("gone", "default")
            assert answer.kind == "Pod" and answer.metadata.deletion_timestamp is not None
        else:
            api.create_namespaced_config_map(
                "default", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone"}}
            )
            answer = api.delete_namespaced_config_map("gone", "default")  # a plain object
            assert (answer["kind"], answer["status"]) == ("Status", "Success")
