"""IAM policies as Google serves them: versioned, with a base64 etag that a
setIamPolicy must match (409 ABORTED on a stale etag), and validated members/roles.
Shared by Resource Manager (projects), Cloud Storage (buckets) and Secret Manager.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import HttpError, Request

MEMBER = re.compile(
    r"^(user:[^@\s]+@[^@\s]+|group:[^@\s]+@[^@\s]+|domain:[a-z0-9.-]+|"
    r"serviceAccount:[a-z0-9][a-z0-9-]*@[a-z0-9.-]+\.gserviceaccount\.com|"
    r"principal://iam\.googleapis\.com/projects/\d+/locations/global/workloadIdentityPools/"
    r"[a-z0-9.-]+\.svc\.id\.goog/subject/ns/[a-z0-9-]+/sa/[a-z0-9-]+|"
    r"principalSet://\S+|allUsers|allAuthenticatedUsers|projectOwner:\S+|"
    r"projectEditor:\S+|projectViewer:\S+)$"
)
ROLE = re.compile(r"^(roles/[A-Za-z0-9_.]+|projects/[^/]+/roles/[A-Za-z0-9_.]+)$")


VERSIONS_DOC = "https://cloud.google.com/iam/docs/policies#versions"


def _etag(resource: str, revision: int) -> str:
    digest = hashlib.sha256(f"{resource}#{revision}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _version(bindings: list[dict[str, Any]]) -> int:
    """A policy is at version 3 while it holds a conditional binding, else at 1: IAM
    "will jump between policy versions based on whether you have a condition or not"
    (hashicorp/vault-plugin-secrets-gcp#88)."""
    return 3 if any(b.get("condition") for b in bindings) else 1


def _valid_version(value: Any, field: str) -> int:
    """Valid values are 0, 1 and 3; others are rejected (google.iam.v1.Policy.version)."""
    try:
        version = int(value or 0)
    except (TypeError, ValueError):
        version = -1
    if version not in (0, 1, 3):
        raise HttpError(
            400, f"Invalid value at '{field}': {value!r} is not a valid policy version."
        )
    return version


def requested_version(request: Request) -> int:
    """`options.requestedPolicyVersion` as each transport sends it: in the JSON body
    (Resource Manager, POST), as `options.requestedPolicyVersion` (Secret Manager, GET)
    or `optionsRequestedPolicyVersion` (Cloud Storage JSON API)."""
    body = request.body if isinstance(request.body, dict) else {}
    value = (body.get("options") or {}).get("requestedPolicyVersion")
    if value is None:
        value = request.param("options.requestedPolicyVersion") or request.param(
            "optionsRequestedPolicyVersion"
        )
    return _valid_version(value, "options.requested_policy_version")


def get(world: dict[str, Any], resource: str, requested: int = 3) -> dict[str, Any]:
    """The policy as getIamPolicy answers it (every change gets a new etag).

    "Requests for policies with any conditional role bindings must specify version 3";
    a lower request is refused with IAM's own words (terraform-provider-google#5218,
    googleapis/google-cloud-ruby#4466). Audit configs are returned as stored.
    """
    stored = world_tables.POLICIES.rows(world).get(resource, {})
    bindings = stored.get("bindings", [])
    version = _version(bindings)
    if max(requested, 1) < version:
        raise HttpError(
            400,
            f"Requested policy version ({max(requested, 1)}) cannot be less than the existing "
            f"policy version ({version}). For more information, please refer to {VERSIONS_DOC}.",
        )
    policy: dict[str, Any] = {
        "version": version,
        "bindings": bindings,
        "etag": _etag(resource, stored.get("revision", 0)),
    }
    if stored.get("auditConfigs"):
        policy["auditConfigs"] = stored["auditConfigs"]
    return policy


def set_policy(
    world: dict[str, Any],
    resource: str,
    policy: dict[str, Any],
    *,
    update_mask: str | None = None,
    service_account_exists: Any = None,
) -> dict[str, Any]:
    """Replace the policy if its etag is current; validate every binding.

    Version rules (google.iam.v1.Policy.version): a conditional binding needs version 3;
    with an etag, a write below the stored version is refused ("Specified policy version
    (1) cannot be less than the existing policy version (3)",
    hashicorp/vault-plugin-secrets-gcp#88); without an etag "any version compliance
    checks on the incoming and/or stored policy is skipped" (googleapis/google-cloud-ruby
    #4153) and the conditions are lost. Only the fields in `update_mask` change; without
    one IAM uses "bindings, etag", so audit configs survive (SetIamPolicyRequest).
    """
    current = get(world, resource)
    etag = policy.get("etag")
    if etag and etag != current["etag"]:
        raise HttpError(
            409,
            "There were concurrent policy changes. Please retry the whole read-modify-write "
            "with exponential backoff.",
            "aborted",
        )
    version = _valid_version(policy.get("version"), "policy.version")
    bindings = policy.get("bindings", [])
    if etag and max(version, 1) < current["version"]:
        raise HttpError(
            400,
            f"Specified policy version ({max(version, 1)}) cannot be less than the existing "
            f"policy version ({current['version']}). For more information, please refer to "
            f"{VERSIONS_DOC}.",
        )
    for binding in bindings:
        _check_binding(binding, version, service_account_exists)
    policies = world_tables.POLICIES.rows(world)
    stored = policies.get(resource, {})
    fields = {f.strip() for f in (update_mask or "bindings,etag").split(",")}
    audit = policy.get("auditConfigs", []) if "auditConfigs" in fields else None
    if audit is None:
        audit = stored.get("auditConfigs", [])
    revision = stored.get("revision", 0)
    if bindings != current["bindings"] or audit != stored.get("auditConfigs", []):
        revision += 1
    policies[resource] = {"bindings": bindings, "auditConfigs": audit, "revision": revision}
    return get(world, resource)


def _check_binding(binding: dict[str, Any], version: int, service_account_exists: Any) -> None:
    role = binding.get("role", "")
    if not ROLE.match(role) or "_withcond_" in role:
        raise HttpError(400, f"Role {role} is not supported for this resource.")
    condition = binding.get("condition")
    if condition is not None:
        if version < 3:
            raise HttpError(
                400,
                f"Specified policy version ({max(version, 1)}) must be 3 for a policy with "
                f"conditional role bindings. For more information, please refer to "
                f"{VERSIONS_DOC}.",
            )
        if not str(condition.get("expression", "")).strip():
            raise HttpError(400, "Condition expression must not be empty.")
    for member in binding.get("members", []):
        if not MEMBER.match(member):
            raise HttpError(400, f"Invalid member: {member}")
        if (
            service_account_exists is not None
            and member.startswith("serviceAccount:")
            and not service_account_exists(member.removeprefix("serviceAccount:"))
        ):
            raise HttpError(
                400, f"Service account {member.removeprefix('serviceAccount:')} does not exist."
            )


def has_role(world: dict[str, Any], resource: str, member: str, roles: tuple[str, ...]) -> bool:
    """Whether `member` holds one of `roles` on `resource` (as a permission check; a
    conditional binding is not evaluated, so it does not count)."""
    bindings = world_tables.POLICIES.rows(world).get(resource, {}).get("bindings", [])
    return any(
        b.get("role") in roles and member in b.get("members", []) and not b.get("condition")
        for b in bindings
    )


def project_grants(world: dict[str, Any], project: str, email: str, roles: tuple[str, ...]) -> bool:
    """Whether service account `email` holds one of `roles` on the project (no account:
    a build runs as Cloud Build's default account, which may do everything)."""
    return not email or has_role(world, f"projects/{project}", f"serviceAccount:{email}", roles)


def bucket_grants(world: dict[str, Any], bucket: str, email: str, roles: tuple[str, ...]) -> bool:
    """Bucket-level or project-level grant of one of `roles` to the service account."""
    member = f"serviceAccount:{email}"
    owner = world_tables.BUCKETS.rows(world).get(bucket, {}).get("_project", "")
    return has_role(world, f"projects/_/buckets/{bucket}", member, roles) or (
        has_role(world, f"projects/{owner}", member, roles)
    )
