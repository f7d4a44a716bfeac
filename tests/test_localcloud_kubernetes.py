"""What the simulated cluster's Kubernetes API serves and rejects, through the real
kubernetes client (TLS with the CA the simulated GKE returns)."""

from __future__ import annotations

import json

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from oasis_cli.localcloud.cloud import LocalCloud
from oasis_cli.localcloud.infra.store import Store

from conftest import kube_api

CLUSTER = "projects/oasis-local/locations/us-south1/clusters/oasis-h200"
SA = {
    "apiVersion": "v1",
    "kind": "ServiceAccount",
    "metadata": {"name": "probe", "namespace": "default"},
}


@pytest.fixture
def cloud(deployed, cloud_dir):
    with LocalCloud(cloud_dir) as running:
        yield running


def api_client(cloud, tmp_path, token: str | None = "t") -> k8s.ApiClient:
    return kube_api(cloud, tmp_path, token)


@pytest.fixture
def api(cloud, tmp_path):
    return api_client(cloud, tmp_path)


@pytest.fixture
def dynamic(api, tmp_path):
    return DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))


def test_the_endpoint_is_https_with_the_clusters_ca(api):
    assert k8s.VersionApi(api).get_code().git_version.startswith("v1.")


def test_no_token_is_unauthorized(cloud, tmp_path):
    with pytest.raises(k8s.ApiException) as caught:
        k8s.CoreV1Api(api_client(cloud, tmp_path, token=None)).list_namespace()
    assert caught.value.status == 401


def test_apply_creates_with_201_then_is_idempotent(dynamic):
    resource = dynamic.resources.get(api_version="v1", kind="ServiceAccount")
    first = resource.server_side_apply(body=SA, namespace="default", field_manager="oasis")
    again = resource.server_side_apply(body=SA, namespace="default", field_manager="oasis")
    assert first.metadata.resourceVersion == again.metadata.resourceVersion


def test_apply_without_a_field_manager_is_invalid(api):
    import json

    import requests

    configuration = api.configuration
    answer = requests.patch(
        f"{configuration.host}/api/v1/namespaces/default/serviceaccounts/probe",
        data=json.dumps(SA),
        headers={"Content-Type": "application/apply-patch+yaml", "Authorization": "Bearer t"},
        verify=configuration.ssl_ca_cert,
        timeout=10,
    )
    assert answer.status_code == 422
    assert answer.json()["kind"] == "Status" and "fieldManager" in answer.json()["message"]


def test_create_twice_is_a_conflict_and_an_unknown_namespace_is_not_found(api):
    core = k8s.CoreV1Api(api)
    core.create_namespaced_service_account("default", SA)
    with pytest.raises(k8s.ApiException) as caught:
        core.create_namespaced_service_account("default", SA)
    assert caught.value.status == 409
    with pytest.raises(k8s.ApiException) as caught:
        core.create_namespaced_service_account("nowhere", {**SA, "metadata": {"name": "x"}})
    assert caught.value.status == 404


def test_kinds_follow_the_clusters_features(dynamic, cloud_dir, tmp_path, cloud):
    assert dynamic.resources.get(api_version="ray.io/v1", kind="RayCluster").namespaced
    assert not dynamic.resources.get(api_version="networking.gke.io/v1", kind="Network").namespaced
    with pytest.raises(ResourceNotFoundError):
        dynamic.resources.get(api_version="example.com/v1", kind="Widget")
    with Store(cloud_dir).transaction() as world:
        world["container"]["clusters"][CLUSTER]["addonsConfig"]["rayOperatorConfig"]["enabled"] = (
            False
        )
    fresh = DynamicClient(api_client(cloud, tmp_path), cache_file=str(tmp_path / "fresh.json"))
    with pytest.raises(ResourceNotFoundError):
        fresh.resources.get(api_version="ray.io/v1", kind="RayCluster")


def test_an_invalid_built_in_object_is_rejected(dynamic):
    pytest.importorskip("kubernetes_validate")
    resource = dynamic.resources.get(api_version="v1", kind="Service")
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"ports": [{"port": "not-a-number"}]},
    }
    with pytest.raises(Exception) as caught:
        resource.server_side_apply(body=service, namespace="default", field_manager="oasis")
    assert "422" in str(caught.value) or "invalid" in str(caught.value).lower()


def test_a_raycluster_with_an_unknown_field_is_rejected(dynamic, monkeypatch):
    from conftest import KUBERAY_CRD

    if not KUBERAY_CRD.is_file():
        pytest.skip(f"KubeRay CRD not found at {KUBERAY_CRD}")
    resource = dynamic.resources.get(api_version="ray.io/v1", kind="RayCluster")
    cluster = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"headGroupSpec": {"rayStartParam": {}, "template": {"spec": {"containers": []}}}},
    }
    with pytest.raises(Exception) as caught:
        resource.server_side_apply(body=cluster, namespace="default", field_manager="oasis")
    assert "422" in str(caught.value)


def test_watch_streams_changes(api):
    core = k8s.CoreV1Api(api)
    core.create_namespaced_service_account("default", SA)
    events = list(
        watch.Watch().stream(core.list_namespaced_service_account, "default", timeout_seconds=1)
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "probe")]


def two_container_pod(api) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "two"},
        "spec": {"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]},
    }
    k8s.CoreV1Api(api).create_namespaced_pod("default", pod)
    return "two"


@pytest.mark.parametrize(
    ("container", "message"),
    [
        (None, "a container name must be specified for pod two, choose one of: [a b]"),
        ("c", "container c is not valid for pod two"),
    ],
)
def test_a_pods_log_needs_one_of_its_containers(api, container, message):
    core = k8s.CoreV1Api(api)
    name = two_container_pod(api)
    with pytest.raises(k8s.ApiException) as caught:
        core.read_namespaced_pod_log(
            name, "default", **({"container": container} if container else {})
        )
    assert caught.value.status == 400 and message in caught.value.body
    assert core.read_namespaced_pod_log(name, "default", container="a") == ""


def test_a_table_is_served_only_to_who_asks_for_one(api):
    core = k8s.CoreV1Api(api)
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    client = core.api_client
    headers = {"Accept": accept, "Authorization": client.configuration.api_key["authorization"]}
    answer = client.call_api("GET", f"{client.configuration.host}/api/v1/namespaces", headers)
    answer.read()
    table = json.loads(answer.data)
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Age"]
    assert {row["cells"][0] for row in table["rows"]} >= {"default", "kube-system"}
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert core.list_namespace().kind == "NamespaceList"  # plain JSON without the ask
