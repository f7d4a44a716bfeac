"""`oasis doctor`: read-only preflight, exit code 3 when something would fail."""

from __future__ import annotations

from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra.store import Store


def statuses(result) -> dict[str, str]:
    return {check["name"]: check["status"] for check in result.json()["checks"]}


def test_a_fresh_project_passes_with_apis_still_to_enable(oasis, requests_log):
    result = oasis("--local", "doctor", "--output", "json")
    assert result.code == 0, result.stderr
    assert statuses(result) == {
        "credentials": "ok",
        "project": "ok",
        "permissions": "ok",
        "apis": "warn",
        "gpu zone": "ok",
        "quota": "ok",
        "gke version": "ok",
    }
    assert not [
        r
        for r in requests_log()
        if r["method"] not in ("GET",)
        and "testIamPermissions" not in r["path"]
        and ":batchGet" not in r["path"]
    ]


def test_after_up_every_check_is_ok(deployed, oasis):
    result = oasis("--local", "doctor")
    assert result.code == 0, result.stderr
    assert "warn" not in result.stdout and "fail" not in result.stdout


def test_missing_permissions_fail_with_exit_3(oasis, cloud_dir):
    with Store(cloud_dir).transaction() as world:
        world["denied_permissions"] = ["container.clusters.create"]
    result = oasis("--local", "doctor")
    assert result.code == 3
    assert "missing container.clusters.create" in result.stdout
    assert "1 check(s) failed: permissions" in result.stderr


def test_a_zone_without_h200_fails(oasis):
    result = oasis("--local", "--set", "zone=us-south1-a", "doctor", "--output", "json")
    assert result.code == 3
    assert statuses(result)["gpu zone"] == "fail"


H200_PREEMPTIBLE = "PREEMPTIBLE-GPUS-PER-GPU-FAMILY-per-project-region/NVIDIA_H200"


def test_gpu_quota_is_read_from_cloud_quotas_for_both_preemptible_pools(oasis, cloud_dir):
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


def test_a_gpu_quota_it_cannot_find_is_a_warning_not_a_failure(oasis, cloud_dir):
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


def test_a_version_gke_does_not_offer_fails(oasis):
    result = oasis("--local", "--set", "cluster.version=1.35.0-gke.100", "doctor")
    assert result.code == 3
    assert "is not offered in us-south1" in result.stdout


def test_the_version_is_the_release_channels_default(oasis):
    """A new cluster gets its channel's default, which is not the server config's
    defaultClusterVersion (the default without a channel)."""
    checks = {c["name"]: c for c in oasis("--local", "doctor", "--output", "json").json()["checks"]}
    assert checks["gke version"]["detail"] == ("1.33.5-gke.1080000 (the REGULAR channel's default)")
    stable = oasis(
        "--local", "--set", "cluster.release_channel=STABLE", "doctor", "--output", "json"
    )
    detail = {c["name"]: c["detail"] for c in stable.json()["checks"]}["gke version"]
    assert detail == "1.32.4-gke.1415000 (the STABLE channel's default)"
