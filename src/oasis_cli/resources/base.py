"""The contract every resource family implements, and the pure planner.

A `Kind` knows how to `observe` a node's live state (a dict, or None when absent),
how to tell whether a live resource is `owned` by the deployment, how to `create`,
`update` and `delete` it. `plan()` is pure: desired node + observed state -> NOOP,
CREATE, UPDATE (with the changes) or CONFLICT (exists, not ours).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from oasis_cli.graph import Node

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud


ADOPT_WAIT_S = 120.0
"""How long a create answered "already exists" waits for the resource to become readable
(another run's create still in progress) before calling it a conflict."""


@dataclass
class OnOperation:
    """What a kind reports while it works: `on_operation(name)` records the operation
    it started (in the ledger); `progress()` shows how it is going and, for builds, new
    log lines."""

    record: Callable[[str], None]
    show: Callable[[str, Sequence[str]], None] = lambda detail, lines: None

    def __call__(self, operation: str) -> None:
        self.record(operation)

    def progress(self, detail: str, lines: Sequence[str] = ()) -> None:
        self.show(detail, lines)


class Action(str, Enum):
    NOOP = "noop"
    CREATE = "create"
    UPDATE = "update"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Change:
    field: str
    current: Any
    desired: Any
    recreate: bool = False  # the cloud cannot change this setting in place

    def __str__(self) -> str:
        text = f"{self.field}: {self.current!r} -> {self.desired!r}"
        return f"{text} (needs recreation)" if self.recreate else text


@dataclass(frozen=True)
class Plan:
    node: Node
    action: Action
    changes: tuple[Change, ...] = ()
    reason: str = ""


class Kind(ABC):
    """One resource family (e.g. compute networks)."""

    kind: str

    @abstractmethod
    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None: ...

    @abstractmethod
    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool: ...

    @abstractmethod
    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        """Create the resource, wait until it is usable, and return its outputs."""

    def update(
        self,
        cloud: Cloud,
        node: Node,
        changes: tuple[Change, ...],
        request_id: str,
        on_operation: OnOperation,
    ) -> dict[str, Any]:
        from oasis_cli.errors import CloudError

        fields = ", ".join(change.field for change in changes)
        raise CloudError(
            f"{node.key} ({node.name})",
            f"live settings differ ({fields}) and cannot be changed in place",
            hint="Restore the setting in oasis.toml, or `oasis down` and `oasis up` to recreate.",
        )

    @abstractmethod
    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None: ...

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def intent(
        self,
        cloud: Cloud,
        node: Node,
        observed: Mapping[str, Any] | None,
        previous: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Outputs to journal before a create/update call, so that a crash right after
        it leaves what `down` must undo on record (IAM members being added)."""
        return {}

    def settle(self, cloud: Cloud, node: Node, observed: dict[str, Any]) -> dict[str, Any]:
        """Wait until a found resource is usable (e.g. still provisioning after a crash)."""
        return observed

    def adopted(self, cloud: Cloud, node: Node, observed: dict[str, Any]) -> dict[str, Any]:
        """The resource as oasis records it when it takes over one instead of creating
        it; called at adoption only, not on every run."""
        return observed

    def adopt_existing(self, cloud: Cloud, node: Node, error: Exception) -> dict[str, Any]:
        """Our create was answered "already exists": an interrupted earlier run made it?
        Adopt it if it is ours (once usable); anything else is a conflict."""
        from oasis_cli.errors import CloudError, OperationTimeout
        from oasis_cli.polling import wait_until

        found: dict[str, Any] | None = None

        def visible() -> bool:  # another run's create may not be readable yet
            nonlocal found
            found = self.observe(cloud, node)
            return found is not None

        with contextlib.suppress(OperationTimeout):
            wait_until(visible, name=node.key, policy=replace(cloud.poll, deadline_s=ADOPT_WAIT_S))
        if found is None or not self.owned(node, found):
            message = getattr(error, "message", str(error))
            raise CloudError(f"{node.key} ({node.name})", str(message)) from None
        return self.adopted(cloud, node, self.settle(cloud, node, found))

    def retained(self, node: Node, delete_data: bool) -> str | None:
        """Why `down` keeps this resource, or None to delete it."""
        return None

    def keeps(
        self,
        cloud: Cloud,
        node: Node,
        observed: Mapping[str, Any],
        recorded: Mapping[str, Any],
        delete_data: bool,
    ) -> str | None:
        """Why `down` keeps this live resource after all (decided by what it is, read
        live), or None to delete it."""
        return None

    def in_place(self, change: Change) -> bool:
        """Whether `update` can make this change without recreating the resource."""
        return False

    def refuses(self, node: Node, observed: Mapping[str, Any]) -> str | None:
        """Why this deployment's live resource must not be used for `node` (None: it
        may, if owned)."""
        return None

    def compare(self, node: Node, observed: Mapping[str, Any]) -> list[Change]:
        """Desired settings that the live resource does not have (pure)."""
        return diff(node.spec, observed)


class Converging(Kind):
    """A kind whose create call also brings an existing resource to the desired state
    (server-side apply, a rebuild, a policy write, an additive IAM change): an update
    is the same call."""

    def update(
        self,
        cloud: Cloud,
        node: Node,
        changes: tuple[Change, ...],
        request_id: str,
        on_operation: OnOperation,
    ) -> dict[str, Any]:
        return self.create(cloud, node, request_id, on_operation)

    def in_place(self, change: Change) -> bool:
        return True


def already_exists() -> tuple[type[Exception], ...]:
    """What a create raises when its resource is already there: `AlreadyExists` over
    gRPC, and over REST `Conflict`, since google-api-core maps a REST error by its HTTP
    status alone (`exceptions.from_http_response`: 409 is Conflict), never by the
    ALREADY_EXISTS in its body. Every create that adopts on "exists" catches these."""
    from google.api_core import exceptions

    return (exceptions.AlreadyExists, exceptions.Conflict)


def labelled(found: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    """Whether `found` labels (or annotations) carry every `wanted` one: the ownership
    test of every kind with labels."""
    found = found or {}
    return all(found.get(key) == value for key, value in wanted.items())


def fetch(node: Node, call: Callable[[], Any]) -> dict[str, Any] | None:
    """A GAPIC read as a plain dict, or None when the resource does not exist; other
    errors name the node."""
    from google.api_core import exceptions

    from oasis_cli.gcp.errors import api_errors
    from oasis_cli.gcp.messages import to_plain

    with api_errors(f"{node.key} ({node.name})"):
        try:
            return to_plain(call())
        except exceptions.NotFound:
            return None


def remove(
    node: Node,
    start: Callable[[], Any],
    finish: Callable[[Any], None] | None = None,
    until_gone: Callable[[], None] | None = None,
) -> None:
    """Start a delete and `finish` it (wait on its operation); a resource already gone
    counts as deleted. A retried delete whose first attempt was served (its answer
    lost) meets "being deleted": then `until_gone` waits for that deletion. Errors
    name the node."""
    from google.api_core import exceptions

    from oasis_cli.gcp.errors import api_errors

    with api_errors(f"{node.key} ({node.name})"):
        try:
            started = start()
        except exceptions.NotFound:
            return
        except exceptions.Conflict as exc:
            if until_gone is None or "being deleted" not in str(exc):
                raise
            until_gone()
            return
        if finish is not None:
            finish(started)


def remove_longrunning(
    cloud: Cloud,
    node: Node,
    start: Callable[[], Any],
    on_operation: OnOperation,
    until_gone: Callable[[], None] | None = None,
) -> None:
    """`remove()` for a delete answered with a google.longrunning operation: record the
    operation, then wait for it."""
    from oasis_cli.gcp.waiter import wait_longrunning

    def finish(operation: Any) -> None:
        on_operation(operation.operation.name)
        wait_longrunning(cloud, operation)

    remove(node, start, finish, until_gone)


def plan(node: Node, observed: Mapping[str, Any] | None, kind: Kind) -> Plan:
    if observed is None:
        return Plan(node, Action.CREATE)
    refusal = kind.refuses(node, observed)
    if refusal is not None:
        return Plan(node, Action.CONFLICT, reason=refusal)
    if not kind.owned(node, observed):
        return Plan(
            node,
            Action.CONFLICT,
            reason=f"{node.name} exists but does not belong to this deployment",
        )
    changes = tuple(
        change if kind.in_place(change) else replace(change, recreate=True)
        for change in kind.compare(node, observed)
    )
    if changes:
        return Plan(node, Action.UPDATE, changes)
    return Plan(node, Action.NOOP)


def normalize(value: Any) -> Any:
    """Resource URLs compare by their `projects/...` part."""
    if isinstance(value, str) and "projects/" in value and value.startswith(("http", "projects/")):
        return value[value.find("projects/") :]
    return value


def diff(desired: Any, current: Any, where: str = "") -> list[Change]:
    """Fields of `desired` that differ in `current`; fields only in `current` are ignored."""
    if isinstance(desired, Mapping):
        current_map = current if isinstance(current, Mapping) else {}
        changes: list[Change] = []
        for key, value in desired.items():
            changes += diff(value, current_map.get(key), f"{where}.{key}" if where else key)
        return changes
    if isinstance(desired, list) and desired and isinstance(desired[0], Mapping):
        current_list = current if isinstance(current, list) else []
        if len(current_list) != len(desired):
            return [Change(where, current, desired)]
        changes = []
        for i, (want, have) in enumerate(zip(desired, current_list, strict=False)):
            changes += diff(want, have, f"{where}[{i}]")
        return changes
    if isinstance(desired, list):
        have = [normalize(v) for v in current] if isinstance(current, list) else current
        return [] if [normalize(v) for v in desired] == have else [Change(where, current, desired)]
    if current is None and desired in (False, 0, "", [], {}):
        return []  # proto3 omits default values from responses
    if normalize(desired) != normalize(current):
        return [Change(where, current, desired)]
    return []
