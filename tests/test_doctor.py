"""`oasis doctor`: read-only preflight, exit code 3 when something would fail."""

from __future__ import annotations

from oasis_cli.localcloud.cloud import LocalCloud
from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra.store import Store

from conftest import enable_apis


def statuses(result) -> dict[str, str]:
    return {check["name"]: check["status"] for check in result.json()["checks"]}


def test_a_fresh_project_warns_for_what_its_disabled_apis_hide(oasis, requests_log):
    """A new project has only Service Usage and Storage enabled: every check that needs
    another API warns that it cannot check yet (no false failure), read-only."""
    result = oasis("--local", "doctor", "--output", "json")
    assert result.code == 0, result.stderr
    assert statuses(result) == {
        "credentials": "ok",
        "project": "warn",
        "permissions": "warn",
        "apis": "warn",
        "gpu zone": "warn",
        "quota": "warn",
        "gke version": "warn",
    }
    details = {c["name"]: c["detail"] for c in result.json()["checks"]}
    assert details["gpu zone"] == "cannot check yet: the compute.googleapis.com API is not enabled"
    assert details["gke version"].endswith("the container.googleapis.com API is not enabled")
    assert not [
        r
        for r in requests_log()
        if r["method"] not in ("GET",)
        and "testIamPermissions" not in r["path"]
        and ":batchGet" not in r["path"]
    ]


def test_with_the_apis_enabled_every_check_passes(apis_enabled, oasis):
    """Enabled, nothing is left to warn about, and the GPU quota was read where GCP
    keeps it (the Cloud Quotas API, preemptible family quota)."""
    result = oasis("--local", "doctor", "--output", "json")
    assert result.code == 0, result.stderr
    assert set(statuses(result).values()) == {"ok"}
    (quota,) = [c for c in result.json()["checks"] if c["name"] == "quota"]
    assert quota["detail"] == "preemptible nvidia-h200-141gb GPUs and CPUS in us-south1"


def test_after_up_every_check_is_ok_but_quota_needs_cloud_quotas(deployed, oasis, cloud_dir):
    """`up` enables the platform's APIs, not Cloud Quotas: the quota check says so."""
    result = oasis("--local", "doctor", "--output", "json")
    assert result.code == 0, result.stderr
    assert {k: v for k, v in statuses(result).items() if v != "ok"} == {"quota": "warn"}
    (quota,) = [c for c in result.json()["checks"] if c["name"] == "quota"]
    assert "cloudquotas.googleapis.com" in quota["detail"] + quota["hint"]
    with LocalCloud(cloud_dir) as cloud:
        enable_apis(cloud, "oasis-local")
    again = oasis("--local", "doctor")
    assert "warn" not in again.stdout and "fail" not in again.stdout


def test_missing_permissions_fail_with_exit_3(apis_enabled, oasis, cloud_dir):
    with Store(cloud_dir).transaction() as world:
        world["denied_permissions"] = ["container.clusters.create"]
    result = oasis("--local", "doctor")
    assert result.code == 3
    assert "missing container.clusters.create" in result.stdout
    assert "1 check(s) failed: permissions" in result.stderr


def test_a_zone_without_h200_fails(apis_enabled, oasis):
    result = oasis("--local", "--set", "zone=us-south1-a", "doctor", "--output", "json")
    assert result.code == 3
    assert statuses(result)["gpu zone"] == "fail"


H200_PREEMPTIBLE = "PREEMPTIBLE-GPUS-PER-GPU-FAMILY-per-project-region/NVIDIA_H200"


def test_gpu_quota_is_read_from_cloud_quotas_for_both_preemptible_pools(
    apis_enabled, oasis, cloud_dir
):
    """H200 quota lives in the Cloud Quotas API (the regions list has no H200 metric);
    spot and flex-start both draw on the preemptible family quota."""
    with Store(cloud_dir).transaction() as world:
        world["quotas"] = {"us-south1": {H200_PREEMPTIBLE: 4.0}}
    failed = oasis("--local", "doctor", "--output", "json")
    assert failed.code == 3
    assert statuses(failed)["quota"] == "fail"
    with Store(cloud_dir).transaction() as world:
        world["quotas"] = {"us-south1": {H200_PREEMPTIBLE: 96.0}}  # one pool at max: 80
    warned = oasis("--local", "doctor", "--output", "json")
    assert warned.code == 0
    (check,) = [c for c in warned.json()["checks"] if c["name"] == "quota"]
    assert check["status"] == "warn"
    assert "limit 96, spot + flex-start at max need 160" in check["detail"]


def test_a_gpu_quota_it_cannot_find_is_a_warning_not_a_failure(apis_enabled, oasis, cloud_dir):
    faults.add(
        Store(cloud_dir),
        {
            "action": "error",
            "status": 403,
            "path": "/quotaInfos/",
            "count": -1,
            "message": "Cloud Quotas API has not been used in project 1 before or it is disabled.",
        },
    )
    result = oasis("--local", "doctor", "--output", "json")
    assert result.code == 0
    (check,) = [c for c in result.json()["checks"] if c["name"] == "quota"]
    assert check["status"] == "warn"
    assert "not found" in check["detail"]


def test_a_version_gke_does_not_offer_fails(apis_enabled, oasis):
    result = oasis("--local", "--set", "cluster.version=1.35.0-gke.100", "doctor")
    assert result.code == 3
    assert "is not offered in us-south1" in result.stdout


def test_the_version_is_the_release_channels_default(apis_enabled, oasis):
    """A new cluster gets its channel's default, which is not the server config's
    defaultClusterVersion (the default without a channel)."""
    checks = {c["name"]: c for c in oasis("--local", "doctor", "--output", "json").json()["checks"]}
    assert checks["gke version"]["detail"] == ("1.33.5-gke.1080000 (the REGULAR channel's default)")
    stable = oasis(
        "--local", "--set", "cluster.release_channel=STABLE", "doctor", "--output", "json"
    )
    detail = {c["name"]: c["detail"] for c in stable.json()["checks"]}["gke version"]
    assert detail == "1.32.4-gke.1415000 (the STABLE channel's default)"
