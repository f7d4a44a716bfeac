"""Kubernetes API errors as oasis errors that name the object and say the cause."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from oasis_cli.errors import CloudError


@contextlib.contextmanager
def kube_errors(resource: str) -> Iterator[None]:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ResourceNotFoundError as exc:
        raise CloudError(resource, f"the cluster does not serve this kind ({exc})") from None
    except (ApiException, DynamicApiError) as exc:
        body = getattr(exc, "body", "") or ""
        try:
            message = json.loads(body).get("message", body)
        except (ValueError, AttributeError):
            message = body or str(exc)
        raise CloudError(resource, f"{getattr(exc, 'status', '?')} {message}") from None
    except HTTPError as exc:
        raise CloudError(
            resource,
            f"cannot reach the cluster's API: {exc}",
            hint="GKE drops connections from outside the cluster's authorized networks: if "
            "your public IP changed, compare it with cluster.authorized_networks "
            "(`oasis plan` shows the cluster's).",
        ) from None
