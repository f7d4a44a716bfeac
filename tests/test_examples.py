"""The examples' shapes on the H200 cluster, from their own code: the training job's
workers and the NCCL test's ranks (their CPU runs are in `test_ray_local`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
pytest.importorskip("torch", reason="the examples need torch: pip install -e '.[test]'")
pytest.importorskip("ray.train", reason="the examples need ray[train]: pip install -e '.[test]'")


def example(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(Path(path).stem, EXAMPLES / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_uses_one_worker_per_gpu():
    train = example("train/train.py")
    scaling = train.scaling_config(2, 8, cpu=False, workers=2)
    assert scaling.num_workers == 16 and scaling.use_gpu
    assert scaling.resources_per_worker["GPU"] == 1
    cpu = train.scaling_config(2, 8, cpu=True, workers=2)
    assert (cpu.num_workers, cpu.use_gpu) == (2, False)


def test_the_nccl_test_places_eight_ranks_on_each_node():
    nccl = example("nccl/nccl_test.py")
    assert nccl.bundles(2, 8, cpu=False) == [{"GPU": 8, "CPU": 8}] * 2


def test_the_nccl_test_spans_1_mib_to_8_gib_with_nccl_tests_bus_factors():
    nccl = example("nccl/nccl_test.py")
    assert nccl.sizes(nccl.MiB, 8 * nccl.GiB) == [(1 << 20) << i for i in range(14)]
    gather = nccl.figures("all_gather", 8 << 30, 0.1, 16)
    reduce = nccl.figures("all_reduce", 8 << 30, 0.1, 16)
    assert gather["algbw_gbps"] == pytest.approx((8 << 30) / 0.1 / 1e9)
    assert gather["busbw_gbps"] == pytest.approx(gather["algbw_gbps"] * 15 / 16)
    assert reduce["busbw_gbps"] == pytest.approx(reduce["algbw_gbps"] * 2 * 15 / 16)
