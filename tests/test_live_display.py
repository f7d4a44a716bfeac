"""The live display on a real terminal (tmux, 120x35) at a realistic latency scale:
it fits, folds what is done into counts, ticks, says what each running resource is
doing, asks with the plan's counts, and acknowledges Ctrl-C at once. Piped, rows keep
full names in aligned columns."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

WIDTH, HEIGHT = 120, 35
needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    """One command in a detached tmux session of its own (its own server socket)."""

    def __init__(self, workspace: Path, command: str, scale: str) -> None:
        self.socket = str(workspace / "tmux.sock")
        env = {
            "OASIS_LOCAL_LATENCY_SCALE": scale,
            "OASIS_LOCAL_RAY": "0",
            "NO_GCE_CHECK": "true",
            "CLOUDSDK_CONFIG": str(workspace / "gcloud"),
            "TERM": "xterm-256color",
            "PYTHONPATH": os.pathsep.join(sys.path),
        }
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        script = (
            # the terminal's own size, not one a test runner exported (COLUMNS=80)
            f"cd {shlex.quote(str(workspace))} && env -u COLUMNS -u LINES {exports} "
            f"{shlex.quote(sys.executable)} "
            f"-m oasis_cli {command}; echo EXIT=$?; sleep 600"
        )
        self._tmux("new-session", "-d", "-s", "t", "-x", str(WIDTH), "-y", str(HEIGHT), script)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def screen(self) -> list[str]:
        return self._tmux("capture-pane", "-p", "-t", "t").splitlines()

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def wait_for(self, found: Callable[[list[str]], bool], deadline_s: float = 90) -> list[str]:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            lines = self.screen()
            if found(lines):
                return lines
            time.sleep(0.2)
        raise AssertionError("not on the screen:\n" + "\n".join(self.screen()))

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


HEADER = re.compile(r"^up (\d+)/(\d+) done · (\d+) running · (\d+) waiting · (\d+) failed · (\S+)$")


def header(lines: list[str]) -> re.Match[str] | None:
    return next((m for line in lines if (m := HEADER.match(line.strip()))), None)


@needs_tmux
def test_the_live_view_fits_ticks_says_what_runs_and_acknowledges_ctrl_c(workspace):
    terminal = Terminal(workspace, "--local up --yes", scale="0.05")
    try:
        # the cluster's create is the long pole: wait until it is the one running
        lines = terminal.wait_for(lambda s: any("creating cluster, " in line for line in s))
        first = header(lines)
        assert first is not None, lines
        assert int(first.group(2)) == 41
        assert any(line.startswith("  done: ") and "created" in line for line in lines)
        assert len(lines) <= HEIGHT and all(len(line) <= WIDTH for line in lines)
        assert not [line for line in lines if line.strip() in ("...", "…")]
        running = [line for line in lines if line.startswith("running") or "creating" in line[:9]]
        assert running, lines
        assert all(re.search(r"\w+ [\w ]+, \d+(m\d\ds)?s", r) for r in running)
        assert not [line for line in lines if "operation-" in line]  # no raw operation ids

        # time ticks between state changes: the header's elapsed moves on its own
        def ticked(screen: list[str]) -> bool:
            now = header(screen)
            return now is not None and now.group(6) != first.group(6)

        terminal.wait_for(ticked, deadline_s=10)

        terminal.keys("C-c")
        after = terminal.wait_for(lambda s: any(line.startswith("EXIT=") for line in s), 30)
        assert any("interrupted: stopping" in line for line in after)
        assert "EXIT=130" in after
    finally:
        terminal.close()


@needs_tmux
def test_the_plan_before_the_prompt_ends_with_its_counts(workspace):
    terminal = Terminal(workspace, "--local up", scale="0")
    try:
        lines = terminal.wait_for(lambda s: any("Apply?" in line for line in s), 60)
        assert any(line.startswith("40 to create, 1 to change. Apply?") for line in lines), lines
        terminal.keys("n", "Enter")
        after = terminal.wait_for(lambda s: any(line.startswith("EXIT=") for line in s), 30)
        assert "EXIT=1" in after and any("nothing was changed" in line for line in after)
    finally:
        terminal.close()


def test_piped_rows_keep_full_names_in_aligned_columns(oasis):
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    rows = [
        line for line in result.stderr.splitlines() if line.startswith(("  created", "  updated"))
    ]
    assert len(rows) == 41
    assert any("address:worker-pool-range" in row for row in rows)  # not cut
    assert any("servicenetworking-googleapis-com" in row for row in rows)
    starts = {row.index(row.split()[2]) for row in rows}  # where the name column begins
    assert len(starts) == 1
    ends = {len(row) for row in rows}  # the elapsed column ends every row
    assert len(ends) == 1
