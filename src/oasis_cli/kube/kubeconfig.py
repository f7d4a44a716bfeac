"""A kubeconfig context for the cluster, like `gcloud container clusters
get-credentials`: cluster (server + CA), user (gke-gcloud-auth-plugin, or the local
cloud's token), context `gke_{project}_{location}_{cluster}`, made current. Other
entries of the file are kept; the file is written 0600."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from oasis_cli.kube.client import LOCAL_TOKEN, Endpoint

PLUGIN = {
    "apiVersion": "client.authentication.k8s.io/v1beta1",
    "command": "gke-gcloud-auth-plugin",
    "installHint": "Install gke-gcloud-auth-plugin for use with kubectl by following "
    "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl"
    "#install_plugin",
    "provideClusterInfo": True,
    "interactiveMode": "IfAvailable",
}


def default_path() -> Path:
    configured = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(configured) if configured else Path.home() / ".kube" / "config"


def _replace(entries: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("name") != entry["name"]] + [entry]


def write(
    path: Path | None, project: str, location: str, cluster: str, where: Endpoint, *, local: bool
) -> tuple[Path, str]:
    """Add or replace the cluster's context and make it current; (the file, the
    context that was current before, "" if none)."""
    import yaml

    target = path or default_path()
    config: dict[str, Any] = {}
    if target.exists():
        config = yaml.safe_load(target.read_text()) or {}
    name = f"gke_{project}_{location}_{cluster}"
    user = {"token": LOCAL_TOKEN} if local else {"exec": PLUGIN}
    config.setdefault("apiVersion", "v1")
    config.setdefault("kind", "Config")
    config["clusters"] = _replace(
        config.get("clusters") or [],
        {
            "name": name,
            "cluster": {
                "server": where.server,
                "certificate-authority-data": base64.b64encode(where.ca_pem).decode(),
            },
        },
    )
    config["users"] = _replace(config.get("users") or [], {"name": name, "user": user})
    config["contexts"] = _replace(
        config.get("contexts") or [], {"name": name, "context": {"cluster": name, "user": name}}
    )
    previous = str(config.get("current-context") or "")
    config["current-context"] = name
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".oasis-tmp")
    temporary.write_text(yaml.safe_dump(config, sort_keys=False))
    temporary.chmod(0o600)
    temporary.replace(target)
    return target, previous
