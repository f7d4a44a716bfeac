"""GKE's verdicts on the objects `ray deploy` applies: a ComputeClass's Health and the
network objects' Ready, reported in status as GKE's controllers report them (not
refused at admission), and `ray deploy` waiting for them and failing with GKE's
reason when they are False."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.dynamic import DynamicClient

from oasis_cli.localcloud.cloud import LocalCloud
from oasis_cli.localcloud.infra.store import Store

from conftest import CLUSTER, kube_api, kube_objects


@pytest.fixture
def dynamic(deployed, cloud_dir, tmp_path):
    with LocalCloud(cloud_dir) as cloud:
        yield DynamicClient(kube_api(cloud, tmp_path), cache_file=str(tmp_path / "d.json"))


def applied(dynamic: DynamicClient, obj: dict[str, Any]) -> Any:
    resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    resource.server_side_apply(body=obj, field_manager="test")
    return resource.get(name=obj["metadata"]["name"])  # a later request: controllers ran


def conditions(obj: Any) -> dict[str, tuple[str, str, str]]:
    return {
        c["type"]: (c["status"], c["reason"], c.get("message", ""))
        for c in obj.to_dict().get("status", {}).get("conditions", [])
    }


def compute_class(*rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "cloud.google.com/v1",
        "kind": "ComputeClass",
        "metadata": {"name": "h200-ccc"},
        "spec": {"nodePoolAutoCreation": {"enabled": False}, "priorities": list(rules)},
    }


def test_a_class_naming_its_labelled_pools_is_healthy(dynamic):
    found = applied(dynamic, compute_class({"nodepools": ["oasis-h200-spot"]}))
    assert conditions(found)["Health"] == ("True", "Health", "Crd is healthy.")


def test_a_rule_with_nodepools_and_another_field_is_accepted_then_reported_unhealthy(dynamic):
    found = applied(dynamic, compute_class({"nodepools": ["oasis-h200-spot"], "spot": True}))
    status, reason, message = conditions(found)["Health"]
    assert (status, reason) == ("False", "InvalidPriorities")
    assert "priorities[0]" in message and "spot" in message


def test_a_pool_without_the_class_label_makes_the_class_unhealthy(dynamic, cloud_dir):
    with Store(cloud_dir).transaction() as world:
        pools = world["container"]["clusters"][CLUSTER]["nodePools"]
        spot = next(p for p in pools if p["name"] == "oasis-h200-spot")
        spot["config"]["labels"].pop("cloud.google.com/compute-class")
    found = applied(dynamic, compute_class({"nodepools": ["oasis-h200-spot"]}))
    assert conditions(found)["Health"] == (
        "False",
        "NodepoolMisconfigured",
        "Crd label doesn't match Crd name for the nodepool oasis-h200-spot",
    )


def params(name: str, vpc: str, subnet: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.gke.io/v1",
        "kind": "GKENetworkParamSet",
        "metadata": {"name": name},
        "spec": {"vpc": vpc, "vpcSubnet": subnet, "deviceMode": "RDMA"},
    }


def network(name: str) -> dict[str, Any]:
    ref = {"group": "networking.gke.io", "kind": "GKENetworkParamSet", "name": name}
    return {
        "apiVersion": "networking.gke.io/v1",
        "kind": "Network",
        "metadata": {"name": name},
        "spec": {"type": "Device", "parametersRef": ref},
    }


@pytest.mark.parametrize(
    ("vpc", "subnet", "expected"),
    [
        ("oasis-rdma-net", "oasis-rdma-sub-0", ("True", "GNPReady", "")),
        (
            "oasis-rdma-net",
            "no-such-sub",
            ("False", "SubnetNotFound", "subnet: no-such-sub not found in VPC: oasis-rdma-net"),
        ),
        ("no-such-net", "oasis-rdma-sub-0", ("False", "VPCNotFound", "VPC: no-such-net not found")),
        (
            "oasis-mgmt-net",
            "oasis-mgmt-sub",
            (
                "False",
                "DeviceModeCantUseDefaultVPC",
                "GNP with deviceMode can't reference the default VPC",
            ),
        ),
    ],
)
def test_a_param_set_is_ready_only_when_its_vpc_and_subnet_exist(dynamic, vpc, subnet, expected):
    found = applied(dynamic, params("probe", vpc, subnet))
    assert conditions(found)["Ready"] == expected


def test_a_network_is_ready_when_its_params_are(dynamic):
    applied(dynamic, params("good", "oasis-rdma-net", "oasis-rdma-sub-1"))
    applied(dynamic, params("bad", "oasis-rdma-net", "missing"))
    applied(dynamic, network("good"))
    applied(dynamic, network("bad"))
    resource = dynamic.resources.get(api_version="networking.gke.io/v1", kind="Network")
    good, bad = (conditions(resource.get(name=n)) for n in ("good", "bad"))
    assert good["ParamsReady"][:2] == ("True", "GNPParamsReady") and good["Ready"][0] == "True"
    assert bad["ParamsReady"][:2] == ("False", "GNPParamsNotReady") and bad["Ready"][0] == "False"


def test_ray_deploy_leaves_a_healthy_class_and_ready_networks(ray_deployed, cloud_dir):
    objects = kube_objects(cloud_dir)
    health = [
        c["status"]
        for o in objects
        if o["kind"] == "ComputeClass"
        for c in o["status"]["conditions"]
        if c["type"] == "Health"
    ]
    assert health == ["True"]
    ready = [
        c["status"]
        for o in objects
        if o["kind"] in ("GKENetworkParamSet", "Network")
        for c in o["status"]["conditions"]
        if c["type"] == "Ready"
    ]
    assert ready == ["True"] * 18


def test_ray_deploy_fails_with_gkes_reason_when_the_class_is_unhealthy(
    ray_deployed, oasis, cloud_dir, ledger
):
    with Store(cloud_dir).transaction() as world:
        pools = world["container"]["clusters"][CLUSTER]["nodePools"]
        next(p for p in pools if p["name"] == "oasis-h200-flex")["config"]["labels"].clear()
    result = oasis("--local", "ray", "deploy")
    assert result.code == 1
    assert "NodepoolMisconfigured" in result.stderr
    assert "nodepool oasis-h200-flex" in result.stderr
    assert "oasis ray deploy" in result.stderr


def test_ray_deploy_fails_at_deploy_when_a_network_names_a_missing_subnet(
    ray_deployed, oasis, cloud_dir
):
    with Store(cloud_dir).transaction() as world:
        subnets = world["compute"]["subnetworks"]
        gone = next(k for k in subnets if k.endswith("/oasis-rdma-sub-3"))
        subnets.pop(gone)
    result = oasis("--local", "ray", "deploy")
    assert result.code == 1
    assert "rdma-3" in result.stderr
    assert "SubnetNotFound" in result.stderr
