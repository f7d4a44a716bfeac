"""One waiter for every long-running operation shape, with a deadline and backoff.

On top of `polling.wait_until`, one function per shape, each raising
`OperationFailed` with the operation's name and error:
- `wait_compute()`: compute operations, through oasis's own operations clients (an
  ExtendedOperation's `.result()` would poll compute.googleapis.com whatever the
  endpoint);
- `wait_gke()`: GKE operations (`projects/*/locations/*/operations/*`);
- `wait_longrunning()`: google.longrunning futures (Artifact Registry, Cloud Build,
  Service Usage), refreshed at oasis's pace instead of the library's fixed one.
"""

from __future__ import annotations

import logging
from typing import Any

from oasis_cli.errors import OperationFailed
from oasis_cli.gcp.clients import Cloud
from oasis_cli.polling import wait_until

log = logging.getLogger(__name__)


def wait_compute(cloud: Cloud, operation: Any, *, scope: str) -> Any:
    """Wait for a compute operation. `scope` is "global", "regions/R" or "zones/Z"."""
    from google.cloud import compute_v1

    name = operation.name
    kind, _, location = scope.partition("/")
    if kind == "global":
        client = cloud.compute("GlobalOperationsClient")
        kwargs = {}
    elif kind == "regions":
        client = cloud.compute("RegionOperationsClient")
        kwargs = {"region": location}
    else:
        client = cloud.compute("ZoneOperationsClient")
        kwargs = {"zone": location}
    latest = operation

    def poll() -> bool:
        nonlocal latest
        if latest.status == compute_v1.Operation.Status.DONE:
            return True
        latest = client.get(project=cloud.project, operation=name, **kwargs)
        return bool(latest.status == compute_v1.Operation.Status.DONE)

    wait_until(poll, name=name, policy=cloud.poll)
    errors = list(latest.error.errors) if latest.error else []
    if errors:
        first = errors[0]
        raise OperationFailed(name, first.code or latest.http_error_status_code, first.message)
    for warning in latest.warnings:
        log.warning("operation %s: %s: %s", name, warning.code, warning.message)
    return latest


def wait_gke(cloud: Cloud, name: str) -> Any:
    """Wait for a GKE operation by its full name; returns the finished operation."""
    from google.cloud import container_v1

    client = cloud.container()
    latest: Any = None

    def poll() -> bool:
        nonlocal latest
        latest = client.get_operation(name=name)
        return bool(latest.status == container_v1.Operation.Status.DONE)

    wait_until(poll, name=name, policy=cloud.poll)
    if latest.error and latest.error.code:
        raise OperationFailed(name, latest.error.code, latest.error.message)
    return latest


def wait_longrunning(cloud: Cloud, operation: Any) -> Any:
    """Wait for a google.api_core.operation.Operation; returns its response."""
    name = operation.operation.name
    wait_until(operation.done, name=name, policy=cloud.poll)
    error = operation.exception()
    if error is not None:
        code = getattr(error, "code", None)
        raise OperationFailed(name, int(code) if code is not None else "error", error.message)
    return operation.result(timeout=0)
