"""Multi-node NCCL bandwidth of the GPU fabric: all_gather and all_reduce over message
sizes from 1 MiB to 8 GiB, one rank per GPU, reported as nccl-tests reports them.

Ranks: one Ray actor per GPU (8 per node), placed by a placement group with one
bundle per node and STRICT_SPREAD, so N nodes carry exactly 8 ranks each; rank
r = node * 8 + local GPU.

Figures, as nccl-tests defines them (NVIDIA/nccl-tests doc/PERFORMANCE.md):
- size S is the operation's buffer in bytes: all_reduce's buffer, all_gather's
  gathered output (each rank sends S / n);
- time t is the mean of `--iters` timed iterations after `--warmup` untimed ones,
  the slowest rank's (the op is done when the last rank is);
- algorithm bandwidth algbw = S / t;
- bus bandwidth busbw = algbw * 2(n-1)/n for all_reduce, algbw * (n-1)/n for
  all_gather: the per-link load, comparable with the hardware's peak.

With NCCL the run forces `NCCL_NET=gIB`, the gIB plugin the installer puts on every
node: if the plugin cannot load, NCCL fails ("network gIB not found") rather than
falling back to TCP and passing slowly. Published reference for 2 A3 Ultra nodes
(16 H200): about 325-333 GB/s all_gather bus bandwidth at 8 GiB.

`--cpu` checks the plumbing without GPUs: the gloo backend on CPU tensors, small
sizes, `--gpus-per-node` ranks per bundle of CPUs.

Output: a table per operation and one line `NCCL_TEST_RESULT {json}` (also written
to `--json PATH`).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from typing import Any

import ray
import torch
import torch.distributed as dist
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

MiB, GiB = 1 << 20, 1 << 30
OPS = ("all_gather", "all_reduce")
BUS_FACTOR = {"all_reduce": lambda n: 2 * (n - 1) / n, "all_gather": lambda n: (n - 1) / n}


def sizes(smallest: int, largest: int) -> list[int]:
    """Powers of two from `smallest` to `largest` bytes, both included."""
    found, size = [], smallest
    while size <= largest:
        found.append(size)
        size *= 2
    return found


def figures(op: str, size: int, seconds: float, world: int) -> dict[str, float]:
    algbw = size / seconds / 1e9
    return {
        "size": size,
        "time_us": seconds * 1e6,
        "algbw_gbps": algbw,
        "busbw_gbps": algbw * BUS_FACTOR[op](world),
    }


def bundles(nodes: int, per_node: int, *, cpu: bool) -> list[dict[str, float]]:
    """One bundle per node (STRICT_SPREAD puts each on a node of its own), holding
    that node's ranks: a GPU and a CPU each, or a CPU each with `cpu`."""
    unit = {"CPU": 1} if cpu else {"GPU": 1, "CPU": 1}
    return [{key: value * per_node for key, value in unit.items()} for _ in range(nodes)]


@ray.remote
class Rank:
    """One rank: one GPU (or, with gloo, one CPU)."""

    def address(self) -> tuple[str, int]:
        with socket.socket() as probe:  # a port free on rank 0's node for the rendezvous
            probe.bind(("", 0))
            return ray.util.get_node_ip_address(), probe.getsockname()[1]

    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def run(
        self, rank: int, world: int, master: tuple[str, int], backend: str, args: dict[str, Any]
    ) -> dict[str, list[float]]:
        """Seconds per iteration of each op at each size, this rank's view."""
        os.environ.update({"MASTER_ADDR": master[0], "MASTER_PORT": str(master[1])})
        if backend == "nccl":
            os.environ["NCCL_NET"] = "gIB"  # no silent fallback to TCP sockets
        dist.init_process_group(backend, rank=rank, world_size=world)
        device = torch.device("cuda", 0) if backend == "nccl" else torch.device("cpu")
        timings: dict[str, list[float]] = {}
        try:
            for op in args["ops"]:
                timings[op] = [
                    self._time(op, size, world, device, args["warmup"], args["iters"])
                    for size in args["sizes"]
                ]
        finally:
            dist.destroy_process_group()
        return timings

    @staticmethod
    def _time(op: str, size: int, world: int, device: Any, warmup: int, iters: int) -> float:
        count = size // 4  # float32 elements of the whole buffer
        if op == "all_reduce":
            buffer = torch.ones(count, dtype=torch.float32, device=device)

            def once() -> None:
                dist.all_reduce(buffer)
        else:
            output = torch.empty(count - count % world, dtype=torch.float32, device=device)
            chunk = torch.ones(output.numel() // world, dtype=torch.float32, device=device)
            if device.type == "cuda":

                def once() -> None:
                    dist.all_gather_into_tensor(output, chunk)
            else:  # gloo gathers into a list of tensors
                parts = list(output.chunk(world))

                def once() -> None:
                    dist.all_gather(parts, chunk)

        def sync() -> None:
            if device.type == "cuda":
                torch.cuda.synchronize()

        for _ in range(warmup):
            once()
        sync()
        dist.barrier()
        start = time.perf_counter()
        for _ in range(iters):
            once()
        sync()
        return (time.perf_counter() - start) / iters


def table(op: str, rows: list[dict[str, float]]) -> str:
    lines = [
        f"# {op}",
        f"{'size (B)':>12} {'time (us)':>12} {'algbw (GB/s)':>13} {'busbw (GB/s)':>13}",
    ]
    for row in rows:
        size, micros, algbw, busbw = (
            row[k] for k in ("size", "time_us", "algbw_gbps", "busbw_gbps")
        )
        lines.append(f"{size:>12.0f} {micros:>12.1f} {algbw:>13.2f} {busbw:>13.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--cpu", action="store_true", help="gloo on CPU tensors, small sizes")
    parser.add_argument(
        "--min-size", type=int, default=0, help="bytes (default 1 MiB; --cpu 4 KiB)"
    )
    parser.add_argument(
        "--max-size", type=int, default=0, help="bytes (default 8 GiB; --cpu 1 MiB)"
    )
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--ops", default=",".join(OPS), help="all_gather,all_reduce")
    parser.add_argument("--json", default="", help="also write the result to this file")
    args = parser.parse_args()
    backend = "gloo" if args.cpu else "nccl"
    smallest = args.min_size or (4 << 10 if args.cpu else MiB)
    largest = args.max_size or (MiB if args.cpu else 8 * GiB)
    ops = [op for op in args.ops.split(",") if op]
    if not set(ops) <= set(OPS):
        parser.error(f"--ops: choose from {', '.join(OPS)}")
    per_node = args.gpus_per_node
    world = args.nodes * per_node

    ray.init()
    group = placement_group(bundles(args.nodes, per_node, cpu=args.cpu), strategy="STRICT_SPREAD")
    ray.get(group.ready())
    try:
        ranks = [
            Rank.options(
                num_cpus=1,
                num_gpus=0 if args.cpu else 1,
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    placement_group=group, placement_group_bundle_index=node
                ),
            ).remote()
            for node in range(args.nodes)
            for _ in range(per_node)
        ]
        nodes = len(set(ray.get([r.node.remote() for r in ranks])))
        master = ray.get(ranks[0].address.remote())
        plan = {
            "sizes": sizes(smallest, largest),
            "ops": ops,
            "warmup": args.warmup,
            "iters": args.iters,
        }
        timings = ray.get(
            [r.run.remote(i, world, master, backend, plan) for i, r in enumerate(ranks)]
        )
    finally:
        remove_placement_group(group)

    results = {
        op: [
            figures(op, size, max(t[op][i] for t in timings), world)
            for i, size in enumerate(plan["sizes"])
        ]
        for op in ops
    }
    for op in ops:
        print(table(op, results[op]))
    summary = {
        "backend": backend,
        "nccl_net": "gIB" if backend == "nccl" else None,
        "nodes": nodes,
        "gpus_per_node": per_node,
        "world_size": world,
        "iters": args.iters,
        "results": results,
    }
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)
    print("NCCL_TEST_RESULT " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
