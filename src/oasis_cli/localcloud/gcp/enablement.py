"""Which APIs a project has enabled, as every service checks before serving a call.

A call to an API the project has not enabled (or whose enablement has not completed)
is refused 403 PERMISSION_DENIED with an ErrorInfo of reason SERVICE_DISABLED, in the
words of Google's error model (https://cloud.google.com/apis/design/errors#error_info):
"<Title> API has not been used in project <number> before or it is disabled. ...".
Service Usage and Cloud Storage are enabled in every new project
(https://cloud.google.com/service-usage/docs/enabled-service#default); IAM Admin
(gRPC) and the Kubernetes API are not checked here.
"""

from __future__ import annotations

import re
import time
from typing import Any

from oasis_cli.localcloud.gcp.projects import project_number
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import HttpError, Request

TITLES = {
    "compute": "Compute Engine API",
    "container": "Kubernetes Engine API",
    "artifactregistry": "Artifact Registry API",
    "cloudbuild": "Cloud Build API",
    "secretmanager": "Secret Manager API",
    "servicenetworking": "Service Networking API",
    "binaryauthorization": "Binary Authorization API",
    "cloudresourcemanager": "Cloud Resource Manager API",
    "cloudquotas": "Cloud Quotas API",
}
PROJECT = re.compile(r"(?:^|/)projects/([^/:]+)")


def require_enabled(world: dict[str, Any], service: str, request: Request) -> None:
    """Refuse `request` to `service` if the project it names has not enabled the API."""
    title = TITLES.get(service)
    if title is None:
        return
    match = PROJECT.search(request.path)
    project = match.group(1) if match else request.param("project")
    if not project or project in ("-", "_"):
        return
    rows = world_tables.table("serviceusage", "services").rows(world)
    if project.isdigit():
        known = {key.split("/")[1] for key in rows}
        project = next((p for p in known if project_number(p) == project), "")
        if not project:
            return  # a project known by number only: nothing to check against
    api = f"{service}.googleapis.com"
    enabled = rows.get(f"projects/{project}/services/{api}")
    if enabled is not None and enabled.get("_ready_at", 0) <= time.time():
        return
    number = project_number(project)
    raise HttpError(
        403,
        f"{title} has not been used in project {number} before or it is disabled. Enable it "
        f"by visiting https://console.developers.google.com/apis/api/{api}/overview?project="
        f"{number} then retry. If you enabled this API recently, wait a few minutes for the "
        "action to propagate to our systems and retry.",
        "accessNotConfigured",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {"service": api, "consumer": f"projects/{number}"},
            }
        ],
    )
