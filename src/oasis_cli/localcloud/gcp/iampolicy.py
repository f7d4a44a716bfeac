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
from oasis_cli.localcloud.infra.http import HttpError

MEMBER = re.compile(
    r"^(user:[^@\s]+@[^@\s]+|group:[^@\s]+@[^@\s]+|domain:[a-z0-9.-]+|"
    r"serviceAccount:[a-z0-9][a-z0-9-]*@[a-z0-9.-]+\.gserviceaccount\.com|"
    r"principal://iam\.googleapis\.com/projects/\d+/locations/global/workloadIdentityPools/"
    r"[a-z0-9.-]+\.svc\.id\.goog/subject/ns/[a-z0-9-]+/sa/[a-z0-9-]+|"
    r"principalSet://\S+|allUsers|allAuthenticatedUsers|projectOwner:\S+|"
    r"projectEditor:\S+|projectViewer:\S+)$"
)
ROLE = re.compile(r"^(roles/[A-Za-z0-9_.]+|projects/[^/]+/roles/[A-Za-z0-9_.]+)$")


def _etag(resource: str, revision: int) -> str:
    digest = hashlib.sha256(f"{resource}#{revision}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def get(world: dict[str, Any], resource: str) -> dict[str, Any]:
    """The policy as getIamPolicy answers it (every change gets a new etag)."""
    stored = world_tables.POLICIES.rows(world).get(resource, {})
    revision = stored.get("revision", 0)
    return {
        "version": stored.get("version", 1),
        "bindings": stored.get("bindings", []),
        "etag": _etag(resource, revision),
    }


def set_policy(
    world: dict[str, Any],
    resource: str,
    policy: dict[str, Any],
    *,
    service_account_exists: Any = None,
) -> dict[str, Any]:
    """Replace the policy if its etag is current; validate every binding."""
    current = get(world, resource)
    etag = policy.get("etag")
    if etag and etag != current["etag"]:
        raise HttpError(
            409,
            "There were concurrent policy changes. Please retry the whole read-modify-write "
            "with exponential backoff.",
            "aborted",
        )
    bindings = policy.get("bindings", [])
    for binding in bindings:
        role = binding.get("role", "")
        if not ROLE.match(role):
            raise HttpError(400, f"Role {role} is not supported for this resource.")
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
    policies = world_tables.POLICIES.rows(world)
    revision = policies.get(resource, {}).get("revision", 0)
    if bindings != current["bindings"]:
        revision += 1
    policies[resource] = {
        "version": policy.get("version", 1),
        "bindings": bindings,
        "revision": revision,
    }
    return get(world, resource)


def has_role(world: dict[str, Any], resource: str, member: str, roles: tuple[str, ...]) -> bool:
    """Whether `member` holds one of `roles` on `resource` (as a permission check)."""
    bindings = world_tables.POLICIES.rows(world).get(resource, {}).get("bindings", [])
    return any(b.get("role") in roles and member in b.get("members", []) for b in bindings)


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
