"""One transient error (429 or 503, not served) on every call of `up` and `down`, each
call once: a single run still succeeds, because every API call is retried on
transient codes inside a deadline, with backoff (issue: retry everywhere)."""

from __future__ import annotations

import pytest

from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra.store import Store

from conftest import EXPECTED, leftovers, made

TRANSIENT = pytest.mark.parametrize("status", [429, 503])


def once_each(status: int, *, mutating: bool) -> dict:
    return {
        "action": "error",
        "status": status,
        "mutating": mutating,
        "distinct": True,
        "count": -1,
        "message": "The service is currently unavailable." if status == 503 else "Rate exceeded.",
    }


@TRANSIENT
def test_up_succeeds_in_one_run_with_every_mutation_refused_once(oasis, cloud_dir, world, status):
    with faults.injected(Store(cloud_dir), once_each(status, mutating=True)):
        result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    assert made(world()) == EXPECTED


@TRANSIENT
def test_down_succeeds_in_one_run_with_every_mutation_refused_once(
    oasis, deployed, cloud_dir, world, status
):
    with faults.injected(Store(cloud_dir), once_each(status, mutating=True)):
        result = oasis("--local", "down", "--yes")
    assert result.code == 0, result.stderr
    assert leftovers(world()) == []


def test_up_succeeds_in_one_run_with_every_read_refused_once(oasis, cloud_dir, world):
    with faults.injected(Store(cloud_dir), once_each(503, mutating=False)):
        result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    assert made(world()) == EXPECTED


@TRANSIENT
def test_build_images_succeeds_in_one_run_with_every_call_refused_once(
    oasis, deployed, cloud_dir, status
):
    """Uploads, build submissions and their polls, registry reads: each refused once."""
    with (
        faults.injected(Store(cloud_dir), once_each(status, mutating=True)),
        faults.injected(Store(cloud_dir), once_each(status, mutating=False)),
    ):
        result = oasis("--local", "build-images")
    assert result.code == 0, result.stderr
    assert "image:server:" in result.stdout


def test_a_build_submitted_but_answered_503_is_followed_not_submitted_twice(
    oasis, deployed, cloud_dir, requests_log
):
    """The submit was served (the build runs) but its answer lost: the retry finds that
    build by its identity tag and follows it; one build per image."""
    rule = {"action": "lose_answer", "method": "POST", "path": "/builds$", "count": 2}
    with faults.injected(Store(cloud_dir), rule):
        result = oasis("--local", "build-images")
    assert result.code == 0, result.stderr
    submits = [r for r in requests_log() if r["method"] == "POST" and r["path"].endswith("/builds")]
    assert [r["status"] for r in submits] == [503, 503]  # each served, each answer lost
