"""What the simulated cluster's Kubernetes API serves and rejects, through the real
kubernetes client (TLS with the CA the simulated GKE returns)."""

from __future__ import annotations

import json

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError

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


def test_an_apply_of_a_wrong_type_fails_in_the_field_managers_conversion(dynamic):
    """Apply patches are typed against the schema before anything else, and a type
    that does not fit is the field manager's 500 (apiserver structuredmerge.go)."""
    pytest.importorskip("kubernetes_validate")
    resource = dynamic.resources.get(api_version="v1", kind="Service")
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"ports": [{"name": "web", "port": "not-a-number"}]},
    }
    with pytest.raises(DynamicApiError) as caught:
        resource.server_side_apply(body=service, namespace="default", field_manager="oasis")
    assert caught.value.status == 500
    message = json.loads(caught.value.body)["message"]
    assert message.startswith(
        "failed to create typed patch object (default/bad; v1, Kind=Service): "
        '.spec.ports[name="web"].port: '
    )


def test_a_raycluster_applied_with_an_unknown_field_is_refused(dynamic):
    """kubernetes/kubernetes#105916: apply patches always error on unknown fields."""
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
    with pytest.raises(DynamicApiError) as caught:
        resource.server_side_apply(body=cluster, namespace="default", field_manager="oasis")
    assert caught.value.status == 500
    assert json.loads(caught.value.body)["message"] == (
        "failed to create typed patch object (default/bad; ray.io/v1, Kind=RayCluster): "
        ".spec.headGroupSpec.rayStartParam: field not declared in schema"
    )


def create_with(api, directive: str | None):
    """POST a ConfigMap with an unknown field, under `fieldValidation` `directive`."""
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"probe-{(directive or 'default').lower()}", "namespace": "default"},
        "data": {"a": "1"},
        "bogus": True,
    }
    query = [("fieldValidation", directive)] if directive else []
    request = api.param_serialize(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        query_params=query,
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    answer = api.call_api(*request)
    answer.read()
    return answer


@pytest.mark.parametrize(("directive", "warned"), [(None, True), ("Warn", True), ("Ignore", False)])
def test_a_create_drops_unknown_fields_and_warns_unless_told_to_ignore(api, directive, warned):
    """fieldValidation: Warn is "the default in v1.23+" (the API reference): the field
    is dropped and a `Warning:` header names it; Ignore drops it silently."""
    pytest.importorskip("kubernetes_validate")
    answer = create_with(api, directive)
    assert answer.status == 201
    stored = json.loads(answer.data)
    assert "bogus" not in stored and stored["data"] == {"a": "1"}
    warning = answer.getheader("Warning")
    assert (warning == '299 - "unknown field \\"bogus\\""') is warned


def test_a_strict_create_names_each_unknown_field_and_stores_nothing(api):
    pytest.importorskip("kubernetes_validate")
    answer = create_with(api, "Strict")
    assert answer.status == 400
    assert json.loads(answer.data)["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: '
        'strict decoding error: unknown field "bogus"'
    )
    assert k8s.CoreV1Api(api).list_namespaced_config_map("default").items == []


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
