"""IAM's REST API beside its gRPC one (`iam`): the service accounts `gcloud iam
service-accounts list | describe` read, from the same table the gRPC IAM Admin
service keeps (the client library oasis uses speaks gRPC only; gcloud speaks REST).

Answers are the v1 discovery document's `ServiceAccount` in JSON (camelCase), with
IAM's eventual consistency (an account is listed once readable) and IAM's REST
words for a missing account: 404 NOT_FOUND "Unknown service account", as a `gcloud
--log-http` capture of IAM's answer and navikt/knorten's IAM test fixture show it. Changing
accounts stays on gRPC: a REST create or delete is not simulated.
"""

from __future__ import annotations

import time
from typing import Any

from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import HttpError, Request, Response
from oasis_cli.localcloud.infra.rest import Handler, RestService

FIELDS = {
    "name": "name",
    "project_id": "projectId",
    "unique_id": "uniqueId",
    "email": "email",
    "display_name": "displayName",
    "description": "description",
    "etag": "etag",
    "oauth2_client_id": "oauth2ClientId",
}


def as_json(account: dict[str, Any]) -> dict[str, Any]:
    return {out: account[key] for key, out in FIELDS.items() if account.get(key)}


class IamRest(RestService):
    api_name, api_version, service = "iam", "v1", "iam"

    def routes(self) -> dict[str, Handler]:
        return {
            "iam.projects.serviceAccounts.list": self._list,
            "iam.projects.serviceAccounts.get": self._get,
        }

    @staticmethod
    def _readable(world: dict[str, Any]) -> list[dict[str, Any]]:
        now = time.time()
        accounts = world_tables.SERVICE_ACCOUNTS.rows(world)
        return [a for _, a in sorted(accounts.items()) if a.get("_readable_at", 0) <= now]

    def _list(self, world: dict, params: dict, request: Request) -> Response:
        project = params["name"].removeprefix("projects/")
        found = [as_json(a) for a in self._readable(world) if a["project_id"] == project]
        return Response(200, {"accounts": found} if found else {})

    def _get(self, world: dict, params: dict, request: Request) -> Response:
        wanted = params["name"].rsplit("/", 1)[-1]  # an email or a unique id; `-` project
        for account in self._readable(world):
            if wanted in (account["email"], account["unique_id"]):
                return Response(200, as_json(account))
        raise HttpError(404, "Unknown service account", "notFound")
