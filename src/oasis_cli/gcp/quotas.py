"""GPU quota where GCP keeps it for the newer GPU families: the Cloud Quotas API.

Compute's `regions.get` lists legacy metrics only (no H200). The limit of a family is
the `dimensionsInfos` entry of its quota info that matches most closely: region and
`gpu_family` before `gpu_family` alone before `region` alone before the default
(https://cloud.google.com/docs/quotas/reference/rest/v1/projects.locations.services.quotaInfos,
https://cloud.google.com/docs/quotas/gpu-quotas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oasis_cli.errors import ApiDisabled
from oasis_cli.gcp.errors import transient_retry

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud

PREEMPTIBLE_GPUS = "PREEMPTIBLE-GPUS-PER-GPU-FAMILY-per-project-region"
GPU_FAMILIES = {
    "nvidia-h200-141gb": "NVIDIA_H200",
    "nvidia-h100-80gb": "NVIDIA_H100",
    "nvidia-h100-mega-80gb": "NVIDIA_H100_MEGA",
    "nvidia-b200": "NVIDIA_B200",
}


def gpu_family_limit(cloud: Cloud, region: str, accelerator: str, quota_id: str) -> int | None:
    """The limit of `quota_id` for the accelerator's GPU family in `region`, or None
    when it cannot be read (an unknown family or quota, access denied): the caller
    warns, it never fails on what it could not see. The Cloud Quotas API not enabled
    raises `ApiDisabled` (doctor warns with the command that enables it)."""
    from google.api_core import exceptions

    family = GPU_FAMILIES.get(accelerator)
    if family is None:
        return None
    client = cloud.client("cloudquotas", "google.cloud.cloudquotas_v1", "CloudQuotasClient")
    name = (
        f"projects/{cloud.project}/locations/global/services/compute.googleapis.com"
        f"/quotaInfos/{quota_id}"
    )
    try:
        info = client.get_quota_info(name=name, retry=transient_retry(cloud.poll.initial_s))
    except exceptions.Forbidden as exc:  # 403 (REST): denied, or the API not enabled
        if exc.reason == "SERVICE_DISABLED":
            raise ApiDisabled(quota_id, "cloudquotas.googleapis.com") from None
        return None
    except (exceptions.NotFound, exceptions.RetryError):
        return None
    wanted = {"region": region, "gpu_family": family}
    best: tuple[int, int] | None = None
    for entry in info.dimensions_infos:
        dimensions = dict(entry.dimensions)
        if any(wanted.get(k) != v for k, v in dimensions.items()):
            continue
        rank = 2 * ("gpu_family" in dimensions) + ("region" in dimensions)
        if best is None or rank > best[0]:
            best = (rank, int(entry.details.value))
    return None if best is None else best[1]
