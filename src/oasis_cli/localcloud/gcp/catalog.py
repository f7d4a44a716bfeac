"""What Compute Engine offers where, as the local cloud answers `regions.get`,
`zones.get`, `acceleratorTypes.get`, `machineTypes.get` and `reservations.get`.

Regions and zones are Google's public ones (cloud.google.com/compute/docs/regions-
zones; the per-region zone lists as cloud.google.com/memorystore/docs/memcached/
regions gives them: a, b, c, except us-central1 a, b, c, f and us-east1 and
europe-west1 b, c, d). A get of an unknown region or zone is 404 "The resource ...
was not found"; a zonal collection in an unknown zone is 400 "Invalid value for
field 'zone': 'Z'. Unknown zone." with reason `invalid`, as Compute answers it
(inspec/inspec-gcp#301, hashicorp/consul#4214).

H200 (a3-ultragpu-8g) is offered in a handful of zones only; a zone outside the
list answers 404 for it, as GCP does. A GPU machine type lists its fixed GPUs in
`accelerators` (guestAcceleratorType, guestAcceleratorCount), as the MachineType
resource does. Regions carry their legacy quota metrics: generous defaults, and
`world["quotas"][region][metric] = limit` overrides them. Reservations are what
`world["compute"]["reservations"]` holds (path -> Reservation).
"""

from __future__ import annotations

from typing import Any

from oasis_cli.localcloud.gcp.compute_rules import not_found
from oasis_cli.localcloud.infra.http import HttpError

ZONES = {
    region: "abc"
    for region in [
        "africa-south1",
        "asia-east1",
        "asia-east2",
        "asia-northeast1",
        "asia-northeast2",
        "asia-northeast3",
        "asia-south1",
        "asia-south2",
        "asia-southeast1",
        "asia-southeast2",
        "australia-southeast1",
        "australia-southeast2",
        "europe-central2",
        "europe-north1",
        "europe-north2",
        "europe-southwest1",
        "europe-west2",
        "europe-west3",
        "europe-west4",
        "europe-west6",
        "europe-west8",
        "europe-west9",
        "europe-west10",
        "europe-west12",
        "me-central1",
        "me-central2",
        "me-west1",
        "northamerica-northeast1",
        "northamerica-northeast2",
        "northamerica-south1",
        "southamerica-east1",
        "southamerica-west1",
        "us-east4",
        "us-east5",
        "us-south1",
        "us-west1",
        "us-west2",
        "us-west3",
        "us-west4",
    ]
} | {"us-central1": "abcf", "us-east1": "bcd", "europe-west1": "bcd"}
H200_ZONES = frozenset(
    {"us-south1-b", "us-central1-b", "us-east4-b", "us-east5-a", "europe-west1-b", "asia-south1-b"}
)
ACCELERATORS = {"nvidia-h200-141gb": ("NVIDIA H200 141GB", H200_ZONES)}
GPUS = {"a3-ultragpu-8g": ("nvidia-h200-141gb", 8)}  # machine type -> its fixed GPUs
MACHINES = {
    "a3-ultragpu-8g": (224, 2_952_000, H200_ZONES),
    "e2-standard-32": (32, 131_072, None),
    "e2-highmem-8": (8, 65_536, None),
}
QUOTAS = {"CPUS": 2400.0, "IN_USE_ADDRESSES": 69.0}
"""Legacy regional metrics only: Compute's Quota.Metric enum has no H200 value; GPU
family quotas are in the Cloud Quotas API (`quotas`)."""


def zone_exists(zone: str) -> bool:
    region, _, letter = zone.rpartition("-")
    return len(letter) == 1 and letter in ZONES.get(region, "")


def get(world: dict[str, Any], collection: str, params: dict[str, str]) -> dict[str, Any]:
    project = params["project"]
    if collection == "regions":
        region = params["region"]
        if region not in ZONES:
            raise not_found(f"projects/{project}/regions/{region}")
        limits = {**QUOTAS, **world.get("quotas", {}).get(region, {})}
        return {
            "kind": "compute#region",
            "name": region,
            "status": "UP",
            "quotas": [{"metric": m, "limit": v, "usage": 0.0} for m, v in sorted(limits.items())],
        }
    zone = params["zone"]
    if collection == "zones":
        if not zone_exists(zone):
            raise not_found(f"projects/{project}/zones/{zone}")
        return {
            "kind": "compute#zone",
            "name": zone,
            "status": "UP",
            "region": zone.rsplit("-", 1)[0],
        }
    if not zone_exists(zone):
        raise HttpError(400, f"Invalid value for field 'zone': '{zone}'. Unknown zone.", "invalid")
    if collection == "reservations":
        path = f"projects/{project}/zones/{zone}/reservations/{params['reservation']}"
        found = world.get("compute", {}).get("reservations", {}).get(path)
        if found is None:
            raise not_found(path)
        return {"kind": "compute#reservation", "zone": zone, **found}
    name = params.get("acceleratorType") or params.get("machineType") or ""
    table: dict[str, Any] = ACCELERATORS if collection == "acceleratorTypes" else MACHINES
    entry = table.get(name)
    zones = entry[-1] if entry else frozenset()
    if entry is None or (zones is not None and zone not in zones):
        raise not_found(f"projects/{project}/zones/{zone}/{collection}/{name}")
    if collection == "acceleratorTypes":
        return {
            "kind": "compute#acceleratorType",
            "name": name,
            "zone": zone,
            "description": entry[0],
            "maximumCardsPerInstance": 8,
        }
    machine = {
        "kind": "compute#machineType",
        "name": name,
        "zone": zone,
        "guestCpus": entry[0],
        "memoryMb": entry[1],
    }
    if name in GPUS:
        accelerator, count = GPUS[name]
        machine["accelerators"] = [
            {"guestAcceleratorType": accelerator, "guestAcceleratorCount": count}
        ]
    return machine
