"""The local cloud's non-compute services reject what Google rejects."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import resourcemanager_v3, service_usage_v1

from conftest import gapic, gcs

PROJECT = "test-project"


@pytest.fixture
def client(local_cloud):
    def make(module, name, service):
        return gapic(local_cloud, getattr(module, name), service)

    return make


@pytest.fixture
def usage(client):
    return client(service_usage_v1, "ServiceUsageClient", "serviceusage")


@pytest.fixture
def projects(client):
    return client(resourcemanager_v3, "ProjectsClient", "cloudresourcemanager")


def test_batch_enable_then_batch_get(usage):
    parent = "projects/fresh-project"  # the test projects have their APIs enabled
    names = [f"{parent}/services/compute.googleapis.com", f"{parent}/services/iam.googleapis.com"]
    before = usage.batch_get_services(request={"parent": parent, "names": names})
    assert {s.state for s in before.services} == {service_usage_v1.State.DISABLED}
    operation = usage.batch_enable_services(
        request={"parent": parent, "service_ids": ["compute.googleapis.com"]}
    )
    assert operation.result(timeout=5).services[0].config.name == "compute.googleapis.com"
    after = usage.batch_get_services(request={"parent": parent, "names": names})
    assert [s.state.name for s in after.services] == ["ENABLED", "DISABLED"]


def test_unknown_service_name_is_refused(usage):
    with pytest.raises(exceptions.Forbidden, match="computer"):
        usage.batch_enable_services(
            request={"parent": f"projects/{PROJECT}", "service_ids": ["computer"]}
        )


def test_more_than_twenty_services_in_one_batch_is_refused(usage):
    ids = [f"api{i}.googleapis.com" for i in range(21)]
    with pytest.raises(exceptions.BadRequest, match="between 1 and 20"):
        usage.batch_enable_services(request={"parent": f"projects/{PROJECT}", "service_ids": ids})


def test_project_number_is_stable(projects):
    first = projects.get_project(name=f"projects/{PROJECT}")
    assert first.project_id == PROJECT
    assert first.name.removeprefix("projects/").isdigit()
    assert projects.get_project(name=f"projects/{PROJECT}").name == first.name


def test_set_iam_policy_with_stale_etag_is_aborted(projects):
    resource = f"projects/{PROJECT}"
    policy = projects.get_iam_policy(request={"resource": resource})
    policy.bindings.add(role="roles/viewer", members=["user:ada@example.com"])
    updated = projects.set_iam_policy(request={"resource": resource, "policy": policy})
    assert updated.etag != policy.etag
    with pytest.raises(exceptions.Conflict, match="concurrent policy changes"):
        projects.set_iam_policy(request={"resource": resource, "policy": policy})


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("ada@example.com", "Invalid member"),
        (f"serviceAccount:ghost@{PROJECT}.iam.gserviceaccount.com", "does not exist"),
    ],
)
def test_bad_members_are_refused(projects, member, message):
    resource = f"projects/{PROJECT}"
    policy = projects.get_iam_policy(request={"resource": resource})
    policy.bindings.add(role="roles/viewer", members=[member])
    with pytest.raises(exceptions.BadRequest, match=message):
        projects.set_iam_policy(request={"resource": resource, "policy": policy})


@pytest.fixture
def storage_client(local_cloud):
    def make(project=PROJECT):
        return gcs(local_cloud, project)

    return make


def test_non_empty_bucket_cannot_be_deleted(storage_client):
    bucket = storage_client().create_bucket("data-bucket", location="us-south1")
    bucket.blob("a/b.txt").upload_from_string(b"x")
    with pytest.raises(exceptions.Conflict, match="not empty"):
        bucket.delete()
    bucket.blob("a/b.txt").delete()
    bucket.delete()
    assert storage_client().lookup_bucket("data-bucket") is None


def test_bucket_names_are_global(storage_client):
    storage_client().create_bucket("taken-bucket", location="us-south1")
    with pytest.raises(exceptions.Conflict, match="not available"):
        storage_client("other-project").create_bucket("taken-bucket", location="us-south1")


@pytest.mark.parametrize(("name", "location"), [("Bad_Bucket", "us-south1"), ("ok-bucket", "mars")])
def test_bad_bucket_name_or_location_is_refused(storage_client, name, location):
    with pytest.raises(exceptions.BadRequest):
        storage_client().create_bucket(name, location=location)


def test_bucket_iam_with_stale_etag_fails_precondition(storage_client):
    bucket = storage_client().create_bucket("iam-bucket", location="us-south1")
    stale = bucket.get_iam_policy()
    fresh = bucket.get_iam_policy()
    fresh["roles/storage.objectViewer"] = {"user:ada@example.com"}
    bucket.set_iam_policy(fresh)
    stale["roles/storage.objectViewer"] = {"user:bob@example.com"}
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.set_iam_policy(stale)
    assert bucket.get_iam_policy()["roles/storage.objectViewer"] == {"user:ada@example.com"}


def test_an_attestor_needs_its_note_and_a_free_id(client):
    from google.cloud import binaryauthorization_v1

    binauthz = client(
        binaryauthorization_v1, "BinauthzManagementServiceV1Client", "binaryauthorization"
    )
    parent = f"projects/{PROJECT}"
    with pytest.raises(exceptions.BadRequest, match="noteReference"):
        binauthz.create_attestor(parent=parent, attestor_id="a1", attestor={})
    note = {"user_owned_grafeas_note": {"note_reference": f"{parent}/notes/n"}}
    binauthz.create_attestor(parent=parent, attestor_id="a1", attestor=note)
    with pytest.raises(exceptions.Conflict, match="already exists"):
        binauthz.create_attestor(parent=parent, attestor_id="a1", attestor=note)
    assert binauthz.get_attestor(name=f"{parent}/attestors/a1").name == f"{parent}/attestors/a1"


def test_a_call_to_an_api_the_project_has_not_enabled_is_service_disabled(client, usage):
    """403 with an ErrorInfo of reason SERVICE_DISABLED, as Google's error model has it,
    until Service Usage has enabled the API (then the same call is served)."""
    from google.cloud import compute_v1

    networks = client(compute_v1, "NetworksClient", "compute")
    network = {"name": "net", "auto_create_subnetworks": False}
    with pytest.raises(exceptions.Forbidden) as refused:
        networks.insert(project="fresh-project", network_resource=network)
    assert refused.value.reason == "SERVICE_DISABLED"
    assert refused.value.metadata["service"] == "compute.googleapis.com"
    assert "Compute Engine API has not been used in project" in refused.value.message
    usage.batch_enable_services(
        request={"parent": "projects/fresh-project", "service_ids": ["compute.googleapis.com"]}
    ).result()
    networks.insert(project="fresh-project", network_resource=network).result()
