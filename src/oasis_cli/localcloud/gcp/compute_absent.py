"""Compute kinds oasis never creates (addresses, instances, disks, ...): the local
cloud holds none of them, and answers for them as Compute does in a project that
has none."""

from __future__ import annotations

from oasis_cli.localcloud.gcp.compute_rules import BASE, not_found
from oasis_cli.localcloud.infra.discovery import Api, Method
from oasis_cli.localcloud.infra.http import Response, not_simulated


def unsimulated(api: Api, method: Method, collection: str, verb: str, params: dict) -> Response:
    """A kind oasis never creates (addresses, instances, ...) holds nothing here:
    its lists are empty and a get is Compute's 404, as a project without any
    answers (`gcloud compute addresses list` lists 0 items at once instead of
    retrying a 501). Changing one is not simulated."""
    where = "/".join(
        f"{scope}/{params[key]}"
        for scope, key in (("projects", "project"), ("regions", "region"), ("zones", "zone"))
        if key in params
    )
    kind = api.kind_of(method.response_schema)  # compute#addressList, ...
    if verb == "list":
        return Response(
            200,
            {
                "kind": kind,
                "id": f"{where}/{collection}",
                "items": [],
                "selfLink": f"{BASE}{where}/{collection}",
            },
        )
    if verb == "aggregatedList":
        return Response(
            200,
            {
                "kind": kind,
                "id": f"projects/{params['project']}/aggregated/{collection}",
                "items": {},
                "selfLink": f"{BASE}projects/{params['project']}/aggregated/{collection}",
            },
        )
    if verb == "get":
        name = next((v for k, v in params.items() if k not in ("project", "region", "zone")), "")
        raise not_found(f"{where}/{collection}/{name}")
    raise not_simulated(method.id)
