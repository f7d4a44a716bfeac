"""The template of Compute Engine kinds (networks, subnetworks, firewalls, routers,
global addresses): a kind declares its client, message and name field.

These APIs have no labels, so ownership is the marker `oasis-deployment={d}` in the
description. Every mutation carries a request id from the ledger, so a retried or
resumed call never acts twice. `spec` holds the resource body with the client
library's (snake_case) field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oasis_cli.gcp.errors import api_errors, transient_retry
from oasis_cli.gcp.waiter import wait_compute
from oasis_cli.graph import Node
from oasis_cli.resources.base import Change, Kind, OnOperation

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud


class ComputeKind(Kind):
    client: str
    message: str
    name_field: str
    regional: bool
    patchable = False
    request_stem = ""  # Insert{stem}Request etc.; the message name when empty

    def _locate(self, cloud: Cloud, node: Node) -> dict[str, Any]:
        where: dict[str, Any] = {"project": cloud.project}
        if self.regional:
            where["region"] = node.location
        return where

    def _request(self, verb: str, **fields: Any) -> Any:
        from google.cloud import compute_v1

        return getattr(compute_v1, f"{verb}{self.request_stem or self.message}Request")(**fields)

    def _body(self, node: Node) -> Any:
        from google.cloud import compute_v1

        return getattr(compute_v1, self.message)(**node.spec)

    def _scope(self, node: Node) -> str:
        return f"regions/{node.location}" if self.regional else "global"

    def _retry(self, cloud: Cloud) -> Any:
        return transient_retry(cloud.poll.initial_s)

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        from google.api_core import exceptions

        request = self._request("Get", **self._locate(cloud, node), **{self.name_field: node.name})
        with api_errors(f"{node.key} ({node.name})"):
            try:
                found = cloud.compute(self.client).get(request=request, retry=self._retry(cloud))
            except exceptions.NotFound:
                return None
        observed: dict[str, Any] = type(found).to_dict(found)
        return observed

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return str(node.spec.get("description", "")) in str(observed.get("description", ""))

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        return {"self_link": observed.get("self_link")}

    def _mutate(
        self,
        cloud: Cloud,
        node: Node,
        verb: str,
        on_operation: OnOperation,
        *,
        missing_ok: bool = False,
        **fields: Any,
    ) -> None:
        from google.api_core import exceptions

        request = self._request(verb, **self._locate(cloud, node), **fields)
        client = cloud.compute(self.client)
        with api_errors(f"{node.key} ({node.name})"):
            try:
                operation = getattr(client, verb.lower())(request=request, retry=self._retry(cloud))
            except exceptions.NotFound:
                if missing_ok:
                    return
                raise
            on_operation(operation.name)
            wait_compute(cloud, operation, scope=self._scope(node))

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        resource_field = f"{self.name_field}_resource"
        self._mutate(
            cloud,
            node,
            "Insert",
            on_operation,
            request_id=request_id,
            **{resource_field: self._body(node)},
        )
        observed = self.observe(cloud, node)
        return self.outputs(observed or {})

    def in_place(self, change: Change) -> bool:
        return self.patchable

    def update(
        self,
        cloud: Cloud,
        node: Node,
        changes: tuple[Change, ...],
        request_id: str,
        on_operation: OnOperation,
    ) -> dict[str, Any]:
        if not self.patchable:
            return super().update(cloud, node, changes, request_id, on_operation)
        self._mutate(
            cloud,
            node,
            "Patch",
            on_operation,
            request_id=request_id,
            **{self.name_field: node.name, f"{self.name_field}_resource": self._body(node)},
        )
        return self.outputs(self.observe(cloud, node) or {})

    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None:
        self._mutate(
            cloud,
            node,
            "Delete",
            on_operation,
            missing_ok=True,
            request_id=request_id,
            **{self.name_field: node.name},
        )
