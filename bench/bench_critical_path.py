"""Measure `oasis --local up` against the critical path of the local cloud's latency model.

The bench computes, from the default deployment's graph and the durations the local
cloud's services model (an operation's create time, a new service account's lag until
other services accept it), the earliest time a perfect scheduler could finish `up`:
the longest path through the graph. It then runs `up` at that latency scale on a
fresh local cloud and prints wall time / critical path. 1.00 would be a scheduler that
never waits longer than the cloud does; what is above it is polling, retries and
oasis's own work. Figures, not pass/fail.

    python bench/bench_critical_path.py [--scale 0.05] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from oasis_cli.config.model import Config
from oasis_cli.config.names import resolve
from oasis_cli.graph import Node
from oasis_cli.graphs import infrastructure_nodes
from oasis_cli.localcloud.gcp import (
    compute,
    container,
    iam,
    peering,
    projects,
    registry,
    workerpools,
)

DURATIONS_S = {
    "serviceusage.apis": projects.ENABLE_S,
    "compute.network": compute.COLLECTIONS["networks"].create_s,
    "compute.subnetwork": compute.COLLECTIONS["subnetworks"].create_s,
    "compute.firewall": compute.COLLECTIONS["firewalls"].create_s,
    "compute.router": compute.COLLECTIONS["routers"].create_s,
    "compute.globalAddress": compute.COLLECTIONS["globalAddresses"].create_s,
    "servicenetworking.connection": peering.CONNECT_S,
    "cloudbuild.workerPool": workerpools.POOL_S,
    "artifactregistry.repository": registry.CREATE_S,
    "container.cluster": container.CLUSTER_S,
    "container.nodePool": container.POOL_S,
    "iam.serviceAccount": iam.READ_LAG_S,  # `up` waits until reads see the account
}
"""Modeled seconds from a node's create call until it is done; kinds not named are
instant (buckets, secrets, IAM bindings)."""


def critical_path(nodes: list[Node]) -> tuple[float, list[str]]:
    """The earliest finish of the whole graph and the chain of keys that sets it. A node
    that names a service account also cannot start before the account is usable
    (`iam.USE_LAG_S` after its create was sent)."""
    by_key = {node.key: node for node in nodes}
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}

    def earliest(key: str) -> float:
        if key in finish:
            return finish[key]
        node = by_key[key]
        start, before = 0.0, None
        for dep in node.deps:
            ready = earliest(dep)
            if by_key[dep].kind == "iam.serviceAccount":
                ready += iam.USE_LAG_S - iam.READ_LAG_S
            if ready > start:
                start, before = ready, dep
        finish[key] = start + DURATIONS_S.get(node.kind, 0.0)
        via[key] = before
        return finish[key]

    last = max(by_key, key=earliest)
    chain: list[str] = []
    key: str | None = last
    while key is not None:
        chain.append(key)
        key = via[key]
    return finish[last], list(reversed(chain))


def timed_up(scale: float) -> float:
    with tempfile.TemporaryDirectory() as workdir:
        env = {**os.environ, "NO_GCE_CHECK": "true", "OASIS_LOCAL_LATENCY_SCALE": str(scale)}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "oasis_cli", "--local", "up", "--yes"],
            cwd=workdir,
            env=env,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=1, help="runs of `up` (median)")
    args = parser.parse_args()
    path_s, chain = critical_path(infrastructure_nodes(resolve(Config(), "oasis-local")))
    wall = statistics.median(timed_up(args.scale) for _ in range(args.runs))
    scaled = path_s * args.scale
    print(f"latency scale {args.scale} (realistic durations x {args.scale})")
    print(f"critical path   {scaled:8.2f}s  ({path_s:.0f} s modeled: {' -> '.join(chain)})")
    print(f"up (wall)       {wall:8.2f}s")
    print(f"wall / path     {wall / scaled:8.2f}x")


if __name__ == "__main__":
    main()
