"""Cloud Build v1 as the local cloud serves it: builds, on top of the private worker
pools (`workerpools`). The request is checked as Cloud Build checks it
(`buildconfig`), then run at once in simulation, and revealed over time: QUEUED,
WORKING with the log growing in the logs bucket, then SUCCESS or FAILURE. A build
takes 5-20 minutes times the latency scale. The run fetches the source from Cloud
Storage (the service account must be able to read it), simulates each `docker
build` step (`dockerbuild`), and pushes `images` to Artifact Registry (the account
must be a writer), with a digest of its own (a real image build is not reproducible).
A successful build that pushes images creates the `built-by-cloud-build` attestor,
as Cloud Build does. A `fail_operation` fault fails the build's last step, with the
fault's message in the log.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from oasis_cli.localcloud.gcp import buildconfig, dockerbuild, iampolicy
from oasis_cli.localcloud.gcp.projects import project_number, service_account_exists
from oasis_cli.localcloud.gcp.registry import pull_problem, push_image
from oasis_cli.localcloud.gcp.storage import put_object, read_object
from oasis_cli.localcloud.gcp.workerpools import TYPE, WorkerPools
from oasis_cli.localcloud.infra import operations
from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import Request, Response
from oasis_cli.localcloud.infra.rest import Handler, normalize, public, timestamp

AR_IMAGE = re.compile(r"^([a-z0-9-]+)-docker\.pkg\.dev/([^/]+)/([^/]+)/([^:@]+)(?::(.+))?$")
TERMINAL = {"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"}
READ_ROLES = (
    "roles/storage.objectAdmin",
    "roles/storage.objectViewer",
    "roles/storage.objectUser",
    "roles/storage.admin",
)
WRITE_ROLES = ("roles/storage.objectAdmin", "roles/storage.objectUser", "roles/storage.admin")
PUSH_ROLES = (
    "roles/artifactregistry.writer",
    "roles/artifactregistry.repoAdmin",
    "roles/artifactregistry.admin",
)
READ_REGISTRY = "roles/artifactregistry.reader"
ATTESTOR = "built-by-cloud-build"


@dataclass
class Run:
    """What a build does, decided when it is created and revealed over time."""

    lines: list[str] = field(default_factory=list)
    failure: str = ""
    pushes: list[tuple[str, str, str]] = field(default_factory=list)  # image, repo, package


class CloudBuild(WorkerPools):
    api_name, api_version, service = "cloudbuild", "v1", "cloudbuild"
    # builds are history, not resources: `builds.list` shows them, `local-cloud ls` not
    tables = {"workerPools": "cloudbuild#workerPool"}

    def routes(self) -> dict[str, Handler]:
        prefix = "cloudbuild.projects.locations."
        return {
            prefix + "workerPools.create": self._create_pool,
            prefix + "workerPools.get": self._get_pool,
            prefix + "workerPools.list": self._list_pools,
            prefix + "workerPools.delete": self._delete_pool,
            prefix + "builds.create": self._create_build,
            prefix + "builds.get": self._get_build,
            prefix + "builds.list": self._list_builds,
            prefix + "builds.cancel": self._cancel_build,
            prefix + "operations.get": self.get_operation,
        }

    def target(self, request: Request) -> str:
        body = request.body if isinstance(request.body, dict) else {}
        if "images" in body:
            return " ".join(body["images"])
        return super().target(request)

    def _list_pools(self, world: dict, params: dict, request: Request) -> Response:
        found = self.listed(world, "workerPools", params["parent"] + "/workerPools/")
        return Response(200, {"workerPools": found})

    # --- builds ----------------------------------------------------------------------

    def _create_build(self, world: dict, params: dict, request: Request) -> Response:
        from google.cloud.devtools import cloudbuild_v1

        parent = params["parent"]
        project, location = parent.split("/")[1], parent.split("/")[3]
        body = normalize(cloudbuild_v1.Build, request.body or {}, "build")
        buildconfig.check(body, self.table(world, "workerPools"), location)
        build_id = str(uuid.uuid4())
        account = body.get("serviceAccount", "")
        email = account.rsplit("/", 1)[-1]
        if account and not service_account_exists(world, email):
            raise buildconfig.invalid(f"service account {email} does not exist")
        logs = self._logs_object(world, body, build_id)
        values = {
            **body.get("substitutions", {}),
            "PROJECT_ID": project,
            "PROJECT_NUMBER": project_number(project),
            "BUILD_ID": build_id,
            "LOCATION": location,
            "SERVICE_ACCOUNT_EMAIL": email,
            "SERVICE_ACCOUNT": account,
        }
        resolved = buildconfig.substitute(body, values)
        failing = request.fault and request.fault.get("action") == "fail_operation"
        fault = request.fault if failing else None
        source, digest = self._fetch(world, body, email, build_id)
        run = self._run(world, build_id, resolved, source, digest, email, fault)
        now = time.time()
        seconds = self.latency(300 + int(digest[7:15], 16) % 901)  # 5-20 minutes
        name = f"{parent}/builds/{build_id}"
        build = {
            **body,
            "name": name,
            "id": build_id,
            "projectId": project,
            "status": "QUEUED",
            "createTime": timestamp(now),
            "timeout": body.get("timeout", "3600s"),
            "logUrl": f"https://console.cloud.google.com/cloud-build/builds;region={location}/"
            f"{build_id}?project={project_number(project)}",
            "_logs": logs,
            "_lines": run.lines,
            "_failure": run.failure,
            "_pushes": run.pushes,
            "_digest": digest,
            "_start_at": now + seconds * 0.03,
            "_done_at": now + seconds,
            "_written": 0,
        }
        self.table(world, "builds")[name] = build
        metadata_type = TYPE + "BuildOperationMetadata"
        metadata = {"@type": metadata_type, "build": public(build)}
        response = self.operation(
            world,
            request,
            prefix=parent,
            metadata_type=metadata_type,
            response=None,
            target=None,
            ready_at=build["_done_at"],
        )
        build["_operation"] = response.body["name"]
        operations.records(world, self.service)[build["_operation"]]["metadata"] = metadata
        return Response(200, {**response.body, "metadata": metadata})

    def _logs_object(self, world: dict, body: dict[str, Any], build_id: str) -> list[str] | None:
        logs_bucket = body.get("logsBucket", "")
        if not logs_bucket:
            return None
        bucket, _, prefix = logs_bucket.removeprefix("gs://").partition("/")
        if bucket not in world_tables.BUCKETS.rows(world):
            raise buildconfig.invalid(f"logs bucket {logs_bucket} does not exist")
        email = body.get("serviceAccount", "").rsplit("/", 1)[-1]
        if email and not iampolicy.bucket_grants(world, bucket, email, WRITE_ROLES):
            raise buildconfig.invalid(
                f"service account {email} cannot write logs to {logs_bucket} "
                "(it needs roles/storage.objectAdmin or objectUser on the bucket)"
            )
        return [bucket, f"{prefix.strip('/') + '/' if prefix else ''}log-{build_id}.txt"]

    def _fetch(
        self, world: dict, body: dict[str, Any], email: str, build_id: str
    ) -> tuple[bytes | None, str]:
        """The uploaded source (None if it cannot be fetched) and the images' digest.

        The digest is new for every build, as a real `docker build` is not reproducible
        (layers carry timestamps); nothing may rely on two builds of the same source
        pushing the same digest."""
        storage = body.get("source", {}).get("storageSource", {})
        data = None
        if storage and (
            not email
            or iampolicy.bucket_grants(world, storage.get("bucket", ""), email, READ_ROLES)
        ):
            data = read_object(self.store, world, storage.get("bucket", ""), storage["object"])
        config = json.dumps(
            {k: body.get(k) for k in ("steps", "images", "substitutions")}, sort_keys=True
        )
        digest = hashlib.sha256((data or b"") + config.encode() + build_id.encode()).hexdigest()
        return data, f"sha256:{digest}"

    def _run(
        self,
        world: dict,
        build_id: str,
        build: dict[str, Any],
        source: bytes | None,
        digest: str,
        email: str,
        fault: dict[str, Any] | None,
    ) -> Run:
        run = Run([f'starting build "{build_id}"', "", "FETCHSOURCE"])
        storage = build.get("source", {}).get("storageSource", {})
        where = f"gs://{storage.get('bucket')}/{storage.get('object')}"
        if source is None:
            run.failure = f"failed to fetch source {where}: object not found or access denied"
            run.lines += [f"ERROR: {run.failure}"]
            return run
        try:
            with tarfile.open(fileobj=io.BytesIO(source), mode="r:gz") as tar:
                context = {
                    m.name: (tar.extractfile(m) or io.BytesIO()).read()
                    for m in tar.getmembers()
                    if m.isfile()
                }
        except (tarfile.TarError, OSError) as exc:
            run.failure = f"failed to unpack source {where}: {exc}"
            run.lines += [f"ERROR: {run.failure}"]
            return run
        run.lines += [
            f"Fetching storage object: {where}",
            f"Operation completed over 1 objects/{len(source)} B.",
            "BUILD",
        ]
        steps = build.get("steps", [])
        tagged: set[str] = set()

        def resolve(location: str, project_id: str, repo: str, package: str, pin: str | None):
            repository = f"projects/{project_id}/locations/{location}/repositories/{repo}"
            if not iampolicy.project_grants(world, project_id, email, (*PUSH_ROLES, READ_REGISTRY)):
                return "denied: Permission 'artifactregistry.repositories.downloadArtifacts'"
            return pull_problem(world, repository, package, pin)

        for number, step in enumerate(steps):
            label = f"Step #{number}" + (f' - "{step["id"]}"' if step.get("id") else "")
            run.lines += [f"Starting {label}", f"{label}: Already have image: {step['name']}"]
            try:
                if fault is not None and number == len(steps) - 1:
                    raise dockerbuild.StepFailed(fault.get("message", "injected failure"))
                if step["name"].endswith("/docker") and step.get("args", [""])[0] == "build":
                    done = dockerbuild.run(step["args"], context, resolve, digest)
                    run.lines += [f"{label}: {line}" for line in done.lines]
                    tagged.update(done.tags)
                else:
                    run.lines.append(f"{label}: (builder {step['name']} is not simulated)")
            except dockerbuild.StepFailed as exc:
                run.lines += [f"{label}: {line}" for line in str(exc).splitlines()]
                run.lines += [f"Finished {label}", "ERROR"]
                run.failure = (
                    f'build step {number} "{step["name"]}" failed: step exited with '
                    "non-zero status: 1"
                )
                run.lines.append(f"ERROR: {run.failure}")
                return run
            run.lines.append(f"Finished {label}")
        run.lines.append("PUSH")
        missing = [image for image in build.get("images", []) if image not in tagged]
        if missing:
            run.failure = (
                f"failed to find one or more images after execution of build steps: {missing}"
            )
            run.lines.append(f"ERROR: {run.failure}")
            return run
        for image in build.get("images", []):
            found = AR_IMAGE.match(image)
            if found is None:
                run.failure = f"pushing {image}: only Artifact Registry is simulated"
                run.lines.append(f"ERROR: {run.failure}")
                return run
            location, project, repo, package = found.group(1, 2, 3, 4)
            repository = f"projects/{project}/locations/{location}/repositories/{repo}"
            if not iampolicy.project_grants(world, project, email, PUSH_ROLES):
                run.failure = (
                    f"denied: Permission 'artifactregistry.repositories.uploadArtifacts' "
                    f"denied on resource {repository}"
                )
                run.lines.append(f"ERROR: {run.failure}")
                return run
            run.pushes.append((image, repository, package))
            run.lines += [f"Pushing {image}", f"{found.group(5) or 'latest'}: digest: {digest}"]
        run.lines += ["DONE"]
        return run

    def _get_build(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, public(self.find(world, "builds", params["name"])))

    def _list_builds(self, world: dict, params: dict, request: Request) -> Response:
        parent = params["parent"]
        clauses = buildconfig.parse_filter(request.param("filter") or "")
        found = [
            public(build)
            for name, build in self.table(world, "builds").items()
            if name.startswith(parent + "/builds/") and buildconfig.selected(build, clauses)
        ]
        found.sort(key=lambda b: b["createTime"], reverse=True)
        return Response(200, {"builds": found})

    def _cancel_build(self, world: dict, params: dict, request: Request) -> Response:
        build = self.find(world, "builds", params["name"])
        if build["status"] not in TERMINAL:
            self._finish(world, build, "CANCELLED", time.time())
            build["_lines"] = [*build["_lines"][: build["_written"]], "CANCELLED"]
            self._write_log(world, build, len(build["_lines"]))
        return Response(200, public(build))

    # --- time ------------------------------------------------------------------------

    def advance(self, world: dict[str, Any]) -> None:
        now = time.time()
        for build in self.table(world, "builds").values():
            if build["status"] in TERMINAL:
                continue
            if now >= build["_start_at"] and build["status"] == "QUEUED":
                build["status"] = "WORKING"
                build["startTime"] = timestamp(build["_start_at"])
            span = max(build["_done_at"] - build["_start_at"], 1e-9)
            due = (
                len(build["_lines"])
                if now >= build["_done_at"]
                else int(len(build["_lines"]) * max(0.0, now - build["_start_at"]) / span)
            )
            self._write_log(world, build, due)
            if now >= build["_done_at"]:
                outcome = "FAILURE" if build["_failure"] else self._push(world, build)
                self._finish(world, build, outcome, build["_done_at"])
        super().advance(world)

    def _push(self, world: dict[str, Any], build: dict[str, Any]) -> str:
        images = []
        for image, repository, package in build["_pushes"]:
            tag = image.rpartition(":")[2] if ":" in image.rsplit("/", 1)[-1] else "latest"
            problem = push_image(world, repository, package, build["_digest"], tag, 4 << 30)
            if problem:
                build["_failure"] = problem
                return "FAILURE"
            images.append({"name": image, "digest": build["_digest"]})
        if images:
            build["results"] = {"images": images}
            attestors = world_tables.ATTESTORS.rows(world)
            name = f"projects/{build['projectId']}/attestors/{ATTESTOR}"
            attestors.setdefault(
                name,
                {
                    "name": name,
                    "description": "Attests images built by Cloud Build",
                    "updateTime": timestamp(time.time()),
                },
            )
        return "SUCCESS"

    def _finish(self, world: dict, build: dict[str, Any], status: str, at: float) -> None:
        build["status"] = status
        build.setdefault("startTime", timestamp(at))
        build["finishTime"] = timestamp(at)
        if status == "FAILURE":
            build["statusDetail"] = build["_failure"]
            build["failureInfo"] = {"type": "USER_BUILD_STEP", "detail": build["_failure"]}
        operation = operations.records(world, self.service).get(build.get("_operation", ""))
        if operation is None:
            return
        operation["_done_at"] = min(operation["_done_at"], at)
        view = {"@type": TYPE + "Build", **public(build)}
        operation["metadata"] = {"@type": TYPE + "BuildOperationMetadata", "build": view}
        operation["_response"] = view
        if status != "SUCCESS":
            code, http = ("CANCELLED", 499) if status == "CANCELLED" else ("UNKNOWN", 500)
            operation["_failure"] = {
                "code": code,
                "message": f"Build {status.lower()}",
                "status": http,
            }

    def _write_log(self, world: dict[str, Any], build: dict[str, Any], due: int) -> None:
        if build["_logs"] is None or due <= build["_written"]:
            return
        bucket, name = build["_logs"]
        text = "".join(line + "\n" for line in build["_lines"][:due])
        put_object(self.store, world, bucket, name, text.encode(), "text/plain; charset=utf-8")
        build["_written"] = due
