"""The Binary Authorization policy rule of the deployment's cluster (`oasis binauth`).

The project has one policy. oasis adds a cluster admission rule for
`{region}.{cluster}` requiring the `built-by-cloud-build` attestor (which Cloud
Build creates with the first image it builds), in dry-run (audit only) unless
`--enforce`; exempts Google-maintained system images and the gIB NCCL plugin
image; and leaves every other rule alone. The policy as it was before is journaled
in the ledger before the first change, and `down` puts it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.gcp.errors import api_errors
from oasis_cli.gcp.messages import to_message, to_plain
from oasis_cli.graph import Node
from oasis_cli.resources.base import Change, Converging, Kind, OnOperation, diff
from oasis_cli.resources.kubeobjects import GIB_REPOSITORY, PAUSE_IMAGE

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud

ATTESTOR = "built-by-cloud-build"
DRY_RUN, ENFORCE = "DRYRUN_AUDIT_LOG_ONLY", "ENFORCED_BLOCK_AND_AUDIT_LOG"
# the NCCL installer's images, which Cloud Build does not attest: the gIB plugin (any
# version; `*` is one path segment) and the digest-pinned pause image
EXEMPT = (f"{GIB_REPOSITORY}/*", PAUSE_IMAGE)


def binauth_nodes(d: Deployment, *, enforce: bool) -> list[Node]:
    cluster = d.names.cluster
    rule = {
        "evaluation_mode": "REQUIRE_ATTESTATION",
        "require_attestations_by": [f"projects/{d.project}/attestors/{ATTESTOR}"],
        "enforcement_mode": ENFORCE if enforce else DRY_RUN,
    }
    spec = {"cluster": f"{d.region}.{cluster}", "rule": rule, "exempt": list(EXEMPT)}
    return [
        Node("binauth", "binaryauthorization.policy", "policy", "global", ("apis", "cluster"), spec)
    ]


def attestor_exists(cloud: Cloud) -> bool:
    """Whether the project has the `built-by-cloud-build` attestor, which a policy
    naming it needs (updatePolicy refuses a rule naming an attestor that does not
    exist); Cloud Build creates it with the first build it runs with attestations."""
    from google.api_core import exceptions

    name = f"projects/{cloud.project}/attestors/{ATTESTOR}"
    with api_errors(name):
        try:
            Policy()._client(cloud).get_attestor(name=name)
        except exceptions.NotFound:
            return False
    return True


class Policy(Converging):
    kind = "binaryauthorization.policy"

    def _client(self, cloud: Cloud) -> Any:
        return cloud.client(
            "binaryauthorization",
            "google.cloud.binaryauthorization_v1",
            "BinauthzManagementServiceV1Client",
        )

    def _name(self, cloud: Cloud) -> str:
        return f"projects/{cloud.project}/policy"

    def _read(self, cloud: Cloud, node: Node) -> dict[str, Any]:
        with api_errors(f"{node.key} ({node.name})"):
            policy = to_plain(self._client(cloud).get_policy(name=self._name(cloud)))
        policy.pop("update_time", None)
        return policy

    def _write(self, cloud: Cloud, node: Node, policy: Mapping[str, Any]) -> None:
        from google.cloud import binaryauthorization_v1

        message = to_message(binaryauthorization_v1.Policy, policy)
        with api_errors(f"{node.key} ({node.name})"):
            self._client(cloud).update_policy(policy=message)

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        return self._read(cloud, node)  # a project always has a policy

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return True  # oasis changes only its cluster's rule of the project's policy

    def compare(self, node: Node, observed: Mapping[str, Any]) -> list[Change]:
        if "rule" not in node.spec:
            return []  # known from the ledger only
        rules = observed.get("cluster_admission_rules", {})
        changes = diff(node.spec["rule"], rules.get(node.spec["cluster"]), node.spec["cluster"])
        exempt = {p.get("name_pattern") for p in observed.get("admission_whitelist_patterns", [])}
        changes += [Change("exempt", None, p) for p in node.spec["exempt"] if p not in exempt]
        return changes

    def intent(
        self,
        cloud: Cloud,
        node: Node,
        observed: Mapping[str, Any] | None,
        previous: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The policy before oasis first changed it, which `down` restores."""
        before = previous.get("previous", observed or {})
        return {"previous": {k: v for k, v in before.items() if k != "etag"}}

    def _apply(self, cloud: Cloud, node: Node) -> dict[str, Any]:
        policy = self._read(cloud, node)
        policy.setdefault("cluster_admission_rules", {})[node.spec["cluster"]] = node.spec["rule"]
        patterns = policy.setdefault("admission_whitelist_patterns", [])
        known = {p.get("name_pattern") for p in patterns}
        patterns += [{"name_pattern": p} for p in node.spec["exempt"] if p not in known]
        policy["global_policy_evaluation_mode"] = "ENABLE"
        self._write(cloud, node, policy)
        return {"mode": node.spec["rule"]["enforcement_mode"], "cluster": node.spec["cluster"]}

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        return self._apply(cloud, node)

    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None:
        previous = recorded.get("previous")
        if previous is None:
            return  # journaled nothing: oasis never changed the policy
        current = self._read(cloud, node)
        self._write(cloud, node, {**previous, "name": self._name(cloud), "etag": current["etag"]})


KINDS: tuple[Kind, ...] = (Policy(),)
