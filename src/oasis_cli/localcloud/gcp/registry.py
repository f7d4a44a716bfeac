"""Artifact Registry v1 as the local cloud serves it: standard, remote and virtual
repositories (Docker and Python), with cleanup policies and labels, and the Docker
images that simulated Cloud Build pushes (dockerImages, packages, tags).

Rules kept from Artifact Registry: repository ids are lowercase names, a remote
repository needs an upstream of its own format, a virtual repository's upstreams
must exist in the same location with the same format, and a repository that is a
virtual repository's upstream cannot be deleted. Images are pushed only to standard
Docker repositories; a tag names one image of its package at a time; deleting a
package or a repository deletes its images.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import unquote

from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import HttpError, Request, Response
from oasis_cli.localcloud.infra.rest import Handler, RestService, normalize, public, timestamp

REPOSITORY_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
REMOTE_FIELD = {"DOCKER": "dockerRepository", "PYTHON": "pythonRepository"}
TYPE = "type.googleapis.com/google.devtools.artifactregistry.v1."
CREATE_S = 10.0


class ArtifactRegistry(RestService):
    api_name, api_version, service = "artifactregistry", "v1", "artifactregistry"
    tables = {
        "repositories": "artifactregistry#repository",
        "dockerImages": "artifactregistry#dockerImage",
    }

    def routes(self) -> dict[str, Handler]:
        prefix = "artifactregistry.projects.locations."
        return {
            prefix + "repositories.create": self._create,
            prefix + "repositories.get": self._get,
            prefix + "repositories.list": self._list,
            prefix + "repositories.delete": self._delete,
            prefix + "repositories.dockerImages.list": self._list_images,
            prefix + "repositories.dockerImages.get": self._get_image,
            prefix + "repositories.packages.get": self._get_package,
            prefix + "repositories.packages.list": self._list_packages,
            prefix + "repositories.packages.delete": self._delete_package,
            prefix + "repositories.packages.tags.get": self._get_tag,
            prefix + "repositories.packages.tags.list": self._list_tags,
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

    def _list(self, world: dict, params: dict, request: Request) -> Response:
        found = self.listed(world, "repositories", params["parent"] + "/repositories/")
        return Response(200, {"repositories": found})

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
        images = self.table(world, "dockerImages")
        for image in [key for key in images if key.startswith(name + "/")]:
            images.pop(image)
        parent = name.rsplit("/repositories/", 1)[0]
        return self.operation(
            world,
            request,
            prefix=parent,
            metadata_type=TYPE + "OperationMetadata",
            response={"@type": "type.googleapis.com/google.protobuf.Empty"},
            target=("repositories", name),
        )

    # --- Docker images -------------------------------------------------------------

    def _images(self, world: dict, repository: str, package: str = "") -> list[dict[str, Any]]:
        prefix = f"{repository}/dockerImages/{package + '@' if package else ''}"
        return [
            image
            for key, image in sorted(self.table(world, "dockerImages").items())
            if key.startswith(prefix)
        ]

    def _list_images(self, world: dict, params: dict, request: Request) -> Response:
        self.find(world, "repositories", params["parent"])
        images = [public(image) for image in self._images(world, params["parent"])]
        return Response(200, {"dockerImages": images})

    def _get_image(self, world: dict, params: dict, request: Request) -> Response:
        image = self.table(world, "dockerImages").get(unquote(params["name"]))
        if image is None:
            raise HttpError(404, f"Requested entity was not found: {params['name']}", "notFound")
        return Response(200, public(image))

    def _package(self, world: dict, name: str) -> tuple[str, str, list[dict[str, Any]]]:
        repository, _, package = unquote(name).partition("/packages/")
        self.find(world, "repositories", repository)
        images = self._images(world, repository, package)
        if not images:
            raise HttpError(404, f"Requested entity was not found: {name}", "notFound")
        return repository, package, images

    @staticmethod
    def _package_view(repository: str, package: str, images: list[dict]) -> dict[str, Any]:
        return {
            "name": f"{repository}/packages/{package}",
            "createTime": min(image["uploadTime"] for image in images),
            "updateTime": max(image["updateTime"] for image in images),
        }

    def _get_package(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, self._package_view(*self._package(world, params["name"])))

    def _list_packages(self, world: dict, params: dict, request: Request) -> Response:
        repository = params["parent"]
        self.find(world, "repositories", repository)
        by_package: dict[str, list[dict[str, Any]]] = {}
        for image in self._images(world, repository):
            package = image["name"].split("/dockerImages/")[1].split("@")[0]
            by_package.setdefault(package, []).append(image)
        views = [self._package_view(repository, p, i) for p, i in sorted(by_package.items())]
        return Response(200, {"packages": views})

    def _delete_package(self, world: dict, params: dict, request: Request) -> Response:
        repository, _, images = self._package(world, params["name"])
        for image in images:
            self.table(world, "dockerImages").pop(image["name"])
        return self.operation(
            world,
            request,
            prefix=repository.rsplit("/repositories/", 1)[0],
            metadata_type=TYPE + "OperationMetadata",
            response={"@type": "type.googleapis.com/google.protobuf.Empty"},
            target=None,
        )

    @staticmethod
    def _tags(repository: str, package: str, images: list[dict]) -> list[dict[str, str]]:
        base = f"{repository}/packages/{package}"
        return [
            {"name": f"{base}/tags/{tag}", "version": f"{base}/versions/{image['_digest']}"}
            for image in images
            for tag in image.get("tags", [])
        ]

    def _get_tag(self, world: dict, params: dict, request: Request) -> Response:
        name = unquote(params["name"])
        package_name = name.partition("/tags/")[0]
        for tag in self._tags(*self._package(world, package_name)):
            if tag["name"] == name:
                return Response(200, tag)
        raise HttpError(404, f"Requested entity was not found: {name}", "notFound")

    def _list_tags(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, {"tags": self._tags(*self._package(world, params["parent"]))})


def push_image(
    world: dict[str, Any], repository: str, package: str, digest: str, tag: str, size: int
) -> str | None:
    """Store an image a build pushed; None, or why the registry refused the push."""
    repo = world_tables.REPOSITORIES.rows(world).get(repository)
    if repo is None or not RestService.visible(repo):
        return f"name unknown: Repository {repository} not found"
    if repo.get("format") != "DOCKER" or repo.get("mode") != "STANDARD_REPOSITORY":
        return f"denied: {repository} is not a standard Docker repository"
    images = world_tables.DOCKER_IMAGES.rows(world)
    prefix = f"{repository}/dockerImages/{package}@"
    for key, image in images.items():
        if key.startswith(prefix) and tag in image.get("tags", []):
            image["tags"].remove(tag)  # a tag moves to the image pushed last
    name = prefix + digest
    now = timestamp(time.time())
    previous = images.get(name, {})
    images[name] = {
        "name": name,
        "uri": f"{repo['registryUri']}/{package}@{digest}",
        "tags": sorted({*previous.get("tags", []), tag}),
        "imageSizeBytes": str(size),
        "uploadTime": previous.get("uploadTime", now),
        "buildTime": now,
        "updateTime": now,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "_digest": digest,
    }
    return None


def pull_problem(
    world: dict[str, Any], repository: str, package: str, digest: str | None
) -> str | None:
    """None if `repository/package[@digest]` can be pulled, else the registry's error.
    A virtual repository serves what its upstreams serve; a remote one serves
    anything (its upstream is not simulated)."""
    repo = world_tables.REPOSITORIES.rows(world).get(repository)
    if repo is None or not RestService.visible(repo):
        return f"name unknown: Repository {repository.rsplit('/', 1)[-1]} not found"
    mode = repo.get("mode")
    if mode == "REMOTE_REPOSITORY":
        return None
    if mode == "VIRTUAL_REPOSITORY":
        upstreams = repo.get("virtualRepositoryConfig", {}).get("upstreamPolicies", [])
        problems = [pull_problem(world, u["repository"], package, digest) for u in upstreams]
        return None if None in problems else (problems[0] if problems else "manifest unknown")
    images = world_tables.DOCKER_IMAGES.rows(world)
    prefix = f"{repository}/dockerImages/{package}@"
    found = (
        any(key.startswith(prefix) for key in images)
        if digest is None
        else (prefix + digest in images)
    )
    return None if found else f"manifest unknown: {package}@{digest or 'latest'}"
