"""The Kubernetes objects of SPEC section 5, from the YAML in `manifests/`.

The files are plain Kubernetes YAML with `${name}` placeholders and nothing else: a
string that is exactly one placeholder becomes the value (a list, a mapping, a
number), a placeholder inside a string is replaced by the value's text. A
placeholder without a value is an error, never an empty string. `render()` is given
the values (the deployment's, computed by `resources.kubeobjects`) and returns the
objects in the order they are applied (SPEC section 5): the service account, the
compute class, the network pairs, the NCCL installer, the RayCluster, then the
dashboard Service and Ingress.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def render(
    values: Mapping[str, Any],
    networks: list[dict[str, str]],
    directory: Path | None = None,
) -> list[dict[str, Any]]:
    """Every object, in apply order, from `values` (one per placeholder) and one
    GKENetworkParamSet + Network pair per entry of `networks`."""
    objects: list[dict[str, Any]] = []
    for name in FILES:
        if name == "03-network.yaml":
            for network in networks:
                objects += load(name, {**values, **network}, directory)
        else:
            objects += load(name, dict(values), directory)
    return objects
