"""One factory for every Google Cloud client oasis uses.

REST transport everywhere (production too: one code path). Endpoints come from the
local cloud or from `OASIS_ENDPOINTS` (JSON: service -> base URL); credentials are
ADC for real runs and anonymous for the local cloud. Clients are built once and
shared between threads.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from oasis_cli.errors import ConfigError, PreflightError
from oasis_cli.polling import PollPolicy

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
TOKEN_TIMEOUT_S = 10.0  # google-auth's own default is 120 s per token request
LOGIN_HINT = "Run `gcloud auth application-default login`, or try `oasis --local`."


def endpoints_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    raw = (os.environ if environ is None else environ).get("OASIS_ENDPOINTS", "")
    if not raw:
        return {}
    try:
        endpoints = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"OASIS_ENDPOINTS: {raw!r}: not JSON ({exc})") from None
    if not isinstance(endpoints, dict) or not all(isinstance(v, str) for v in endpoints.values()):
        raise ConfigError(f"OASIS_ENDPOINTS: {raw!r}: must map service names to URLs")
    return endpoints


def default_project() -> str | None:
    """The project of Application Default Credentials or gcloud's config, if any."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        _, project = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError:
        return None
    return project


@dataclass
class Cloud:
    """Clients for one project, with the poll policy their operations are waited with."""

    project: str
    endpoints: dict[str, str]
    anonymous: bool
    poll: PollPolicy
    _clients: dict[str, Any] = field(default_factory=dict)
    _credentials: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def credentials(self) -> Any:
        with self._lock:
            if self._credentials is None:
                self._credentials = self._load_credentials()
            return self._credentials

    def _load_credentials(self) -> Any:
        if self.anonymous:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, _ = google.auth.default(scopes=SCOPES)
        except DefaultCredentialsError as exc:
            raise PreflightError(f"no Google credentials found ({exc})", hint=LOGIN_HINT) from None
        return credentials

    def check_credentials(self) -> None:
        """Load the credentials and get an access token, once, before any API call: a
        missing or expired login is then one message at once, not the same failure
        from every call of the run. The token request is bounded (TOKEN_TIMEOUT_S);
        the clients reuse the token it gets."""
        if self.anonymous:
            return
        from google.auth.exceptions import GoogleAuthError
        from google.auth.transport.requests import Request

        class Bounded(Request):
            def __call__(
                self,
                url: Any,
                method: Any = "GET",
                body: Any = None,
                headers: Any = None,
                timeout: Any = TOKEN_TIMEOUT_S,
                **kwargs: Any,
            ) -> Any:
                return super().__call__(url, method, body, headers, timeout, **kwargs)

        credentials = self.credentials
        try:
            credentials.refresh(Bounded())
        except GoogleAuthError as exc:
            raise PreflightError(
                f"cannot get a Google access token ({type(exc).__name__}: {exc})",
                hint=LOGIN_HINT,
            ) from None

    def client_options(self, service: str) -> Any:
        from google.api_core.client_options import ClientOptions

        endpoint = self.endpoints.get(service)
        return ClientOptions(api_endpoint=endpoint) if endpoint else None

    def client(self, service: str, module: str, name: str) -> Any:
        """A REST client of `module.name` for `service`'s endpoint, built once."""
        key = f"{module}.{name}"
        with self._lock:
            client = self._clients.get(key)
        if client is not None:
            return client
        import importlib

        client = getattr(importlib.import_module(module), name)(
            transport="rest",
            client_options=self.client_options(service),
            credentials=self.credentials,
        )
        with self._lock:
            return self._clients.setdefault(key, client)

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """`build()`'s value, built once per key (for clients built outside gcp/); a
        None is not kept, so it is asked for again next time."""
        with self._lock:
            if key in self._clients:
                return self._clients[key]
        value = build()
        if value is None:
            return None
        with self._lock:
            return self._clients.setdefault(key, value)

    def close(self) -> None:
        """Close every client's connections: a process that runs many commands (the
        test suite, in-process) would otherwise keep each one's sockets open until
        select()-based code (the kubernetes client's port-forward) runs out of them."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            transport = getattr(client, "transport", None)
            closer = getattr(transport, "close", None) or getattr(client, "close", None)
            if callable(closer):
                with contextlib.suppress(Exception):
                    closer()

    def compute(self, name: str) -> Any:
        """A compute_v1 client by class name, e.g. `compute("NetworksClient")`."""
        return self.client("compute", "google.cloud.compute_v1", name)

    def project_number(self) -> str:
        """The project's number (service agents and Workload Identity principals use it)."""
        with self._lock:
            number = self._clients.get("project_number")
        if number is None:
            projects = self.client(
                "cloudresourcemanager", "google.cloud.resourcemanager_v3", "ProjectsClient"
            )
            number = projects.get_project(name=f"projects/{self.project}").name.split("/")[-1]
            with self._lock:
                self._clients["project_number"] = number
        return str(number)

    def storage(self) -> Any:
        """The Cloud Storage client (JSON API; not a GAPIC client)."""
        with self._lock:
            client = self._clients.get("storage")
        if client is not None:
            return client
        from google.cloud import storage  # type: ignore[attr-defined]

        endpoint = self.endpoints.get("storage")
        client = storage.Client(
            project=self.project,
            credentials=self.credentials,
            client_options={"api_endpoint": endpoint} if endpoint else None,
        )
        with self._lock:
            return self._clients.setdefault("storage", client)

    def iam_admin(self) -> Any:
        """The IAM Admin client: gRPC only, so a local endpoint is a host:port channel."""
        with self._lock:
            client = self._clients.get("iam")
        if client is not None:
            return client
        from google.cloud import iam_admin_v1

        target = self.endpoints.get("iam")
        if target:
            import grpc
            from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

            channel = grpc.insecure_channel(target.removeprefix("http://"))
            client = iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=channel))
        else:
            client = iam_admin_v1.IAMClient(credentials=self.credentials)
        with self._lock:
            return self._clients.setdefault("iam", client)

    def container(self) -> Any:
        return self.client("container", "google.cloud.container_v1", "ClusterManagerClient")
