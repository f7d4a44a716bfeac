"""IAM: service accounts, additive bindings, the secret; members oasis did not add
survive `up` and `down`."""

from __future__ import annotations

import pytest
from google.cloud import resourcemanager_v3

from oasis_cli.localcloud.cloud import LocalCloud
from oasis_cli.localcloud.gcp.projects import project_number
from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra.store import Store

from conftest import gapic, gcs

P = "oasis-local"
NUMBER = project_number(P)
CLUSTER = f"serviceAccount:oasis-cluster@{P}.iam.gserviceaccount.com"
BUILDER = f"serviceAccount:oasis-builder@{P}.iam.gserviceaccount.com"
AGENT = f"serviceAccount:service-{NUMBER}@container-engine-robot.iam.gserviceaccount.com"
RAY = (
    f"principal://iam.googleapis.com/projects/{NUMBER}/locations/global/workloadIdentityPools/"
    f"{P}.svc.id.goog/subject/ns/default/sa/oasis-ray"
)
PROJECT_PAIRS = {
    ("roles/logging.logWriter", CLUSTER),
    ("roles/monitoring.metricWriter", CLUSTER),
    ("roles/artifactregistry.reader", CLUSTER),
    ("roles/compute.networkUser", AGENT),
    ("roles/logging.logWriter", BUILDER),
    ("roles/artifactregistry.writer", BUILDER),
}
BUCKET = "oasis-local-oasis-data"
SECRET = f"projects/{NUMBER}/secrets/oasis-secrets"


def pairs(policy) -> set[tuple[str, str]]:
    return {(b["role"], m) for b in policy.get("bindings", []) for m in b["members"]}


def read_policy(cloud_dir, resource: str) -> dict:
    """The IAM policy of the project, a bucket or a secret, as its client library reads
    it (at version 3)."""
    from google.cloud import secretmanager_v1
    from google.protobuf import json_format

    with LocalCloud(cloud_dir) as cloud:
        if resource.startswith("projects/_/buckets/"):
            bucket = gcs(cloud).bucket(resource.rsplit("/", 1)[-1])
            return {"bindings": bucket.get_iam_policy(requested_policy_version=3).bindings}
        if "/secrets/" in resource:
            client = gapic(cloud, secretmanager_v1.SecretManagerServiceClient, "secretmanager")
        else:
            client = gapic(cloud, resourcemanager_v3.ProjectsClient, "cloudresourcemanager")
        return json_format.MessageToDict(client.get_iam_policy(request={"resource": resource}))


def test_service_accounts_exist_with_our_marker(deployed):
    for account in ("oasis-cluster", "oasis-builder"):
        sa = deployed[f"{account}@{P}.iam.gserviceaccount.com"]
        assert sa["description"] == "oasis-deployment=oasis"


def test_bindings_are_the_spec_ones(deployed, cloud_dir):
    assert pairs(read_policy(cloud_dir, f"projects/{P}")) == PROJECT_PAIRS
    bucket = read_policy(cloud_dir, f"projects/_/buckets/{BUCKET}")
    assert pairs(bucket) == {("roles/storage.objectUser", RAY)}
    assert pairs(read_policy(cloud_dir, SECRET)) == {("roles/secretmanager.secretAccessor", RAY)}


def test_secret_is_empty_with_automatic_replication(deployed, cloud_dir):
    secret = deployed["oasis-secrets"]
    assert secret["replication"] == {"automatic": {}}
    assert secret["labels"] == {"oasis-deployment": "oasis"}
    from google.cloud import secretmanager_v1

    with LocalCloud(cloud_dir) as cloud:
        secrets = gapic(cloud, secretmanager_v1.SecretManagerServiceClient, "secretmanager")
        assert list(secrets.list_secret_versions(parent=SECRET)) == []


@pytest.fixture
def foreign_members(cloud_dir):
    """Members someone else granted before oasis ran, one identical to one of ours."""
    with LocalCloud(cloud_dir) as cloud:
        projects = gapic(cloud, resourcemanager_v3.ProjectsClient, "cloudresourcemanager")
        policy = projects.get_iam_policy(request={"resource": f"projects/{P}"})
        policy.bindings.add(role="roles/viewer", members=["user:ada@example.com"])
        policy.bindings.add(role="roles/compute.networkUser", members=[AGENT])
        projects.set_iam_policy(request={"resource": f"projects/{P}", "policy": policy})
    return {("roles/viewer", "user:ada@example.com"), ("roles/compute.networkUser", AGENT)}


def test_members_oasis_did_not_add_survive_up_and_down(oasis, cloud_dir, foreign_members):
    assert oasis("--local", "up", "--yes").code == 0
    bucket_policy = f"projects/_/buckets/{BUCKET}"
    with LocalCloud(cloud_dir) as cloud:
        client = gcs(cloud, P)
        bucket = client.bucket(BUCKET)
        policy = bucket.get_iam_policy()
        policy["roles/storage.objectViewer"] = {"group:data@example.com"}
        bucket.set_iam_policy(policy)
    assert pairs(read_policy(cloud_dir, f"projects/{P}")) == PROJECT_PAIRS | foreign_members
    assert oasis("--local", "up", "--yes").code == 0
    assert oasis("--local", "down", "--yes").code == 0
    assert pairs(read_policy(cloud_dir, f"projects/{P}")) == foreign_members
    after = read_policy(cloud_dir, bucket_policy)
    assert pairs(after) == {("roles/storage.objectViewer", "group:data@example.com")}


def test_a_concurrent_policy_change_is_retried(oasis, cloud_dir):
    faults.add(
        Store(cloud_dir),
        {
            "action": "error",
            "status": 409,
            "path": ":setIamPolicy$",
            "message": "There were concurrent policy changes.",
            "count": 2,
        },
    )
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    assert pairs(read_policy(cloud_dir, f"projects/{P}")) == PROJECT_PAIRS
