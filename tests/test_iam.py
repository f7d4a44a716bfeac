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
    ("roles/container.defaultNodeServiceAccount", CLUSTER),
    ("roles/artifactregistry.reader", CLUSTER),
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
        return json_format.MessageToDict(_v3(client, resource))


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
def foreign_members(apis_enabled, cloud_dir):
    """Members someone else granted before oasis ran (the GKE service agent's grant is
    one oasis used to make and no longer does: it stays)."""
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


ADA = "user:ada@example.com"
CONDITION = {
    "title": "until 2030",
    "expression": "request.time < timestamp('2030-01-01T00:00:00Z')",
}


def _project_client(cloud):
    return gapic(cloud, resourcemanager_v3.ProjectsClient, "cloudresourcemanager")


def _v3(client, resource: str):
    return client.get_iam_policy(
        request={"resource": resource, "options": {"requested_policy_version": 3}}
    )


@pytest.fixture
def conditional_project_policy(apis_enabled, cloud_dir):
    """Someone else's conditional grant of a role oasis also grants, and an audit config,
    on the project before oasis runs."""
    from google.iam.v1 import policy_pb2
    from google.type import expr_pb2

    with LocalCloud(cloud_dir) as cloud:
        projects = _project_client(cloud)
        policy = _v3(projects, f"projects/{P}")
        policy.version = 3
        policy.bindings.add(
            role="roles/artifactregistry.reader",
            members=[ADA],
            condition=expr_pb2.Expr(**CONDITION),
        )
        policy.audit_configs.append(
            policy_pb2.AuditConfig(
                service="allServices",
                audit_log_configs=[
                    policy_pb2.AuditLogConfig(log_type=policy_pb2.AuditLogConfig.DATA_READ)
                ],
            )
        )
        projects.set_iam_policy(
            request={
                "resource": f"projects/{P}",
                "policy": policy,
                "update_mask": {"paths": ["bindings", "etag", "audit_configs"]},
            }
        )


def _conditional(policy: dict) -> list[dict]:
    return [b for b in policy.get("bindings", []) if b.get("condition")]


def test_conditional_bindings_and_audit_configs_survive_up_and_down(
    oasis, cloud_dir, conditional_project_policy
):
    assert oasis("--local", "up", "--yes").code == 0
    project = read_policy(cloud_dir, f"projects/{P}")
    assert pairs({"bindings": [b for b in project["bindings"] if "condition" not in b]}) == (
        PROJECT_PAIRS
    )
    assert _conditional(project) == [
        {"role": "roles/artifactregistry.reader", "members": [ADA], "condition": CONDITION}
    ]
    with LocalCloud(cloud_dir) as cloud:
        bucket = gcs(cloud).bucket(BUCKET)
        policy = bucket.get_iam_policy(requested_policy_version=3)
        policy.version = 3
        policy.bindings.append(
            {"role": "roles/storage.objectViewer", "members": {RAY}, "condition": CONDITION}
        )
        bucket.set_iam_policy(policy)
    assert oasis("--local", "up", "--yes").code == 0
    assert oasis("--local", "down", "--yes").code == 0
    project = read_policy(cloud_dir, f"projects/{P}")
    assert [b for b in project["bindings"] if "condition" not in b] == []
    assert len(_conditional(project)) == 1
    assert project["auditConfigs"] == [
        {"service": "allServices", "auditLogConfigs": [{"logType": "DATA_READ"}]}
    ]
    kept = read_policy(cloud_dir, f"projects/_/buckets/{BUCKET}")
    assert [(b["role"], b.get("condition")) for b in kept["bindings"]] == [
        ("roles/storage.objectViewer", CONDITION)
    ]


def test_policies_with_conditions_refuse_version_1_as_iam_does(
    cloud_dir, conditional_project_policy
):
    from google.api_core import exceptions

    with LocalCloud(cloud_dir) as cloud:
        projects = _project_client(cloud)
        with pytest.raises(exceptions.BadRequest, match=r"Requested policy version \(1\)"):
            projects.get_iam_policy(request={"resource": f"projects/{P}"})
        policy = _v3(projects, f"projects/{P}")
        assert policy.version == 3
        policy.version = 1
        with pytest.raises(exceptions.BadRequest, match=r"Specified policy version \(1\)"):
            projects.set_iam_policy(request={"resource": f"projects/{P}", "policy": policy})
        policy.version = 3
        projects.set_iam_policy(request={"resource": f"projects/{P}", "policy": policy})


def _iam_admin(cloud):
    import grpc
    from google.cloud import iam_admin_v1
    from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

    channel = grpc.insecure_channel(cloud.endpoints["iam"].removeprefix("http://"))
    return iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=channel))


def test_a_new_service_account_is_not_visible_at_once_as_in_iam(apis_enabled, cloud_dir):
    """At the real latency scale an account is invisible to reads for 10 s and to
    policy writes for 60 s after its creation (IAM's eventual consistency)."""
    from google.api_core import exceptions

    with LocalCloud(cloud_dir, latency_scale=1.0) as cloud:
        admin = _iam_admin(cloud)
        email = admin.create_service_account(name=f"projects/{P}", account_id="fresh-account").email
        with pytest.raises(exceptions.NotFound):
            admin.get_service_account(name=f"projects/{P}/serviceAccounts/{email}")
        projects = _project_client(cloud)
        policy = _v3(projects, f"projects/{P}")
        policy.bindings.add(role="roles/viewer", members=[f"serviceAccount:{email}"])
        with pytest.raises(exceptions.BadRequest, match=f"Service account {email} does not exist"):
            projects.set_iam_policy(request={"resource": f"projects/{P}", "policy": policy})


def _refusal(path: str, message: str, count: int) -> dict:
    return {"action": "error", "status": 400, "path": path, "message": message, "count": count}


def test_up_retries_only_while_a_new_account_is_reported_missing(oasis, cloud_dir, requests_log):
    """What IAM and GKE answer while a just-created account propagates is retried until
    it is accepted; nothing else that is a 400 is."""
    missing = f"Service account oasis-cluster@{P}.iam.gserviceaccount.com does not exist."
    unseen = (
        f'Failed precondition: failed to check status for "oasis-cluster@{P}.iam.'
        'gserviceaccount.com"; Verify if principal exists and is valid.'
    )
    store = Store(cloud_dir)
    faults.add(store, _refusal(f"projects/{P}:setIamPolicy$", missing, 2))
    faults.add(store, _refusal("/clusters$", unseen, 1))
    faults.add(store, _refusal("/nodePools$", unseen, 2))
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    assert pairs(read_policy(cloud_dir, f"projects/{P}")) == PROJECT_PAIRS
    refused = [r["path"].rsplit("/", 1)[-1] for r in requests_log() if r["status"] == 400]
    assert sorted(refused) == sorted([f"{P}:setIamPolicy"] * 2 + ["clusters"] + ["nodePools"] * 2)


def test_another_bad_request_on_a_policy_write_is_not_retried(oasis, cloud_dir, requests_log):
    faults.add(
        Store(cloud_dir),
        _refusal(f"projects/{P}:setIamPolicy$", "Role roles/x is not supported.", 1),
    )
    result = oasis("--local", "up", "--yes")
    assert result.code != 0
    assert "Role roles/x is not supported" in result.stderr
    assert "%24alt" not in result.stderr  # the client's query noise is not the cause
    assert "iam:project: iam:project" not in result.stderr  # the resource, named once
    assert ":setIamPolicy: Role roles/x is not supported" in result.stderr
    writes = [r for r in requests_log() if r["path"].endswith(f"{P}:setIamPolicy")]
    assert [r["status"] for r in writes] == [400]


def test_down_without_the_ledger_removes_every_member_this_config_adds(
    oasis, cloud_dir, workspace, foreign_members
):
    assert oasis("--local", "up", "--yes").code == 0
    (workspace / ".oasis" / "local" / "oasis" / "ledger.json").unlink()  # the ledger is lost
    assert oasis("--local", "down", "--yes").code == 0
    assert pairs(read_policy(cloud_dir, f"projects/{P}")) == foreign_members
    assert pairs(read_policy(cloud_dir, f"projects/_/buckets/{BUCKET}")) == set()


def test_one_deployments_down_leaves_anothers_grants(oasis, cloud_dir):
    """Two deployments in one project share no member: every member oasis grants names
    the deployment's own accounts (the GKE service agent's shared grant is gone), so one
    deployment's `down` cannot take away what the other needs: beta's plan is still
    all unchanged after alpha's down."""
    alpha, beta = ("--local", "--set", "deployment=alpha"), ("--local", "--set", "deployment=beta")
    assert oasis(*alpha, "up", "--yes").code == 0
    assert oasis(*beta, "up", "--yes").code == 0
    assert oasis(*alpha, "down", "--yes").code == 0
    plan = oasis(*beta, "plan", "--output", "json").json()["plan"]
    assert {p["key"]: p["action"] for p in plan if p["key"].startswith("iam:")} == {
        "iam:project": "noop",
        "iam:bucket": "noop",
        "iam:build-bucket": "noop",
        "iam:secret": "noop",
    }
    after = pairs(read_policy(cloud_dir, f"projects/{P}"))
    assert not {m for _, m in after if "alpha-" in m}
