"""The PNG `oasis verify --nccl` writes: bus bandwidth against message size for each
operation, with the expected all_gather figure and the failing threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(
    result: dict[str, Any], expected: float, threshold: float, path: Path, *, graded: bool
) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 4.5), dpi=100)
    for op, rows in result["results"].items():
        axes.plot([r["size"] for r in rows], [r["busbw_gbps"] for r in rows], marker="o", label=op)
    axes.axhline(
        expected, color="green", linestyle="-", label=f"expected all_gather {expected:.0f} GB/s"
    )
    axes.axhline(
        expected * threshold, color="red", linestyle="--", label=f"fails below {threshold:.0%}"
    )
    axes.set_xscale("log", base=2)
    if not graded:  # CPU figures sit orders of magnitude below the fabric's
        axes.set_yscale("log")
    axes.set_xlabel("message size (bytes)")
    axes.set_ylabel("bus bandwidth (GB/s)")
    ranks = f"{result['nodes']} node(s), {result['world_size']} ranks, {result['backend']}"
    axes.set_title(f"NCCL test: {ranks}" + ("" if graded else " (CPU run: not graded)"))
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, format="png")
    pyplot.close(figure)
