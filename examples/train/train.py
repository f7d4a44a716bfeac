"""Ray Train image classification on fake images, one worker per GPU, NCCL across them.

On the H200 cluster the defaults train a ResNet-50 with 16 workers (2 nodes x 8 GPUs,
one GPU each: Ray Train's data-parallel unit is a worker, so a worker holding 8 GPUs
would train on one of them). `--cpu` checks the plumbing without GPUs: the gloo
backend, a tiny network and small images, `--workers` CPU workers.

The data are FakeData as torchvision defines it (random images of a fixed shape and
random labels, the same for an index every epoch), built here from torch alone so
the CPU check needs no torchvision. Checkpoints and results go to `--storage`
(default `$STORAGE`, else /bucket/ray: the data bucket, mounted by GCS FUSE).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

import ray.train
import torch
from ray.train import ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer, prepare_data_loader, prepare_model
from torch import nn
from torch.utils.data import DataLoader, Dataset


class FakeImages(Dataset):
    """`size` random images (3 x side x side) with labels in [0, labels): each index
    is seeded, so an image is the same every epoch (as torchvision's FakeData).
    (No attribute is called `classes`: cloudpickle would take it for the submodule
    torch.classes, which cannot be pickled.)"""

    def __init__(self, size: int, side: int, labels: int = 10) -> None:
        self.size, self.side, self.labels = size, side, labels

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        generator = torch.Generator().manual_seed(index)
        image = torch.rand(3, self.side, self.side, generator=generator)
        label = int(torch.randint(self.labels, (1,), generator=generator))
        return image, label


def network(small: bool, side: int) -> nn.Module:
    if small:
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * side * side, 10))
    from torchvision import models  # in the ray-server image (images/custom)

    return models.resnet50(num_classes=10)


def train_loop(config: dict[str, Any]) -> None:
    side = config["image_size"]
    data = FakeImages(config["samples"], side)
    loader = prepare_data_loader(DataLoader(data, batch_size=config["batch_size"], shuffle=True))
    model = prepare_model(network(config["small"], side))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    context = ray.train.get_context()
    for epoch in range(config["epochs"]):
        total, batches = 0.0, 0
        for images, labels in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
        metrics = {
            "epoch": epoch,
            "loss": total / max(batches, 1),
            "world_size": context.get_world_size(),
        }
        ray.train.report(metrics)
        if context.get_world_rank() == 0:
            print(f"epoch {epoch}: loss {metrics['loss']:.4f} over {metrics['world_size']} workers")


def scaling_config(nodes: int, gpus_per_node: int, *, cpu: bool, workers: int) -> ScalingConfig:
    """One worker per GPU (nodes x GPUs per node, one GPU each); with `cpu`,
    `workers` workers of one CPU."""
    if cpu:
        return ScalingConfig(num_workers=workers, use_gpu=False, resources_per_worker={"CPU": 1})
    return ScalingConfig(
        num_workers=nodes * gpus_per_node, use_gpu=True, resources_per_worker={"GPU": 1, "CPU": 8}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2, help="GPU nodes (8 GPUs each)")
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--cpu", action="store_true", help="gloo on CPU, tiny model and data")
    parser.add_argument("--workers", type=int, default=2, help="CPU workers with --cpu")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--storage", default=os.environ.get("STORAGE", "/bucket/ray"))
    args = parser.parse_args()
    scaling = scaling_config(args.nodes, args.gpus_per_node, cpu=args.cpu, workers=args.workers)
    config = {
        "small": args.cpu,
        "image_size": 32 if args.cpu else 224,
        "samples": 256 if args.cpu else 50_000,
        "batch_size": 32 if args.cpu else 256,
        "epochs": args.epochs,
    }
    storage = args.storage
    if args.cpu and not os.path.isdir(os.path.dirname(storage.rstrip("/")) or "/"):
        storage = tempfile.mkdtemp(prefix="ray-train-")  # no bucket on a CPU-only check
    TorchTrainer(
        train_loop,
        train_loop_config=config,
        scaling_config=scaling,
        torch_config=TorchConfig(backend="gloo" if args.cpu else "nccl"),
        run_config=ray.train.RunConfig(storage_path=storage),
    ).fit()
    workers = scaling.num_workers
    print(f"training finished: {workers} workers, {args.epochs} epochs, results in {storage}")


if __name__ == "__main__":
    main()
