"""Schema checks of objects applied to a simulated cluster: built-in kinds against
Kubernetes' OpenAPI schemas (when `kubernetes-validate` is installed), RayClusters
against KubeRay's CRD (when `OASIS_KUBERAY_CRD` names the CRD file), closed to
unknown fields as a server with strict field validation is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from oasis_cli.localcloud.kubernetes.objects import BUILTIN_GROUPS, Kind, KubeError


def validate(kind: Kind, obj: dict[str, Any]) -> None:
    """Schema checks: built-ins with kubernetes-validate, RayCluster with KubeRay's CRD."""
    if kind.group in BUILTIN_GROUPS and kind.kind != "Pod":
        try:
            import kubernetes_validate
        except ImportError:
            return
        try:
            kubernetes_validate.validate(obj, "1.32", strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise KubeError(
                422, f'{kind.kind} "{obj["metadata"]["name"]}" is invalid: {exc}'
            ) from None
    elif kind.kind == "RayCluster":
        validator = _kuberay_validator()
        if validator is None:
            return
        import jsonschema

        try:
            # the best match, as jsonschema.validate() reports it, without checking
            # the schema itself again on every call (a second for this CRD)
            error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
            if error is not None:
                raise error
        except jsonschema.ValidationError as exc:
            where = ".".join(str(p) for p in exc.absolute_path)
            raise KubeError(
                422,
                f'RayCluster.ray.io "{obj["metadata"]["name"]}" is invalid: {where}: {exc.message}',
            ) from None


_SCHEMA: dict[str, Any] = {}
_VALIDATORS: dict[str, Any] = {}


def _kuberay_validator() -> Any:
    """A validator of `kuberay_schema()`, its schema checked once per process."""
    schema = kuberay_schema()
    if schema is None:
        return None
    path = os.environ["OASIS_KUBERAY_CRD"]
    if path not in _VALIDATORS:
        import jsonschema

        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _VALIDATORS[path] = cls(schema)
    return _VALIDATORS[path]


def kuberay_schema() -> dict[str, Any] | None:
    """KubeRay's RayCluster v1 schema as JSON Schema, closed to unknown fields (strict
    field validation), from the CRD file `OASIS_KUBERAY_CRD` names; None without it."""
    path = os.environ.get("OASIS_KUBERAY_CRD", "")
    if not path or not Path(path).is_file():
        return None
    if path not in _SCHEMA:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 5x faster on 1 MB
        crd = yaml.load(Path(path).read_text(), Loader=loader)
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        _SCHEMA[path] = crd_to_json_schema(version["schema"]["openAPIV3Schema"])
    return _SCHEMA[path]


def crd_to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [crd_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: crd_to_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out
