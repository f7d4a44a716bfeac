"""Service accounts (IAM Admin API): `{d}-cluster` for the nodes, `{d}-builder` for
Cloud Build. They have no labels; the ownership marker is in the description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oasis_cli.config.names import Deployment
from oasis_cli.gcp.clients import Cloud
from oasis_cli.gcp.errors import ACCOUNT_PROPAGATION_S
from oasis_cli.graph import Node
from oasis_cli.polling import PollPolicy, wait_until
from oasis_cli.resources.base import Kind, OnOperation
from oasis_cli.resources.template import PlainKind

CONSECUTIVE_READS = 3
"""A new account counts as visible after this many successful reads in a row, as the
Terraform provider waits (GoogleCloudPlatform/magic-modules#14447): IAM reads are
eventually consistent, so one success may be followed by a NotFound."""


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


class ServiceAccount(PlainKind):
    """A service account, owned by the marker in its description (no labels). IAM
    Admin speaks gRPC only, and names an account by its e-mail."""

    kind = "iam.serviceAccount"
    resource, collection = "service_account", "serviceAccounts"
    output = ("email", "email")

    def client(self, cloud: Cloud) -> Any:
        return cloud.iam_admin()

    def resource_name(self, cloud: Cloud, node: Node) -> str:
        return f"projects/{cloud.project}/serviceAccounts/{email(cloud.project, node.name)}"

    def create_arguments(self, cloud: Cloud, node: Node) -> dict[str, Any]:
        return {
            "name": self.parent(cloud, node),
            "account_id": node.name,
            "service_account": dict(node.spec),
        }

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return str(node.spec["description"]) in str(observed.get("description", ""))

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        """Create, then wait until reads see the account: "After you create a service
        account, you might need to wait for 60 seconds or more before you use it"
        (https://cloud.google.com/iam/docs/service-accounts-create). Later uses may
        still be refused for a while; those calls retry that one error
        (`gcp.errors.account_not_visible`)."""
        outputs = super().create(cloud, node, request_id, on_operation)
        seen = 0

        def visible() -> bool:
            nonlocal seen
            seen = seen + 1 if self.observe(cloud, node) is not None else 0
            return seen >= CONSECUTIVE_READS

        policy = PollPolicy(
            initial_s=cloud.poll.initial_s,
            maximum_s=cloud.poll.maximum_s,
            deadline_s=ACCOUNT_PROPAGATION_S,
        )
        wait_until(visible, name=f"{node.key} ({node.name}) to become visible", policy=policy)
        return outputs


KINDS: tuple[Kind, ...] = (ServiceAccount(),)
