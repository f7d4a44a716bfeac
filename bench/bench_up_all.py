"""Measure what `oasis up --all` (one graph) saves over its three steps run one
after the other (`up`, `build-images`, `ray deploy`).

Each variant runs against a fresh local cloud with realistic durations scaled by
--scale (a build takes 5-20 simulated minutes, the cluster 8); the steps variant is
the baseline. Prints wall times and the ratio. Figures, not pass/fail.

    python bench/bench_up_all.py [--scale 0.01]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def run(args: list[str], cwd: str, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "oasis_cli", "--local", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )


def measure(commands: list[list[str]], scale: float) -> float:
    with tempfile.TemporaryDirectory() as workdir:
        env = {
            **os.environ,
            "NO_GCE_CHECK": "true",
            "OASIS_LOCAL_LATENCY_SCALE": str(scale),
            "OASIS_LOCAL_RAY": "0",  # the simulated head only: Ray start-up is not ours
        }
        started = time.perf_counter()
        for command in commands:
            run(command, workdir, env)
        elapsed = time.perf_counter() - started
        run(["down", "--yes"], workdir, env)
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.01)
    args = parser.parse_args()
    steps = measure([["up", "--yes"], ["build-images"], ["ray", "deploy"]], args.scale)
    together = measure([["up", "--all", "--yes"]], args.scale)
    print(f"latency scale {args.scale} (realistic durations x {args.scale})")
    print(f"{'three steps':14}{steps:8.2f}s  (baseline)")
    print(f"{'up --all':14}{together:8.2f}s  {steps / together:.2f}x")


if __name__ == "__main__":
    main()
