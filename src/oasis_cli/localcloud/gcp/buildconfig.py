"""A Cloud Build request checked as Cloud Build checks it when a build is created,
and its substitutions applied.

Rejected with 400: no steps, a step without a builder `name`, duplicate step ids,
`waitFor` naming an unknown step, user substitution keys not `_UPPER_CASE`, a
template key that is neither a built-in nor a given substitution, a given
substitution no template uses (unless ALLOW_LOOSE), malformed image names or tags, a
timeout outside 1 s..24 h, a service account without a place for its logs, and a
private pool that does not exist or is in another region.
"""

from __future__ import annotations

import re
import time
from typing import Any

from oasis_cli.localcloud.infra.http import HttpError

BUILTIN = frozenset(
    {
        "PROJECT_ID",
        "PROJECT_NUMBER",
        "BUILD_ID",
        "LOCATION",
        "TRIGGER_NAME",
        "COMMIT_SHA",
        "REVISION_ID",
        "SHORT_SHA",
        "REPO_NAME",
        "REPO_FULL_NAME",
        "BRANCH_NAME",
        "TAG_NAME",
        "REF_NAME",
        "TRIGGER_BUILD_CONFIG_PATH",
        "SERVICE_ACCOUNT_EMAIL",
        "SERVICE_ACCOUNT",
    }
)
USER_KEY = re.compile(r"^_[A-Z0-9_]+$")
TEMPLATE = re.compile(r"\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
IMAGE = re.compile(
    r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
TAG = re.compile(r"^[\w][\w.-]{0,127}$")
POOL = re.compile(r"^projects/([^/]+)/locations/([^/]+)/workerPools/([^/]+)$")
SERVICE_ACCOUNT = re.compile(r"^projects/([^/]+)/serviceAccounts/([^/]+@[^/]+)$")
LOGS_ELSEWHERE = ("CLOUD_LOGGING_ONLY", "NONE")


def invalid(message: str) -> HttpError:
    return HttpError(400, f"invalid build: {message}")


def _templated(build: dict[str, Any]) -> list[str]:
    """Every string of the request that substitutions apply to."""
    texts: list[str] = []
    for step in build.get("steps", []):
        texts += [step.get("name", ""), step.get("dir", ""), step.get("entrypoint", "")]
        texts += step.get("args", []) + step.get("env", [])
    return texts + build.get("images", []) + build.get("tags", [])


def check(build: dict[str, Any], pools: dict[str, Any], location: str) -> None:
    steps = build.get("steps", [])
    if not steps:
        raise invalid("no build steps")
    ids: set[str] = set()
    for number, step in enumerate(steps):
        if not step.get("name"):
            raise invalid(f"build step {number} must specify name")
        step_id = step.get("id")
        if step_id:
            if step_id in ids:
                raise invalid(f"duplicate build step id {step_id!r}")
            ids.add(step_id)
        for wanted in step.get("waitFor", []):
            if wanted != "-" and wanted not in ids:
                raise invalid(f"build step {number} waits for unknown step id {wanted!r}")
    substitutions = build.get("substitutions", {})
    for key in substitutions:
        if not USER_KEY.match(key):
            raise invalid(
                f"substitution key {key!r} must start with an underscore and contain only "
                "uppercase letters, digits and underscores"
            )
    used: set[str] = set()
    for text in _templated(build):
        for match in TEMPLATE.finditer(text):
            key = match.group(2) or match.group(3)
            if key is None:
                continue  # $$ is a literal dollar sign
            if key not in BUILTIN and key not in substitutions:
                raise invalid(f'key in the template "{key}" is not a valid built-in substitution')
            used.add(key)
    loose = build.get("options", {}).get("substitutionOption") == "ALLOW_LOOSE"
    unused = sorted(set(substitutions) - used)
    if unused and not loose:
        raise invalid(f'key "{unused[0]}" in the substitution data is not matched in the template')
    _check_names(build)
    _check_logging(build)
    _check_pool(build, pools, location)


def _check_names(build: dict[str, Any]) -> None:
    for image in build.get("images", []):
        if "$" not in image and not IMAGE.match(image):
            raise invalid(f"invalid image name {image!r}")
    for tag in build.get("tags", []):
        if "$" not in tag and not TAG.match(tag):
            raise invalid(f"invalid build tag {tag!r}: must match {TAG.pattern}")
    timeout = build.get("timeout")
    if timeout is not None:
        seconds = float(str(timeout).rstrip("s") or 0)
        if not 1 <= seconds <= 86400:
            raise invalid(f"timeout {timeout} must be between 1s and 24h")


def _check_logging(build: dict[str, Any]) -> None:
    account = build.get("serviceAccount")
    if not account:
        return
    if not SERVICE_ACCOUNT.match(account):
        raise invalid(f"service account {account!r} must be projects/PROJECT/serviceAccounts/EMAIL")
    options = build.get("options", {})
    if (
        not build.get("logsBucket")
        and options.get("logging") not in LOGS_ELSEWHERE
        and options.get("defaultLogsBucketBehavior") != "REGIONAL_USER_OWNED_BUCKET"
    ):
        raise invalid(
            "if 'build.service_account' is specified, the build must either (a) specify "
            "'build.logs_bucket', (b) use the REGIONAL_USER_OWNED_BUCKET "
            "build.options.default_logs_bucket_behavior option, or (c) use either "
            "CLOUD_LOGGING_ONLY / NONE logging options"
        )


def _check_pool(build: dict[str, Any], pools: dict[str, Any], location: str) -> None:
    pool = build.get("options", {}).get("pool", {}).get("name")
    if not pool:
        return
    found = POOL.match(pool)
    if found is None:
        raise invalid(f"worker pool {pool!r} must be projects/P/locations/L/workerPools/W")
    if found.group(2) != location:
        raise invalid(f"worker pool {pool} is in {found.group(2)}; the build runs in {location}")
    if pool not in pools or pools[pool].get("_ready_at", 0) > time.time():
        raise HttpError(404, f"worker pool {pool} not found", "notFound")


def substitute(build: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The request with `$KEY` / `${KEY}` replaced (and `$$` made `$`)."""

    def apply(text: str) -> str:
        return TEMPLATE.sub(
            lambda m: "$" if m.group(1) == "$" else values.get(m.group(2) or m.group(3), ""),
            text,
        )

    resolved = dict(build)
    resolved["steps"] = [
        {
            **step,
            **{key: apply(step[key]) for key in ("name", "dir", "entrypoint") if key in step},
            "args": [apply(arg) for arg in step.get("args", [])],
            "env": [apply(env) for env in step.get("env", [])],
        }
        for step in build.get("steps", [])
    ]
    resolved["images"] = [apply(image) for image in build.get("images", [])]
    resolved["tags"] = [apply(tag) for tag in build.get("tags", [])]
    return resolved


FILTER_CLAUSE = re.compile(r'^\s*(tags|status|images)\s*=\s*"([^"]*)"\s*$')


def parse_filter(text: str) -> list[tuple[str, str]]:
    """The `field="value" AND ...` filters of builds.list that oasis and gcloud send."""
    if not text.strip():
        return []
    clauses = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        found = FILTER_CLAUSE.match(part)
        if found is None:
            raise HttpError(400, f'Invalid filter: {text!r} (simulated: field="value" AND ...)')
        clauses.append((found.group(1), found.group(2)))
    return clauses


def selected(build: dict[str, Any], clauses: list[tuple[str, str]]) -> bool:
    for name, value in clauses:
        have = build.get(name)
        if isinstance(have, list) and value not in have:
            return False
        if isinstance(have, str) and have != value:
            return False
        if have is None:
            return False
    return True
