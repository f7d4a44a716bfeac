"""Server-side apply's field ownership: who manages which field, conflicts, merges.

As the API server does it (https://kubernetes.io/docs/reference/using-api/server-side-apply/,
sigs.k8s.io/structured-merge-diff): each manager owns a set of fields, recorded in
`metadata.managedFields` as `FieldsV1` (`f:<field>` for a map key, `k:{"name":...}`
for an item of a keyed list with `.` for the item itself, `{}` for a leaf). An
apply sets the fields it names; a field it set before and names no more is removed
unless another manager owns it; setting a field another manager owns to a value
different from the live one is a conflict, answered 409 as apimachinery's
`NewConflictError` words it (managedfields/internal/conflict.go), unless the apply
is forced (`?force=true`, `kubectl apply --server-side --force-conflicts`), which
takes the field over. Creating with POST records the creator as an `Update`
manager of every field it set.

One simplification, said where it matters: a list of objects that all carry a
unique `name` is keyed by it (as containers, env, volumes and ports are in the
upstream schemas' `x-kubernetes-list-map-keys`); other lists are atomic.
"""

from __future__ import annotations

import json
from typing import Any

from oasis_cli.localcloud.kubernetes.objects import KubeError

Path = tuple[tuple[str, str], ...]  # ("f", field) | ("k", name) | ("i", index) elements
_ABSENT = object()  # a field an object does not have

# what the server owns or an object's identity: never a manager's field
IDENTITY = {"apiVersion", "kind", "status", "_private"}
SERVER_METADATA = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "managedFields",
    "selfLink",
}


def keyed(value: Any) -> bool:
    """Whether `value` is a list whose items are all objects with a name of their own
    (the module's simplification of a keyed list)."""
    if not isinstance(value, list):
        return False
    names = [item.get("name") for item in value if isinstance(item, dict)]
    named = [name for name in names if isinstance(name, str)]
    return bool(value) and len(named) == len(value) and len(set(named)) == len(named)


def leaves(obj: dict[str, Any]) -> dict[Path, Any]:
    """Every field a manager can own, with its value, in the object's order."""
    found: dict[Path, Any] = {}

    def walk(value: Any, path: Path) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(child, (*path, ("f", key)))
        elif keyed(value):
            for item in value:
                walk(item, (*path, ("k", item["name"])))
        else:
            found[path] = value

    for key, value in obj.items():
        if key == "metadata":
            for field, child in value.items():
                if field not in SERVER_METADATA:
                    walk(child, (("f", "metadata"), ("f", field)))
        elif key not in IDENTITY:
            walk(value, (("f", key),))
    return found


def build(fields: dict[Path, Any]) -> dict[str, Any]:
    """The object (without identity and server metadata) these fields make up."""
    root: dict[str, Any] = {}
    for path, value in fields.items():
        node: Any = root
        for index, (kind, key) in enumerate(path):
            last = index == len(path) - 1
            if kind == "f":
                if last and value in ({}, []):
                    node.setdefault(key, value)  # an applied `{}` keeps the others' keys
                elif last:
                    node[key] = value
                else:
                    following = path[index + 1][0]
                    node = node.setdefault(key, [] if following == "k" else {})
            else:
                item = next((i for i in node if i.get("name") == key), None)
                if item is None:
                    item = {"name": key}
                    node.append(item)
                node = item
    return root


def encode(paths: set[Path]) -> dict[str, Any]:
    """`FieldsV1` of a set of fields."""
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for kind, key in path:
            name = (
                f"f:{key}"
                if kind == "f"
                else "k:" + json.dumps({"name": key}, separators=(",", ":"))
            )
            node = node.setdefault(name, {})
            if kind == "k":
                node.setdefault(".", {})
    return tree


def decode(fields_v1: dict[str, Any]) -> set[Path]:
    """The fields a `FieldsV1` names."""
    found: set[Path] = set()

    def walk(node: dict[str, Any], path: Path) -> None:
        children = {k: v for k, v in node.items() if k != "."}
        if not children and path and path[-1][0] == "f":
            found.add(path)
        for name, child in children.items():
            if name.startswith("f:"):
                walk(child, (*path, ("f", name[2:])))
            elif name.startswith("k:"):
                walk(child, (*path, ("k", json.loads(name[2:]).get("name", ""))))

    walk(fields_v1, ())
    return found


def spelled(path: Path) -> str:
    """A field as structured-merge-diff prints it: `.spec.containers[name="x"].image`,
    `[0]` for an item of a list without keys."""
    marks = {"f": ".{}", "k": "[name={}]", "i": "[{}]"}
    return "".join(
        marks[kind].format(json.dumps(key) if kind == "k" else key) for kind, key in path
    )


def owned(entry: dict[str, Any]) -> set[Path]:
    """The fields a managedFields entry names."""
    return decode(entry.get("fieldsV1") or {})


def owners(obj: dict[str, Any]) -> dict[tuple[str, str], set[Path]]:
    """Each (manager, operation)'s fields, from the object's managedFields."""
    return {
        (entry["manager"], entry.get("operation", "Apply")): owned(entry)
        for entry in obj.get("metadata", {}).get("managedFields") or []
    }


def entries(
    managed: dict[tuple[str, str], set[Path]],
    api_version: str,
    now: str,
    before: list[dict[str, Any]] | None = None,
    writer: tuple[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The managedFields of these managers' fields: the writer's entry is stamped
    `now`; another's whose fields did not change keeps its time; one whose fields
    are all gone is dropped."""
    kept = {(e["manager"], e.get("operation", "Apply")): e for e in before or []}
    found = []
    for (manager, operation), paths in managed.items():
        if not paths:
            continue
        entry = kept.get((manager, operation))
        if (
            entry
            and (manager, operation) != writer
            and decode(entry.get("fieldsV1") or {}) == paths
        ):
            found.append(entry)  # not this write's: it keeps its time
            continue
        found.append(
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": api_version,
                "time": now,
                "fieldsType": "FieldsV1",
                "fieldsV1": encode(paths),
            }
        )
    return found


def conflict(found: list[tuple[str, Path]]) -> KubeError:
    """The 409 `Status` of an apply's conflicts."""
    if len(found) == 1:
        manager, path = found[0]
        message = f'Apply failed with 1 conflict: conflict with "{manager}": {spelled(path)}'
    else:
        lines = []
        for manager in sorted({m for m, _ in found}):
            lines.append(f'conflicts with "{manager}":')
            lines += [f"- {spelled(p)}" for m, p in found if m == manager]
        message = f"Apply failed with {len(found)} conflicts: " + "\n".join(lines)
    error = KubeError(409, message, "Conflict")
    error.causes = [
        {"type": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": spelled(p)}
        for m, p in found
    ]
    return error


def apply(
    existing: dict[str, Any], applied: dict[str, Any], manager: str, force: bool
) -> tuple[dict[str, Any], dict[tuple[str, str], set[Path]]]:
    """The object's content after `manager` applies `applied` to `existing`, and the
    managers' fields after it; raises the conflict unless `force`."""
    live, wanted = leaves(existing), leaves(applied)
    managed = owners(existing)
    mine = managed.pop((manager, "Apply"), set())
    clashes = sorted(
        (other, path)
        for (other, _), paths in managed.items()
        for path in wanted
        if path in paths and live.get(path, _ABSENT) != wanted[path]
    )
    if clashes and not force:
        raise conflict(clashes)
    if force:
        managed = {key: paths - set(wanted) for key, paths in managed.items()}
    others = set().union(*managed.values()) if managed else set()
    dropped = {path for path in mine - set(wanted) if path not in others}
    fields = {path: value for path, value in live.items() if path not in dropped}
    fields.update(wanted)
    managed[(manager, "Apply")] = set(wanted)
    return build(fields), {key: paths for key, paths in managed.items() if paths}


def updated(
    before: dict[str, Any], after: dict[str, Any], manager: str
) -> dict[tuple[str, str], set[Path]]:
    """The managers' fields after `manager` changed `before` into `after` with an
    update (a patch): it takes over every field it changed, without conflict."""
    old, new = leaves(before), leaves(after)
    changed = {p for p in new if old.get(p, _ABSENT) != new[p]} | (set(old) - set(new))
    managed = {key: paths - changed for key, paths in owners(before).items()}
    mine = managed.get((manager, "Update"), set())
    managed[(manager, "Update")] = (mine | changed) & set(new)
    return {key: paths & set(new) for key, paths in managed.items() if paths & set(new)}
