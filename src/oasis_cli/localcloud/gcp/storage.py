"""Cloud Storage JSON API v1 as the local cloud serves it: buckets (with labels,
uniform access and public access prevention), bucket IAM, and objects (simple and
multipart uploads, list, get, delete). Object data lives in files beside the state.

Rules kept from GCS: bucket names are global (409 when taken), a non-empty bucket
cannot be deleted (409), and a setIamPolicy with a stale etag fails with 412.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from oasis_cli.localcloud.gcp import iampolicy
from oasis_cli.localcloud.gcp.projects import project_number, service_account_exists
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import HttpError, Request, Response
from oasis_cli.localcloud.infra.rest import Handler, RestService, public, timestamp
from oasis_cli.localcloud.infra.store import Store

BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
LOCATION = re.compile(r"^([a-z]+-[a-z]+\d+|us|eu|asia|nam4|eur4)$")
UPLOAD = re.compile(r"^/upload/storage/v1/b/([^/]+)/o$")
RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def objects_of(world: dict[str, Any], bucket: str) -> dict[str, Any]:
    objects: dict[str, Any] = world_tables.OBJECTS.rows(world).setdefault(bucket, {})
    return objects


def object_path(store: Store, bucket: str, name: str) -> Path:
    """Where an object's data lives (beside the state file, not in it)."""
    key = hashlib.sha256(f"{bucket}/{name}".encode()).hexdigest()
    directory = store.directory / "objects"
    directory.mkdir(exist_ok=True)
    return directory / key


def put_object(
    store: Store,
    world: dict[str, Any],
    bucket: str,
    name: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write an object (an upload, or a service writing into a bucket: build logs)."""
    metadata = metadata or {}
    object_path(store, bucket, name).write_bytes(data)
    now = timestamp(time.time())
    record = {
        **metadata,
        "kind": "storage#object",
        "id": f"{bucket}/{name}",
        "name": name,
        "bucket": bucket,
        "size": str(len(data)),
        "contentType": metadata.get("contentType", content_type),
        "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
        "generation": str(time.time_ns() // 1000),
        "timeCreated": objects_of(world, bucket).get(name, {}).get("timeCreated", now),
        "updated": now,
    }
    objects_of(world, bucket)[name] = record
    return record


def read_object(store: Store, world: dict[str, Any], bucket: str, name: str) -> bytes | None:
    if name not in objects_of(world, bucket):
        return None
    return object_path(store, bucket, name).read_bytes()


class Storage(RestService):
    api_name, api_version, service = "storage", "v1", "storage"
    tables = {"buckets": "storage#bucket"}

    def routes(self) -> dict[str, Handler]:
        return {
            "storage.buckets.insert": self._insert_bucket,
            "storage.buckets.get": self._get_bucket,
            "storage.buckets.list": self._list_buckets,
            "storage.buckets.patch": self._patch_bucket,
            "storage.buckets.delete": self._delete_bucket,
            "storage.buckets.getIamPolicy": self._get_policy,
            "storage.buckets.setIamPolicy": self._set_policy,
            "storage.objects.list": self._list_objects,
            "storage.objects.get": self._get_object,
            "storage.objects.delete": self._delete_object,
        }

    def target(self, request: Request) -> str:
        if isinstance(request.body, dict) and "name" in request.body:
            return str(request.body["name"])
        return request.path.rsplit("/", 1)[-1]

    def location(self, name: str, resource: dict[str, Any]) -> str:
        return str(resource["location"]).lower()

    def handle(self, request: Request) -> Response:
        upload = UPLOAD.match(request.path)
        if upload and request.method == "POST":
            with self.store.transaction() as world:
                return self._upload(world, unquote(upload.group(1)), request)
        if request.path.startswith("/download/storage/v1/") and request.method == "GET":
            request.path = request.path.removeprefix("/download")  # media downloads
        return super().handle(request)

    # --- buckets ---------------------------------------------------------------------

    def _bucket(self, world: dict, name: str) -> dict[str, Any]:
        bucket = self.table(world, "buckets").get(unquote(name))
        if bucket is None:
            raise HttpError(404, "The specified bucket does not exist.", "notFound")
        return bucket

    def _insert_bucket(self, world: dict, params: dict, request: Request) -> Response:
        # `project` is a required query parameter of buckets.list
        # (https://cloud.google.com/storage/docs/json_api/v1/buckets/list)
        project = request.param("project")
        if not project:
            raise HttpError(400, "Required parameter: project", "required")
        body = dict(request.body or {})
        name = body.get("name", "")
        if not BUCKET.match(name) or ".." in name or name.startswith("goog"):
            raise HttpError(400, "Invalid bucket name: '" + name + "'", "invalid")
        existing = self.table(world, "buckets").get(name)
        if existing is not None:
            if existing["_project"] == project:
                raise HttpError(
                    409,
                    "Your previous request to create the named bucket succeeded and you "
                    "already own it.",
                    "conflict",
                )
            raise HttpError(409, "The requested bucket name is not available.", "conflict")
        location = str(body.get("location", "US")).lower()
        if not LOCATION.match(location):
            raise HttpError(400, f"Invalid location: {body.get('location')}", "invalid")
        iam = body.get("iamConfiguration", {})
        prevention = iam.get("publicAccessPrevention", "inherited")
        if prevention not in ("inherited", "enforced", "unspecified"):
            raise HttpError(400, f"Invalid value for publicAccessPrevention: {prevention}")
        now = timestamp(time.time())
        uniform = bool(iam.get("uniformBucketLevelAccess", {}).get("enabled", False))
        bucket = {
            **body,
            "kind": "storage#bucket",
            "id": name,
            "name": name,
            "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}",
            "projectNumber": project_number(project),
            "location": location.upper(),
            "locationType": "region" if "-" in location else "multi-region",
            "storageClass": body.get("storageClass", "STANDARD"),
            "iamConfiguration": {
                "uniformBucketLevelAccess": {"enabled": uniform},
                "bucketPolicyOnly": {"enabled": uniform},
                "publicAccessPrevention": prevention,
            },
            "timeCreated": now,
            "updated": now,
            "metageneration": "1",
            "etag": "CAE=",
            "_project": project,
        }
        self.table(world, "buckets")[name] = bucket
        return Response(200, public(bucket))

    def _list_buckets(self, world: dict, params: dict, request: Request) -> Response:
        # `project` is a required query parameter of buckets.list
        # (https://cloud.google.com/storage/docs/json_api/v1/buckets/list)
        project = request.param("project")
        if not project:
            raise HttpError(400, "Required parameter: project", "required")
        items = [
            public(b)
            for _, b in sorted(self.table(world, "buckets").items())
            if b.get("_project") == project
        ]
        return Response(200, {"kind": "storage#buckets", "items": items})

    def _get_bucket(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, public(self._bucket(world, params["bucket"])))

    def _patch_bucket(self, world: dict, params: dict, request: Request) -> Response:
        bucket = self._bucket(world, params["bucket"])
        body = dict(request.body or {})
        if "labels" in body:
            labels = {**bucket.get("labels", {}), **(body.pop("labels") or {})}
            bucket["labels"] = {k: v for k, v in labels.items() if v is not None}
        if "iamConfiguration" in body:
            iam = body.pop("iamConfiguration")
            current = bucket["iamConfiguration"]
            if "publicAccessPrevention" in iam:
                current["publicAccessPrevention"] = iam["publicAccessPrevention"]
            if "uniformBucketLevelAccess" in iam:
                enabled = bool(iam["uniformBucketLevelAccess"].get("enabled"))
                current["uniformBucketLevelAccess"] = {"enabled": enabled}
                current["bucketPolicyOnly"] = {"enabled": enabled}
        bucket.update(body)
        bucket["metageneration"] = str(int(bucket["metageneration"]) + 1)
        bucket["updated"] = timestamp(time.time())
        return Response(200, public(bucket))

    def _delete_bucket(self, world: dict, params: dict, request: Request) -> Response:
        name = unquote(params["bucket"])
        self._bucket(world, name)
        if self._objects(world, name):
            raise HttpError(409, "The bucket you tried to delete is not empty.", "conflict")
        self.table(world, "buckets").pop(name)
        world_tables.POLICIES.rows(world).pop(f"projects/_/buckets/{name}", None)
        return Response(204)

    def _policy_view(self, name: str, policy: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "storage#policy", "resourceId": f"projects/_/buckets/{name}", **policy}

    def _get_policy(self, world: dict, params: dict, request: Request) -> Response:
        name = unquote(params["bucket"])
        self._bucket(world, name)
        requested = iampolicy.requested_version(request)
        policy = iampolicy.get(world, f"projects/_/buckets/{name}", requested)
        return Response(200, self._policy_view(name, policy))

    def _set_policy(self, world: dict, params: dict, request: Request) -> Response:
        name = unquote(params["bucket"])
        self._bucket(world, name)
        try:
            policy = iampolicy.set_policy(
                world,
                f"projects/_/buckets/{name}",
                dict(request.body or {}),
                service_account_exists=lambda email: service_account_exists(world, email),
            )
        except HttpError as exc:
            if exc.status == 409:
                raise HttpError(412, "Precondition Failed", "conditionNotMet") from None
            raise
        return Response(200, self._policy_view(name, policy))

    # --- objects ---------------------------------------------------------------------

    def _objects(self, world: dict, bucket: str) -> dict[str, Any]:
        return objects_of(world, bucket)

    def _data_path(self, bucket: str, name: str) -> Path:
        return object_path(self.store, bucket, name)

    def _upload(self, world: dict, bucket: str, request: Request) -> Response:
        self._bucket(world, bucket)
        upload_type = request.param("uploadType")
        if upload_type == "media":
            metadata: dict[str, Any] = {"name": request.param("name")}
            data = request.raw
            content_type = request.headers.get("content-type", "application/octet-stream")
        elif upload_type == "multipart":
            # gcloud's apitools quotes the boundary with single quotes, which Cloud
            # Storage takes and the email package does not: quote it as RFC 2045 does
            declared = re.sub(
                r"boundary='([^']*)'", r'boundary="\1"', request.headers.get("content-type", "")
            )
            header = f"Content-Type: {declared}\r\n\r\n".encode()
            message = BytesParser(policy=HTTP).parsebytes(header + request.raw)
            parts: list[Any] = list(message.iter_parts())
            if len(parts) != 2:
                raise HttpError(400, "Multipart upload needs a metadata part and a data part.")
            metadata = json.loads(parts[0].get_payload(decode=True))
            data = parts[1].get_payload(decode=True)
            content_type = parts[1].get_content_type()
        else:
            raise HttpError(400, f"Unsupported uploadType: {upload_type}")
        name = metadata.get("name") or request.param("name")
        if not name:
            raise HttpError(400, "Required parameter: name", "required")
        # ifGenerationMatch=0: write only if no live object has that name
        # (https://cloud.google.com/storage/docs/request-preconditions)
        if request.param("ifGenerationMatch") == "0" and name in self._objects(world, bucket):
            raise HttpError(
                412,
                "At least one of the pre-conditions you specified did not hold.",
                "conditionNotMet",
            )
        record = put_object(self.store, world, bucket, name, data, content_type, metadata)
        return Response(200, self._view(record, request))

    def _list_objects(self, world: dict, params: dict, request: Request) -> Response:
        bucket = unquote(params["bucket"])
        self._bucket(world, bucket)
        prefix, delimiter = request.param("prefix") or "", request.param("delimiter") or ""
        items, prefixes = [], []
        for name, record in sorted(self._objects(world, bucket).items()):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                # the JSON API's directory-like mode (objects.list `delimiter`): a name
                # that holds the delimiter past the prefix is listed once, truncated
                # after it, in `prefixes`
                folded = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                if folded not in prefixes:
                    prefixes.append(folded)
                continue
            items.append(self._view(record, request))
        answer: dict[str, Any] = {"kind": "storage#objects", "items": items}
        if prefixes:
            answer["prefixes"] = prefixes
        return Response(200, answer)

    def _object(self, world: dict, params: dict) -> tuple[str, str, dict[str, Any]]:
        bucket, name = unquote(params["bucket"]), unquote(params["object"])
        self._bucket(world, bucket)
        record = self._objects(world, bucket).get(name)
        if record is None:
            raise HttpError(404, "No such object: " + f"{bucket}/{name}", "notFound")
        return bucket, name, record

    def _get_object(self, world: dict, params: dict, request: Request) -> Response:
        bucket, name, record = self._object(world, params)
        if request.param("alt") != "media":
            return Response(200, self._view(record, request))
        data = self._data_path(bucket, name).read_bytes()
        wanted = RANGE.match(request.headers.get("range", ""))
        if wanted is None:
            return Response(200, data, {"Content-Type": record["contentType"]})
        first = int(wanted.group(1))
        last = min(int(wanted.group(2) or len(data) - 1), len(data) - 1)
        if first >= len(data):
            raise HttpError(416, "Request range not satisfiable", "requestedRangeNotSatisfiable")
        headers = {
            "Content-Type": record["contentType"],
            "Content-Range": f"bytes {first}-{last}/{len(data)}",
        }
        return Response(206, data[first : last + 1], headers)

    @staticmethod
    def _view(record: dict[str, Any], request: Request) -> dict[str, Any]:
        """An object as the JSON API answers it, with its `selfLink` and its
        `mediaLink`, the download URL clients use (gcloud's `storage cat`, the
        Python client): Cloud Storage's is `https://storage.googleapis.com/download/
        storage/v1/b/B/o/O?generation=G&alt=media`; here the same path on the host
        the caller asked."""
        root = f"http://{request.headers.get('host', '127.0.0.1')}"
        path = f"/storage/v1/b/{record['bucket']}/o/{quote(record['name'], safe='')}"
        return {
            **record,
            "selfLink": f"{root}/storage{path}",
            "mediaLink": f"{root}/download{path}?generation={record['generation']}&alt=media",
        }

    def _delete_object(self, world: dict, params: dict, request: Request) -> Response:
        bucket, name, _ = self._object(world, params)
        self._objects(world, bucket).pop(name)
        self._data_path(bucket, name).unlink(missing_ok=True)
        return Response(204)
