"""One `oasis verify` run: the read-only checks, the per-GPU-node check, the data
path, and with `--gpus N` / `--nccl` the capacity probe and the NCCL run, each timed
into a Result. Whatever it started (probe pods, Ray jobs) is removed before it
returns, also on Ctrl-C."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oasis_cli.errors import ConfigError, OasisError
from oasis_cli.verify import capacity, checks, datapath, gpunodes
from oasis_cli.verify import nccl as nccl_test
from oasis_cli.verify.outcome import Failed, Result, Warned

if TYPE_CHECKING:
    from oasis_cli.session import Context

GPU_DEADLINE_S = 1800.0  # autoscaler's max-node-provision-time is 15 min; flex-start can queue
INSTALLER_WAIT_S = 600.0  # new GPU nodes: kubelet Ready, then the installer's init container


@dataclass(frozen=True)
class Request:
    gpus: int = 0
    nccl: bool = False
    deadline_s: float = GPU_DEADLINE_S
    grading: nccl_test.Grading = field(default_factory=nccl_test.Grading)
    plot: Path | None = None  # where --nccl writes its PNG


@dataclass
class Run:
    results: list[Result] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # the probe's and NCCL's figures
    announce: Callable[[str], None] = lambda name: None  # a step is starting


def validate(request: Request) -> None:
    if request.gpus < 0:
        raise ConfigError(f"--gpus {request.gpus}: must be 0 or more")
    if request.nccl and request.gpus < 1:
        raise ConfigError("--nccl runs across the nodes --gpus brings up: add --gpus N")
    if not 0 < request.grading.threshold <= 1:
        raise ConfigError(f"--nccl-threshold {request.grading.threshold}: must be in (0, 1]")


def _timed(run: Run, name: str, step: Callable[[], str]) -> bool:
    run.announce(name)
    started = time.monotonic()
    try:
        detail, status, next_step = step(), "pass", ""
    except Warned as exc:
        detail, status, next_step = exc.message, "warn", exc.next_step
    except Failed as exc:
        detail, status, next_step = exc.message, "fail", exc.next_step
    except OasisError as exc:
        detail, status, next_step = exc.message, "fail", exc.hint or ""
    except Exception as exc:  # an API error the check did not expect is its failure
        detail, status, next_step = str(exc).splitlines()[0], "fail", "see the log"
    run.results.append(
        Result(name, status, detail, round(time.monotonic() - started, 3), next_step)
    )
    return status != "fail"


def run(ctx: Context, request: Request, announce: Callable[[str], None] = lambda name: None) -> Run:
    validate(request)
    found = Run(announce=announce)
    for name, step in checks.steps(ctx):
        _timed(found, name, lambda step=step: step(ctx))  # type: ignore[misc]
    try:
        kube = checks.cluster(ctx)
    except Exception:  # no cluster, or its API does not answer: the checks above said so
        return found
    probe = capacity.new_probe()
    try:
        brought = workers = True
        if request.gpus:
            if request.nccl:  # the NCCL run needs a Ray worker per GPU node
                workers = _timed(found, "ray workers", lambda: _workers(ctx, kube, request.gpus))
            brought = _timed(
                found,
                "gpu capacity",
                lambda: capacity.bring_up(ctx, kube, request.gpus, request.deadline_s, probe),
            )
            found.extra["placements"] = [vars(p) for p in probe.placements]
            found.extra["tried"] = probe.tried
        wait_s = INSTALLER_WAIT_S if request.gpus and brought else 0.0
        _timed(found, "gpu nodes", lambda: gpunodes.check(ctx, kube, wait_s))
        _timed(found, "data path", lambda: datapath.check(ctx, kube))
        if request.nccl and brought and workers and request.plot is not None:
            capacity.remove(kube, ctx, probe)  # the nodes stay; the job's workers take them
            plot = request.plot

            def nccl_step() -> str:
                detail, figures = nccl_test.run(ctx, kube, request.gpus, request.grading, plot)
                found.extra["nccl"] = figures
                return detail

            _timed(found, "nccl", nccl_step)
    finally:
        capacity.remove(kube, ctx, probe)
    return found


def _workers(ctx: Context, kube: Any, nodes: int) -> str:
    """Whether the RayCluster's GPU worker group can grow to `nodes` workers."""
    d = ctx.deployment
    cluster = kube.get("ray.io/v1", "RayCluster", d.config.ray.cluster_name, d.config.ray.namespace)
    if cluster is None:
        raise Failed("the RayCluster does not exist", "run `oasis ray deploy`")
    groups = (cluster.get("spec") or {}).get("workerGroupSpecs") or []
    most = sum(int(g.get("maxReplicas") or 0) for g in groups)
    if ctx.cloud.anonymous:
        return f"the local Ray runs the NCCL test on its head (the group allows {most})"
    if most < nodes:
        raise Failed(
            f"the RayCluster's worker groups allow {most} workers, not the {nodes} --gpus asks for",
            f"use --gpus {most} or raise the worker group's maxReplicas",
        )
    return f"the worker groups allow {most} workers, one per GPU node"
