"""Multi-node NCCL all-reduce bandwidth: one Ray task per GPU node, torch.distributed
with NCCL over the RDMA NICs, bus bandwidth printed per message size (as
nccl-tests' all_reduce_perf reports it). `--backend gloo --cpu` checks the plumbing
on a CPU-only cluster.
"""

from __future__ import annotations

import argparse
import os
import time

import ray
import torch
import torch.distributed as dist

SIZES = [1 << 20, 16 << 20, 128 << 20, 1 << 30]


@ray.remote
class Rank:
    def address(self) -> str:
        return ray.util.get_node_ip_address()

    def run(
        self, rank: int, world: int, master: str, backend: str, gpus: int, sizes: list[int]
    ) -> list:
        os.environ.update({"MASTER_ADDR": master, "MASTER_PORT": "29500"})
        dist.init_process_group(backend, rank=rank, world_size=world)
        device = torch.device("cuda", 0) if backend == "nccl" else torch.device("cpu")
        results = []
        for size in sizes:
            tensor = torch.ones(size // 4, dtype=torch.float32, device=device)
            for _ in range(3):
                dist.all_reduce(tensor)
            if device.type == "cuda":
                torch.cuda.synchronize()
            start, rounds = time.perf_counter(), 10
            for _ in range(rounds):
                dist.all_reduce(tensor)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = (time.perf_counter() - start) / rounds
            bus = size / seconds * 2 * (world - 1) / world / 1e9
            results.append((size, seconds * 1e6, bus))
        dist.destroy_process_group()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--backend", default="nccl", choices=["nccl", "gloo"])
    parser.add_argument("--cpu", action="store_true", help="small sizes, no GPUs")
    args = parser.parse_args()
    ray.init()
    options = {"num_gpus": 8} if not args.cpu else {"num_cpus": 1}
    ranks = [Rank.options(**options).remote() for _ in range(args.nodes)]
    master = ray.get(ranks[0].address.remote())
    sizes = [1 << 16, 1 << 20] if args.cpu else SIZES
    results = ray.get(
        [r.run.remote(i, args.nodes, master, args.backend, 8, sizes) for i, r in enumerate(ranks)]
    )
    print(f"{'size (B)':>12} {'time (us)':>12} {'busbw (GB/s)':>14}")
    for size, micros, bus in results[0]:
        print(f"{size:>12} {micros:>12.1f} {bus:>14.2f}")


if __name__ == "__main__":
    main()
