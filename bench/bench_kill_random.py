"""Kill `oasis --local up --all` and `down` at random moments, then let a rerun finish:
count what converged, what was made twice, and what was left behind.

Each trial runs in a fresh directory: `up --all` is SIGKILLed after a random delay
(within the time a whole run takes), run again to the end, then `down` the same way.
A duplicate is a second compute insert for one resource or a second build of one image;
a leak is anything oasis made, but the kept data bucket and the enabled APIs, left after
the final `down`. Figures, not
pass/fail.

    python bench/bench_kill_random.py [--trials 20] [--scale 0.002] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from oasis_cli.localcloud.cloud import LocalCloud
from oasis_cli.localcloud.infra import operations
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.store import Store

DATA_BUCKET = "oasis-local-oasis-data"  # kept by `down`, as the APIs it enabled
NOT_OURS = {"binaryauthorization#attestor"}  # Cloud Build makes it with its first build


def oasis(workdir: str, env: dict[str, str], *args: str, kill_after: float | None) -> int:
    child = subprocess.Popen(
        [sys.executable, "-m", "oasis_cli", "--local", *args, "--yes"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if kill_after is not None:
        try:
            return child.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
    return child.wait()


def duplicates(cloud_dir: Path) -> int:
    """Second compute inserts for one target, and second builds of one image."""
    with Store(cloud_dir).transaction() as world:
        compute_ops = operations.records(world, "compute").values()
        inserts = Counter(op["targetLink"] for op in compute_ops if op["operationType"] == "insert")
        builds = Counter(
            tuple(sorted(build.get("images", [])))
            for build in world_tables.table("cloudbuild", "builds").rows(world).values()
        )
    return sum(n - 1 for n in inserts.values()) + sum(n - 1 for n in builds.values())


def leaks(cloud_dir: Path) -> list[str]:
    with LocalCloud(cloud_dir) as cloud:
        items = cloud.inventory()
    return [
        f"{i['kind']} {i['name']}"
        for i in items
        if i["service"] != "serviceusage" and i["kind"] not in NOT_OURS and i["name"] != DATA_BUCKET
    ]


def trial(rng: random.Random, scale: float, full_up_s: float, full_down_s: float) -> dict:
    with tempfile.TemporaryDirectory() as workdir:
        env = {**os.environ, "NO_GCE_CHECK": "true", "OASIS_LOCAL_LATENCY_SCALE": str(scale)}
        env["OASIS_LOCAL_RAY"] = "0"
        cloud_dir = Path(workdir) / ".oasis" / "local" / "cloud"
        oasis(workdir, env, "up", "--all", kill_after=rng.uniform(0.3, full_up_s))
        up_ok = oasis(workdir, env, "up", "--all", kill_after=None) == 0
        oasis(workdir, env, "down", kill_after=rng.uniform(0.3, full_down_s))
        down_ok = oasis(workdir, env, "down", kill_after=None) == 0
        return {
            "converged": up_ok and down_ok,
            "duplicates": duplicates(cloud_dir),
            "leaks": leaks(cloud_dir),
        }


def timed_full_run(scale: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as workdir:
        env = {**os.environ, "NO_GCE_CHECK": "true", "OASIS_LOCAL_LATENCY_SCALE": str(scale)}
        env["OASIS_LOCAL_RAY"] = "0"
        started = time.perf_counter()
        oasis(workdir, env, "up", "--all", kill_after=None)
        up_s = time.perf_counter() - started
        started = time.perf_counter()
        oasis(workdir, env, "down", kill_after=None)
        return up_s, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--scale", type=float, default=0.002)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    full_up_s, full_down_s = timed_full_run(args.scale)
    results = [trial(rng, args.scale, full_up_s, full_down_s) for _ in range(args.trials)]
    converged = sum(r["converged"] for r in results)
    print(f"latency scale {args.scale}; a whole up --all {full_up_s:.1f}s, down {full_down_s:.1f}s")
    print(f"trials (one random SIGKILL of up --all and one of down each): {args.trials}")
    print(f"converged            {converged}/{args.trials}")
    print(f"duplicates           {sum(r['duplicates'] for r in results)}")
    print(f"leaked resources     {sum(len(r['leaks']) for r in results)}")
    for leak in sorted({leak for r in results for leak in r["leaks"]}):
        print(f"  leaked: {leak}")
    print(json.dumps({"converged": converged, "trials": args.trials}))


if __name__ == "__main__":
    main()
