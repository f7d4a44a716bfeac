"""Detect the caller's public IP (for the control plane's authorized network)."""

from __future__ import annotations

import ipaddress
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from oasis_cli.errors import PreflightError

ATTEMPTS = 3


def caller(endpoints: Mapping[str, str], settings: Any) -> str:
    """The caller's address as `detect` finds it, from the local cloud's echo service
    when there is one, else from `cluster.ip_echo_url` (`settings` is `cluster`)."""
    return detect(endpoints.get("echo", settings.ip_echo_url), settings.ip_echo_timeout_s)


def detect(url: str, timeout_s: float) -> str:
    """The caller's public IPv4 address as a /32, from an IP echo service.

    429 and 5xx answers are retried twice with a short backoff.
    """
    error: Exception | None = None
    for attempt in range(ATTEMPTS):
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                text = response.read(64).decode().strip()
            return f"{ipaddress.IPv4Address(text)}/32"
        except urllib.error.HTTPError as exc:
            error = exc
            if exc.code != 429 and exc.code < 500:
                break
        except (OSError, ValueError) as exc:
            error = exc
            break
        time.sleep(0.2 * (attempt + 1))
    raise PreflightError(
        f"could not detect your public IP from {url} ({error})",
        hint="Set cluster.authorized_networks (e.g. --set cluster.authorized_networks="
        "203.0.113.7/32) to the network you reach the cluster from.",
    )
