"""IAM role bindings, always additive: read the policy, add the missing members,
write only if something changed, retry on a stale etag; never replace a policy.

One node per policy: the project, the data bucket, the secret. Before a write the
ledger journals the members about to be added, and `down` removes exactly those,
so members that were there before oasis survive both `up` and `down`.
Members may name `{number}` (the project number, looked up once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.errors import CloudError
from oasis_cli.gcp.errors import api_errors, transient_retry, until_account_is_usable
from oasis_cli.graph import Node
from oasis_cli.resources.base import Change, Converging, Kind, OnOperation
from oasis_cli.resources.iam import email

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud

Pair = tuple[str, str]
ATTEMPTS = 5


def binding_nodes(d: Deployment) -> list[Node]:
    names = d.names
    cluster = f"serviceAccount:{email(d.project, names.cluster_service_account)}"
    builder = f"serviceAccount:{email(d.project, names.builder_service_account)}"
    ray = d.config.ray
    ksa = d.names.ray_service_account
    principal = (
        "principal://iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/"
        f"{d.project}.svc.id.goog/subject/ns/{ray.namespace}/sa/{ksa}"
    )
    # GKE's documented minimum for a node service account is
    # roles/container.defaultNodeServiceAccount (logging, monitoring, metadata); the
    # nodes also pull oasis's images. The GKE service agent needs nothing: its own role
    # covers networks of its project (compute.networkUser is for Shared VPC), and the
    # multi-network requirements ask no grant for additional networks of the project
    # (https://cloud.google.com/kubernetes-engine/docs/how-to/service-accounts,
    # https://cloud.google.com/kubernetes-engine/docs/how-to/setup-multinetwork-support-for-pods).
    project_pairs = [
        ["roles/container.defaultNodeServiceAccount", cluster],
        ["roles/artifactregistry.reader", cluster],
        ["roles/logging.logWriter", builder],
        ["roles/artifactregistry.writer", builder],
    ]
    bucket = d.names.bucket
    staging = d.names.build_bucket
    return [
        Node(
            "iam:project",
            "iam.bindings",
            d.project,
            "global",
            ("apis", "sa:cluster", "sa:builder"),
            {"target": "project", "bindings": project_pairs},
        ),
        Node(
            "iam:bucket",
            "iam.bindings",
            bucket,
            "global",
            ("bucket:data", "cluster"),
            {"target": "bucket", "bindings": [["roles/storage.objectUser", principal]]},
        ),
        Node(
            "iam:build-bucket",
            "iam.bindings",
            staging,
            "global",
            ("bucket:build", "sa:builder"),
            {"target": "bucket", "bindings": [["roles/storage.objectAdmin", builder]]},
        ),
        Node(
            "iam:secret",
            "iam.bindings",
            d.names.secret,
            "global",
            ("secret", "cluster"),
            {"target": "secret", "bindings": [["roles/secretmanager.secretAccessor", principal]]},
        ),
    ]


POLICY_VERSION = 3
"""Read and write at version 3, so a policy holding conditional bindings is read whole
and written back with them ("Any operation that affects conditional role bindings must
specify version 3", google.iam.v1.Policy; https://cloud.google.com/iam/docs/policies#versions)."""


class _Policy:
    """get/set of one resource's IAM policy at version 3, seen as the set of (role,
    member) pairs granted without a condition.

    oasis adds and removes members only in bindings without a condition; conditional
    bindings and audit configs go back exactly as read (setIamPolicy's default update
    mask is "bindings, etag", so audit configs are not even written).
    """

    def __init__(self, cloud: Cloud, node: Node) -> None:
        self.cloud = cloud
        self.node = node
        self.raw: Any = None

    def read(self) -> set[Pair]:
        if self.node.spec["target"] == "bucket":
            bucket = self.cloud.storage().bucket(self.node.name)
            self.raw = bucket.get_iam_policy(requested_policy_version=POLICY_VERSION)
            return {
                (b["role"], m)
                for b in self.raw.bindings
                if not b.get("condition")
                for m in b["members"]
            }
        self.raw = self._gapic().get_iam_policy(
            request={
                "resource": self._resource(),
                "options": {"requested_policy_version": POLICY_VERSION},
            },
            retry=transient_retry(self.cloud.poll.initial_s),
        )
        return {
            (b.role, m) for b in self.raw.bindings if not b.HasField("condition") for m in b.members
        }

    def write(self, add: set[Pair], remove: set[Pair]) -> None:
        """Write the changed policy, retrying while a service account just created is
        still reported missing (a stale etag after a retried write that had landed is
        answered 409/412, and `_modify` reads again)."""
        retry = until_account_is_usable(self.cloud.poll.initial_s, self.cloud.poll.maximum_s)
        self.raw.version = POLICY_VERSION
        if self.node.spec["target"] == "bucket":
            self.raw.bindings = _changed_dicts(list(self.raw.bindings), add, remove)
            self.cloud.storage().bucket(self.node.name).set_iam_policy(self.raw, retry=retry)
            return
        for role, member in sorted(add):
            binding = next(
                (b for b in self.raw.bindings if b.role == role and not b.HasField("condition")),
                None,
            )
            if binding is None:
                binding = self.raw.bindings.add(role=role)
            binding.members.append(member)
        for binding in list(self.raw.bindings):
            if binding.HasField("condition"):
                continue
            for member in [m for m in binding.members if (binding.role, m) in remove]:
                binding.members.remove(member)
            if not binding.members:
                self.raw.bindings.remove(binding)
        self._gapic().set_iam_policy(
            request={"resource": self._resource(), "policy": self.raw}, retry=retry
        )

    def _resource(self) -> str:
        if self.node.spec["target"] == "secret":
            return f"projects/{self.cloud.project}/secrets/{self.node.name}"
        return f"projects/{self.cloud.project}"

    def _gapic(self) -> Any:
        if self.node.spec["target"] == "secret":
            return self.cloud.client(
                "secretmanager", "google.cloud.secretmanager_v1", "SecretManagerServiceClient"
            )
        return self.cloud.client(
            "cloudresourcemanager", "google.cloud.resourcemanager_v3", "ProjectsClient"
        )


def _changed_dicts(
    bindings: list[dict[str, Any]], add: set[Pair], remove: set[Pair]
) -> list[dict[str, Any]]:
    """Cloud Storage's bindings (dicts) with `add` and `remove` applied to the bindings
    without a condition; conditional ones are kept as they are, in place."""
    out: list[dict[str, Any]] = []
    for binding in bindings:
        if binding.get("condition"):
            out.append(binding)
            continue
        role = binding["role"]
        members = {m for m in binding["members"] if (role, m) not in remove}
        members |= {m for r, m in add if r == role}
        if members:
            out.append({**binding, "members": sorted(members)})
    plain = {b["role"] for b in out if not b.get("condition")}
    for role in sorted({r for r, _ in add} - plain):
        out.append({"role": role, "members": sorted(m for r, m in add if r == role)})
    return out


class Bindings(Converging):
    kind = "iam.bindings"

    def _wanted(self, cloud: Cloud, node: Node) -> set[Pair]:
        number = (
            cloud.project_number() if any("{number}" in m for _, m in node.spec["bindings"]) else ""
        )
        return {
            (role, member.replace("{number}", number)) for role, member in node.spec["bindings"]
        }

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        from google.api_core import exceptions

        with api_errors(f"{node.key} ({node.name})"):
            try:
                present = _Policy(cloud, node).read() & self._wanted(cloud, node)
            except exceptions.NotFound:  # the bucket or secret is not there (yet)
                return None
            missing = self._wanted(cloud, node) - present
        if not present:
            return None
        return {"present": sorted(present), "missing": sorted(missing)}

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return True

    def compare(self, node: Node, observed: Mapping[str, Any]) -> list[Change]:
        missing = observed.get("missing", [])
        return [Change("missing members", [list(p) for p in missing], [])] if missing else []

    def intent(
        self,
        cloud: Cloud,
        node: Node,
        observed: Mapping[str, Any] | None,
        previous: Mapping[str, Any],
    ) -> dict[str, Any]:
        present = {tuple(p) for p in (observed or {}).get("present", [])}
        adding = self._wanted(cloud, node) - present
        return {"added": sorted({tuple(p) for p in previous.get("added", [])} | adding)}

    def _modify(
        self,
        cloud: Cloud,
        node: Node,
        change: Callable[[set[Pair]], tuple[set[Pair], set[Pair]]],
        *,
        missing_ok: bool = False,
    ) -> None:
        """Read-modify-write with etag retry (a missing resource is fine if `missing_ok`)."""
        from google.api_core import exceptions

        for _ in range(ATTEMPTS):
            policy = _Policy(cloud, node)
            with api_errors(f"{node.key} ({node.name})"):
                try:
                    current = policy.read()
                except exceptions.NotFound:
                    if missing_ok:
                        return
                    raise
                add, remove = change(current)
                if not add and not remove:
                    return
                try:
                    policy.write(add, remove)
                    return
                except (exceptions.Conflict, exceptions.Aborted, exceptions.PreconditionFailed):
                    continue
        raise CloudError(f"{node.key} ({node.name})", "the policy kept changing under us")

    def _add(self, cloud: Cloud, node: Node) -> dict[str, Any]:
        """Add the missing members; the ledger already journaled them (`intent`)."""
        wanted = self._wanted(cloud, node)
        self._modify(cloud, node, lambda current: (wanted - current, set()))
        return {}

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        return self._add(cloud, node)

    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None:
        """Remove the members oasis journaled as added. With no ledger entry (the ledger
        was lost) remove every member this config would add: the members name this
        deployment's own accounts and Kubernetes service account."""
        added = recorded.get("added")
        ours = self._wanted(cloud, node) if added is None else {tuple(p) for p in added}
        self._modify(
            cloud, node, lambda current: (set(), {p for p in current if p in ours}), missing_ok=True
        )


KINDS: tuple[Kind, ...] = (Bindings(),)
