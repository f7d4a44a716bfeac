"""Translate Google API exceptions into oasis errors, and retry only what is transient."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

from oasis_cli.errors import ApiDisabled, CloudError

Predicate = Callable[[BaseException], bool]


def retrying(
    initial_s: float,
    deadline_s: float = 120.0,
    *also: Predicate,
    maximum_s: float = 10.0,
    multiplier: float = 2.0,
) -> Any:
    """A client-library Retry of transient failures, and of the errors `also` names,
    with backoff inside a deadline."""
    from google.api_core import retry

    return retry.Retry(
        predicate=lambda exc: is_transient(exc) or any(check(exc) for check in also),
        initial=initial_s,
        maximum=max(initial_s, maximum_s),
        multiplier=multiplier,
        timeout=deadline_s,
    )


def transient_retry(initial_s: float, deadline_s: float = 120.0) -> Any:
    """Retry 429, 500, 502, 503 and 504 with backoff inside a deadline."""
    return retrying(initial_s, deadline_s)


@contextlib.contextmanager
def api_errors(resource: str) -> Iterator[None]:
    """Re-raise a failed API call as a CloudError naming the resource and the cause."""
    import requests
    from google.api_core import exceptions

    try:
        yield
    except exceptions.RetryError as exc:
        raise CloudError(resource, f"gave up retrying: {_quiet(str(exc.cause or exc))}") from None
    except requests.exceptions.ConnectionError as exc:
        raise CloudError(resource, f"the connection dropped before an answer: {exc}") from None
    except exceptions.GoogleAPICallError as exc:
        if exc.reason == "SERVICE_DISABLED":  # ErrorInfo: the API is not enabled
            raise ApiDisabled(resource, (exc.metadata or {}).get("service", "?")) from None
        code = exc.code if exc.code is not None else "error"
        raise CloudError(
            resource, f"{int(code) if isinstance(code, int) else code} {_quiet(exc.message)}"
        ) from None


def _quiet(message: str) -> str:
    """The client's message without the query string REST clients add to the URL
    (`?%24alt=json%3Benum-encoding%3Dint`): the method and path are what help."""
    return re.sub(r"(https?://[^\s?]+)\?[^\s:]*", r"\1", message)


def operation_in_progress(exc: BaseException) -> bool:
    """GKE refuses a second operation on a cluster while one runs (FAILED_PRECONDITION)."""
    from google.api_core import exceptions

    return isinstance(exc, (exceptions.BadRequest, exceptions.FailedPrecondition)) and (
        "incompatible operation" in str(exc) or "operation in progress" in str(exc).lower()
    )


def until_cluster_is_free(initial_s: float, deadline_s: float, *also: Predicate) -> Any:
    """Retry a GKE call refused because another operation runs on the cluster."""
    return retrying(
        initial_s, deadline_s, operation_in_progress, *also, maximum_s=30.0, multiplier=1.5
    )


ACCOUNT_PROPAGATION_S = 300.0
"""How long a just-created service account may stay invisible to other services: IAM
says "60 seconds or more" (https://cloud.google.com/iam/docs/service-accounts-create)."""


def until_account_is_usable(initial_s: float, maximum_s: float) -> Any:
    """Retry a call refused because a service account oasis just created is not
    visible to the service yet (and transient failures), for up to
    `ACCOUNT_PROPAGATION_S`, never sleeping more than `maximum_s` at once."""
    return retrying(initial_s, ACCOUNT_PROPAGATION_S, account_not_visible, maximum_s=maximum_s)


def account_not_visible(exc: BaseException) -> bool:
    """A service account reported missing while it propagates: IAM policy writes answer
    400 "Service account X does not exist.", GKE 400 'failed to check status for "X";
    Verify if principal exists and is valid.' (terraform-google-modules/
    terraform-google-kubernetes-engine#2002). Only right after oasis created the
    account is this worth a retry, so only creates that follow it retry it."""
    from google.api_core import exceptions

    text = str(exc)
    return isinstance(exc, (exceptions.BadRequest, exceptions.FailedPrecondition)) and (
        ("Service account" in text and "does not exist" in text)
        or "Verify if principal exists" in text
    )


def is_transient(exc: BaseException) -> bool:
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
