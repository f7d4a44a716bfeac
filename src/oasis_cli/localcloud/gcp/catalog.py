"""What Compute Engine offers where, as the local cloud answers `regions.get`,
`zones.get`, `acceleratorTypes.get` and `machineTypes.get`.

H200 (a3-ultragpu-8g) is offered in a handful of zones only; a zone outside the
list answers 404 for it, as GCP does. Regions carry their legacy quota metrics:
generous defaults, and `world["quotas"][region][metric] = limit` overrides them.
"""

from __future__ import annotations

import re
from typing import Any

from oasis_cli.localcloud.infra.http import HttpError

H200_ZONES = frozenset(
    {"us-south1-b", "us-central1-b", "us-east4-b", "us-east5-a", "europe-west1-b", "asia-south1-b"}
)
ACCELERATORS = {"nvidia-h200-141gb": ("NVIDIA H200 141GB", H200_ZONES)}
MACHINES = {
    "a3-ultragpu-8g": (224, 2_952_000, H200_ZONES),
    "e2-standard-32": (32, 131_072, None),
    "e2-highmem-8": (8, 65_536, None),
}
QUOTAS = {"CPUS": 2400.0, "IN_USE_ADDRESSES": 69.0}
"""Legacy regional metrics only: Compute's Quota.Metric enum has no H200 value; GPU
family quotas are in the Cloud Quotas API (`quotas`)."""
REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")


def get(world: dict[str, Any], collection: str, params: dict[str, str]) -> dict[str, Any]:
    project = params["project"]
    if collection == "regions":
        region = params["region"]
        if not REGION.match(region):
            raise HttpError(
                404, f"The resource 'projects/{project}/regions/{region}' was not found", "notFound"
            )
        limits = {**QUOTAS, **world.get("quotas", {}).get(region, {})}
        return {
            "kind": "compute#region",
            "name": region,
            "status": "UP",
            "quotas": [{"metric": m, "limit": v, "usage": 0.0} for m, v in sorted(limits.items())],
        }
    zone = params["zone"]
    if collection == "zones":
        return {
            "kind": "compute#zone",
            "name": zone,
            "status": "UP",
            "region": zone.rsplit("-", 1)[0],
        }
    name = params.get("acceleratorType") or params.get("machineType") or ""
    table: dict[str, Any] = ACCELERATORS if collection == "acceleratorTypes" else MACHINES
    entry = table.get(name)
    zones = entry[-1] if entry else frozenset()
    if entry is None or (zones is not None and zone not in zones):
        raise HttpError(
            404,
            f"The resource 'projects/{project}/zones/{zone}/{collection}/{name}' was not found",
            "notFound",
        )
    if collection == "acceleratorTypes":
        return {
            "kind": "compute#acceleratorType",
            "name": name,
            "zone": zone,
            "description": entry[0],
            "maximumCardsPerInstance": 8,
        }
    return {
        "kind": "compute#machineType",
        "name": name,
        "zone": zone,
        "guestCpus": entry[0],
        "memoryMb": entry[1],
    }
