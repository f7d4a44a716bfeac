"""The local cloud's world, persisted on disk so separate processes share one cloud.

`state.json` holds every simulated resource and operation; `transaction()` takes a
process lock and a file lock, loads it, yields it, and writes it back atomically if
it changed. `requests.jsonl` is the request log; `faults.json` the fault rules.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Store:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.state_path = directory / "state.json"
        self.log_path = directory / "requests.jsonl"
        self.faults_path = directory / "faults.json"
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive access to the directory, across threads and processes."""
        with self._lock, open(self.directory / "lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        with self.locked():
            world = self._read(self.state_path, {})
            before = copy.deepcopy(world)
            yield world
            if world != before:
                self._write(self.state_path, world)

    def read(self) -> dict[str, Any]:
        with self.transaction() as world:
            return copy.deepcopy(world)

    def append_log(self, record: dict[str, Any]) -> None:
        with self._lock, open(self.log_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def read_log(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def read_faults(self) -> list[dict[str, Any]]:
        rules = self._read(self.faults_path, [])
        return rules if isinstance(rules, list) else []

    def write_faults(self, rules: list[dict[str, Any]]) -> None:
        self._write(self.faults_path, rules)

    @staticmethod
    def _read(path: Path, default: Any) -> Any:
        if not path.exists():
            return default
        text = path.read_text()
        return json.loads(text) if text.strip() else default

    @staticmethod
    def _write(path: Path, data: Any) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "w") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
