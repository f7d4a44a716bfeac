"""Measure a no-op `oasis --local up` on a finished deployment against the bare import
time of the client libraries that run loads, in the same run.

A re-run that has nothing to do should cost little more than loading Google's client
libraries (which oasis cannot avoid): the ratio says how close it is, in wall time
and in CPU time (steadier on a shared machine), against the plain import and against
the import under the garbage-collector settings oasis runs with (`gc_tuning`), so
that the ratio compares like with like. `oasis --help` is timed beside them.
Figures, not pass/fail.

    python bench/bench_noop_up.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

LOADED = (
    "import sys\n"
    "sys.argv = ['oasis', '--local', 'up', '--yes']\n"
    "from oasis_cli.cli import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "roots = ('google.cloud.', 'google.auth.transport.', 'grpc', 'kubernetes')\n"
    "found = sorted({m for m in sys.modules if m.startswith(roots) and m.count('.') <= 3})\n"
    "print(json.dumps(found))\n"
)


def timed(command: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median(command: list[str], cwd: str, env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall and median CPU seconds over `runs` runs."""
    samples = [timed(command, cwd, env) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        # as installed code runs: with its bytecode cached (this machine's environment
        # sets PYTHONDONTWRITEBYTECODE, which makes every run compile oasis again)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env = {
            **env,
            "NO_GCE_CHECK": "true",
            "CLOUDSDK_CONFIG": os.path.join(workdir, "gcloud"),
            "OASIS_LOCAL_LATENCY_SCALE": "0",
            "OASIS_LOCAL_RAY": "0",
        }
        oasis = [sys.executable, "-m", "oasis_cli"]
        timed([*oasis, "--local", "up", "--yes"], workdir, env)  # the finished deployment
        probe = subprocess.run(
            [sys.executable, "-c", "import json\n" + LOADED],
            cwd=workdir,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        libraries = json.loads(probe.stdout.strip().splitlines()[-1])
        imports = "import " + ", ".join(libraries)
        bare = median([sys.executable, "-c", imports], workdir, env, args.runs)
        tuned_import = f"from oasis_cli import gc_tuning\ngc_tuning.tune()\n{imports}"
        tuned = median([sys.executable, "-c", tuned_import], workdir, env, args.runs)
        noop = median([*oasis, "--local", "up", "--yes"], workdir, env, args.runs)
        help_s, _ = median([*oasis, "--help"], workdir, env, args.runs)
        python, _ = median([sys.executable, "-c", "pass"], workdir, env, args.runs)
    print(f"client libraries a no-op up loads: {len(libraries)} modules")
    print(f"{'':36} {'wall':>7} {'cpu':>7}")
    print(f"{'bare import of those libraries':36} {bare[0]:6.2f}s {bare[1]:6.2f}s")
    print(f"{'  the same, with oasis GC settings':36} {tuned[0]:6.2f}s {tuned[1]:6.2f}s")
    print(f"{'no-op `oasis --local up`':36} {noop[0]:6.2f}s {noop[1]:6.2f}s")
    print(f"{'  ratio to the bare import':36} {noop[0] / bare[0]:6.2f}x {noop[1] / bare[1]:6.2f}x")
    print(
        f"{'  ratio, both with oasis GC settings':36} {noop[0] / tuned[0]:6.2f}x "
        f"{noop[1] / tuned[1]:6.2f}x"
    )
    print(f"{'`oasis --help`':36} {help_s:6.2f}s  (python -c pass: {python:.2f}s)")


if __name__ == "__main__":
    main()
