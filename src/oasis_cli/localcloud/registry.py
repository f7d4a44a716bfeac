"""Artifact Registry v1 as the local cloud serves it: standard, remote and virtual
repositories (Docker and Python), with cleanup policies and labels.

Rules kept from Artifact Registry: repository ids are lowercase names, a remote
repository needs an upstream of its own format, a virtual repository's upstreams
must exist in the same location with the same format, and a repository that is a
virtual repository's upstream cannot be deleted.
"""

from __future__ import annotations

import re
import time
from typing import Any

from oasis_cli.localcloud.rest import Handler, RestService, normalize, public, timestamp
from oasis_cli.localcloud.server import HttpError, Request, Response

REPOSITORY_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
REMOTE_FIELD = {"DOCKER": "dockerRepository", "PYTHON": "pythonRepository"}
TYPE = "type.googleapis.com/google.devtools.artifactregistry.v1."
CREATE_S = 10.0


class ArtifactRegistry(RestService):
    api_name, api_version, service = "artifactregistry", "v1", "artifactregistry"
    tables = {"repositories": "artifactregistry#repository"}

    def routes(self) -> dict[str, Handler]:
        prefix = "artifactregistry.projects.locations."
        return {
            prefix + "repositories.create": self._create,
            prefix + "repositories.get": self._get,
            prefix + "repositories.delete": self._delete,
            prefix + "operations.get": self.get_operation,
        }

    def _create(self, world: dict, params: dict, request: Request) -> Response:
        from google.cloud import artifactregistry_v1

        parent = params["parent"]
        repository_id = request.param("repositoryId") or ""
        if not REPOSITORY_ID.match(repository_id):
            raise HttpError(400, f"Invalid repository id: '{repository_id}'")
        body = normalize(artifactregistry_v1.Repository, request.body or {}, "repository")
        name = f"{parent}/repositories/{repository_id}"
        self._check(world, parent, body)
        now = timestamp(time.time())
        location = parent.split("/")[3]
        project = parent.split("/")[1]
        host = (
            f"{location}-docker.pkg.dev"
            if body["format"] == "DOCKER"
            else f"{location}-python.pkg.dev"
        )
        repository = {
            **body,
            "name": name,
            "createTime": now,
            "updateTime": now,
            "registryUri": f"{host}/{project}/{repository_id}",
        }
        self.add(world, "repositories", name, repository, CREATE_S)
        return self.operation(
            world,
            request,
            prefix=parent,
            metadata_type=TYPE + "OperationMetadata",
            response={"@type": TYPE + "Repository", **public(repository)},
            target=("repositories", name),
        )

    def _check(self, world: dict, parent: str, body: dict[str, Any]) -> None:
        repo_format = body.get("format")
        if repo_format not in ("DOCKER", "PYTHON", "MAVEN", "NPM", "APT", "YUM", "GO"):
            raise HttpError(400, "Repository format must be specified.")
        mode = body.setdefault("mode", "STANDARD_REPOSITORY")
        if mode == "REMOTE_REPOSITORY":
            remote = body.get("remoteRepositoryConfig", {})
            if REMOTE_FIELD.get(repo_format) not in remote:
                raise HttpError(
                    400, f"A remote {repo_format} repository needs a {repo_format} upstream."
                )
        elif "remoteRepositoryConfig" in body:
            raise HttpError(400, "remoteRepositoryConfig is only valid for remote repositories.")
        if mode == "VIRTUAL_REPOSITORY":
            upstreams = body.get("virtualRepositoryConfig", {}).get("upstreamPolicies", [])
            if not upstreams:
                raise HttpError(400, "A virtual repository needs at least one upstream policy.")
            for upstream in upstreams:
                target = self.table(world, "repositories").get(upstream.get("repository", ""))
                if target is None or not self.visible(target):
                    raise HttpError(
                        400, f"Upstream repository {upstream.get('repository')} not found."
                    )
                if not upstream["repository"].startswith(parent + "/"):
                    raise HttpError(400, "Upstream repositories must be in the same location.")
                if target.get("format") != repo_format:
                    raise HttpError(400, "Upstream repositories must have the same format.")
        elif "virtualRepositoryConfig" in body:
            raise HttpError(400, "virtualRepositoryConfig is only valid for virtual repositories.")
        for key, policy in body.get("cleanupPolicies", {}).items():
            if policy.get("id") != key:
                raise HttpError(400, f"Cleanup policy key {key} must equal its id.")
            if policy.get("action") not in ("DELETE", "KEEP"):
                raise HttpError(400, f"Cleanup policy {key} needs an action DELETE or KEEP.")
            if ("condition" in policy) == ("mostRecentVersions" in policy):
                raise HttpError(
                    400, f"Cleanup policy {key} needs a condition or mostRecentVersions."
                )

    def _get(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, public(self.find(world, "repositories", params["name"])))

    def _delete(self, world: dict, params: dict, request: Request) -> Response:
        name = params["name"]
        for other_name, other in self.table(world, "repositories").items():
            upstreams = other.get("virtualRepositoryConfig", {}).get("upstreamPolicies", [])
            if any(u.get("repository") == name for u in upstreams):
                raise HttpError(
                    400,
                    f"Repository {name} is an upstream of virtual repository {other_name}.",
                    "failedPrecondition",
                )
        self.remove(world, "repositories", name, CREATE_S / 2)
        parent = name.rsplit("/repositories/", 1)[0]
        return self.operation(
            world,
            request,
            prefix=parent,
            metadata_type=TYPE + "OperationMetadata",
            response={"@type": "type.googleapis.com/google.protobuf.Empty"},
            target=("repositories", name),
        )
