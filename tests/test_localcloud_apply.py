"""Server-side apply in the simulated cluster, as the API server does it: managed
fields per manager, conflicts answered 409 unless forced, fields a manager stops
applying removed unless another owns them (through the real kubernetes client)."""

from __future__ import annotations

import json

import pytest
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ConflictError

from oasis_cli.localcloud.cloud import LocalCloud

from conftest import kube_api


@pytest.fixture
def configmaps(deployed, cloud_dir, tmp_path):
    with LocalCloud(cloud_dir) as cloud:
        api = kube_api(cloud, tmp_path)
        dynamic = DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
        yield dynamic.resources.get(api_version="v1", kind="ConfigMap")
        api.close()


def configmap(labels: dict[str, str], data: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default", "labels": labels},
        "data": data,
    }


def apply(resource, body: dict, manager: str, force: bool = False) -> dict:
    return resource.server_side_apply(
        body=body, namespace="default", field_manager=manager, force_conflicts=force
    ).to_dict()


def managers(obj: dict) -> dict[str, dict]:
    return {e["manager"]: e["fieldsV1"] for e in obj["metadata"]["managedFields"]}


def test_another_managers_different_value_is_a_conflict_and_changes_nothing(configmaps):
    apply(configmaps, configmap({"owner": "oasis"}, {"mode": "train"}), "oasis")
    with pytest.raises(ConflictError) as raised:
        apply(configmaps, configmap({"owner": "someone-else"}, {"mode": "train"}), "kubectl")
    status = json.loads(raised.value.body)
    assert status["reason"] == "Conflict" and status["code"] == 409
    assert status["message"] == (
        'Apply failed with 1 conflict: conflict with "oasis": .metadata.labels.owner'
    )
    assert status["details"]["causes"] == [
        {
            "type": "FieldManagerConflict",
            "message": 'conflict with "oasis"',
            "field": ".metadata.labels.owner",
        }
    ]
    live = configmaps.get(name="settings", namespace="default").to_dict()
    assert live["metadata"]["labels"] == {"owner": "oasis"}  # nothing was replaced
    assert list(managers(live)) == ["oasis"]


def test_two_conflicts_are_listed_by_manager(configmaps):
    apply(configmaps, configmap({"owner": "oasis"}, {"mode": "train"}), "oasis")
    with pytest.raises(ConflictError) as raised:
        apply(configmaps, configmap({"owner": "x"}, {"mode": "serve"}), "kubectl")
    assert json.loads(raised.value.body)["message"] == (
        'Apply failed with 2 conflicts: conflicts with "oasis":\n'
        "- .data.mode\n- .metadata.labels.owner"
    )


def test_a_forced_apply_takes_the_field_over_and_leaves_the_rest(configmaps):
    apply(configmaps, configmap({"owner": "oasis", "tier": "gpu"}, {"mode": "train"}), "oasis")
    taken = apply(configmaps, configmap({"owner": "ops"}, {}), "kubectl", force=True)
    assert taken["metadata"]["labels"] == {"owner": "ops", "tier": "gpu"}
    assert taken["data"] == {"mode": "train"}
    fields = managers(taken)
    assert fields["kubectl"]["f:metadata"]["f:labels"] == {"f:owner": {}}
    assert "f:owner" not in fields["oasis"]["f:metadata"]["f:labels"]


def test_the_same_value_is_shared_not_a_conflict(configmaps):
    apply(configmaps, configmap({"owner": "oasis"}, {"mode": "train"}), "oasis")
    shared = apply(configmaps, configmap({"owner": "oasis"}, {}), "kubectl")
    assert {m: f["f:metadata"]["f:labels"] for m, f in managers(shared).items()} == {
        "oasis": {"f:owner": {}},
        "kubectl": {"f:owner": {}},
    }


def test_a_field_no_longer_applied_goes_unless_another_manager_owns_it(configmaps):
    apply(configmaps, configmap({"owner": "oasis"}, {"mode": "train", "size": "8"}), "oasis")
    apply(configmaps, configmap({}, {"size": "8"}), "kubectl")  # co-owns data.size
    after = apply(configmaps, configmap({"owner": "oasis"}, {}), "oasis")
    assert after["data"] == {"size": "8"}  # mode went; size stays, kubectl owns it too
    assert after["metadata"]["labels"] == {"owner": "oasis"}


def test_a_keyed_list_item_is_owned_by_its_name(deployed, cloud_dir, tmp_path):
    with LocalCloud(cloud_dir) as cloud:
        api = kube_api(cloud, tmp_path)
        dynamic = DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
        services = dynamic.resources.get(api_version="v1", kind="Service")
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "probe", "namespace": "default"},
            "spec": {"ports": [{"name": "web", "port": 80, "targetPort": 8080}]},
        }
        apply(services, service, "oasis")
        service["spec"]["ports"] = [{"name": "metrics", "port": 9090}]
        both = apply(services, service, "kubectl")
        api.close()
    assert [p["name"] for p in both["spec"]["ports"]] == ["web", "metrics"]
    assert both["spec"]["clusterIP"]  # the server's field stays
    assert 'k:{"name":"web"}' in managers(both)["oasis"]["f:spec"]["f:ports"]


def test_a_strategic_merge_patch_merges_named_items_and_a_null_deletes(configmaps, tmp_path):
    services = configmaps.client.resources.get(api_version="v1", kind="Service")
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "probe", "namespace": "default", "labels": {"a": "1", "b": "2"}},
        "spec": {"ports": [{"name": "web", "port": 80}, {"name": "metrics", "port": 9090}]},
    }
    apply(services, service, "oasis")
    patch = {
        "metadata": {"labels": {"b": None, "c": "3"}},
        "spec": {"ports": [{"name": "web", "port": 8080}, {"name": "metrics", "$patch": "delete"}]},
    }
    after = services.patch(
        body=patch,
        name="probe",
        namespace="default",
        content_type="application/strategic-merge-patch+json",
        field_manager="kubectl-edit",
    ).to_dict()
    assert after["metadata"]["labels"] == {"a": "1", "c": "3"}
    assert [(p["name"], p["port"]) for p in after["spec"]["ports"]] == [("web", 8080)]
    fields = managers(after)
    assert fields["kubectl-edit"]["f:metadata"]["f:labels"] == {"f:c": {}}  # what it changed
    assert "f:b" not in fields["oasis"]["f:metadata"]["f:labels"]


def test_a_custom_resource_takes_a_merge_patch_but_no_strategic_one(
    ray_deployed, cloud_dir, tmp_path
):
    from kubernetes.dynamic.exceptions import DynamicApiError

    with LocalCloud(cloud_dir) as cloud:
        api = kube_api(cloud, tmp_path)
        dynamic = DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
        rayclusters = dynamic.resources.get(api_version="ray.io/v1", kind="RayCluster")
        where = {"name": "ray-cluster-ccc", "namespace": "default"}
        note = {"metadata": {"annotations": {"note": "hi"}}}
        merged = rayclusters.patch(
            body=note, content_type="application/merge-patch+json", **where
        ).to_dict()
        with pytest.raises(DynamicApiError) as raised:
            rayclusters.patch(
                body=note, content_type="application/strategic-merge-patch+json", **where
            )
        api.close()
    assert merged["metadata"]["annotations"]["note"] == "hi"
    assert raised.value.status == 415
    assert "application/merge-patch+json" in json.loads(raised.value.body)["message"]
