"""Writes to a simulated cluster's objects: the checks every written body passes,
server-side apply and the other patches, each recording its field manager.

Rules kept: apply is `PATCH` with `application/apply-patch+yaml` and needs
`?fieldManager=` (422), creating with 201 when absent and changing nothing when the
body is the same; conflicts are 409 unless forced (`fieldmanager`); the body's
apiVersion, kind, name and namespace must match the URL; names are DNS-1123; the
namespace must exist; objects pass `schemas`.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from oasis_cli.localcloud.infra.rest import timestamp
from oasis_cli.localcloud.kubernetes import fieldmanager, patches
from oasis_cli.localcloud.kubernetes.controllers import react
from oasis_cli.localcloud.kubernetes.objects import (
    NAMESPACE,
    Call,
    Env,
    KubeError,
    KubeWorld,
    not_found,
    public,
)
from oasis_cli.localcloud.kubernetes.schemas import validate

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def check_body(call: Call, kube: KubeWorld, obj: Any, write: str = "create") -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise KubeError(400, "the request body must be a Kubernetes object")
    kind = call.kind
    if obj.get("apiVersion") != kind.api_version or obj.get("kind") != kind.kind:
        raise KubeError(
            400,
            f"the API version in the data ({obj.get('apiVersion')}) and kind ({obj.get('kind')}) "
            f"do not match the expected {kind.api_version} {kind.kind}",
        )
    metadata = obj.setdefault("metadata", {})
    name = metadata.get("name", "")
    if not name:
        raise KubeError(422, f"{kind.kind} is invalid: metadata.name: Required value")
    if call.name and name != call.name:
        raise KubeError(
            400, f"the name of the object ({name}) does not match the URL ({call.name})"
        )
    if not DNS_SUBDOMAIN.match(name):
        raise KubeError(
            422, f'{kind.kind} "{name}" is invalid: metadata.name: a lowercase RFC 1123 subdomain'
        )
    if kind.namespaced:
        if metadata.get("namespace", call.namespace) != call.namespace:
            raise KubeError(400, "the namespace of the object does not match the URL")
        metadata["namespace"] = call.namespace
        if kube.get(NAMESPACE, "", call.namespace) is None:
            raise KubeError(404, f'namespaces "{call.namespace}" not found')
    for label, value in metadata.get("labels", {}).items():
        if not isinstance(value, str) or len(value) > 63:
            raise KubeError(
                422, f'{kind.kind} "{name}" is invalid: metadata.labels: {label}: Invalid value'
            )
    dropped = validate(kind, obj, write, call.query.get("fieldValidation", "Warn"))
    call.warnings += [f'unknown field "{path}"' for path in dropped]
    return obj


def manager_of(call: Call) -> str:
    """The field manager of a create or patch: `fieldManager`, else the User-Agent
    up to its first `/` (apiserver endpoints/handlers/create.go `managerOrUserAgent`;
    "unknown" here where the client sends neither)."""
    agent = "".join(c for c in call.user_agent.split("/", 1)[0] if c.isprintable())
    return call.query.get("fieldManager") or agent[:128] or "unknown"


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without the metadata the server writes: what a write can change."""
    metadata = {k: v for k, v in obj["metadata"].items() if k not in fieldmanager.SERVER_METADATA}
    return {**obj, "metadata": metadata}


def create(kube: KubeWorld, call: Call, env: Env) -> tuple[int, Any]:
    """POST: a new object, all of whose fields its creator manages (an `Update`)."""
    obj = check_body(call, kube, copy.deepcopy(call.body))
    kind, name = call.kind, obj["metadata"]["name"]
    if kube.get(kind, call.namespace, name) is not None:
        raise KubeError(409, f'{kind.plural}.{kind.group or "core"} "{name}" already exists')
    return _created(kube, call, obj, (manager_of(call), "Update"), env)


def _created(
    kube: KubeWorld, call: Call, obj: dict[str, Any], writer: tuple[str, str], env: Env
) -> tuple[int, Any]:
    obj["metadata"]["generation"] = 1
    obj["metadata"]["managedFields"] = fieldmanager.entries(
        {writer: set(fieldmanager.leaves(obj))}, call.kind.api_version, timestamp(time.time())
    )
    created = kube.put(call.kind, obj)
    react(kube, call.kind, created, env)
    return 201, public(created)


def _replaced(
    kube: KubeWorld,
    call: Call,
    existing: dict[str, Any],
    new: dict[str, Any],
    managed: dict[tuple[str, str], set[fieldmanager.Path]],
    writer: tuple[str, str],
    env: Env,
) -> tuple[int, Any]:
    """Store `new` in place of `existing`, which keeps what the server owns (status,
    the controllers' private state); nothing is written when nothing changed."""
    for key in ("status", "_private"):
        if key in existing:
            new[key] = existing[key]
    if _content(new) == _content(existing) and managed == fieldmanager.owners(existing):
        return 200, public(existing)
    new["metadata"]["managedFields"] = fieldmanager.entries(
        managed,
        call.kind.api_version,
        timestamp(time.time()),
        existing["metadata"].get("managedFields"),
        writer,
    )
    if new.get("spec") != existing.get("spec"):
        new["metadata"]["generation"] = existing["metadata"]["generation"] + 1
    updated = kube.put(call.kind, new)
    react(kube, call.kind, updated, env)
    return 200, public(updated)


def _server_metadata(existing: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in existing["metadata"].items() if k in fieldmanager.SERVER_METADATA}


def patch(
    kube: KubeWorld, call: Call, existing: dict[str, Any] | None, env: Env
) -> tuple[int, Any]:
    """A merge, strategic merge or JSON patch of an existing object; its manager
    takes over the fields it changed."""
    if existing is None:
        raise not_found(call.kind, call.name)
    after = patches.patched(call.kind, public(existing), call.body, call.content_type)
    after.update(apiVersion=existing["apiVersion"], kind=existing["kind"])
    after["metadata"] = {**(after.get("metadata") or {}), **_server_metadata(existing)}
    check_body(call, kube, after, "patch")
    writer = (manager_of(call), "Update")
    managed = fieldmanager.updated(existing, after, writer[0])
    return _replaced(kube, call, existing, after, managed, writer, env)


def apply(
    kube: KubeWorld, call: Call, existing: dict[str, Any] | None, env: Env
) -> tuple[int, Any]:
    """Server-side apply: creates the object, or merges the applied fields into it
    as `fieldmanager` does."""
    manager = call.query.get("fieldManager", "")
    if not manager:
        raise KubeError(
            422,
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
            "for apply patch",
        )
    obj = check_body(call, kube, copy.deepcopy(call.body), "apply")
    writer = (manager, "Apply")
    if existing is None:
        return _created(kube, call, obj, writer, env)
    force = call.query.get("force", "").lower() in ("true", "1")
    content, managed = fieldmanager.apply(existing, obj, manager, force)
    merged = {"apiVersion": existing["apiVersion"], "kind": existing["kind"], **content}
    merged["metadata"] = {**_server_metadata(existing), **content.get("metadata", {})}
    return _replaced(kube, call, existing, merged, managed, writer, env)
