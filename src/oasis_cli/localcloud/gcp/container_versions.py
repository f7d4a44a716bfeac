"""GKE versions in the local cloud: what each release channel offers, what a new
cluster gets, and the channel's automatic upgrades.

- A new cluster is enrolled in the Regular channel unless it names another (or
  UNSPECIFIED, no channel), and gets the channel's default version unless it names
  one (https://cloud.google.com/kubernetes-engine/docs/concepts/release-channels).
- `defaultClusterVersion` of the server config is the default of a cluster without a
  channel; each channel has its own `defaultVersion` (ServerConfig.channels).
- A cluster in a channel is upgraded automatically to the channel's default; it is
  never downgraded. A maintenance exclusion scoped NO_UPGRADES stops every upgrade,
  NO_MINOR_UPGRADES and NO_MINOR_OR_NODE_UPGRADES stop minor ones, the latter node
  upgrades too (https://cloud.google.com/kubernetes-engine/docs/concepts/
  maintenance-windows-and-exclusions). Upgrades come `AUTO_UPGRADE_S` after creation,
  times the latency scale.
"""

from __future__ import annotations

import re
from typing import Any

VERSIONS = ["1.31.6-gke.1020000", "1.32.4-gke.1415000", "1.33.5-gke.1080000", "1.34.1-gke.1431000"]
CHANNEL_DEFAULTS = {
    "RAPID": "1.34.1-gke.1431000",
    "REGULAR": "1.33.5-gke.1080000",
    "STABLE": "1.32.4-gke.1415000",
    "EXTENDED": "1.32.4-gke.1415000",
}
NO_CHANNEL_DEFAULT = "1.32.4-gke.1415000"
AUTO_UPGRADE_S = 7 * 86400.0


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def minor(version: str) -> tuple[int, ...]:
    return version_key(version)[:2]


def server_config() -> dict[str, Any]:
    newest_first = sorted(VERSIONS, key=version_key, reverse=True)
    return {
        "defaultClusterVersion": NO_CHANNEL_DEFAULT,
        "validMasterVersions": newest_first,
        "validNodeVersions": newest_first,
        "defaultImageType": "COS_CONTAINERD",
        "channels": [
            {"channel": channel, "defaultVersion": default, "validVersions": newest_first}
            for channel, default in CHANNEL_DEFAULTS.items()
        ],
    }


def enroll(cluster: dict[str, Any]) -> str:
    """Enroll a new cluster in its channel (Regular when it names none) and answer the
    version it is created with."""
    channel = cluster.setdefault("releaseChannel", {}).get("channel") or "REGULAR"
    cluster["releaseChannel"]["channel"] = channel
    default = CHANNEL_DEFAULTS.get(channel, NO_CHANNEL_DEFAULT)
    version = str(cluster.get("initialClusterVersion") or default)
    if version in ("latest", "-"):
        version = max(VERSIONS, key=version_key)
    return version


def auto_upgrade(cluster: dict[str, Any]) -> None:
    """Upgrade a running cluster in a channel to the channel's default, as far as its
    maintenance exclusions allow."""
    target = CHANNEL_DEFAULTS.get(cluster.get("releaseChannel", {}).get("channel", ""))
    current = cluster.get("currentMasterVersion", "")
    if target is None or version_key(target) <= version_key(current):
        return
    scopes = {
        window.get("maintenanceExclusionOptions", {}).get("scope", "NO_UPGRADES")
        for window in cluster.get("maintenancePolicy", {})
        .get("window", {})
        .get("maintenanceExclusions", {})
        .values()
    }
    if "NO_UPGRADES" in scopes:
        return
    if minor(target) != minor(current) and scopes & {
        "NO_MINOR_UPGRADES",
        "NO_MINOR_OR_NODE_UPGRADES",
    }:
        return
    cluster["currentMasterVersion"] = target
    if "NO_MINOR_OR_NODE_UPGRADES" in scopes:
        return
    cluster["currentNodeVersion"] = target
    for pool in cluster.get("nodePools", []):
        if pool.get("management", {}).get("autoUpgrade"):
            pool["version"] = target
