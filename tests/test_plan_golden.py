"""`oasis plan` for the default config matches the reviewed golden file, and
independent resources are created while the cluster is still being created."""

from __future__ import annotations

import json
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden" / "plan-default.json"


def test_default_plan_matches_the_golden_file(oasis):
    result = oasis("--local", "plan", "--output", "json")
    assert result.code == 0, result.stderr
    assert result.json() == json.loads(GOLDEN.read_text()), (
        "plan changed: review it, then run `python tools/sync_docs.py`"
    )


def test_independent_resources_are_created_while_the_cluster_is(oasis, ledger, monkeypatch):
    monkeypatch.setenv("OASIS_LOCAL_LATENCY_SCALE", "0.01")  # the cluster takes ~5 s
    assert oasis("--local", "up", "--yes").code == 0
    entries = ledger()["resources"]
    cluster = entries["cluster"]
    for key in ("bucket:data", "registry:docker-virtual", "iam:project", "buildpool"):
        assert entries[key]["finished_at"] < cluster["finished_at"], f"{key} waited for the cluster"
    pool = entries["buildpool"]
    assert pool["started_at"] < cluster["finished_at"]
    assert pool["finished_at"] > cluster["started_at"], "the build pool overlaps the cluster"
