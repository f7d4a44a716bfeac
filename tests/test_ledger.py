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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"version": 1, "resou', "is not valid JSON"),
        ("[]", "not an oasis ledger"),
        ("null", "not an oasis ledger"),
        (
            '{"version": 1, "project": "proj-123", "resources": {"k": {"kind": "x", "name": "n",'
            ' "location": "global", "state": "exploded"}}}',
            "unknown state 'exploded'",
        ),
    ],
)
def test_a_broken_ledger_is_a_clear_error_that_offers_the_backup(tmp_path, text, message):
    with Ledger.open(tmp_path, "dep", "proj-123") as ledger:
        ledger.journal_create("k", "compute.network", "a", "global", [])
        ledger.record("k", state="done")  # a second write: the first is the backup
    path = tmp_path / "dep" / "ledger.json"
    path.write_text(text)
    with (
        pytest.raises(OasisError, match=message) as raised,
        Ledger.open(tmp_path, "dep", "proj-123"),
    ):
        pass
    backup = tmp_path / "dep" / "ledger.json.bak"
    assert f"cp {backup} {path}" in str(raised.value)
    assert json.loads(backup.read_text())["resources"]["k"]["state"] == "pending"


def test_a_ledger_of_a_newer_major_version_says_to_upgrade(tmp_path):
    path = tmp_path / "dep" / "ledger.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 2, "project": "proj-123", "resources": {}}')
    with pytest.raises(OasisError, match="newer than this oasis reads") as raised:
        Ledger.load(path, "dep", "proj-123")
    assert "Upgrade oasis" in str(raised.value)


def test_fields_of_a_newer_minor_version_are_tolerated(tmp_path):
    path = tmp_path / "dep" / "ledger.json"
    path.parent.mkdir(parents=True)
    path.write_text(
        '{"version": 1, "project": "proj-123", "resources": {"k": {"kind": "x", "name": "n",'
        ' "location": "global", "state": "done", "labels_v2": {"a": "b"}}}}'
    )
    with Ledger.open(tmp_path, "dep", "proj-123") as ledger:
        assert ledger.get("k").state == "done"


def test_state_and_logs_are_private_whatever_the_umask(oasis, workspace):
    import os

    old = os.umask(0o022)
    try:
        assert oasis("--local", "plan").code == 0
    finally:
        os.umask(old)
    state = workspace / ".oasis" / "local" / "oasis"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    (log,) = (state / "logs").iterdir()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "logs").stat().st_mode) == 0o700


def test_plan_and_status_still_answer_with_a_broken_ledger(deployed, oasis, workspace):
    (workspace / ".oasis" / "local" / "oasis" / "ledger.json").write_text("[]")
    plan = oasis("--local", "plan")
    assert plan.code == 0
    assert "warning:" in plan.stderr and "not an oasis ledger" in plan.stderr
    assert "0 to create" in plan.stdout
    assert oasis("--local", "status").code == 0
