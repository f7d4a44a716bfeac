"""One operation engine for the three shapes Google answers mutations with: compute
operations (`status` PENDING/RUNNING/DONE, `error.errors[]`, `httpErrorStatusCode`),
GKE operations (`status`, `error`, `statusMessage`) and google.longrunning operations
(`done`, `error` or `response`).

An operation is a record in `world[service]["_operations"]`, due at `_done_at`
(latency-scaled). `due()` hands each service the records whose time has come, once,
for the service to apply their effect and write the fields of its own shape.
A `fail_operation` fault rule is translated here, once, into the `_failure` the
operation ends with: the rule's `code` (a canonical status name such as
RESOURCE_EXHAUSTED, or compute's reason such as QUOTA_EXCEEDED; `reason` and
`status_name` are accepted for it), `message` and HTTP `status`, else the service's
defaults. Each shape renders it as Google does (`compute_error`, `rpc_error`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from oasis_cli.localcloud.infra import world as world_tables

# google.rpc.Code numbers of the canonical status names
# (https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto).
RPC_CODES = {
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
}


def failure(
    fault: dict[str, Any] | None, *, code: str, message: str, status: int
) -> dict[str, Any] | None:
    """How an operation started under `fault` ends, or None when it succeeds."""
    if not fault or fault.get("action") != "fail_operation":
        return None
    return {
        "code": fault.get("code") or fault.get("reason") or fault.get("status_name") or code,
        "message": fault.get("message", message),
        "status": int(fault.get("status", status)),
    }


def rpc_error(failure: dict[str, Any]) -> dict[str, Any]:
    """A failure as a google.rpc.Status (GKE and google.longrunning operations)."""
    return {
        "code": RPC_CODES.get(failure["code"], RPC_CODES["UNKNOWN"]),
        "message": failure["message"],
    }


def compute_error(failure: dict[str, Any]) -> dict[str, Any]:
    """A failure as a DONE compute operation carries it."""
    return {
        "error": {"errors": [{"code": failure["code"], "message": failure["message"]}]},
        "httpErrorStatusCode": failure["status"],
        "httpErrorMessage": "FORBIDDEN" if failure["status"] == 403 else "ERROR",
    }


def records(world: dict[str, Any], service: str) -> dict[str, Any]:
    return world_tables.table(service, "_operations").rows(world)


def start(
    world: dict[str, Any],
    service: str,
    key: str,
    record: dict[str, Any],
    *,
    done_at: float,
    failed: dict[str, Any] | None,
) -> None:
    """Record a running operation under `key`, due at `done_at`."""
    record["_done_at"] = done_at
    if failed is not None:
        record["_failure"] = failed
    records(world, service)[key] = record


def due(world: dict[str, Any], service: str) -> Iterator[dict[str, Any]]:
    """The operations whose time has come, each handed out once."""
    now = time.time()
    for record in records(world, service).values():
        if not record.get("_ended") and record["_done_at"] <= now:
            record["_ended"] = True
            yield record
