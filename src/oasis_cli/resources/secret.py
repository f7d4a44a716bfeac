"""The secret `{d}-secrets` (automatic replication), created empty: oasis never
stores, reads or prints secret values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.gcp.errors import api_errors, transient_retry
from oasis_cli.gcp.messages import to_message, to_plain
from oasis_cli.graph import Node
from oasis_cli.resources.base import Kind, OnOperation, fetch, labelled, remove

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud


def secret_nodes(d: Deployment) -> list[Node]:
    spec = {"replication": {"automatic": {}}, "labels": d.label}
    return [Node("secret", "secretmanager.secret", d.names.secret, "global", ("apis",), spec)]


class Secret(Kind):
    kind = "secretmanager.secret"

    def _client(self, cloud: Cloud) -> Any:
        return cloud.client(
            "secretmanager", "google.cloud.secretmanager_v1", "SecretManagerServiceClient"
        )

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        name = f"projects/{cloud.project}/secrets/{node.name}"
        retry = transient_retry(cloud.poll.initial_s)
        return fetch(node, lambda: self._client(cloud).get_secret(name=name, retry=retry))

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return labelled(observed.get("labels"), node.spec["labels"])

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        return {"name": observed.get("name", "")}

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        from google.api_core import exceptions
        from google.cloud import secretmanager_v1

        with api_errors(f"{node.key} ({node.name})"):
            try:
                created = self._client(cloud).create_secret(
                    parent=f"projects/{cloud.project}",
                    secret_id=node.name,
                    secret=to_message(secretmanager_v1.Secret, node.spec),
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
        name = f"projects/{cloud.project}/secrets/{node.name}"
        remove(node, lambda: self._client(cloud).delete_secret(name=name))
