"""The buckets: training data and the build staging bucket, both regional, with
uniform bucket-level access, public access prevention enforced, labelled. `down`
keeps the data bucket unless `--delete-data`; the staging bucket (build sources and
logs) it deletes with everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.gcp.errors import api_errors
from oasis_cli.graph import Node
from oasis_cli.resources.base import Change, Kind, OnOperation, already_exists, labelled, remove

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud


STAGING = "bucket:build"


def bucket_nodes(d: Deployment) -> list[Node]:
    spec = {
        "location": d.region.upper(),
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
        "labels": d.label,
    }
    data, staging = d.names.bucket, d.names.build_bucket
    return [
        Node("bucket:data", "storage.bucket", data, d.region, ("apis",), spec),
        Node(STAGING, "storage.bucket", staging, d.region, ("apis",), spec),
    ]


class Bucket(Kind):
    kind = "storage.bucket"

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        with api_errors(f"{node.key} ({node.name})"):
            bucket = cloud.storage().lookup_bucket(node.name)
        if bucket is None:
            return None
        iam = bucket.iam_configuration
        return {
            "name": bucket.name,
            "location": bucket.location,
            "uniform_bucket_level_access": iam.uniform_bucket_level_access_enabled,
            "public_access_prevention": iam.public_access_prevention,
            "labels": dict(bucket.labels or {}),
            "self_link": bucket.self_link,
        }

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return labelled(observed.get("labels"), node.spec["labels"])

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        return {"url": f"gs://{observed['name']}"} if "name" in observed else {}

    def _apply_settings(self, bucket: Any, node: Node) -> None:
        bucket.iam_configuration.uniform_bucket_level_access_enabled = node.spec[
            "uniform_bucket_level_access"
        ]
        bucket.iam_configuration.public_access_prevention = node.spec["public_access_prevention"]
        bucket.labels = {**(bucket.labels or {}), **node.spec["labels"]}

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:

        client = cloud.storage()
        bucket = client.bucket(node.name)
        self._apply_settings(bucket, node)
        with api_errors(f"{node.key} ({node.name})"):
            try:
                client.create_bucket(bucket, project=cloud.project, location=node.spec["location"])
            except already_exists() as exc:
                self.adopt_existing(cloud, node, exc)
        return {"url": f"gs://{node.name}"}

    def update(
        self,
        cloud: Cloud,
        node: Node,
        changes: tuple[Change, ...],
        request_id: str,
        on_operation: OnOperation,
    ) -> dict[str, Any]:
        if any(change.field == "location" for change in changes):
            return super().update(cloud, node, changes, request_id, on_operation)
        bucket = cloud.storage().bucket(node.name)
        with api_errors(f"{node.key} ({node.name})"):
            bucket.reload()
            self._apply_settings(bucket, node)
            bucket.patch()
        return {"url": f"gs://{node.name}"}

    def retained(self, node: Node, delete_data: bool) -> str | None:
        """Every bucket but the staging bucket may hold training data (a bucket known
        only to the ledger too): kept unless --delete-data."""
        if delete_data or node.key == STAGING:
            return None
        return "training data is kept; `oasis down --delete-data` deletes it"

    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None:
        client = cloud.storage()

        def empty_then_delete() -> None:
            for blob in client.list_blobs(node.name):
                blob.delete()
            client.bucket(node.name).delete()

        remove(node, empty_then_delete)


KINDS: tuple[Kind, ...] = (Bucket(),)
