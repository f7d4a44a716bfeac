"""Progress for people, detail in a log file, JSON for scripts.

`Reporter` shows one line per resource (state, elapsed, operation): a live table on
a terminal, one printed line per finished step otherwise, nothing in JSON mode
(the command prints one JSON document at the end). Every transition also goes to
the log file whose path the command prints.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from oasis_cli.graph import Node

log = logging.getLogger("oasis")

FINAL = {
    "created",
    "updated",
    "adopted",
    "unchanged",
    "deleted",
    "absent",
    "kept",
    "failed",
    "conflict",
}
STYLE = {
    "created": "green",
    "updated": "yellow",
    "adopted": "cyan",
    "unchanged": "dim",
    "deleted": "green",
    "absent": "dim",
    "kept": "yellow",
    "failed": "bold red",
    "conflict": "bold red",
    "waiting": "dim",
}


def shown(node: Node) -> tuple[str, str]:
    """What a row calls a node: its key and name, except a Kubernetes object, which
    reads as kubectl names it (`ServiceAccount default/oasis-ray`), not by its key."""
    if node.kind == "kubernetes.object":
        _, kind, where = node.name.split(" ")
        return kind, where
    return node.key, node.name


@dataclass
class Line:
    label: str  # the resource column: the node's key, or a Kubernetes object's kind
    name: str
    state: str = "waiting"
    detail: str = ""
    operation: str = ""
    started: float | None = None
    ended: float | None = None

    def elapsed(self) -> str:
        if self.started is None:
            return ""
        return f"{(self.ended or time.monotonic()) - self.started:5.1f}s"


@dataclass
class Reporter:
    console: Console
    json_mode: bool = False
    lines: dict[str, Line] = field(default_factory=dict)
    _live: Live | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, nodes: Iterable[Node]) -> None:
        self.lines = {node.key: Line(*shown(node)) for node in nodes}
        if not self.json_mode and self.console.is_terminal:
            self._live = Live(self._table(), console=self.console, refresh_per_second=8)
            self._live.start()

    def update(self, key: str, state: str, detail: str = "", *, operation: str = "") -> None:
        with self._lock:
            line = self.lines.setdefault(key, Line(key, key))
            if line.started is None:
                line.started = time.monotonic()
            line.state = state
            line.detail = detail or line.detail
            line.operation = operation or line.operation
            if state in FINAL:
                line.ended = time.monotonic()
            log.info("%s %s %s %s", key, state, operation or line.operation, detail)
            if self._live is not None:
                self._live.update(self._table())
            elif not self.json_mode and state in FINAL:
                self.console.print(self._row_text(line), highlight=False, soft_wrap=True)

    def lines_of(self, key: str, lines: Sequence[str]) -> None:
        """Output of a resource's work (a build's log), shown as it arrives."""
        with self._lock:
            for line in lines:
                log.info("%s | %s", key, line)
                if self.json_mode:
                    continue
                console = self._live.console if self._live is not None else self.console
                console.print(f"  [dim]{key} |[/] {escape(line)}", highlight=False, soft_wrap=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None

    def _row_text(self, line: Line) -> str:
        style = STYLE.get(line.state, "")
        text = f"  [{style}]{line.state:<9}[/] {line.label:<20} {line.name:<28} {line.elapsed()}"
        if line.detail and line.state in ("failed", "conflict", "kept"):
            text += f"  {line.detail.splitlines()[0]}"  # the whole message comes at the end
        return text

    def _table(self) -> Table:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for column in ("state", "resource", "name", "elapsed", "operation"):
            table.add_column(column)
        for line in self.lines.values():
            style = STYLE.get(line.state, "")
            table.add_row(
                f"[{style}]{line.state}[/]" if style else line.state,
                line.label,
                line.name,
                line.elapsed(),
                line.operation,
            )
        return table


def setup_logging(path: Path, *, debug: bool) -> None:
    """Send oasis's log to `path` (and to stderr with --debug)."""
    from oasis_cli.ledger import private_dir

    private_dir(path.parent)
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)  # logs name resources and accounts: the owner's only
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_oasis", False):
            root.removeHandler(old)
            old.close()
    handler: logging.Handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._oasis = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if debug:
        stream = logging.StreamHandler(sys.stderr)
        stream._oasis = True  # type: ignore[attr-defined]
        root.addHandler(stream)
    root.setLevel(logging.DEBUG if debug else logging.INFO)


def print_json(document: Any) -> None:
    """One JSON document on stdout, with stable keys, for scripts."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


def plan_table(plans: Sequence[Any]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("action", "resource", "name", "location", "changes"):
        table.add_column(column)
    for item in plans:
        changes = "; ".join(str(change) for change in item.changes) or item.reason
        style = {"create": "green", "update": "yellow", "conflict": "bold red"}.get(
            item.action.value, "dim"
        )
        table.add_row(
            f"[{style}]{item.action.value}[/]",
            item.node.key,
            item.node.name,
            item.node.location,
            changes,
        )
    return table
