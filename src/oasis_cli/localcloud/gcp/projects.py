"""Resource Manager v3 (project lookup, project IAM policy) and Service Usage v1
(batch enable, batch get) as the local cloud serves them.

Every project id exists in the local cloud; its number is derived from the id so
that separate processes agree on it. No API starts enabled.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from oasis_cli.localcloud.gcp import iam, iampolicy
from oasis_cli.localcloud.infra.http import HttpError, Request, Response
from oasis_cli.localcloud.infra.rest import Handler, RestService, public, timestamp

SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9-]+)*\.googleapis\.com$")
ENABLE_S = 20.0


def project_number(project_id: str) -> str:
    digest = hashlib.sha256(project_id.encode()).hexdigest()
    return str(100000000000 + int(digest, 16) % 900000000000)


def service_account_exists(world: dict[str, Any], email: str) -> bool:
    """Project service accounts must exist, and be visible to other services yet (see
    `iam`); Google-managed ones (service agents such as
    service-NUMBER@container-engine-robot...) always do."""
    account, _, domain = email.partition("@")
    if not domain.endswith(".iam.gserviceaccount.com") or re.fullmatch(r"service-\d+", account):
        return True
    return iam.usable(world, email)


class ResourceManager(RestService):
    api_name, api_version, service = "cloudresourcemanager", "v3", "cloudresourcemanager"

    def routes(self) -> dict[str, Handler]:
        prefix = "cloudresourcemanager.projects."
        return {
            prefix + "get": self._get_project,
            prefix + "getIamPolicy": self._get_policy,
            prefix + "setIamPolicy": self._set_policy,
            prefix + "testIamPermissions": self._test_permissions,
        }

    def _test_permissions(self, world: dict, params: dict, request: Request) -> Response:
        """The caller holds every permission but those `world["denied_permissions"]`
        lists (tests set it)."""
        asked = (request.body or {}).get("permissions", [])
        denied = set(world.get("denied_permissions", []))
        return Response(200, {"permissions": [p for p in asked if p not in denied]})

    def _get_project(self, world: dict, params: dict, request: Request) -> Response:
        project = params["name"].removeprefix("projects/")
        return Response(
            200,
            {
                "name": f"projects/{project_number(project)}",
                "projectId": project,
                "displayName": project,
                "state": "ACTIVE",
                "parent": "organizations/100000000001",
                "createTime": timestamp(0),
            },
        )

    def _get_policy(self, world: dict, params: dict, request: Request) -> Response:
        requested = iampolicy.requested_version(request)
        return Response(200, iampolicy.get(world, params["resource"], requested))

    def _set_policy(self, world: dict, params: dict, request: Request) -> Response:
        body = request.body or {}
        policy = body.get("policy")
        if not isinstance(policy, dict):
            raise HttpError(400, "Invalid value for field 'policy': Required.")
        return Response(
            200,
            iampolicy.set_policy(
                world,
                params["resource"],
                policy,
                update_mask=body.get("updateMask"),
                service_account_exists=lambda email: service_account_exists(world, email),
            ),
        )


ON_BY_DEFAULT = ("serviceusage.googleapis.com", "storage.googleapis.com")


class ServiceUsage(RestService):
    api_name, api_version, service = "serviceusage", "v1", "serviceusage"
    tables = {"services": "serviceusage#service"}

    def routes(self) -> dict[str, Handler]:
        return {
            "serviceusage.services.batchEnable": self._batch_enable,
            "serviceusage.services.batchGet": self._batch_get,
            "serviceusage.services.get": self._get,
            "serviceusage.services.list": self._list,
            "serviceusage.operations.get": self.get_operation,
        }

    def _view(self, world: dict, name: str) -> dict[str, Any]:
        parent, _, service = name.partition("/services/")
        resource = self.table(world, "services").get(name)
        on = service in ON_BY_DEFAULT or self.visible(resource)
        state = "ENABLED" if on else "DISABLED"
        return {"name": name, "parent": parent, "state": state, "config": {"name": service}}

    def _batch_enable(self, world: dict, params: dict, request: Request) -> Response:
        parent = params["parent"]
        service_ids = (request.body or {}).get("serviceIds", [])
        if not 1 <= len(service_ids) <= 20:
            raise HttpError(400, "serviceIds must name between 1 and 20 services.")
        for service_id in service_ids:
            if not SERVICE_NAME.match(service_id):
                raise HttpError(
                    403,
                    f"Not found or permission denied for service(s): {service_id}.",
                    "forbidden",
                )
        ready_at = time.time()
        rows = self.table(world, "services")
        for service_id in service_ids:
            name = f"{parent}/services/{service_id}"
            if name not in rows:
                rows[name] = {"name": name, "_ready_at": time.time() + self.latency(ENABLE_S)}
            ready_at = max(ready_at, rows[name]["_ready_at"])
        response = {
            "@type": "type.googleapis.com/google.api.serviceusage.v1.BatchEnableServicesResponse",
            "services": [
                {**self._view(world, f"{parent}/services/{s}"), "state": "ENABLED"}
                for s in service_ids
            ],
        }
        return self.operation(
            world,
            request,
            prefix="",
            metadata_type="type.googleapis.com/google.api.serviceusage.v1.OperationMetadata",
            response=response,
            target=None,
            ready_at=ready_at,
        )

    def _list(self, world: dict, params: dict, request: Request) -> Response:
        """The services the project has enabled or disabled (`filter` state:ENABLED or
        state:DISABLED, the two the API allows; without one, both): the ones it has
        touched, plus Service Usage and Cloud Storage, which every new project has on
        (https://cloud.google.com/service-usage/docs/reference/rest/v1/services/list)."""
        parent = params["parent"]
        wanted = request.param("filter") or ""
        if wanted not in ("", "state:ENABLED", "state:DISABLED"):
            raise HttpError(
                400, f"Invalid filter: {wanted!r}; use state:ENABLED or state:DISABLED."
            )
        names = {
            name for name in self.table(world, "services") if name.startswith(parent + "/services/")
        } | {f"{parent}/services/{s}" for s in ON_BY_DEFAULT}
        views = [self._view(world, name) for name in sorted(names)]
        if wanted:
            views = [v for v in views if v["state"] == wanted.removeprefix("state:")]
        return Response(200, {"services": views})

    def _batch_get(self, world: dict, params: dict, request: Request) -> Response:
        names = request.query.get("names", [])
        if not 1 <= len(names) <= 30:
            raise HttpError(400, "names must list between 1 and 30 services.")
        return Response(200, {"services": [self._view(world, name) for name in names]})

    def _get(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, self._view(world, params["name"]))

    def render(self, table: str, resource: dict[str, Any]) -> dict[str, Any]:
        return {**public(resource), "state": "ENABLED"}
