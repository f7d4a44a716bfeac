"""The buckets: training data and the build staging bucket, both regional, with
uniform bucket-level access, public access prevention enforced, labelled. `down`
keeps the data bucket unless `--delete-data`; the staging bucket (build sources and
logs) it deletes with everything else.

What a bucket is, is written on it: the label `oasis-role` (`data` or `staging`),
read live, not the ledger key it happens to sit under. A data bucket is never used as
the staging bucket, `down` keeps a bucket labelled `data` whatever key names it, and
it never empties a bucket oasis did not create (one it adopted, or any bucket once the
ledger is gone) unless `--delete-data`.
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
ROLE = "oasis-role"


def bucket_nodes(d: Deployment) -> list[Node]:
    spec = {
        "location": d.region.upper(),
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
        "labels": d.label,
    }
    data, staging = d.names.bucket, d.names.build_bucket
    return [
        Node(
            "bucket:data",
            "storage.bucket",
            data,
            d.region,
            ("apis",),
            {**spec, "labels": {**d.label, ROLE: "data"}},
        ),
        Node(
            STAGING,
            "storage.bucket",
            staging,
            d.region,
            ("apis",),
            {**spec, "labels": {**d.label, ROLE: "staging"}},
        ),
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
        """The deployment's label decides ownership (a bucket made before roles were
        labelled is still ours, and gets its role label as a change)."""
        wanted = {k: v for k, v in node.spec["labels"].items() if k != ROLE}
        return labelled(observed.get("labels"), wanted)

    def refuses(self, node: Node, observed: Mapping[str, Any]) -> str | None:
        role = (observed.get("labels") or {}).get(ROLE)
        wanted = node.spec.get("labels", {}).get(ROLE)
        if role and wanted and role != wanted:
            setting = "storage.build_bucket" if wanted == "staging" else "storage.bucket"
            return (
                f"{node.name} is this deployment's {role} bucket (label {ROLE}={role}); "
                f"oasis will not use it as its {wanted} bucket: name another in {setting}"
            )
        return None

    def keeps(
        self,
        cloud: Cloud,
        node: Node,
        observed: Mapping[str, Any],
        recorded: Mapping[str, Any],
        delete_data: bool,
    ) -> str | None:
        """A data bucket, whatever key names it, and a non-empty bucket oasis did not
        create, are kept unless --delete-data."""
        if delete_data:
            return None
        if (observed.get("labels") or {}).get(ROLE) == "data":
            return "a data bucket: training data is kept; `oasis down --delete-data` deletes it"
        if recorded.get("created") != node.name and not _empty(cloud, node):
            return "not empty and not created by oasis: kept; `oasis down --delete-data` deletes it"
        return None

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        outputs = {"url": f"gs://{observed['name']}"} if "name" in observed else {}
        if "created" in observed:
            outputs["created"] = observed["created"]
        return outputs

    def adopted(self, cloud: Cloud, node: Node, observed: dict[str, Any]) -> dict[str, Any]:
        """A bucket oasis takes over while it is empty counts as made empty by oasis
        (its own create whose answer was lost, for one): `down` may empty it later."""
        return {**observed, "created": node.name} if _empty(cloud, node) else observed

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
                return self.outputs(self.adopt_existing(cloud, node, exc))
        return {"url": f"gs://{node.name}", "created": node.name}  # made empty by oasis

    def in_place(self, change: Change) -> bool:
        return change.field != "location"  # a bucket's location is fixed at creation

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


def _empty(cloud: Cloud, node: Node) -> bool:
    with api_errors(f"{node.key} ({node.name})"):
        return not list(cloud.storage().list_blobs(node.name, max_results=1))


KINDS: tuple[Kind, ...] = (Bucket(),)
