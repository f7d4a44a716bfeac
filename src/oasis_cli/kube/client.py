"""A Kubernetes client for the deployment's GKE cluster, without gcloud or kubectl.

Built from the cluster's endpoint and CA certificate (read from the GKE API) and the
caller's Google access token, refreshed before it expires; the local cloud takes
any bearer token. Objects are applied with server-side apply through
`DynamicClient` (field manager `oasis`; TESTING gotcha 5), each client with its own
discovery cache file.
"""

from __future__ import annotations

import base64
import os
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

from oasis_cli.errors import CloudError
from oasis_cli.gcp.clients import Cloud
from oasis_cli.kube.errors import kube_errors

FIELD_MANAGER = "oasis"
LOCAL_TOKEN = "oasis-local"


def cluster_path(project: str, region: str, cluster: str) -> str:
    return f"projects/{project}/locations/{region}/clusters/{cluster}"


def pod_ready(pod: dict[str, Any]) -> bool:
    """Whether a pod (as the API returns it) has its Ready condition true."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@dataclass(frozen=True)
class Endpoint:
    server: str  # https://host[:port][/path]
    ca_pem: bytes


def endpoint(cloud: Cloud, cluster_path: str) -> Endpoint | None:
    """The cluster's API server and CA, or None if the cluster does not exist."""
    from google.api_core import exceptions

    from oasis_cli.gcp.errors import api_errors

    with api_errors(f"cluster ({cluster_path})"):
        try:
            cluster = cloud.container().get_cluster(name=cluster_path)
        except exceptions.NotFound:
            return None
    if not cluster.endpoint:
        raise CloudError(cluster_path, "the cluster has no endpoint yet (is it still creating?)")
    return Endpoint(
        f"https://{cluster.endpoint}", base64.b64decode(cluster.master_auth.cluster_ca_certificate)
    )


def cluster_client(cloud: Cloud, cluster_path: str) -> Kube | None:
    """The Kubernetes client of a GKE cluster, built once per `cloud`; None while the
    cluster does not exist (so neither do its objects; `up --all` creates it mid-run)."""

    def build() -> Kube | None:
        where = endpoint(cloud, cluster_path)
        return None if where is None else Kube(cloud, where)

    client: Kube | None = cloud.cached(f"kube:{cluster_path}", build)
    return client


class Kube:
    """One cluster's API: apply, get, list, delete by apiVersion/kind."""

    def __init__(self, cloud: Cloud, where: Endpoint) -> None:
        import kubernetes
        from kubernetes.dynamic import DynamicClient

        self.where = where
        self._directory = tempfile.mkdtemp(prefix="oasis-kube-")
        ca_path = os.path.join(self._directory, "ca.pem")
        with open(ca_path, "wb") as handle:
            handle.write(where.ca_pem)
        configuration = kubernetes.client.Configuration()
        configuration.host = where.server
        configuration.ssl_ca_cert = ca_path
        configuration.api_key_prefix = {"authorization": "Bearer"}
        configuration.api_key = {"authorization": self._token(cloud)}

        def refresh(config: Any) -> None:
            config.api_key = {"authorization": self._token(cloud)}

        configuration.refresh_api_key_hook = refresh  # type: ignore[assignment]
        self.api = kubernetes.client.ApiClient(configuration)
        cache = os.path.join(self._directory, "discovery.json")
        with kube_errors(where.server):
            self.dynamic = DynamicClient(self.api, cache_file=cache)
        self._lock = threading.Lock()

    @staticmethod
    def _token(cloud: Cloud) -> str:
        if cloud.anonymous:
            return LOCAL_TOKEN
        from google.auth.transport.requests import Request

        credentials = cloud.credentials
        if not credentials.valid:
            credentials.refresh(Request())
        return str(credentials.token)

    def close(self) -> None:
        """Close the client's connections and remove its CA and discovery files."""
        import shutil

        self.api.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def resource(self, api_version: str, kind: str) -> Any:
        with self._lock:  # discovery is not thread-safe
            return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> dict | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self.resource(api_version, kind)
        try:
            found = resource.get(name=name, namespace=namespace or None)
        except NotFoundError:
            return None
        result: dict = found.to_dict()
        return result

    def list(self, api_version: str, kind: str, namespace: str = "", selector: str = "") -> list:
        resource = self.resource(api_version, kind)
        found = resource.get(namespace=namespace or None, label_selector=selector or None)
        return [item.to_dict() for item in found.items]

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        namespace = obj["metadata"].get("namespace")
        applied = resource.server_side_apply(
            body=obj,
            name=obj["metadata"]["name"],
            namespace=namespace,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        result: dict[str, Any] = applied.to_dict()
        return result

    def delete(self, api_version: str, kind: str, name: str, namespace: str = "") -> bool:
        """Delete; False if it was not there."""
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self.resource(api_version, kind)
        try:
            resource.delete(name=name, namespace=namespace or None)
        except NotFoundError:
            return False
        return True
