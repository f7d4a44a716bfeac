"""Service accounts (IAM Admin API): `{d}-cluster` for the nodes, `{d}-builder` for
Cloud Build. They have no labels; the ownership marker is in the description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.gcp.errors import api_errors, transient_retry
from oasis_cli.gcp.messages import to_plain
from oasis_cli.graph import Node
from oasis_cli.resources.base import Kind, OnOperation, fetch, remove

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud


def email(project: str, account_id: str) -> str:
    return f"{account_id}@{project}.iam.gserviceaccount.com"


def service_account_nodes(d: Deployment) -> list[Node]:
    names = d.names
    accounts = [
        ("sa:cluster", names.cluster_service_account, "oasis: GKE nodes"),
        ("sa:builder", names.builder_service_account, "oasis: Cloud Build"),
    ]
    return [
        Node(
            key,
            "iam.serviceAccount",
            account_id,
            "global",
            ("apis",),
            {"display_name": display, "description": d.marker},
        )
        for key, account_id, display in accounts
    ]


class ServiceAccount(Kind):
    kind = "iam.serviceAccount"

    @staticmethod
    def _name(cloud: Cloud, node: Node) -> str:
        return f"projects/{cloud.project}/serviceAccounts/{email(cloud.project, node.name)}"

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        name, retry = self._name(cloud, node), transient_retry(cloud.poll.initial_s)
        return fetch(node, lambda: cloud.iam_admin().get_service_account(name=name, retry=retry))

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return str(node.spec["description"]) in str(observed.get("description", ""))

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        return {"email": observed.get("email", "")}

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        from google.api_core import exceptions

        with api_errors(f"{node.key} ({node.name})"):
            try:
                created = cloud.iam_admin().create_service_account(
                    request={
                        "name": f"projects/{cloud.project}",
                        "account_id": node.name,
                        "service_account": dict(node.spec),
                    },
                    retry=transient_retry(cloud.poll.initial_s),
                )
            except exceptions.AlreadyExists as exc:
                return self.outputs(self.adopt_existing(cloud, node, exc))
        return self.outputs(to_plain(created))

    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None:
        name = self._name(cloud, node)
        remove(node, lambda: cloud.iam_admin().delete_service_account(name=name))
