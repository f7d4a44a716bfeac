"""Cloud Build runs: upload a context, submit its build once, follow it to its end.

Every call is retried on transient failures. The upload is only-if-absent (so the
storage library retries it, and a retry after an upload that landed is answered 412).
Builds have no request id: a submit refused transiently looks, before retrying, for
the build its failed attempt may have started, and follows that one.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from oasis_cli.errors import OasisError
from oasis_cli.gcp.errors import is_transient, transient_retry
from oasis_cli.polling import wait_until
from oasis_cli.resources.base import OnOperation

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud

RUNNING = {"QUEUED", "WORKING", "PENDING"}
SUBMIT_ATTEMPTS = 5
TAIL_LINES = 20


class BuildFailed(OasisError):
    """A build ended in anything but SUCCESS; says where its log is."""

    def __init__(self, build: str, status: str, detail: str, log_url: str, tail: list[str]):
        lines = "\n".join(f"    {line}" for line in tail) or "    (no log written)"
        super().__init__(
            f"build {build} ended {status}: {detail}\n  log: {log_url}\n  last log lines:\n{lines}"
        )


def upload(cloud: Cloud, bucket: str, source: str, data: bytes) -> None:
    """Upload the context once: only-if-absent makes the library retry it, and a
    retry after an upload that landed is answered 412 (it is there)."""
    from google.api_core import exceptions

    with contextlib.suppress(exceptions.PreconditionFailed):  # uploaded already
        cloud.storage().bucket(bucket).blob(source).upload_from_string(
            data, content_type="application/gzip", if_generation_match=0
        )


def running(
    cloud: Cloud, client: Any, parent: str, tag: str, since: float | None = None
) -> str | None:
    """A build of this very identity still running (an interrupted run's), or, with
    `since`, any of it created since then (the one a failed submit may have made)."""
    request = {"parent": parent, "filter": f'tags="{tag}"'}  # parent only: gotcha 2
    for build in client.list_builds(request=request, retry=transient_retry(cloud.poll.initial_s)):
        if build.status.name in RUNNING or (
            since is not None and build.create_time.timestamp() >= since
        ):
            return str(build.name)
    return None


def running_for(cloud: Cloud, client: Any, parent: str, uri: str) -> list[str]:
    """Builds still running that push image `uri` (any tag): an interrupted run's."""
    request = {"parent": parent, "filter": 'tags="oasis"'}
    found = client.list_builds(request=request, retry=transient_retry(cloud.poll.initial_s))
    return [
        str(build.name)
        for build in found
        if build.status.name in RUNNING
        and any(_substituted(i, build.substitutions).startswith(f"{uri}:") for i in build.images)
    ]


def _substituted(text: str, substitutions: Any) -> str:
    """`text` with the build's `$_X` / `${_X}` substitutions applied (a build lists its
    images as its config wrote them)."""

    def value(match: re.Match[str]) -> str:
        return str(substitutions.get(match.group(1) or match.group(2), match.group(0)))

    return re.sub(r"\$\{(_[A-Z0-9_]+)\}|\$(_[A-Z0-9_]+)", value, text)


def cancel(cloud: Cloud, client: Any, names: list[str]) -> None:
    """Cancel builds and wait until each has ended: a build left running writes its log
    into the staging bucket (whose delete then fails) and holds the private pool."""
    retry = transient_retry(cloud.poll.initial_s)
    for name in names:
        client.cancel_build(request={"name": name}, retry=retry)
    for name in names:

        def ended(name: str = name) -> bool:
            return client.get_build(name=name, retry=retry).status.name not in RUNNING

        wait_until(ended, name=name, policy=cloud.poll)


def submit(cloud: Cloud, client: Any, parent: str, build: Any, tag: str) -> str:
    """create_build, retried on transient failures. Builds have no request id, so
    before each retry look for the build the failed attempt may have started (its
    answer lost), and follow that one instead of starting a second."""
    delay, started = cloud.poll.initial_s, time.time() - 60  # clock skew allowance
    for attempt in range(SUBMIT_ATTEMPTS):
        try:
            return str(client.create_build(parent=parent, build=build).metadata.build.name)
        except Exception as exc:
            if not is_transient(exc) or attempt == SUBMIT_ATTEMPTS - 1:
                raise
        time.sleep(delay)
        delay = min(delay * 2, cloud.poll.maximum_s)
        found = running(cloud, client, parent, tag, since=started)
        if found is not None:
            return found
    raise AssertionError("unreachable")


def follow(
    cloud: Cloud, client: Any, name: str, on_operation: OnOperation, timeout_s: float
) -> dict[str, Any]:
    """Poll the build until it ends, showing new log lines; raises BuildFailed."""
    from oasis_cli.gcp.messages import to_plain

    latest: dict[str, Any] = {}
    tail: LogTail | None = None

    def poll() -> bool:
        nonlocal latest, tail
        latest = to_plain(client.get_build(name=name, retry=transient_retry(cloud.poll.initial_s)))
        if tail is None and latest.get("logs_bucket"):
            tail = LogTail(cloud, latest["logs_bucket"], latest["id"])
        lines = tail.read() if tail else []
        on_operation.progress(latest["status"].lower(), lines)
        return latest["status"] not in RUNNING

    # queueing and pushing come on top of the build's own timeout
    policy = replace(cloud.poll, deadline_s=max(cloud.poll.deadline_s, timeout_s + 600))
    wait_until(poll, name=name, policy=policy)
    if latest["status"] != "SUCCESS":
        detail = latest.get("failure_info", {}).get("detail") or latest.get("status_detail", "")
        raise BuildFailed(
            latest["id"],
            latest["status"],
            detail,
            latest.get("log_url", ""),
            list(tail.last) if tail else [],
        )
    return latest


class LogTail:
    """New complete lines of a build's log object, read from where the last read ended."""

    def __init__(self, cloud: Cloud, logs_bucket: str, build_id: str) -> None:
        bucket, _, prefix = logs_bucket.removeprefix("gs://").partition("/")
        self.bucket = cloud.storage().bucket(bucket)
        self.name = f"{prefix.strip('/') + '/' if prefix else ''}log-{build_id}.txt"
        self.offset = 0
        self.partial = b""
        self.last: deque[str] = deque(maxlen=TAIL_LINES)

    def read(self) -> list[str]:
        blob = self.bucket.get_blob(self.name)
        if blob is None or (blob.size or 0) <= self.offset:
            return []
        data = blob.download_as_bytes(start=self.offset)
        self.offset += len(data)
        *complete, self.partial = (self.partial + data).split(b"\n")
        lines = [line.decode(errors="replace") for line in complete]
        self.last.extend(lines)
        return lines
