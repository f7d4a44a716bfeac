"""Secret Manager v1 as the local cloud serves it: secrets (metadata only: oasis never
stores secret values, so no version is ever added and `versions.list` answers an
empty list, as the API does for a secret without versions) and their IAM policies."""

from __future__ import annotations

import re
import time
from typing import Any

from oasis_cli.localcloud.gcp import iampolicy
from oasis_cli.localcloud.gcp.projects import project_number, service_account_exists
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import HttpError, Request, Response
from oasis_cli.localcloud.infra.rest import Handler, RestService, normalize, public, timestamp

SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


class SecretManager(RestService):
    api_name, api_version, service = "secretmanager", "v1", "secretmanager"
    tables = {"secrets": "secretmanager#secret"}

    def routes(self) -> dict[str, Handler]:
        prefix = "secretmanager.projects.secrets."
        return {
            prefix + "create": self._create,
            prefix + "get": self._get,
            prefix + "delete": self._delete,
            prefix + "getIamPolicy": self._get_policy,
            prefix + "setIamPolicy": self._set_policy,
            prefix + "versions.list": self._list_versions,
            "secretmanager.projects.secrets.list": self._list,
        }

    @staticmethod
    def _key(name: str) -> str:
        """Secrets answer with the project number; accept the id as well."""
        _, project, _, secret = name.split("/")
        number = project if project.isdigit() else project_number(project)
        return f"projects/{number}/secrets/{secret}"

    def _create(self, world: dict, params: dict, request: Request) -> Response:
        from google.cloud import secretmanager_v1

        secret_id = request.param("secretId") or ""
        if not SECRET_ID.match(secret_id):
            raise HttpError(400, f"Invalid secret id: '{secret_id}'")
        body = normalize(secretmanager_v1.Secret, request.body or {}, "secret")
        if "replication" not in body:
            raise HttpError(400, "Secret.replication is required.")
        name = self._key(f"{params['parent']}/secrets/{secret_id}")
        if name in self.table(world, "secrets"):
            raise HttpError(409, f"Secret [{name}] already exists.", "alreadyExists")
        secret = {**body, "name": name, "createTime": timestamp(time.time()), "etag": '"1"'}
        self.table(world, "secrets")[name] = secret
        return Response(200, public(secret))

    def _list_versions(self, world: dict, params: dict, request: Request) -> Response:
        """No versions (the simulation adds none); a response without `versions` is
        the empty list (`ListSecretVersionsResponse`, proto3 omits empty fields)."""
        self.find(world, "secrets", self._key(params["parent"]))
        return Response(200, {"totalSize": 0})

    def _list(self, world: dict, params: dict, request: Request) -> Response:
        project = params["parent"].removeprefix("projects/")
        number = project if project.isdigit() else project_number(project)
        return Response(
            200, {"secrets": self.listed(world, "secrets", f"projects/{number}/secrets/")}
        )

    def _get(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, public(self.find(world, "secrets", self._key(params["name"]))))

    def _delete(self, world: dict, params: dict, request: Request) -> Response:
        name = self._key(params["name"])
        self.find(world, "secrets", name)
        self.table(world, "secrets").pop(name)
        world_tables.POLICIES.rows(world).pop(name, None)
        return Response(200, {})

    def _get_policy(self, world: dict, params: dict, request: Request) -> Response:
        name = self._key(params["resource"])
        self.find(world, "secrets", name)
        return Response(200, iampolicy.get(world, name, iampolicy.requested_version(request)))

    def _set_policy(self, world: dict, params: dict, request: Request) -> Response:
        name = self._key(params["resource"])
        self.find(world, "secrets", name)
        body = request.body or {}
        policy: dict[str, Any] = body.get("policy") or {}
        return Response(
            200,
            iampolicy.set_policy(
                world,
                name,
                policy,
                update_mask=body.get("updateMask"),
                service_account_exists=lambda email: service_account_exists(world, email),
            ),
        )
