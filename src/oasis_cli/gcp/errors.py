"""Translate Google API exceptions into oasis errors, and retry only what is transient."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from oasis_cli.errors import CloudError


def transient_retry(initial_s: float, deadline_s: float = 120.0) -> Any:
    """Retry 429, 500, 502, 503 and 504 with backoff inside a deadline."""
    from google.api_core import retry

    return retry.Retry(
        predicate=_transient,
        initial=initial_s,
        maximum=max(initial_s, 10.0),
        multiplier=2.0,
        timeout=deadline_s,
    )


@contextlib.contextmanager
def api_errors(resource: str) -> Iterator[None]:
    """Re-raise a failed API call as a CloudError naming the resource and the cause."""
    import requests
    from google.api_core import exceptions

    try:
        yield
    except exceptions.RetryError as exc:
        raise CloudError(resource, f"gave up retrying: {exc.cause or exc}") from None
    except requests.exceptions.ConnectionError as exc:
        raise CloudError(resource, f"the connection dropped before an answer: {exc}") from None
    except exceptions.GoogleAPICallError as exc:
        code = exc.code if exc.code is not None else "error"
        raise CloudError(
            resource, f"{int(code) if isinstance(code, int) else code} {exc.message}"
        ) from None


def operation_in_progress(exc: BaseException) -> bool:
    """GKE refuses a second operation on a cluster while one runs (FAILED_PRECONDITION)."""
    from google.api_core import exceptions

    return isinstance(exc, (exceptions.BadRequest, exceptions.FailedPrecondition)) and (
        "incompatible operation" in str(exc) or "operation in progress" in str(exc).lower()
    )


def until_cluster_is_free(initial_s: float, deadline_s: float) -> Any:
    """Retry a GKE call refused because another operation runs on the cluster."""
    from google.api_core import retry

    return retry.Retry(
        predicate=lambda exc: operation_in_progress(exc) or _transient(exc),
        initial=initial_s,
        maximum=max(initial_s, 30.0),
        multiplier=1.5,
        timeout=deadline_s,
    )


def _transient(exc: BaseException) -> bool:
    """429 and 5xx, and a connection dropped before the answer came (REST clients
    raise requests' ConnectionError for it: the request may have been served, which
    every retried create survives by adopting on 409 or replaying its request id)."""
    import requests
    from google.api_core import exceptions

    return isinstance(
        exc,
        (
            exceptions.TooManyRequests,
            exceptions.InternalServerError,
            exceptions.BadGateway,
            exceptions.ServiceUnavailable,
            exceptions.GatewayTimeout,
            requests.exceptions.ConnectionError,
        ),
    )
