"""The patches other than apply that kubectl sends: JSON merge patch (RFC 7386) for
`kubectl label/annotate/patch --type=merge` on custom resources, strategic merge
patch for client-side `kubectl apply`, `label`, `annotate` and `patch` on built-in
kinds (https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/).

A strategic merge patch merges maps as a merge patch does (`null` deletes a key) and
merges a list of objects by its patch merge key; here, as `fieldmanager` keys
lists, that is `name` for lists whose items all carry one (the schemas' key for
containers, env, volumes, ports). Other lists are replaced; `$patch: delete` in an
item removes it, `$patch: replace` replaces the map it is in, and the `$setElementOrder`
and `$retainKeys` directives are read and dropped. Custom resources take no
strategic merge patch (the docs above: "Strategic merge patch is not supported for
custom resources"): the API server answers 415, naming the types it accepts as
apimachinery's negotiation `errUnsupportedMediaType` words it, in the order apiserver's
endpoints/installer.go registers them.
"""

from __future__ import annotations

import copy
from typing import Any

from oasis_cli.localcloud.kubernetes.fieldmanager import keyed
from oasis_cli.localcloud.kubernetes.objects import BUILTIN_GROUPS, Kind, KubeError

JSON_PATCH = "application/json-patch+json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386: a map merges key by key, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def strategic(target: Any, patch: Any) -> Any:
    """A strategic merge patch of `target` (see the module's note on list keys)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if value is None:
            result.pop(key, None)
        elif keyed(value) and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value)
        else:
            result[key] = strategic(result.get(key), value)
    return result


def _merge_list(current: list[Any], patch: list[Any]) -> list[Any]:
    merged = list(current)
    for item in patch:
        at = next((i for i, c in enumerate(merged) if c.get("name") == item["name"]), None)
        if item.get("$patch") == "delete":
            if at is not None:
                del merged[at]
        elif at is None:
            merged.append(strategic({}, item))
        else:
            merged[at] = strategic(merged[at], item)
    return merged


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902's add, remove, replace and test (JSON pointers, `-` appends)."""
    if not isinstance(operations, list):
        raise KubeError(400, "a JSON patch is a list of operations")
    result = copy.deepcopy(target)
    for operation in operations:
        op, pointer = operation.get("op"), operation.get("path", "")
        keys = [k.replace("~1", "/").replace("~0", "~") for k in pointer.split("/")[1:]]
        if not keys:
            raise KubeError(400, f"the JSON patch path {pointer!r} names no field")
        parent = result
        try:
            for key in keys[:-1]:
                parent = parent[int(key)] if isinstance(parent, list) else parent[key]
            last: Any = keys[-1]
            if isinstance(parent, list):
                last = len(parent) if last == "-" else int(last)
            if op == "test":
                if parent[last] != operation.get("value"):
                    raise KubeError(422, f"the test of {pointer} failed")
            elif op == "remove":
                del parent[last]
            elif op == "replace":
                if isinstance(parent, dict) and last not in parent:
                    raise KeyError(last)  # replace needs the field to exist
                parent[last] = copy.deepcopy(operation.get("value"))
            elif op == "add" and isinstance(parent, list):
                parent.insert(last, copy.deepcopy(operation.get("value")))
            elif op == "add":
                parent[last] = copy.deepcopy(operation.get("value"))
            else:
                raise KubeError(400, f"the JSON patch operation {op!r} is not simulated")
        except (KeyError, IndexError, ValueError, TypeError):
            raise KubeError(422, f"the JSON patch path {pointer} does not exist") from None
    return result


def patched(kind: Kind, obj: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """The object after a JSON, merge or strategic merge patch; 415 for other types,
    and for a strategic merge patch of a custom resource."""
    builtin = kind.group in BUILTIN_GROUPS
    media = content_type.split(";")[0].strip()
    if media == JSON_PATCH:
        return json_patch(obj, patch)
    if not isinstance(patch, dict):
        raise KubeError(400, "the patch must be a JSON object")
    if media == MERGE:
        return merge(obj, patch)
    if media == STRATEGIC and builtin:
        return strategic(obj, patch)
    accepted = [JSON_PATCH, MERGE, *([STRATEGIC] if builtin else []), APPLY]
    raise KubeError(
        415,
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )
