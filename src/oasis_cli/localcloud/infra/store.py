"""The local cloud's world: held in memory by the serving process, persisted on disk so
that separate processes share one cloud.

`transaction()` takes a thread lock and a file lock and yields the world. It reloads
`state.json` only when another process wrote it since (its stat changed); when the
world changed, it writes an atomic snapshot (temp file, fsync, rename). A transaction
that raises leaves the world as its last snapshot: nothing a failed request half did
survives. Transactions nest on one thread (a request's handler inside `dispatch`);
`checkpoint()` commits what the outer one did so far, so a failing request keeps the
operations that advanced before it. `requests.jsonl` is the request log and
`faults.json` the fault rules.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class Store:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.state_path = directory / "state.json"
        self.log_path = directory / "requests.jsonl"
        self.faults_path = directory / "faults.json"
        self._lock = threading.RLock()
        self._depth = 0  # nesting of locked() on the thread holding _lock
        self._world: dict[str, Any] = {}
        self._text = _dumps({})  # the world as last read or written
        self._stamp: tuple[int, int, int] | None = None  # state.json's stat then

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive access to the directory, across threads and processes."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with open(self.directory / "lock", "a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
                    fcntl.flock(lock_file, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        with self.locked():
            outermost = self._depth == 1
            if outermost:
                self._refresh()
            try:
                yield self._world
            except BaseException:
                if outermost:
                    self._world = json.loads(self._text)
                raise
            if outermost:
                self.checkpoint()

    def checkpoint(self) -> None:
        """Persist the world as it is now (inside a transaction)."""
        text = _dumps(self._world)
        if text != self._text:
            self._write_text(self.state_path, text)
            self._text = text
            self._stamp = self._stat()

    def read(self) -> dict[str, Any]:
        """A copy of the whole world."""
        with self.transaction():
            world: dict[str, Any] = json.loads(self._text)
            return world

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            found = os.stat(self.state_path)
        except FileNotFoundError:
            return None
        return (found.st_ino, found.st_mtime_ns, found.st_size)

    def _refresh(self) -> None:
        """Load what another process wrote since this one last read or wrote."""
        stamp = self._stat()
        if stamp == self._stamp:
            return
        text = self.state_path.read_text() if stamp is not None else ""
        self._world = json.loads(text) if text.strip() else {}
        self._text = _dumps(self._world)
        self._stamp = stamp

    def append_log(self, record: dict[str, Any]) -> None:
        with self._lock, open(self.log_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def read_log(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def read_faults(self) -> list[dict[str, Any]]:
        if not self.faults_path.exists():
            return []
        text = self.faults_path.read_text()
        rules = json.loads(text) if text.strip() else []
        return rules if isinstance(rules, list) else []

    def write_faults(self, rules: list[dict[str, Any]]) -> None:
        self._write_text(self.faults_path, json.dumps(rules, indent=1))

    @staticmethod
    def _write_text(path: Path, text: str) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
