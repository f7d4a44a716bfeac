"""What the simulated Cloud Build, Artifact Registry and Binary Authorization reject,
called through the real client libraries against the deployed local world."""

from __future__ import annotations

import io
import tarfile
import time

import pytest
from google.api_core import exceptions
from google.cloud import artifactregistry_v1, binaryauthorization_v1
from google.cloud.devtools import cloudbuild_v1

from oasis_cli.localcloud.cloud import LocalCloud

from conftest import gapic, gcs

PARENT = "projects/oasis-local/locations/us-south1"
POOL = f"{PARENT}/workerPools/oasis-build-pool"
BUILDER = "projects/oasis-local/serviceAccounts/oasis-builder@oasis-local.iam.gserviceaccount.com"
CLUSTER_SA = "oasis-cluster@oasis-local.iam.gserviceaccount.com"
STAGING = "oasis-local-oasis-build"
IMAGE = "us-south1-docker.pkg.dev/oasis-local/oasis/probe:t1"


@pytest.fixture
def cloud(deployed, cloud_dir):
    with LocalCloud(cloud_dir) as running:
        yield running


def client(cloud, module, name, service):
    return gapic(cloud, getattr(module, name), service)


def source(cloud, files: dict[str, str]) -> dict:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    gcs(cloud).bucket(STAGING).blob("source/probe.tgz").upload_from_string(data.getvalue())
    return {"storage_source": {"bucket": STAGING, "object_": "source/probe.tgz"}}


def request(cloud, **changes) -> cloudbuild_v1.Build:
    build = {
        "source": source(
            cloud, {"Dockerfile": "FROM busybox\nCOPY app.txt /app.txt\n", "app.txt": "x"}
        ),
        "steps": [{"name": "gcr.io/cloud-builders/docker", "args": ["build", "-t", IMAGE, "."]}],
        "images": [IMAGE],
        "options": {"pool": {"name": POOL}, "logging": "GCS_ONLY"},
        "logs_bucket": f"gs://{STAGING}/logs",
        "service_account": BUILDER,
        **changes,
    }
    return cloudbuild_v1.Build(build)


def run(cloud, build: cloudbuild_v1.Build) -> cloudbuild_v1.Build:
    builds = client(cloud, cloudbuild_v1, "CloudBuildClient", "cloudbuild")
    operation = builds.create_build(parent=PARENT, build=build)
    name = operation.metadata.build.name
    for _ in range(100):
        latest = builds.get_build(name=name)
        if latest.status.name not in ("QUEUED", "WORKING"):
            return latest
        time.sleep(0.05)
    raise AssertionError("build never ended")


def rejected(cloud, build: cloudbuild_v1.Build) -> str:
    builds = client(cloud, cloudbuild_v1, "CloudBuildClient", "cloudbuild")
    with pytest.raises(exceptions.GoogleAPICallError) as caught:
        builds.create_build(parent=PARENT, build=build)
    assert caught.value.code in (400, 404)
    return caught.value.message


def test_a_valid_build_succeeds_and_its_tag_follows_the_newest_push(cloud):
    """Builds are not reproducible (real image layers carry timestamps): each push has
    its own digest, both stay in the registry, and the tag points at the newest."""
    first, second = run(cloud, request(cloud)), run(cloud, request(cloud))
    assert (first.status.name, second.status.name) == ("SUCCESS", "SUCCESS")
    digests = [build.results.images[0].digest for build in (first, second)]
    assert all(digest.startswith("sha256:") for digest in digests)
    registry = client(cloud, artifactregistry_v1, "ArtifactRegistryClient", "artifactregistry")
    package = f"{PARENT}/repositories/oasis/packages/probe"
    pushed = {
        image.uri.rpartition("@")[2]
        for image in registry.list_docker_images(parent=f"{PARENT}/repositories/oasis")
    }
    assert set(digests) <= pushed
    assert registry.get_tag(name=f"{package}/tags/t1").version.endswith(digests[1])


def test_an_undefined_substitution_is_rejected(cloud):
    steps = [{"name": "gcr.io/cloud-builders/docker", "args": ["build", "-t", "${_NOPE}", "."]}]
    assert '"_NOPE" is not a valid built-in substitution' in rejected(
        cloud, request(cloud, steps=steps)
    )


def test_an_unused_substitution_is_rejected(cloud):
    message = rejected(cloud, request(cloud, substitutions={"_EXTRA": "1"}))
    assert '"_EXTRA" in the substitution data is not matched' in message


def test_a_lowercase_substitution_key_is_rejected(cloud):
    assert "must start with an underscore" in rejected(
        cloud, request(cloud, substitutions={"_bad": "1"})
    )


def test_a_step_without_a_builder_is_rejected(cloud):
    assert "build step 0 must specify name" in rejected(
        cloud, request(cloud, steps=[{"args": ["build", "."]}])
    )


def test_a_service_account_without_a_logs_bucket_is_rejected(cloud):
    build = request(cloud, logs_bucket="", options={"pool": {"name": POOL}})
    assert "if 'build.service_account' is specified" in rejected(cloud, build)


def test_a_pool_in_another_region_is_rejected(cloud):
    other = "projects/oasis-local/locations/us-east1/workerPools/oasis-build-pool"
    build = request(cloud, options={"pool": {"name": other}, "logging": "GCS_ONLY"})
    assert "is in us-east1" in rejected(cloud, build)


def test_an_image_no_step_built_fails_the_push(cloud):
    other = "us-south1-docker.pkg.dev/oasis-local/oasis/other:t1"
    done = run(cloud, request(cloud, images=[other]))
    assert done.status.name == "FAILURE"
    assert "failed to find one or more images" in done.failure_info.detail


def test_a_copy_of_a_file_not_uploaded_fails_the_step(cloud):
    build = request(cloud)
    build.source = cloudbuild_v1.Source(
        source(cloud, {"Dockerfile": "FROM busybox\nCOPY app.txt /\n"})
    )
    done = run(cloud, build)
    assert done.status.name == "FAILURE"
    assert "build step 0" in done.failure_info.detail


def test_a_base_image_digest_missing_from_the_registry_fails_the_step(cloud):
    missing = "us-south1-docker.pkg.dev/oasis-local/oasis/ray-base@sha256:" + "0" * 64
    build = request(cloud)
    build.source = cloudbuild_v1.Source(source(cloud, {"Dockerfile": f"FROM {missing}\n"}))
    assert run(cloud, build).status.name == "FAILURE"


def cluster_account_build(cloud) -> cloudbuild_v1.Build:
    account = f"projects/oasis-local/serviceAccounts/{CLUSTER_SA}"
    options = {"pool": {"name": POOL}, "logging": "CLOUD_LOGGING_ONLY"}
    return request(cloud, service_account=account, logs_bucket="", options=options)


def test_an_account_that_cannot_read_the_source_fails_to_fetch_it(cloud):
    done = run(cloud, cluster_account_build(cloud))
    assert done.status.name == "FAILURE"
    assert "failed to fetch source" in done.failure_info.detail


def test_an_account_that_is_only_a_registry_reader_cannot_push(cloud):
    bucket = gcs(cloud).bucket(STAGING)
    policy = bucket.get_iam_policy()
    policy.bindings.append(
        {"role": "roles/storage.objectViewer", "members": {f"serviceAccount:{CLUSTER_SA}"}}
    )
    bucket.set_iam_policy(policy)
    done = run(cloud, cluster_account_build(cloud))
    assert done.status.name == "FAILURE"
    assert "uploadArtifacts" in done.failure_info.detail


def test_a_cancelled_build_ends_cancelled(deployed, cloud_dir):
    with LocalCloud(cloud_dir, latency_scale=1.0) as cloud:  # a build that takes minutes
        builds = client(cloud, cloudbuild_v1, "CloudBuildClient", "cloudbuild")
        name = builds.create_build(parent=PARENT, build=request(cloud)).metadata.build.name
        assert builds.get_build(name=name).status.name in ("QUEUED", "WORKING")
        cancelled = builds.cancel_build(request={"name": name})
        assert cancelled.status.name == "CANCELLED"
        assert builds.get_build(name=name).status.name == "CANCELLED"


def test_binauthz_rejects_an_unknown_attestor_and_a_bad_cluster_key(cloud):
    authz = client(
        cloud, binaryauthorization_v1, "BinauthzManagementServiceV1Client", "binaryauthorization"
    )
    policy = authz.get_policy(name="projects/oasis-local/policy")
    assert policy.default_admission_rule.evaluation_mode.name == "ALWAYS_ALLOW"
    policy.cluster_admission_rules["us-south1.c"] = binaryauthorization_v1.AdmissionRule(
        evaluation_mode="REQUIRE_ATTESTATION",
        enforcement_mode="DRYRUN_AUDIT_LOG_ONLY",
        require_attestations_by=["projects/oasis-local/attestors/nobody"],
    )
    with pytest.raises(exceptions.BadRequest, match="does not exist"):
        authz.update_policy(policy=policy)
    policy.cluster_admission_rules.clear()
    policy.cluster_admission_rules["no-dot"] = binaryauthorization_v1.AdmissionRule(
        evaluation_mode="ALWAYS_ALLOW", enforcement_mode="ENFORCED_BLOCK_AND_AUDIT_LOG"
    )
    with pytest.raises(exceptions.BadRequest, match="location.clusterId"):
        authz.update_policy(policy=policy)
