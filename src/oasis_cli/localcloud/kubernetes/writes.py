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


def user_agent_manager(user_agent: str) -> str:
    """The manager of a write that names none: its User-Agent up to the first `/`
    (the API server's default, apiserver endpoints/handlers `managerOrUserAgent`)."""
    return user_agent.split("/", 1)[0][:128] or "unknown"


SERVER_METADATA = ("uid", "creationTimestamp", "generation", "resourceVersion", "managedFields")


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without the metadata the server writes: what an apply can change."""
    metadata = {k: v for k, v in obj["metadata"].items() if k not in SERVER_METADATA}
    return {**obj, "metadata": metadata}


def patch(
    kube: KubeWorld, call: Call, existing: dict[str, Any] | None, env: Env
) -> tuple[int, Any]:
    """A merge, strategic merge or JSON patch of an existing object; its manager
    (`fieldManager`, or the User-Agent's name) takes over the fields it changed."""
    if existing is None:
        raise not_found(call.kind, call.name)
    after = patches.patched(call.kind, public(existing), call.body, call.content_type)
    for key in ("apiVersion", "kind"):
        after[key] = existing[key]
    metadata = after.setdefault("metadata", {})
    for key in ("name", "namespace", "uid", "creationTimestamp", "generation"):
        if key in existing["metadata"]:
            metadata[key] = existing["metadata"][key]
    check_body(call, kube, after, "patch")
    for key in ("status", "_private"):
        if key in existing:
            after[key] = existing[key]
    if _content(after) == _content(existing):
        return 200, public(existing)
    manager = call.query.get("fieldManager") or user_agent_manager(call.user_agent)
    managed = fieldmanager.updated(existing, after, manager)
    metadata["managedFields"] = fieldmanager.entries(
        managed,
        call.kind.api_version,
        timestamp(time.time()),
        existing["metadata"].get("managedFields"),
        (manager, "Update"),
    )
    if after.get("spec") != existing.get("spec"):
        metadata["generation"] = existing["metadata"]["generation"] + 1
    updated = kube.put(call.kind, after)
    react(kube, call.kind, updated, env)
    return 200, public(updated)


def apply(
    kube: KubeWorld, call: Call, existing: dict[str, Any] | None, env: Env
) -> tuple[int, Any]:
    manager = call.query.get("fieldManager", "")
    if not manager:
        raise KubeError(
            422,
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
            "for apply patch",
        )
    obj = check_body(call, kube, copy.deepcopy(call.body), "apply")
    now = timestamp(time.time())
    version = call.kind.api_version
    if existing is None:
        obj["metadata"]["generation"] = 1
        managed = {(manager, "Apply"): set(fieldmanager.leaves(obj))}
        obj["metadata"]["managedFields"] = fieldmanager.entries(managed, version, now)
        created = kube.put(call.kind, obj)
        react(kube, call.kind, created, env)
        return 201, public(created)
    force = call.query.get("force", "").lower() in ("true", "1")
    content, managed = fieldmanager.apply(existing, obj, manager, force)
    # the merged fields plus what the server owns: identity and system metadata,
    # status, the controllers' private state
    merged = {"apiVersion": existing["apiVersion"], "kind": existing["kind"], **content}
    merged["metadata"] = {
        **{k: v for k, v in existing["metadata"].items() if k in fieldmanager.SERVER_METADATA},
        **content.get("metadata", {}),
    }
    for key in ("status", "_private"):
        if key in existing:
            merged[key] = existing[key]
    if _content(merged) == _content(existing) and managed == fieldmanager.owners(existing):
        return 200, public(existing)
    merged["metadata"]["managedFields"] = fieldmanager.entries(
        managed, version, now, existing["metadata"].get("managedFields"), (manager, "Apply")
    )
    if merged.get("spec") != existing.get("spec"):
        merged["metadata"]["generation"] = existing["metadata"]["generation"] + 1
    updated = kube.put(call.kind, merged)
    react(kube, call.kind, updated, env)
    return 200, public(updated)
