"""Schema checks of objects written to a simulated cluster: built-in kinds against
Kubernetes' OpenAPI schemas (when `kubernetes-validate` is installed), RayClusters
against KubeRay's CRD (when `OASIS_KUBERAY_CRD` names the CRD file).

What a failed check answers depends on the write, as on the API server:
- server-side apply always fails on an unknown field or a wrong type (kubernetes/
  kubernetes#105916: "Apply Patch requests already require strict schemas and will
  error on unknown fields"): a 500 from the field manager's conversion, worded
  `failed to create typed patch object (NS/NAME; GROUP/VERSION, Kind=KIND): PATH:
  field not declared in schema` (apiserver fieldmanager structuredmerge.go);
- a create or another patch follows `fieldValidation` (the API reference: Ignore
  drops unknown fields; Warn, "the default in v1.23+", drops them with a `Warning:
  299 - "unknown field \"PATH\""` header each; Strict fails with a BadRequest,
  `strict decoding error: unknown field "PATH"`, naming them all);
- any other schema violation is 422 Invalid.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from oasis_cli.localcloud.kubernetes.fieldmanager import spelled
from oasis_cli.localcloud.kubernetes.objects import BUILTIN_GROUPS, Kind, KubeError

UNKNOWN = "additionalProperties"


def validate(
    kind: Kind, obj: dict[str, Any], write: str = "apply", directive: str = ""
) -> list[str]:
    """Check `obj` for a write (`apply`, `create` or `patch`, any other patch) with
    the request's `fieldValidation`; unknown fields a create or patch may drop are
    removed from `obj` and returned (the warnings of Warn)."""
    error = _first_error(kind, obj)
    if error is None:
        return []
    name = obj["metadata"]["name"]
    if write == "apply":
        if error.validator not in (UNKNOWN, "type"):
            raise _invalid(kind, name, error)
        namespace = obj["metadata"].get("namespace", "")
        what = f"{namespace}/{name}; {obj['apiVersion']}, Kind={kind.kind}"
        detail = "field not declared in schema" if error.validator == UNKNOWN else error.message
        raise KubeError(
            500,
            f"failed to create typed patch object ({what}): {_spelled(error, obj)}: {detail}",
            "InternalError",
        )
    dropped: list[str] = []
    trial = copy.deepcopy(obj)
    while error is not None and error.validator == UNKNOWN and (paths := _unknown(error)):
        for path in paths:
            dropped.append(_decoder_path(path))
            _drop(trial, path)
        error = _first_error(kind, trial)
    if dropped and directive == "Strict":
        message = "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in dropped)
        if write == "create":  # the decoder's error, as a create wraps it
            version = obj["apiVersion"].rsplit("/", 1)[-1]
            message = (
                f'{kind.kind} in version "{version}" cannot be handled as a {kind.kind}: {message}'
            )
        raise KubeError(400, message, "BadRequest")
    if error is not None:
        raise _invalid(kind, name, error)
    obj.clear()
    obj.update(trial)
    return [] if directive == "Ignore" else dropped


def _invalid(kind: Kind, name: str, error: Any) -> KubeError:
    where = ".".join(str(part) for part in error.absolute_path)
    group = f".{kind.group}" if kind.group else ""
    return KubeError(422, f'{kind.kind}{group} "{name}" is invalid: {where}: {error.message}')


def _first_error(kind: Kind, obj: dict[str, Any]) -> Any:
    """The schema's first complaint about `obj` (a jsonschema error), or None."""
    if kind.group in BUILTIN_GROUPS and kind.kind != "Pod":
        try:
            import kubernetes_validate
        except ImportError:
            return None
        try:
            kubernetes_validate.validate(obj, "1.32", strict=True)
        except kubernetes_validate.ValidationError as exc:
            return exc
        return None
    if kind.kind == "RayCluster":
        validator = _kuberay_validator()
        if validator is None:
            return None
        import jsonschema

        # the best match, as jsonschema.validate() reports it, without checking the
        # schema itself again on every call (a second for this CRD)
        return jsonschema.exceptions.best_match(validator.iter_errors(obj))
    return None


def _unknown(error: Any) -> list[tuple[Any, ...]]:
    """The paths of the fields an additionalProperties error found unexpected."""
    instance, schema = error.instance, error.schema
    if not isinstance(instance, dict):
        return []
    known = set(schema.get("properties") or {})
    patterns = list(schema.get("patternProperties") or {})
    extra = [k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)]
    return [(*error.absolute_path, key) for key in extra]


def _drop(obj: Any, path: tuple[Any, ...]) -> None:
    for part in path[:-1]:
        obj = obj[part]
    del obj[path[-1]]


def _decoder_path(path: tuple[Any, ...]) -> str:
    """A field as Go's strict JSON decoder names it: `spec.ports[0].name`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _spelled(error: Any, obj: Any) -> str:
    """The field an error is about, as structured-merge-diff names it
    (`fieldmanager.spelled`): an item of a named list by its name."""
    path = list(_unknown(error)[0] if error.validator == UNKNOWN else error.absolute_path)
    elements: list[tuple[str, str]] = []
    node = obj  # the object, then each field or item on the path
    for part in path:
        node = node[part]
        if not isinstance(part, int):
            elements.append(("f", part))
        elif isinstance(node, dict) and isinstance(node.get("name"), str):
            elements.append(("k", node["name"]))
        else:
            elements.append(("i", str(part)))
    return spelled(tuple(elements))


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
