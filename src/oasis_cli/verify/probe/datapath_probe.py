"""The data-path probe `oasis verify` runs as a Ray job on the platform: it writes a
file under the GCS FUSE mount of the data bucket, reads it back and removes it, then
reads the deployment secret's metadata (never a value) as the pod's own identity.

On GKE that identity is the Ray service account through Workload Identity: the GKE
metadata server hands the pod a token for it (GKE docs, "Authenticate to Google
Cloud APIs from GKE workloads"), and Secret Manager's `projects.secrets.get` answers
only if the IAM binding oasis made holds. Only the standard library is used, so any
Ray image can run it.

Environment: OASIS_PROBE_DIR (the mount, default /bucket, or OASIS_BUCKET_MOUNT
where the platform provides another), OASIS_PROBE_SECRET (projects/P/secrets/S),
OASIS_SECRETMANAGER (the API's base URL) and OASIS_PROBE_TOKEN (a token to use
instead of the metadata server's). Prints one line `OASIS_PROBE {json}`; exits 1 if
a step failed.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
import uuid
from pathlib import Path

METADATA_TOKEN = (
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
)


def token() -> str:
    given = os.environ.get("OASIS_PROBE_TOKEN")
    if given:
        return given
    request = urllib.request.Request(METADATA_TOKEN, headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.load(answer)["access_token"])


def bucket_roundtrip(directory: Path) -> dict[str, object]:
    path = directory / ".oasis-verify" / f"probe-{uuid.uuid4().hex}"
    data = os.urandom(4096)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_bytes(data)
        same = path.read_bytes() == data
    finally:
        path.unlink(missing_ok=True)
    return {"path": str(path), "bytes": len(data), "read_back": same, "removed": not path.exists()}


def secret_metadata(base: str, name: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"{base.rstrip('/')}/v1/{name}", headers={"Authorization": f"Bearer {token()}"}
    )
    with urllib.request.urlopen(request, timeout=20) as answer:
        secret = json.load(answer)
    return {"name": secret.get("name"), "createTime": secret.get("createTime")}


def main() -> int:
    directory = Path(
        os.environ.get("OASIS_PROBE_DIR") or os.environ.get("OASIS_BUCKET_MOUNT") or "/bucket"
    )
    found: dict[str, object] = {}
    ok = True
    for step, run in (
        ("bucket", lambda: bucket_roundtrip(directory)),
        (
            "secret",
            lambda: secret_metadata(
                os.environ.get("OASIS_SECRETMANAGER", "https://secretmanager.googleapis.com"),
                os.environ["OASIS_PROBE_SECRET"],
            ),
        ),
    ):
        try:
            found[step] = run()
        except Exception as exc:  # each step reports its own failure
            found[step] = {"error": f"{type(exc).__name__}: {exc}"}
            ok = False
    bucket = found.get("bucket") or {}
    if isinstance(bucket, dict) and not (bucket.get("read_back") and bucket.get("removed")):
        ok = False
    print("OASIS_PROBE " + json.dumps(found), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
