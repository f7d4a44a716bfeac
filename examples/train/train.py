"""Ray Train image classification on FakeData, with NCCL across the GPU workers.

On the H200 cluster: `--workers 2 --gpus` trains a ResNet-50 on 8 GPUs per worker
with NCCL (GPUDirect RDMA through the gIB plugin). On a CPU-only cluster (the local
cloud) `--small` trains a tiny network with gloo, to check the plumbing.
"""

from __future__ import annotations

import argparse
import os

import ray.train
import torch
from ray.train import ScalingConfig
from ray.train.torch import TorchTrainer, prepare_data_loader, prepare_model
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, models, transforms


def train_loop(config: dict) -> None:
    size = config["image_size"]
    data = datasets.FakeData(
        size=config["samples"],
        image_size=(3, size, size),
        num_classes=10,
        transform=transforms.ToTensor(),
    )
    loader = prepare_data_loader(DataLoader(data, batch_size=config["batch_size"], shuffle=True))
    if config["small"]:
        model = nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, 10))
    else:
        model = models.resnet50(num_classes=10)
    model = prepare_model(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(config["epochs"]):
        total = 0.0
        for images, labels in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
            total += loss.item()
        ray.train.report({"epoch": epoch, "loss": total / max(len(loader), 1)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gpus", action="store_true", help="one worker per node, 8 GPUs each")
    parser.add_argument("--small", action="store_true", help="tiny model and data, CPU/gloo")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    config = {
        "small": args.small,
        "image_size": 32 if args.small else 224,
        "samples": 256 if args.small else 50_000,
        "batch_size": 32 if args.small else 256,
        "epochs": args.epochs,
    }
    scaling = ScalingConfig(
        num_workers=args.workers,
        use_gpu=args.gpus,
        resources_per_worker={"GPU": 8} if args.gpus else {"CPU": 1},
    )
    result = TorchTrainer(
        train_loop,
        train_loop_config=config,
        scaling_config=scaling,
        run_config=ray.train.RunConfig(storage_path=os.environ.get("STORAGE", "/bucket/ray")),
    ).fit()
    print("final metrics:", result.metrics)


if __name__ == "__main__":
    main()
