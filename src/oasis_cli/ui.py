"""Detail in a log file, JSON for scripts, the plan as a table (a run's progress
for people is `progress`)."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

log = logging.getLogger("oasis")


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
