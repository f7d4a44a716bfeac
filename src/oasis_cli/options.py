"""The global command-line options, as the CLI parsed them (cheap to import: the
start-up path of every command, `--help` included)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console


@dataclass(frozen=True)
class Options:
    """The global command-line options."""

    config_path: Path = Path("oasis.toml")
    config_explicit: bool = False  # named by --config or OASIS_CONFIG: it must exist
    local: bool = False
    yes: bool = False
    output: str = "text"
    debug: bool = False
    overrides: tuple[str, ...] = ()
    stdout: Console = field(default_factory=Console)
    stderr: Console = field(default_factory=lambda: Console(stderr=True))

    @property
    def json(self) -> bool:
        return self.output == "json"

    @property
    def state_root(self) -> Path:
        """`.oasis/` beside the config file (`.oasis/local/` for the local cloud)."""
        base = Path(os.environ.get("OASIS_STATE_DIR") or self.config_path.parent / ".oasis")
        return base / "local" if self.local else base

    @property
    def local_cloud_dir(self) -> Path:
        return self.state_root / "cloud"
