"""The GKE versions the platform can run on (SPEC section 3 minimums)."""

from __future__ import annotations

import re

from oasis_cli.config.model import Config

# GKE minimums for what the platform uses (SPEC section 3).
MINIMUM_VERSIONS = {
    "A3 Ultra RDMA": "1.31.4-gke.1183000",
    "the Ray Operator add-on": "1.30.0-gke.1747000",
    "compute classes": "1.30.3-gke.1451000",
}
FLEX_START_MINIMUM = "1.32.2-gke.1652000"


def gke_version(text: str) -> tuple[int, ...]:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)-gke\.(\d+)", text)
    if match is None:
        raise ValueError(text)
    return tuple(int(part) for part in match.groups())


def version_problems(version: str, config: Config) -> list[str]:
    """Why a GKE version cannot run this platform (empty when it can)."""
    try:
        wanted = gke_version(version)
    except ValueError:
        return [f"{version!r}: not a GKE version like 1.33.5-gke.1080000"]
    minimums = dict(MINIMUM_VERSIONS)
    if "flex-start" in config.gpu.capacity:
        minimums["flex-start GPU node pools"] = FLEX_START_MINIMUM
    return [
        f"{version!r}: {feature} needs {minimum} or later"
        for feature, minimum in minimums.items()
        if wanted < gke_version(minimum)
    ]
