"""The ledger: one versioned JSON file per deployment recording what oasis made.

`.oasis/{deployment}/ledger.json` (mode 0600) is rewritten atomically (temp file,
fsync, rename) at every transition, and `Ledger.open()` holds an exclusive lock on
`.oasis/{deployment}/lock` so two runs cannot act on one deployment. Entries move
`pending` -> `done` | `failed`, and `deleting` -> `deleted`; mutations carry a request id
that a resumed run reuses while the entry is still `pending` or `deleting`. A create is journaled as
`pending` (with its compute request id) BEFORE the API call, so a crashed run leaves
enough behind for the next one to find and adopt what it started.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from oasis_cli.errors import LedgerLocked, OasisError

VERSION = 1
STATES = ("pending", "done", "failed", "deleting", "deleted")


@dataclass
class Entry:
    """One resource as the ledger knows it: all that a delete needs, and its history."""

    key: str
    kind: str
    name: str
    location: str
    deps: list[str] = field(default_factory=list)
    state: str = "pending"
    request_id: str | None = None
    operation: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    deleted_at: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round(self.finished_at - self.started_at, 3)


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def private_dir(path: Path) -> Path:
    """`path` made (with its parents) and kept private: 0700 whatever the umask."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


class Ledger:
    """Thread-safe journal of one deployment; every mutation is persisted at once."""

    def __init__(self, path: Path, deployment: str, project: str) -> None:
        self.path = path
        self.deployment = deployment
        self.project = project
        self.entries: dict[str, Entry] = {}
        self._lock = threading.RLock()

    @classmethod
    @contextlib.contextmanager
    def open(cls, root: Path, deployment: str, project: str) -> Iterator[Ledger]:
        """Lock the deployment, load its ledger and yield it; the lock is released after."""
        directory = private_dir(root / deployment)
        lock_path = directory / "lock"
        with open(lock_path, "a+") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock_file.seek(0)
                holder = lock_file.read().strip() or "another process"
                raise LedgerLocked(
                    f"deployment {deployment!r} is in use by another oasis run ({holder})",
                    hint="Wait for it to finish, then run your command again.",
                ) from None
            lock_file.seek(0)
            lock_file.truncate()
            lock_file.write(f"pid {os.getpid()}")
            lock_file.flush()
            try:
                ledger = cls.load(directory / "ledger.json", deployment, project)
                yield ledger
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    @classmethod
    def load(cls, path: Path, deployment: str, project: str) -> Ledger:
        """The ledger at `path` (empty if there is none). A ledger that cannot be read
        is an error that names the backup kept beside it (the file as it was before
        the last write); fields a newer minor version added are ignored."""
        ledger = cls(path, deployment, project)
        if not path.exists():
            return ledger
        backup = backup_path(path)
        hint = (
            f"A copy from before the last write is at {backup}: `cp {backup} {path}` restores it."
            if backup.exists()
            else "Move it away to start over: oasis then finds resources by name."
        )
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise OasisError(f"{path}: ledger is not valid JSON ({exc})", hint=hint) from None
        if not isinstance(data, dict) or not isinstance(data.get("resources", {}), dict):
            raise OasisError(f"{path}: not an oasis ledger (no resources object)", hint=hint)
        version = data.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise OasisError(
                f"{path}: ledger version {version!r} is newer than this oasis reads ({VERSION})",
                hint="Upgrade oasis (`pip install -U oasis-cli`), then run the command again.",
            )
        if data.get("project") != project:
            raise OasisError(
                f"{path}: this deployment lives in project {data.get('project')!r}, "
                f"not {project!r}",
                hint="Set `project` to match, or use another `deployment` name.",
            )
        known = {f.name for f in fields(Entry)} - {"key"}
        for key, raw in data.get("resources", {}).items():
            if not isinstance(raw, dict) or raw.get("state", "pending") not in STATES:
                state = raw.get("state") if isinstance(raw, dict) else raw
                raise OasisError(f"{path}: entry {key!r} has an unknown state {state!r}", hint=hint)
            try:
                ledger.entries[key] = Entry(key=key, **{k: v for k, v in raw.items() if k in known})
            except TypeError as exc:
                raise OasisError(
                    f"{path}: entry {key!r} is incomplete ({exc})", hint=hint
                ) from None
        return ledger

    def save(self) -> None:
        with self._lock:
            document = {
                "version": VERSION,
                "deployment": self.deployment,
                "project": self.project,
                "updated_at": time.time(),
                "resources": {
                    key: {k: v for k, v in asdict(entry).items() if k != "key"}
                    for key, entry in self.entries.items()
                },
            }
            private_dir(self.path.parent)
            if self.path.exists():  # the last good ledger, kept for recovery
                copy = backup_path(self.path).with_suffix(".tmp")
                shutil.copyfile(self.path, copy)
                os.chmod(copy, 0o600)
                os.replace(copy, backup_path(self.path))
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def get(self, key: str) -> Entry | None:
        with self._lock:
            return self.entries.get(key)

    def journal_create(
        self, key: str, kind: str, name: str, location: str, deps: list[str]
    ) -> Entry:
        """Record a create as pending before its call; reuse a pending entry's request id."""
        with self._lock:
            entry = self.entries.get(key)
            if entry is None or entry.state != "pending" or entry.request_id is None:
                # Only a pending create may be retried under its request id: a failed or
                # finished operation answers the same request id with its old outcome.
                entry = Entry(key=key, kind=kind, name=name, location=location, deps=list(deps))
                entry.request_id = str(uuid.uuid4())
            entry.kind, entry.name, entry.location, entry.deps = kind, name, location, list(deps)
            entry.state = "pending"
            entry.error = None
            entry.started_at = time.time()
            entry.finished_at = None
            self.entries[key] = entry
            self.save()
            return entry

    def record(self, key: str, **changes: Any) -> Entry:
        """Apply changes to an entry and persist them."""
        with self._lock:
            entry = self.entries[key]
            state = changes.get("state")
            if state is not None and state not in STATES:
                raise ValueError(f"unknown ledger state {state!r}")
            for name, value in changes.items():
                setattr(entry, name, value)
            if state in ("done", "failed"):
                entry.finished_at = time.time()
            elif state == "deleted":
                entry.deleted_at = time.time()
            self.save()
            return entry

    def journal_delete(
        self, key: str, kind: str, name: str, location: str, deps: list[str]
    ) -> Entry:
        """Record a delete as `deleting` before its call, keeping a resumed delete's id."""
        with self._lock:
            entry = self.entries.get(key) or Entry(
                key=key, kind=kind, name=name, location=location, deps=list(deps)
            )
            if entry.state != "deleting" or entry.request_id is None:
                entry.request_id = str(uuid.uuid4())
            entry.state = "deleting"
            entry.error = None
            self.entries[key] = entry
            self.save()
            return entry

    def adopt(
        self,
        key: str,
        kind: str,
        name: str,
        location: str,
        deps: list[str],
        outputs: dict[str, Any],
    ) -> Entry:
        """Record an existing resource of ours as done (adopted or resolved on resume)."""
        with self._lock:
            entry = self.entries.get(key) or Entry(key=key, kind=kind, name=name, location=location)
            was_done = entry.state == "done"
            entry.kind, entry.name, entry.location, entry.deps = kind, name, location, list(deps)
            entry.state = "done"
            entry.outputs = outputs
            entry.error = None
            if entry.started_at is None:
                entry.started_at = time.time()
            if not was_done or entry.finished_at is None:
                entry.finished_at = time.time()
            self.entries[key] = entry
            self.save()
            return entry
