"""The ledger: atomic, private, locked, journaled before calls."""

from __future__ import annotations

import json
import stat

import pytest

from oasis_cli.errors import LedgerLocked, OasisError
from oasis_cli.ledger import Ledger


def test_written_atomically_with_mode_0600(tmp_path):
    with Ledger.open(tmp_path, "dep", "proj-123") as ledger:
        entry = ledger.journal_create("network:a", "compute.network", "a", "global", [])
    path = tmp_path / "dep" / "ledger.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["version"] == 1
    saved = document["resources"]["network:a"]
    assert saved["state"] == "pending"
    assert saved["request_id"] == entry.request_id
    assert list(tmp_path.glob("dep/.*.tmp")) == []


def test_pending_create_keeps_its_request_id_until_done(tmp_path):
    with Ledger.open(tmp_path, "dep", "proj-123") as ledger:
        first = ledger.journal_create("k", "compute.network", "a", "global", []).request_id
    with Ledger.open(tmp_path, "dep", "proj-123") as ledger:
        assert ledger.journal_create("k", "compute.network", "a", "global", []).request_id == first
        ledger.record("k", state="failed", error="quota")
        retried = ledger.journal_create("k", "compute.network", "a", "global", []).request_id
    assert retried != first


def test_second_run_on_same_deployment_is_refused(tmp_path):
    with (
        Ledger.open(tmp_path, "dep", "proj-123"),
        pytest.raises(LedgerLocked, match="in use by another oasis run"),
        Ledger.open(tmp_path, "dep", "proj-123"),
    ):
        pass
    with Ledger.open(tmp_path, "dep", "proj-123"):
        pass


def test_ledger_of_another_project_is_refused(tmp_path):
    with Ledger.open(tmp_path, "dep", "proj-123") as ledger:
        ledger.journal_create("k", "compute.network", "a", "global", [])
    with (
        pytest.raises(OasisError, match="lives in project 'proj-123'"),
        Ledger.open(tmp_path, "dep", "other-proj"),
    ):
        pass


def test_delete_keeps_creation_timing(tmp_path):
    with Ledger.open(tmp_path, "dep", "proj-123") as ledger:
        ledger.journal_create("k", "compute.network", "a", "global", [])
        done = ledger.record("k", state="done")
        duration = done.duration_s
        ledger.journal_delete("k", "compute.network", "a", "global", [])
        deleted = ledger.record("k", state="deleted")
    assert deleted.duration_s == duration
    assert deleted.deleted_at is not None


def test_cli_refuses_a_concurrent_run_but_still_reports(oasis, workspace):
    assert oasis("--local", "up", "--yes").code == 0
    with Ledger.open(workspace / ".oasis" / "local", "oasis", "oasis-local"):
        refused = oasis("--local", "down", "--yes")
        status = oasis("--local", "status", "--output", "json")
        plan = oasis("--local", "plan", "--output", "json")
    assert refused.code == 1
    assert "in use by another oasis run" in refused.stderr
    assert {row["state"] for row in status.json()["resources"]} == {"done"}
    assert {p["action"] for p in plan.json()["plan"]} == {"noop"}
