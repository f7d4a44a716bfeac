"""The Kubernetes objects of SPEC section 5, from the YAML in `manifests/`.

The files are plain Kubernetes YAML with `${name}` placeholders and nothing else: a
string that is exactly one placeholder becomes the value (a list, a mapping, a
number), a placeholder inside a string is replaced by the value's text. A
placeholder without a value is an error, never an empty string. `render()` returns
the objects in the order they are applied (SPEC section 5): the service account,
the compute class, the network pairs, the NCCL installer, the RayCluster, then the
dashboard Service and Ingress.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from oasis_cli.config.names import Deployment
from oasis_cli.errors import OasisError
from oasis_cli.sources import shipped

PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")
FILES = (
    "01-serviceaccount.yaml",
    "02-computeclass.yaml",
    "03-network.yaml",
    "04-nccl-rdma-installer.yaml",
    "05-raycluster.yaml",
    "06-dashboard.yaml",
)


class TemplateError(OasisError):
    """A manifest names a placeholder that has no value (a bug in oasis or a file)."""


def fill(value: Any, values: dict[str, Any], where: str) -> Any:
    if isinstance(value, dict):
        return {key: fill(item, values, where) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, values, where) for item in value]
    if not isinstance(value, str):
        return value

    def lookup(name: str) -> Any:
        if name not in values:
            raise TemplateError(f"{where}: no value for ${{{name}}}")
        return values[name]

    whole = PLACEHOLDER.fullmatch(value)
    if whole:
        return lookup(whole.group(1))
    return PLACEHOLDER.sub(lambda m: str(lookup(m.group(1))), value)


def load(name: str, values: dict[str, Any], directory: Path | None = None) -> list[dict[str, Any]]:
    import yaml

    path = (directory or shipped("manifests")) / name
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return [fill(doc, values, name) for doc in documents]


def priorities(d: Deployment) -> list[dict[str, Any]]:
    """One compute class rule per capacity entry, in the configured order."""
    rules = []
    for entry in d.config.gpu.capacity:
        kind, _, reservation = entry.partition(":")
        rule: dict[str, Any] = {"nodepools": [d.pool_name(entry)]}
        if kind == "spot":
            rule["spot"] = True
        elif kind == "flex-start":
            rule["flexStart"] = {"enabled": True}
        else:
            rule["reservations"] = {
                "affinity": "Specific",
                "specific": [{"name": reservation}],
            }
        rules.append(rule)
    return rules


def networks(d: Deployment) -> list[dict[str, str]]:
    """The pod networks on the node pools' NICs, in their order: gvnic-1 (eth1), then
    rdma-0..7 (eth2..eth9)."""
    (gvnic_vpc, gvnic_subnet), *rdma = d.node_networks()
    found = [
        {"network": "gvnic-1", "vpc": gvnic_vpc, "subnet": gvnic_subnet, "device_mode": "NetDevice"}
    ]
    found += [
        {"network": f"rdma-{i}", "vpc": vpc, "subnet": subnet, "device_mode": "RDMA"}
        for i, (vpc, subnet) in enumerate(rdma)
    ]
    return found


def interfaces(d: Deployment) -> str:
    """The worker pods' multi-network annotation: eth0 on the default network, then
    one interface per pod network in NIC order."""
    listed = [{"interfaceName": "eth0", "network": "default"}]
    listed += [
        {"interfaceName": f"eth{i + 1}", "network": n["network"]} for i, n in enumerate(networks(d))
    ]
    return json.dumps(listed)


def render(d: Deployment, image: str, directory: Path | None = None) -> list[dict[str, Any]]:
    """Every object for the deployment, in apply order; `image` is `ray-server@sha256:…`."""
    config = d.config
    values: dict[str, Any] = {
        "labels": d.label,
        "namespace": config.ray.namespace,
        "ksa": d.names.ray_service_account,
        "cluster": config.ray.cluster_name,
        "ray_version": config.ray.version,
        "idle_timeout_s": config.ray.idle_timeout_s,
        "image": image,
        "bucket": d.names.bucket,
        "gpus": str(config.gpu.count),  # a quantity: Kubernetes answers strings
        "accelerator": config.gpu.accelerator,
        "gib_version": config.gpu.gib_version,
        "priorities": priorities(d),
        "interfaces": interfaces(d),
        "compute_class": d.names.compute_class,
    }
    objects: list[dict[str, Any]] = []
    for name in FILES:
        if name == "03-network.yaml":
            for network in networks(d):
                objects += load(name, {**values, **network}, directory)
        else:
            objects += load(name, values, directory)
    return objects
