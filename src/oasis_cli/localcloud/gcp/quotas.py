"""Cloud Quotas v1 (`quotaInfos.get`) as the local cloud serves it: where GCP keeps the
GPU quotas of the newer GPU families.

Compute Engine's `regions.get` quota list names legacy metrics only (its
Quota.Metric enum has no H200 value); the quotas of families such as NVIDIA_H200 are
`GPUS-PER-GPU-FAMILY-per-project-region` and, for Spot and flex-start VMs,
`PREEMPTIBLE-GPUS-PER-GPU-FAMILY-per-project-region`, metric
`compute.googleapis.com/[preemptible_]gpus_per_gpu_family` with dimensions `region`
and `gpu_family`, read through the Cloud Quotas API
(https://cloud.google.com/docs/quotas/reference/rest/v1/projects.locations.services.quotaInfos,
https://cloud.google.com/docs/quotas/gpu-quotas). A quota id the service does not
have is 404. Limits are a generous default per family and region; tests lower one
with `world["quotas"][region]["<quota id>/<gpu family>"] = limit`.

There is no discovery document for this API among the client library's, so its one
route is matched here, as the REST transport of `google-cloud-quotas` sends it.
"""

from __future__ import annotations

import re
from typing import Any

from oasis_cli.localcloud.gcp.projects import project_number
from oasis_cli.localcloud.infra.http import HttpError, Request, Response, not_simulated
from oasis_cli.localcloud.infra.store import Store

GET = re.compile(r"^/v1/projects/([^/]+)/locations/global/services/([^/]+)/quotaInfos/([^/]+)$")
FAMILY_QUOTAS = {
    "GPUS-PER-GPU-FAMILY-per-project-region": "gpus_per_gpu_family",
    "PREEMPTIBLE-GPUS-PER-GPU-FAMILY-per-project-region": "preemptible_gpus_per_gpu_family",
}
FAMILIES = ("NVIDIA_H200", "NVIDIA_H100", "NVIDIA_H100_MEGA", "NVIDIA_B200")
REGIONS = ("us-south1", "us-central1", "us-east4", "us-east5", "europe-west1", "asia-south1")
DEFAULT_LIMIT = 160


class CloudQuotas:
    service = "cloudquotas"

    def __init__(self, store: Store) -> None:
        self.store = store

    def target(self, request: Request) -> str:
        return ""

    def inventory(self, world: dict[str, Any]) -> list[dict[str, Any]]:
        return []  # quotas are not resources

    def advance(self, world: dict[str, Any]) -> None:
        """Nothing runs long here."""

    def handle(self, request: Request) -> Response:
        with self.store.transaction() as world:
            return self._get(request, world)

    def _get(self, request: Request, world: dict[str, Any]) -> Response:
        match = GET.match(request.path)
        if request.method != "GET" or match is None:
            raise not_simulated(f"{request.method} {request.path}")
        project, service, quota_id = match.groups()
        metric = FAMILY_QUOTAS.get(quota_id)
        if service != "compute.googleapis.com" or metric is None:
            raise HttpError(404, f"QuotaInfo {quota_id} of {service} was not found.", "notFound")
        number = project if project.isdigit() else project_number(project)
        overrides = world.get("quotas", {})
        infos = [
            {
                "dimensions": {"region": region, "gpu_family": family},
                "details": {
                    "value": str(
                        int(overrides.get(region, {}).get(f"{quota_id}/{family}", DEFAULT_LIMIT))
                    )
                },
                "applicableLocations": [region],
            }
            for family in FAMILIES
            for region in REGIONS
        ]
        infos.append({"dimensions": {}, "details": {"value": "0"}, "applicableLocations": []})
        return Response(
            200,
            {
                "name": f"projects/{number}/locations/global/services/{service}"
                f"/quotaInfos/{quota_id}",
                "quotaId": quota_id,
                "metric": f"compute.googleapis.com/{metric}",
                "service": service,
                "isPrecise": True,
                "containerType": "PROJECT",
                "dimensions": ["gpu_family", "region"],
                "quotaDisplayName": "GPUs per GPU family",
                "metricDisplayName": "GPUs",
                "dimensionsInfos": infos,
            },
        )
