"""IAM Admin v1 (service accounts) over gRPC, as the client library only speaks gRPC
(served by `infra.grpc`, sharing the world, request log and fault rules with the
HTTP services). Rules kept from IAM: account ids are 6-30 lowercase characters starting with a
letter, duplicates are ALREADY_EXISTS, unknown accounts NOT_FOUND.

A new account is eventually consistent, as in IAM: "After you create a service account,
you might need to wait for 60 seconds or more before you use the service account ...
read operations are eventually consistent" (https://cloud.google.com/iam/docs/
service-accounts-create). Reads find it after `READ_LAG_S`; other services (IAM policy
writes, GKE) accept it only after `USE_LAG_S`, later than reads: polling reads "cannot
guarantee consistency" of later uses (GoogleCloudPlatform/magic-modules#10813), and GKE
refused a node pool's account about 30 s after it was created
(terraform-google-modules/terraform-google-kubernetes-engine#2002). Both scale with the
latency model.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.grpc import GrpcServer, Rpc, RpcError
from oasis_cli.localcloud.infra.http import Latency
from oasis_cli.localcloud.infra.rest import public
from oasis_cli.localcloud.infra.store import Store

READ_LAG_S = 10.0
USE_LAG_S = 60.0
ACCOUNT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
SERVICE = "google.iam.admin.v1.IAM"


class IamAdmin:
    """The service accounts of every project, in the world's `iam` table."""

    def __init__(self, store: Store, latency: Latency) -> None:
        self.store = store
        self.latency = latency

    @staticmethod
    def accounts(world: dict[str, Any]) -> dict[str, Any]:
        table: dict[str, Any] = world_tables.SERVICE_ACCOUNTS.rows(world)
        return table

    def create(self, world: dict[str, Any], request: Any) -> dict[str, Any]:
        project = request.name.removeprefix("projects/")
        if not ACCOUNT_ID.match(request.account_id):
            raise RpcError(
                "INVALID_ARGUMENT",
                f"Invalid account id {request.account_id!r}: 6-30 lowercase letters, digits "
                "or hyphens, starting with a letter.",
            )
        email = f"{request.account_id}@{project}.iam.gserviceaccount.com"
        name = f"projects/{project}/serviceAccounts/{email}"
        now = time.time()
        if name in self.accounts(world):
            raise RpcError(
                "ALREADY_EXISTS", f"Service account {request.account_id} already exists."
            )
        account = {
            "name": name,
            "project_id": project,
            "unique_id": str(uuid.uuid4().int >> 64),
            "email": email,
            "display_name": request.service_account.display_name,
            "description": request.service_account.description,
            "etag": "MDEwMjE5MjA=",
            "oauth2_client_id": str(uuid.uuid4().int >> 64),
            "_readable_at": now + self.latency(READ_LAG_S),
            "_usable_at": now + self.latency(USE_LAG_S),
        }
        self.accounts(world)[name] = account
        return account

    def find(self, world: dict[str, Any], name: str) -> dict[str, Any]:
        email = name.rsplit("/", 1)[-1]
        for account in self.accounts(world).values():
            if account["email"] == email and account.get("_readable_at", 0) <= time.time():
                return account
        raise RpcError("NOT_FOUND", f"Service account {email} does not exist.")

    def delete(self, world: dict[str, Any], name: str) -> None:
        account = self.find(world, name)
        self.accounts(world).pop(account["name"])

    def inventory(self, world: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "service": "iam",
                "kind": "iam#serviceAccount",
                "name": account["email"],
                "location": "global",
                "resource": public(account),
            }
            for account in self.accounts(world).values()
        ]


def usable(world: dict[str, Any], email: str) -> bool:
    """Whether services other than IAM's own reads accept the account yet."""
    account = world_tables.SERVICE_ACCOUNTS.rows(world).get(
        f"projects/{email.partition('@')[2].removesuffix('.iam.gserviceaccount.com')}"
        f"/serviceAccounts/{email}"
    )
    return account is not None and account.get("_usable_at", 0) <= time.time()


def serve_iam(store: Store, admin: IamAdmin, port: int = 0) -> GrpcServer:
    """IAM Admin's service-account RPCs, over the client library's own message types."""
    from google.cloud.iam_admin_v1 import types
    from google.protobuf import empty_pb2

    def account(raw: dict[str, Any]) -> Any:
        return types.ServiceAccount(**public(raw))

    def create(request: Any, world: dict[str, Any]) -> Any:
        return account(admin.create(world, request))

    def get(request: Any, world: dict[str, Any]) -> Any:
        return account(admin.find(world, request.name))

    def list_accounts(request: Any, world: dict[str, Any]) -> Any:
        prefix = request.name + "/serviceAccounts/"
        found = [
            account(a)
            for n, a in sorted(admin.accounts(world).items())
            if n.startswith(prefix) and a.get("_readable_at", 0) <= time.time()
        ]
        return types.ListServiceAccountsResponse(accounts=found)

    def delete(request: Any, world: dict[str, Any]) -> Any:
        admin.delete(world, request.name)
        return empty_pb2.Empty()

    methods: dict[str, Rpc] = {
        "CreateServiceAccount": Rpc(
            types.CreateServiceAccountRequest, create, types.ServiceAccount
        ),
        "GetServiceAccount": Rpc(types.GetServiceAccountRequest, get, types.ServiceAccount),
        "ListServiceAccounts": Rpc(
            types.ListServiceAccountsRequest, list_accounts, types.ListServiceAccountsResponse
        ),
        "DeleteServiceAccount": Rpc(types.DeleteServiceAccountRequest, delete, None),
    }
    return GrpcServer(store, SERVICE, "iam", methods, port)
