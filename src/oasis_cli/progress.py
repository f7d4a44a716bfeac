"""Progress of a graph run for people; every transition also goes to the log file.

On a terminal, a live view that fits the screen and moves: a header with the
overall progress and the elapsed time, what is done folded into counts, then one
row per resource that is running or has failed, each with its elapsed time and
what it is doing ("creating cluster, 4m12s"). It redraws four times a second, so
times tick between state changes. Rows that do not fit are counted, never cut.

Piped (not a terminal), one line per finished step, with full names in aligned
columns; in JSON mode nothing (the command prints one document at the end).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from oasis_cli.graph import Node

log = logging.getLogger("oasis")

FAILED = {"failed", "conflict"}
FINAL = {"created", "updated", "adopted", "unchanged", "deleted", "absent", "kept", *FAILED}
VERBS = {"checking", "creating", "updating", "deleting"}  # what a running row is doing
STYLE = {
    "created": "green",
    "updated": "yellow",
    "adopted": "cyan",
    "unchanged": "dim",
    "deleted": "green",
    "absent": "dim",
    "kept": "cyan",
    "failed": "bold red",
    "conflict": "bold red",
    "waiting": "dim",
}
CHROME = 5  # lines around the rows: header, counts, table header, overflow, margin


def duration(seconds: float) -> str:
    """`42s`, `4m12s`, `1h03m`: readable, and a tick every second."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def shown(node: Node) -> tuple[str, str]:
    """What a row calls a node: its key and name, except a Kubernetes object, which
    reads as kubectl names it (`ServiceAccount default/oasis-ray`), not by its key."""
    if node.kind == "kubernetes.object":
        _, kind, where = node.name.split(" ")
        return kind, where
    return node.key, node.name


def noun(node: Node) -> str:
    """What kind of thing a node is, in words: `container.nodePool` -> `node pool`."""
    if node.kind == "kubernetes.object":
        return shown(node)[0]
    last = node.kind.rsplit(".", 1)[-1]
    return re.sub(r"(?<!^)([A-Z])", r" \1", last).lower()


@dataclass
class Line:
    label: str  # the resource column: the node's key, or a Kubernetes object's kind
    name: str
    noun: str = "resource"
    state: str = "waiting"
    verb: str = ""  # the last of VERBS this resource was in
    detail: str = ""
    started: float | None = None
    ended: float | None = None

    def seconds(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or time.monotonic()) - self.started

    def doing(self) -> str:
        """`creating cluster, 4m12s` (and the latest progress, if any)."""
        text = f"{self.verb or self.state} {self.noun}, {duration(self.seconds())}"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass
class Reporter:
    console: Console
    json_mode: bool = False
    title: str = ""  # the command, in the header
    lines: dict[str, Line] = field(default_factory=dict)
    _live: Live | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: float = field(default_factory=time.monotonic)
    _widths: tuple[int, int] = (20, 28)

    def start(self, nodes: Iterable[Node]) -> None:
        self.lines = {node.key: Line(*shown(node), noun=noun(node)) for node in nodes}
        self._started = time.monotonic()
        labels = [line.label for line in self.lines.values()] or [""]
        names = [line.name for line in self.lines.values()] or [""]
        self._widths = (max(map(len, labels)), max(map(len, names)))
        if not self.json_mode and self.console.is_terminal:
            self._live = Live(
                console=self.console,
                get_renderable=self._view,
                refresh_per_second=4,
                transient=False,
                vertical_overflow="crop",
            )
            self._live.start()

    def update(self, key: str, state: str, detail: str = "", *, operation: str = "") -> None:
        with self._lock:
            line = self.lines.setdefault(key, Line(key, key))
            if line.started is None:
                line.started = time.monotonic()
            if state in VERBS:
                line.verb = state
            elif state == "running" and not line.verb:
                line.verb = "working on"
            line.state = state
            line.detail = detail or line.detail
            if state in FINAL:
                line.ended = time.monotonic()
            log.info("%s %s %s %s", key, state, operation, detail)
            if self._live is None and not self.json_mode and state in FINAL:
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

    def interrupted(self) -> None:
        """Ctrl-C: say so at once, above the live view."""
        if self._live is not None:
            self._live.console.print(
                "[yellow]interrupted[/]: stopping; what already runs in the cloud goes on",
                highlight=False,
            )

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()  # draws the view a last time
            self._live = None

    def _row_text(self, line: Line) -> str:
        style = STYLE.get(line.state, "")
        label, name = self._widths
        text = (
            f"  [{style}]{line.state:<9}[/] {escape(line.label):<{label}}  "
            f"{escape(line.name):<{name}}  {line.seconds():6.1f}s"
        )
        if line.detail and line.state in (*FAILED, "kept"):
            text += f"  {escape(line.detail.splitlines()[0])}"  # the whole message comes at the end
        return text

    def _view(self) -> RenderableType:
        with self._lock:
            lines = list(self.lines.values())
        done = [line for line in lines if line.state in FINAL - FAILED]
        failed = [line for line in lines if line.state in FAILED]
        active = [line for line in lines if line.state not in FINAL and line.started]
        waiting = len(lines) - len(done) - len(failed) - len(active)
        header = Text.assemble(
            (f"{self.title or 'run'} ", "bold"),
            f"{len(done) + len(failed)}/{len(lines)} done · {len(active)} running · "
            f"{waiting} waiting · ",
            (f"{len(failed)} failed", "bold red" if failed else ""),
            f" · {duration(time.monotonic() - self._started)}",
        )
        counts = Counter(line.state for line in done)
        folded = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        parts: list[RenderableType] = [header, Text(f"  done: {folded or 'nothing yet'}", "dim")]
        rows = failed + active
        room = max(1, self.console.size.height - CHROME)
        shown_rows, hidden = rows[:room], len(rows) - min(len(rows), room)
        if shown_rows:
            table = Table(box=None, pad_edge=False, header_style="bold", expand=False)
            widths = (9, *self._widths)  # whole state, resource and name; "doing" gives way
            for column, width in zip(("state", "resource", "name"), widths, strict=True):
                table.add_column(column, no_wrap=True, min_width=width)
            table.add_column("doing", no_wrap=True, overflow="ellipsis")
            for line in shown_rows:
                style = STYLE.get(line.state, "")
                doing = line.detail.splitlines()[0] if line.state in FAILED else line.doing()
                table.add_row(
                    Text(line.state, style), line.label, line.name, Text(doing, style or "")
                )
            parts.append(table)
        if hidden:
            parts.append(Text(f"  … and {hidden} more running", "dim"))
        return Group(*parts)
