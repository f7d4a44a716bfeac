"""`oasis verify --nccl`: run the NCCL example (`examples/nccl/nccl_test.py`) across
the GPU nodes `--gpus N` brought up, and grade all_gather's bus bandwidth at the
largest sizes against an expected figure.

Expected: the published ~325 GB/s all_gather bus bandwidth of 2 A3 Ultra nodes (16
H200, 8 GiB messages; the figure the NCCL example's docstring cites), scaled for N.
The scaling is ours, from nccl-tests' own definitions (NVIDIA/nccl-tests
doc/PERFORMANCE.md): across nodes all_gather is bound by each node's network, which
must take in (N-1)/N of the buffer, so algbw = B * N/(N-1); busbw = algbw * (n-1)/n
with n = 8N ranks. Expected(N) = reference * f(N) / f(2), f(N) = N/(N-1) * (8N-1)/8N.

Threshold: a run fails below 80% of expected (`--nccl-threshold 0.8`). Run-to-run
spread of nccl-tests on one healthy fabric is a few percent, so 80% leaves room for
it; the faults verify is for cost far more: NCCL on TCP instead of gIB gives a
tenth or less, and a ring is as slow as its slowest link, so one NIC down of 8 costs
at least its eighth (12.5%) and usually stalls the ring more. Cluster Toolkit's fixed
gate (100 GB/s) would pass a fabric running at a third of its speed.

Against the local cloud the Ray head has no GPUs: the example runs on CPU with gloo
(ranks on the one local Ray node) and is reported, not graded.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oasis_cli.verify.datapath import marked
from oasis_cli.verify.outcome import Failed

if TYPE_CHECKING:
    from oasis_cli.kube.client import Kube
    from oasis_cli.session import Context

REFERENCE_GBPS, REFERENCE_NODES = 325.0, 2
THRESHOLD = 0.8
GRADED_SIZES = 2  # the largest sizes averaged for the grade (4 and 8 GiB)
MARKER = "NCCL_TEST_RESULT "
CPU_ARGS = ["--cpu", "--nodes", "1", "--gpus-per-node", "2", "--warmup", "1", "--iters", "2"]
CPU_MAX_SIZE = 64 << 10


@dataclass(frozen=True)
class Grading:
    reference_gbps: float = REFERENCE_GBPS  # all_gather busbw for REFERENCE_NODES nodes
    threshold: float = THRESHOLD


def expected(reference: float, nodes: int, per_node: int) -> float:
    """The all_gather bus bandwidth expected of `nodes` nodes (see the docstring)."""

    def shape(n: int) -> float:
        ranks = n * per_node
        return n / (n - 1) * (ranks - 1) / ranks

    if nodes < 2:
        return reference  # one node never leaves NVLink: no network figure to scale
    return reference * shape(nodes) / shape(REFERENCE_NODES)


def command(nodes: int, per_node: int, cpu: bool) -> list[str]:
    if cpu:
        return ["python", "nccl_test.py", *CPU_ARGS, "--max-size", str(CPU_MAX_SIZE)]
    return ["python", "nccl_test.py", "--nodes", str(nodes), "--gpus-per-node", str(per_node)]


def run(
    ctx: Context, kube: Kube, nodes: int, grading: Grading, plot: Path
) -> tuple[str, dict[str, Any]]:
    """Run the example, grade it and plot it: (detail, the figures for the report)."""
    from oasis_cli import rayjobs
    from oasis_cli.sources import shipped
    from oasis_cli.verify.plot import draw

    d = ctx.deployment
    per_node, cpu = d.config.gpu.count, ctx.cloud.anonymous
    example = shipped("examples", "nccl")
    env = rayjobs.runtime_env(example / "runtime_env.yaml")
    job, ended = rayjobs.run(
        kube, d, shlex.join(command(nodes, per_node, cpu)), env, example, lambda text: None
    )
    result = marked(ended.logs, MARKER)
    if ended.status != "SUCCEEDED" or result is None:
        raise Failed(rayjobs.failure(job, ended), "`oasis dashboard` shows the job's log")
    want = expected(grading.reference_gbps, nodes, per_node)
    draw(result, want, grading.threshold, plot, graded=not cpu)
    figures = {"job": job, "graded": not cpu, "plot": str(plot), "result": result}
    try:
        detail, grade_figures = grade(result, want, grading.threshold, graded=not cpu)
    except Failed as exc:
        raise Failed(f"{exc.message}; plot {plot}", exc.next_step) from None
    return f"{detail}; plot {plot}", {**figures, **grade_figures}


def grade(
    result: dict[str, Any], want: float, threshold: float, *, graded: bool
) -> tuple[str, dict[str, Any]]:
    """The verdict on all_gather's bus bandwidth at the largest sizes: (detail, the
    figures); Failed below `threshold` of `want` when graded."""
    rows = result["results"]["all_gather"][-GRADED_SIZES:]
    measured = sum(r["busbw_gbps"] for r in rows) / len(rows)
    figures = {
        "expected_gbps": round(want, 1),
        "threshold": threshold,
        "all_gather_busbw_gbps": round(measured, 3),
    }
    sizes = ", ".join(_size(r["size"]) for r in rows)
    if not graded:
        return (
            f"ran on CPU with gloo ({result['world_size']} ranks on the local Ray): not graded; "
            f"all_gather busbw {measured:.3f} GB/s at {sizes}",
            figures,
        )
    verdict = f"all_gather busbw {measured:.1f} GB/s at {sizes} over {result['nodes']} nodes"
    if measured < threshold * want:
        raise Failed(
            f"{verdict}: below {threshold:.0%} of the expected {want:.0f} GB/s",
            "look for a node without gIB or an RDMA network (`oasis verify` lists them); "
            "NCCL_DEBUG=INFO in the job's log names the transport",
        )
    return f"{verdict} (expected {want:.0f}, {measured / want:.0%})", figures


def _size(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} B"
