"""`oasis build-images` and `oasis binauth` end to end, through the CLI, against the
local cloud's Cloud Build, Artifact Registry, Cloud Storage and Binary Authorization."""

from __future__ import annotations

import io
import json
import shutil
import signal
import tarfile
from pathlib import Path

import pytest
from google.protobuf import json_format

from oasis_cli.localcloud.cloud import LocalCloud
from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra.store import Store
from oasis_cli.sources import builtin_context

from conftest import gapic, gcs, leftovers, run_subprocess

REGISTRY = "us-south1-docker.pkg.dev/oasis-local/oasis"
PARENT = "projects/oasis-local/locations/us-south1"
STAGING = "oasis-local-oasis-build"
BUILDER = "projects/oasis-local/serviceAccounts/oasis-builder@oasis-local.iam.gserviceaccount.com"


def build_posts(requests_log) -> list[dict]:
    return [r for r in requests_log() if r["method"] == "POST" and r["path"].endswith("/builds")]


def builds(cloud_dir: Path) -> list[dict]:
    """Every build, oldest first, as `gcloud builds list` reads them."""
    from google.cloud.devtools import cloudbuild_v1

    with LocalCloud(cloud_dir) as cloud:
        client = gapic(cloud, cloudbuild_v1.CloudBuildClient, "cloudbuild")
        found = [plain(build) for build in client.list_builds(request={"parent": PARENT})]
    return sorted(found, key=lambda b: b["createTime"])


def plain(message) -> dict:
    return json_format.MessageToDict(type(message).pb(message))


def staging_objects(cloud_dir: Path) -> dict[str, bytes]:
    """The staging bucket's objects by name, read through the storage client."""
    with LocalCloud(cloud_dir) as cloud:
        return {blob.name: blob.download_as_bytes() for blob in gcs(cloud).list_blobs(STAGING)}


def images_of(ledger) -> dict[str, dict]:
    entries = ledger()["resources"]
    return {key: entries[key] for key in ("image:base", "image:server") if key in entries}


@pytest.fixture
def contexts(workspace: Path) -> Path:
    """Copies of the shipped contexts, configured as the ones to build."""
    for name in ("base", "custom"):
        shutil.copytree(builtin_context(name), workspace / "images" / name)
    (workspace / "oasis.toml").write_text(
        '[images]\nbase_context = "images/base"\nserver_context = "images/custom"\n'
    )
    return workspace / "images"


def test_both_images_are_built_on_the_pool_and_their_digests_recorded(
    built, oasis, cloud_dir, world
):
    status = oasis("--local", "status", "--output", "json").json()
    rows = {row["key"]: row for row in status["resources"]}
    base, server = rows["image:base"], rows["image:server"]
    for row, package in ((base, "ray-base"), (server, "ray-server")):
        assert (row["state"], row["live"]) == ("done", "ok")
        outputs = row["outputs"]
        assert outputs["digest"].startswith("sha256:") and len(outputs["digest"]) == 71
        assert outputs["ref"] == f"{REGISTRY}/{package}@{outputs['digest']}"
        assert outputs["ref"] in built.stdout
    first, second = builds(cloud_dir)
    assert second["substitutions"]["_BASE_IMAGE"] == base["outputs"]["ref"]  # FROM the digest
    assert (
        first["substitutions"]["_VIRTUAL_REGISTRY"]
        == "us-south1-docker.pkg.dev/oasis-local/oasis-virtual"
    )
    assert first["substitutions"]["_RAY_IMAGE"] == "rayproject/ray:2.48.0-py312-cu128"
    assert second["substitutions"]["_PIP_INDEX_URL"] == (
        "https://us-south1-python.pkg.dev/oasis-local/oasis-python-virtual/simple/"
    )
    for build in (first, second):
        assert build["status"] == "SUCCESS"
        assert build["options"]["pool"]["name"] == (
            "projects/oasis-local/locations/us-south1/workerPools/oasis-build-pool"
        )
        assert build["serviceAccount"] == BUILDER
        assert build["logsBucket"] == f"gs://{STAGING}/logs"
        assert build["source"]["storageSource"]["bucket"] == STAGING
    images = [i for i in world() if i["kind"] == "artifactregistry#dockerImage"]
    assert sorted(i["resource"]["uri"] for i in images) == sorted(
        [base["outputs"]["ref"], server["outputs"]["ref"]]
    )
    objects = staging_objects(cloud_dir)
    assert {f"logs/log-{first['id']}.txt", f"logs/log-{second['id']}.txt"} <= set(objects)


def test_the_build_log_is_tailed_live(built):
    assert "image:base | FETCHSOURCE" in built.stderr
    assert 'image:server | Step #0 - "build": Step 4/5 : COPY requirements.txt' in built.stderr
    assert "image:server | DONE" in built.stderr


def test_a_rerun_with_unchanged_sources_submits_nothing(built, oasis, requests_log, ledger):
    before, recorded = len(requests_log()), images_of(ledger)
    result = oasis("--local", "build-images")
    assert result.code == 0, result.stderr
    assert "build-images finished: 2 unchanged" in result.stderr
    assert not [r for r in requests_log()[before:] if r["method"] != "GET"]
    assert images_of(ledger) == recorded


def test_a_changed_requirements_file_rebuilds_ray_server_only(
    contexts, deployed, oasis, requests_log, ledger, cloud_dir
):
    assert oasis("--local", "build-images").code == 0
    first = images_of(ledger)
    requirements = contexts / "custom" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "datasets==3.6.0\n")
    posts = len(build_posts(requests_log))
    result = oasis("--local", "build-images")
    assert result.code == 0, result.stderr
    assert "unchanged image:base" in " ".join(result.stderr.split())
    assert len(build_posts(requests_log)) == posts + 1
    second = images_of(ledger)
    assert second["image:base"]["outputs"] == first["image:base"]["outputs"]
    assert second["image:server"]["outputs"]["digest"] != first["image:server"]["outputs"]["digest"]
    assert (
        builds(cloud_dir)[-1]["substitutions"]["_BASE_IMAGE"]
        == (first["image:base"]["outputs"]["ref"])
    )


def test_force_rebuilds_only_the_image_asked_for(built, oasis, requests_log):
    posts = len(build_posts(requests_log))
    result = oasis("--local", "build-images", "--only", "base", "--force")
    assert result.code == 0, result.stderr
    assert len(build_posts(requests_log)) == posts + 1
    assert "image:server" not in result.stderr


def test_a_failed_build_exits_1_with_its_id_log_url_and_last_lines(
    deployed, oasis, cloud_dir, ledger
):
    message = "ERROR: No matching distribution found for torch==9.9.9"
    faults.add(
        Store(cloud_dir),
        {
            "action": "fail_operation",
            "path": "/builds$",
            "target": "ray-server",
            "message": message,
        },
    )
    result = oasis("--local", "build-images")
    assert result.code == 1
    failed = builds(cloud_dir)[-1]
    assert failed["status"] == "FAILURE"
    error = result.stderr[result.stderr.index("error: build-images failed") :]
    assert f"build {failed['id']} ended FAILURE" in error
    assert (
        f"log: https://console.cloud.google.com/cloud-build/builds;region=us-south1/{failed['id']}"
        in error
    )
    assert message in error
    assert 'ERROR: build step 0 "gcr.io/cloud-builders/docker" failed' in error
    assert "run `oasis build-images` again" in error
    entries = images_of(ledger)
    assert entries["image:base"]["state"] == "done"
    assert entries["image:server"]["state"] == "failed"
    retry = oasis("--local", "build-images")  # the fault was one-off: a re-run converges
    assert retry.code == 0, retry.stderr
    assert images_of(ledger)["image:server"]["state"] == "done"


def test_ignored_files_are_not_uploaded(contexts, deployed, oasis, cloud_dir):
    custom = contexts / "custom"
    (custom / "notes.txt").write_text("local notes")
    (custom / "cache").mkdir()
    (custom / "cache" / "big.bin").write_bytes(b"\0" * 1000)
    (custom / "train.log").write_text("log")
    (custom / ".gcloudignore").write_text(".gcloudignore\nnotes.txt\ncache/\n")
    (custom / ".dockerignore").write_text("*.log\n")
    assert oasis("--local", "build-images").code == 0
    source = builds(cloud_dir)[-1]["source"]["storageSource"]["object"]
    data = staging_objects(cloud_dir)[source]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = sorted(tar.getnames())
    assert names == [".dockerignore", "Dockerfile", "cloudbuild.yaml", "requirements.txt"]


def test_a_build_crashed_after_submitting_is_followed_not_repeated(
    deployed, cloud_dir, requests_log, ledger
):
    store = Store(cloud_dir)
    faults.add(store, {"action": "kill", "method": "POST", "path": "/builds$"})
    slow = {"OASIS_LOCAL_LATENCY_SCALE": "0.005"}  # builds take 1.5-6 s
    killed = run_subprocess("--local", "build-images", env=slow)
    assert killed.returncode == -signal.SIGKILL
    assert builds(cloud_dir)[0]["status"] in ("QUEUED", "WORKING")
    resumed = run_subprocess("--local", "build-images", env=slow)
    assert resumed.returncode == 0, resumed.stderr
    assert len(build_posts(requests_log)) == 2  # one per image, none twice
    assert [b["status"] for b in builds(cloud_dir)] == ["SUCCESS", "SUCCESS"]
    assert {e["state"] for e in images_of(ledger).values()} == {"done"}


def test_build_images_needs_the_base_infrastructure(oasis):
    result = oasis("--local", "build-images")
    assert result.code == 3
    assert "buildpool" in result.stderr and "Run `oasis up` first" in result.stderr


def test_ray_server_alone_needs_a_recorded_ray_base(deployed, oasis, requests_log):
    result = oasis("--local", "build-images", "--only", "server")
    assert result.code == 3
    assert "Run `oasis build-images` (or `--only base`) first" in result.stderr
    assert build_posts(requests_log) == []


def test_a_build_config_with_unknown_fields_is_refused_before_any_call(
    contexts, deployed, oasis, requests_log
):
    config = contexts / "base" / "cloudbuild.yaml"
    config.write_text(config.read_text() + "machineType: E2_HIGHCPU_8\n")
    before = len(requests_log())
    result = oasis("--local", "build-images")
    assert result.code == 2
    assert "machineType" in result.stderr
    assert len(requests_log()) == before


def test_a_custom_config_without_the_tag_substitution_builds(
    contexts, deployed, oasis, cloud_dir, ledger
):
    """A config that pushes a fixed tag gets no `_TAG`, which Cloud Build would refuse
    as a substitution the template does not use; the digest is still recorded."""
    config = contexts / "base" / "cloudbuild.yaml"
    config.write_text(config.read_text().replace("${_TAG}", "latest"))
    result = oasis("--local", "build-images", "--only", "base")
    assert result.code == 0, result.stderr
    (build,) = builds(cloud_dir)
    assert "_TAG" not in build["substitutions"]
    assert build["images"] == ["${_REGISTRY}/ray-base:latest"]  # as sent; pushed by digest
    ref = images_of(ledger)["image:base"]["outputs"]["ref"]
    assert ref.startswith(f"{REGISTRY}/ray-base@sha256:")


def test_down_deletes_the_images_and_the_staging_bucket(built, oasis, world):
    assert oasis("--local", "down", "--yes").code == 0
    left = [
        item
        for item in leftovers(world())
        # the attestor Cloud Build created with the first image is Cloud Build's, not ours
        if item["kind"] != "binaryauthorization#attestor"
    ]
    assert left == []


def policy(cloud_dir: Path) -> dict:
    """The project's Binary Authorization policy, as its client library reads it."""
    from google.cloud import binaryauthorization_v1

    with LocalCloud(cloud_dir) as cloud:
        client = gapic(
            cloud, binaryauthorization_v1.BinauthzManagementServiceV1Client, "binaryauthorization"
        )
        return plain(client.get_policy(name="projects/oasis-local/policy"))


def test_binauth_dry_run_then_enforce_then_down_restores(built, oasis, cloud_dir):
    from google.cloud import binaryauthorization_v1

    with LocalCloud(cloud_dir) as cloud:  # someone else's rule, there before oasis
        client = gapic(
            cloud, binaryauthorization_v1.BinauthzManagementServiceV1Client, "binaryauthorization"
        )
        before = client.get_policy(name="projects/oasis-local/policy")
        before.cluster_admission_rules["us-east1.other"] = binaryauthorization_v1.AdmissionRule(
            evaluation_mode="ALWAYS_DENY", enforcement_mode="ENFORCED_BLOCK_AND_AUDIT_LOG"
        )
        client.update_policy(policy=before)
    original = policy(cloud_dir)

    assert oasis("--local", "binauth").code == 0
    rule = policy(cloud_dir)["clusterAdmissionRules"]["us-south1.oasis-h200"]
    assert rule == {
        "evaluationMode": "REQUIRE_ATTESTATION",
        "requireAttestationsBy": ["projects/oasis-local/attestors/built-by-cloud-build"],
        "enforcementMode": "DRYRUN_AUDIT_LOG_ONLY",
    }
    assert "us-east1.other" in policy(cloud_dir)["clusterAdmissionRules"]

    assert oasis("--local", "binauth", "--enforce").code == 0
    rules = policy(cloud_dir)["clusterAdmissionRules"]
    assert rules["us-south1.oasis-h200"]["enforcementMode"] == "ENFORCED_BLOCK_AND_AUDIT_LOG"
    assert "binauth finished: 1 unchanged" in oasis("--local", "binauth", "--enforce").stderr

    assert oasis("--local", "down", "--yes").code == 0
    restored = policy(cloud_dir)
    written = ("updateTime", "etag")  # what every write changes
    assert {k: v for k, v in restored.items() if k not in written} == {
        k: v for k, v in original.items() if k not in written
    }


def test_binauth_before_any_build_is_refused(deployed, oasis, requests_log):
    result = oasis("--local", "binauth")
    assert result.code == 3
    assert "attestors/built-by-cloud-build does not exist yet" in result.stderr
    assert "Run `oasis build-images` first" in result.stderr
    writes = [r for r in requests_log() if r["service"] == "binaryauthorization"]
    assert [r["method"] for r in writes] == ["GET"]  # the attestor, looked up; no update


def test_binauth_follows_the_attestor_not_the_ledger(deployed, oasis, cloud_dir):
    """The attestor decides, live: one made outside oasis (by an earlier build or by
    hand) is enough, though oasis has built no image."""
    from google.cloud import binaryauthorization_v1

    with LocalCloud(cloud_dir) as cloud:
        client = gapic(
            cloud, binaryauthorization_v1.BinauthzManagementServiceV1Client, "binaryauthorization"
        )
        client.create_attestor(
            parent="projects/oasis-local",
            attestor_id="built-by-cloud-build",
            attestor={
                "user_owned_grafeas_note": {"note_reference": "projects/oasis-local/notes/n"}
            },
        )
    result = oasis("--local", "binauth")
    assert result.code == 0, result.stderr
    rule = policy(cloud_dir)["clusterAdmissionRules"]["us-south1.oasis-h200"]
    assert rule["requireAttestationsBy"] == ["projects/oasis-local/attestors/built-by-cloud-build"]


def test_status_json_lists_the_build_of_each_image(built, oasis):
    rows = oasis("--local", "status", "--output", "json").json()["resources"]
    recorded = {row["key"]: row["outputs"] for row in rows}
    assert json.dumps(recorded["image:server"]).count("sha256:") >= 1
    assert recorded["image:server"]["build"] and recorded["image:server"]["source_hash"]


def test_a_failed_rebuild_keeps_the_last_good_digest_on_record(built, oasis, cloud_dir, ledger):
    good = images_of(ledger)["image:server"]["outputs"]["digest"]
    faults.add(
        Store(cloud_dir),
        {"action": "fail_operation", "path": "/builds$", "target": "ray-server", "message": "boom"},
    )
    assert oasis("--local", "build-images", "--only", "server", "--force").code == 1
    entry = images_of(ledger)["image:server"]
    assert entry["state"] == "failed"
    assert entry["outputs"]["digest"] == good


def test_down_cancels_a_build_a_killed_run_left_running(deployed, oasis, cloud_dir, world):
    """A build still running (its run killed right after submitting) would go on
    writing into the staging bucket: `down` cancels it, waits, then deletes."""
    faults.add(Store(cloud_dir), {"action": "kill", "method": "POST", "path": "/builds$"})
    slow = {"OASIS_LOCAL_LATENCY_SCALE": "0.05"}  # the build runs 15-60 s
    assert run_subprocess("--local", "build-images", env=slow).returncode == -signal.SIGKILL
    assert builds(cloud_dir)[0]["status"] in ("QUEUED", "WORKING")
    result = oasis("--local", "down", "--yes")
    assert result.code == 0, result.stderr
    assert [b["status"] for b in builds(cloud_dir)] == ["CANCELLED"]
    assert leftovers(world()) == []
