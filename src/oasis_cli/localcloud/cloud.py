"""`LocalCloud`: the simulated Google Cloud, composed from its three parts.

The HTTP front (`infra.http`) hands each request to `dispatch()`, which brings the
world up to date, applies the fault rules and calls the service named by the path's
first segment (`gcp/`); IAM Admin is served over gRPC and every cluster's Kubernetes
API over TLS (`kubernetes/`). To add a service: write its module under `gcp/` and list
it in `_services()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from oasis_cli.localcloud.gcp import enablement
from oasis_cli.localcloud.gcp.binauthz import BinaryAuthorization
from oasis_cli.localcloud.gcp.cloudbuild import CloudBuild
from oasis_cli.localcloud.gcp.compute import Compute
from oasis_cli.localcloud.gcp.container import Container
from oasis_cli.localcloud.gcp.echo import Echo
from oasis_cli.localcloud.gcp.iam import IamAdmin, serve_iam
from oasis_cli.localcloud.gcp.iamrest import IamRest
from oasis_cli.localcloud.gcp.peering import ServiceNetworking
from oasis_cli.localcloud.gcp.projects import ResourceManager, ServiceUsage
from oasis_cli.localcloud.gcp.quotas import CloudQuotas
from oasis_cli.localcloud.gcp.registry import ArtifactRegistry
from oasis_cli.localcloud.gcp.secrets import SecretManager
from oasis_cli.localcloud.gcp.storage import Storage
from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra.http import (
    HttpError,
    HttpFront,
    Latency,
    Request,
    Response,
    Service,
    stop_together,
)
from oasis_cli.localcloud.infra.store import Store
from oasis_cli.localcloud.kubernetes import controllers
from oasis_cli.localcloud.kubernetes.server import KubeServer


class LocalCloud:
    """The simulated Google Cloud, served on 127.0.0.1 from a state directory.

    With `port` P the endpoints are stable: HTTP on P, IAM Admin (gRPC) on P+2 and
    each cluster's Kubernetes API (TLS) on P+1, P+3, ... (`KubeServer`), so a
    kubeconfig or an exported OASIS_ENDPOINTS outlives the command that wrote it;
    with 0, any free ports."""

    def __init__(self, directory: Path, *, latency_scale: float = 0.0, port: int = 0) -> None:
        self.store = Store(directory)
        self.latency = Latency(latency_scale)
        self.services: dict[str, Service] = self._services()
        self.iam = IamAdmin(self.store, self.latency)
        self._front = HttpFront(self.store, self.dispatch, port)
        self._grpc = serve_iam(self.store, self.iam, port + 2 if port else 0)
        self.kube = KubeServer(self.store, self.latency, self.advance, port)

    def _services(self) -> dict[str, Service]:
        services: list[Any] = [
            Compute(self.store, self.latency),
            ResourceManager(self.store, self.latency),
            ServiceUsage(self.store, self.latency),
            Storage(self.store, self.latency),
            ArtifactRegistry(self.store, self.latency),
            Container(self.store, self.latency),
            SecretManager(self.store, self.latency),
            IamRest(self.store, self.latency),
            ServiceNetworking(self.store, self.latency),
            CloudBuild(self.store, self.latency),
            BinaryAuthorization(self.store, self.latency),
            CloudQuotas(self.store),
            Echo(),
        ]
        return {service.service: service for service in services}

    def advance(self) -> None:
        """Finish every due operation of every service and commit it, so each
        request sees one up-to-date world even if it then fails."""
        with self.store.transaction() as world:
            for service in self.services.values():
                service.advance(world)
            controllers.advance_all(world, self.store, self.latency)
            self.store.checkpoint()

    def inventory(self) -> list[dict[str, Any]]:
        """Every resource of every service, as GET returns it (what `local-cloud ls` shows)."""
        with self.store.transaction() as world:
            items = [
                item for service in self.services.values() for item in service.inventory(world)
            ]
            return items + self.iam.inventory(world)

    def start(self) -> LocalCloud:
        self._front.start()
        self._grpc.start()
        self.kube.start()
        container = self.services["container"]
        container.kube_endpoint = self.kube.endpoint  # type: ignore[attr-defined]
        return self

    def stop(self) -> None:
        """Stop the three servers at once."""
        stop_together((self.kube, self._front, self._grpc))

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._front.port

    @property
    def endpoints(self) -> dict[str, str]:
        return endpoints_at(self.port, self._grpc.port, self.services)

    def dispatch(self, request: Request, service_name: str) -> Response:
        """One request in one transaction: advance the world (committed even if the
        request then fails), apply the fault rules, then let the service handle it."""
        service = self.services.get(service_name)
        if service is None:
            raise HttpError(404, f"no service {service_name!r} in the local cloud", "notFound")
        with self.store.transaction() as world:
            self.advance()
            enablement.require_enabled(world, service_name, request)
            rule = faults.take(self.store, request.method, request.path, service.target(request))
            if rule and rule.get("action", "error") == "error":
                status = int(rule.get("status", 503))
                raise HttpError(
                    status,
                    rule.get("message", f"injected fault {status}"),
                    rule.get("reason", "backendError"),
                )
            request.fault = rule
            return service.handle(request)


SERVICE_NAMES = (
    "compute",
    "cloudresourcemanager",
    "serviceusage",
    "storage",
    "artifactregistry",
    "container",
    "secretmanager",
    "servicenetworking",
    "cloudbuild",
    "binaryauthorization",
    "cloudquotas",
    "echo",
)
"""The services `_services()` builds, by the path segment each is served under."""


def endpoints_at(http: int, iam: int, services: Iterable[str] = SERVICE_NAMES) -> dict[str, str]:
    """Each service's endpoint for a cloud on these ports (OASIS_ENDPOINTS); a
    cluster's Kubernetes API is its GKE `endpoint`."""
    endpoints = {name: f"http://127.0.0.1:{http}/{name}" for name in services}
    endpoints["iam"] = f"127.0.0.1:{iam}"  # gRPC: a host:port target
    return endpoints
