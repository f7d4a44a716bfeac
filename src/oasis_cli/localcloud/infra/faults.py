"""Fault injection for the local cloud, from `faults.json` in its state directory.

A rule is a JSON object:
  {"method": "POST", "path": "regex", "target": "regex", "mutating": true,
   "action": "error" | "fail_operation" | "lose_answer" | "drop_answer" | "kill",
   "status": 503,
   "reason": "backendError", "message": "...", "count": 1, "distinct": false}
`method`, `path`, `target` (a regex over what the request acts on: a create's
resource name, a build's images) and `mutating` select requests (all optional). `error` answers with
`status` instead of serving; `fail_operation` serves the request but its operation
ends with the error (quota, stockout); `lose_answer` serves and commits the request,
then answers `status` (503) as if it had not (AIP-194: a failed non-idempotent call
may still have been acted on, so a retried create must adopt, not fail on 409);
`drop_answer` serves and commits it, then closes the connection without a word;
`kill` serves and commits the request, then
kills the serving process before it answers, which is how the kill tests crash oasis
right after a call is sent. `count` is how many requests the rule hits (default 1,
-1 for always); `distinct` makes a rule hit each method+path+target at most once.
`injected()` puts a rule in force for one block (one test) only.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

from oasis_cli.localcloud.infra.store import Store

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


MUTATING_RPCS = ("Create", "Delete", "Update", "Patch", "Set", "Undelete", "Enable", "Disable")


def is_mutating(method: str, path: str) -> bool:
    if method == "RPC":
        return path.rsplit("/", 1)[-1].startswith(MUTATING_RPCS)
    if method not in MUTATING:
        return False
    return "/operations/" not in path and not path.endswith(":getIamPolicy")


def take(store: Store, method: str, path: str, target: str = "") -> dict[str, Any] | None:
    """The first rule matching this request, consumed; None when no rule applies.

    `target` names what the request acts on (a create's resource name), so that a
    `distinct` rule tells apart two creates sent to one collection path.
    """
    with store.locked():
        rules = store.read_faults()
        signature = f"{method} {path} {target}".strip()
        for rule in rules:
            if not _matches(rule, method, path, signature):
                continue
            count = int(rule.get("count", 1))
            if count == 0:
                continue
            if count > 0:
                rule["count"] = count - 1
            if rule.get("distinct"):
                rule.setdefault("seen", []).append(signature)
            store.write_faults(rules)
            return dict(rule)
    return None


def _matches(rule: dict[str, Any], method: str, path: str, signature: str) -> bool:
    if rule.get("method") and rule["method"] != method:
        return False
    if rule.get("path") and not re.search(rule["path"], path):
        return False
    if rule.get("target") and not re.search(rule["target"], signature):
        return False
    if rule.get("mutating") and not is_mutating(method, path):
        return False
    return not (rule.get("distinct") and signature in rule.get("seen", []))


def add(store: Store, rule: dict[str, Any]) -> None:
    with store.locked():
        rules = store.read_faults()
        rules.append(rule)
        store.write_faults(rules)


@contextlib.contextmanager
def injected(store: Store, rule: dict[str, Any]) -> Iterator[None]:
    """`rule` in force for the block only (a test's faults need not outlive it, even
    on a world other tests go on using); other rules are left as they are."""
    scoped = {**rule, "scope": uuid.uuid4().hex}
    add(store, scoped)
    try:
        yield
    finally:
        with store.locked():
            rules = [r for r in store.read_faults() if r.get("scope") != scoped["scope"]]
            store.write_faults(rules)
