"""`oasis verify` on a deployed platform, and on platforms broken on purpose: each
broken state fails the right check with its message, exit 1, and a report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oasis_cli.localcloud.infra.store import Store

from conftest import CLUSTER

CHECKS = [
    "resources",
    "gpu pools",
    "cluster api",
    "compute class",
    "networks",
    "nccl installer",
    "ray cluster",
    "dashboard",
    "ingress",
]


def verified(oasis) -> tuple[int, dict[str, Any]]:
    result = oasis("--local", "verify", "--output", "json")
    document = result.json()
    assert Path(document["report"]).is_file()
    assert json.loads(Path(document["report"]).read_text())["checks"] == document["checks"]
    return result.code, {c["name"]: c for c in document["checks"]}


def test_a_deployed_platform_passes_every_check(ray_deployed, oasis):
    code, checks = verified(oasis)
    assert code == 0
    assert list(checks) == CHECKS
    assert {c["status"] for c in checks.values()} == {"pass"}
    assert checks["networks"]["detail"] == "18 ready"


def test_the_table_names_each_check_and_the_report(ray_deployed, oasis):
    result = oasis("--local", "verify")
    assert result.code == 0, result.stderr
    assert all(name in result.stdout for name in CHECKS)
    assert "report: " in result.stderr


def break_world(cloud_dir: Path, change) -> None:
    with Store(cloud_dir).transaction() as world:
        change(world)


def pool_in_error(world: dict[str, Any]) -> None:
    pools = world["container"]["clusters"][CLUSTER]["nodePools"]
    pool = next(p for p in pools if p["name"] == "oasis-h200-spot")
    pool.update(status="RUNNING_WITH_ERROR", statusMessage="Insufficient quota in us-south1-b")


def installer_deleted(world: dict[str, Any]) -> None:
    objects = world["kubernetes"][CLUSTER]["objects"]
    objects.pop(next(k for k, o in objects.items() if o["kind"] == "DaemonSet"))


def subnet_missing(world: dict[str, Any]) -> None:
    subnets = world["compute"]["subnetworks"]
    subnets.pop(next(k for k in subnets if k.endswith("/oasis-rdma-sub-3")))


def binding_removed(world: dict[str, Any]) -> None:
    policy = world["iam_policies"]["projects/_/buckets/oasis-local-oasis-data"]
    policy["bindings"] = []


@pytest.mark.parametrize(
    ("breakage", "check", "message"),
    [
        (pool_in_error, "gpu pools", "oasis-h200-spot is RUNNING_WITH_ERROR: Insufficient quota"),
        (
            installer_deleted,
            "nccl installer",
            "DaemonSet kube-system/nccl-rdma-installer does not exist",
        ),
        (subnet_missing, "networks", "SubnetNotFound"),
        (binding_removed, "resources", "iam:bucket is missing"),
    ],
    ids=["pool-error", "installer-deleted", "missing-subnet", "bucket-binding"],
)
def test_a_broken_platform_fails_the_right_check(
    ray_deployed, oasis, cloud_dir, breakage, check, message
):
    break_world(cloud_dir, breakage)
    code, checks = verified(oasis)
    assert code == 1
    assert checks[check]["status"] == "fail", checks[check]
    assert message in checks[check]["detail"]
    assert checks[check]["next"]
    result = oasis("--local", "verify")
    assert result.code == 1
    assert "check(s) failed: " in result.stderr and check in result.stderr


def test_up_all_verify_runs_the_checks_at_the_end(oasis):
    result = oasis("--local", "up", "--all", "--verify", "--yes")
    assert result.code == 0, result.stderr
    assert "up finished" in result.stderr and "report: " in result.stderr
    assert all(name in result.stdout for name in CHECKS)


def test_verify_needs_all(oasis):
    result = oasis("--local", "up", "--verify", "--yes")
    assert result.code == 2 and "use it with --all" in result.stderr
