"""The template of kinds that are plain get / create / adopt / delete over one client.

A `PlainKind` declares where its resource lives and how its calls are named; the
template observes it (NotFound: absent), creates it with transient failures retried
(already exists: adopt it if it is ours, else a conflict), waits on the create's
long-running operation when it has one, and deletes it (NotFound: already deleted).
For a resource `secret` the client is called `get_secret(name=…)`,
`create_secret(parent=…, secret_id=…, secret=…)` and `delete_secret(name=…)`, as every
Google client library names them. A kind overrides `body()` or `observe()` only where
its resource differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oasis_cli.gcp.clients import Cloud
from oasis_cli.gcp.errors import api_errors, transient_retry
from oasis_cli.gcp.messages import to_message, to_plain
from oasis_cli.gcp.waiter import wait_longrunning
from oasis_cli.graph import Node
from oasis_cli.polling import wait_until
from oasis_cli.resources.base import (
    Kind,
    OnOperation,
    already_exists,
    fetch,
    labelled,
    remove,
    remove_longrunning,
)


class PlainKind(Kind):
    service: str  # the endpoint's key (`OASIS_ENDPOINTS`, the local cloud's prefix)
    module: str  # e.g. "google.cloud.secretmanager_v1"
    client_name: str  # e.g. "SecretManagerServiceClient"
    message: str  # the resource's message in `module`, e.g. "Secret"
    resource: str  # snake_case, naming the calls: "secret" -> get_secret, secret_id
    collection: str  # the name's collection segment: ".../secrets/{name}"
    regional = False  # under projects/{p}/locations/{node.location}
    longrunning = False  # create and delete answer google.longrunning operations
    labels_field = "labels"  # where the ownership labels are ("annotations" for some)
    output = ("name", "name")  # (output recorded in the ledger, field of the resource)

    def client(self, cloud: Cloud) -> Any:
        return cloud.client(self.service, self.module, self.client_name)

    def parent(self, cloud: Cloud, node: Node) -> str:
        if self.regional:
            return f"projects/{cloud.project}/locations/{node.location}"
        return f"projects/{cloud.project}"

    def resource_name(self, cloud: Cloud, node: Node) -> str:
        return f"{self.parent(cloud, node)}/{self.collection}/{node.name}"

    def body(self, cloud: Cloud, node: Node) -> Any:
        """The resource as the create call takes it."""
        import importlib

        return to_message(getattr(importlib.import_module(self.module), self.message), node.spec)

    def create_arguments(self, cloud: Cloud, node: Node) -> dict[str, Any]:
        return {
            "parent": self.parent(cloud, node),
            f"{self.resource}_id": node.name,
            self.resource: self.body(cloud, node),
        }

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        name, retry = self.resource_name(cloud, node), transient_retry(cloud.poll.initial_s)
        get = getattr(self.client(cloud), f"get_{self.resource}")
        return fetch(node, lambda: get(name=name, retry=retry))

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return labelled(observed.get(self.labels_field), node.spec[self.labels_field])

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        key, field = self.output
        return {key: observed.get(field, "")}

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        """Create, retrying transient failures: safe, because a create that was served
        before its answer was lost is answered "exists" on the retry, and adopted."""
        create = getattr(self.client(cloud), f"create_{self.resource}")
        retry = transient_retry(cloud.poll.initial_s)
        with api_errors(f"{node.key} ({node.name})"):
            try:
                created = create(**self.create_arguments(cloud, node), retry=retry)
            except already_exists() as exc:
                return self.outputs(self.adopt_existing(cloud, node, exc))
            if self.longrunning:
                on_operation(created.operation.name)
                created = wait_longrunning(cloud, created)
        return self.outputs(to_plain(created))

    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None:
        """Delete, retrying transient failures: a retry after a delete that was served
        finds the resource gone (NotFound) or still being deleted (then waits for it)."""
        name = self.resource_name(cloud, node)
        delete = getattr(self.client(cloud), f"delete_{self.resource}")
        retry = transient_retry(cloud.poll.initial_s)

        def until_gone() -> None:
            wait_until(
                lambda: self.observe(cloud, node) is None,
                name=f"{node.key} ({node.name}) to be deleted",
                policy=cloud.poll,
            )

        def start() -> Any:
            return delete(name=name, retry=retry)

        if self.longrunning:
            remove_longrunning(cloud, node, start, on_operation, until_gone)
        else:
            remove(node, start, until_gone=until_gone)
