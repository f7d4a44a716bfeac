"""Measure how much parallel scheduling saves on `oasis --local up` and `down`.

Runs each command against a fresh local cloud with realistic operation durations
scaled by --scale, once with parallelism 1 (the baseline) and once with the default
parallelism, and prints wall times and the speed-up ratio. Figures, not pass/fail.

    python bench/bench_up.py [--scale 0.02] [--parallelism 8]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def timed(args: list[str], cwd: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "oasis_cli", "--local", *args, "--yes"],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def measure(parallelism: int, scale: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as workdir:
        env = {
            **os.environ,
            "NO_GCE_CHECK": "true",
            "OASIS_LOCAL_LATENCY_SCALE": str(scale),
            "OASIS_RUN_PARALLELISM": str(parallelism),
        }
        return timed(["up"], workdir, env), timed(["down"], workdir, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--parallelism", type=int, default=8)
    args = parser.parse_args()
    base_up, base_down = measure(1, args.scale)
    par_up, par_down = measure(args.parallelism, args.scale)
    print(f"latency scale {args.scale} (realistic durations x {args.scale})")
    print(f"{'':12}{'parallelism 1':>15}{f'parallelism {args.parallelism}':>17}{'speed-up':>10}")
    print(f"{'up':12}{base_up:14.2f}s{par_up:16.2f}s{base_up / par_up:9.2f}x")
    print(f"{'down':12}{base_down:14.2f}s{par_down:16.2f}s{base_down / par_down:9.2f}x")


if __name__ == "__main__":
    main()
