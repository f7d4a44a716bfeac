"""The images `ray-base` and `ray-server`, built by Cloud Build on the private pool.

Each image is a node: its context is packed reproducibly (`sources`), and the
build's identity is the hash of that archive and of the resolved build request
(for ray-server that includes the ray-base digest the ledger recorded). The image
is tagged `src-<identity>` in `{d}`, so "is this build done?" is one tag lookup,
which is also how a crashed run finds its image again. A build is submitted once
per identity: a build with that tag still running is followed, not repeated.
`down` deletes the package (every version of the image) before its repository.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.errors import CloudError, ConfigError
from oasis_cli.gcp.errors import api_errors, transient_retry
from oasis_cli.graph import Node
from oasis_cli.resources import builds
from oasis_cli.resources.base import (
    Change,
    Converging,
    Kind,
    OnOperation,
    fetch,
    remove_longrunning,
)
from oasis_cli.resources.iam import email
from oasis_cli.sources import builtin_context, pack

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud

# which, package, config field, built-in context
IMAGES = (
    ("base", "ray-base", "base_context", "base"),
    ("server", "ray-server", "server_context", "custom"),
)
CONFIG_FILE = "cloudbuild.yaml"


def image_nodes(d: Deployment, config_dir: Path, *, force: bool = False) -> list[Node]:
    """Both image nodes, with their contexts packed and build configs checked."""
    host = f"{d.region}-docker.pkg.dev/{d.project}"
    bucket = d.names.build_bucket
    builder = email(d.project, d.names.builder_service_account)
    provided = {
        "base": {
            "_REGISTRY": f"{host}/{d.names.docker}",
            "_VIRTUAL_REGISTRY": f"{host}/{d.names.docker_virtual}",
            "_RAY_IMAGE": d.config.images.upstream,
        },
        "server": {
            "_REGISTRY": f"{host}/{d.names.docker}",
            "_BASE_IMAGE": "",  # the recorded ray-base digest, at run time
            "_PIP_INDEX_URL": f"https://{d.region}-python.pkg.dev/{d.project}/"
            f"{d.names.python_virtual}/simple/",
        },
    }
    common = ("apis", "registry:docker", "bucket:build", "iam:build-bucket", "iam:project")
    deps = {
        "base": (*common, "registry:docker-virtual", "buildpool", "sa:builder"),
        "server": (*common, "registry:python-virtual", "buildpool", "sa:builder", "image:base"),
    }
    nodes = []
    for which, package, field, builtin in IMAGES:
        configured = getattr(d.config.images, field)
        context = (config_dir / configured) if configured else builtin_context(builtin)
        context = context.resolve()
        build = load_build_config(context, f"images.{field}", provided[which])
        archive = pack(context)
        spec = {
            "context": str(context),
            "source_hash": archive.sha256,
            "build": build,
            "substitutions": {
                key: value for key, value in provided[which].items() if _uses(build, key)
            },
            "bucket": bucket,
            "pool": f"projects/{d.project}/locations/{d.region}/workerPools/{d.names.build_pool}",
            "service_account": f"projects/{d.project}/serviceAccounts/{builder}",
            "timeout_s": d.config.images.build_timeout_s,
            "labels": [f"oasis-{d.name}"],
            "force": force,
        }
        inputs = {"base_image": ("image:base", "ref")} if which == "server" else {}
        nodes.append(
            Node(
                f"image:{which}",
                "cloudbuild.image",
                f"{d.names.docker}/{package}",
                d.region,
                deps[which],
                spec,
                inputs=inputs,
            )
        )
    return nodes


def _uses(build: Mapping[str, Any], key: str) -> bool:
    text = json.dumps(build)
    return f"${key}" in text or f"${{{key}}}" in text


def load_build_config(context: Path, where: str, provided: Mapping[str, str]) -> dict[str, Any]:
    """`cloudbuild.yaml` of a context, checked before any API call: YAML, the fields of
    a Cloud Build request, and only substitutions oasis provides."""
    import re

    import yaml
    from google.cloud.devtools import cloudbuild_v1
    from google.protobuf import json_format

    path = context / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{where}: {context}: no {CONFIG_FILE} in the build context")
    try:
        build = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(build, dict) or not build.get("steps"):
        raise ConfigError(f"{path}: a Cloud Build config needs `steps`")
    if not build.get("images"):
        raise ConfigError(f"{path}: `images` must list the image the build pushes")
    try:
        json_format.ParseDict(build, cloudbuild_v1.Build.pb()(), ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    available = {*provided, "_TAG"}
    for key in sorted(set(re.findall(r"\$\{?(_[A-Z0-9_]+)", json.dumps(build)))):
        if key not in available:
            raise ConfigError(
                f"{path}: uses substitution {key}, which oasis does not provide "
                f"(it provides {', '.join(sorted(available))})"
            )
    return build


class Image(Converging):
    kind = "cloudbuild.image"

    def _registry(self, cloud: Cloud) -> Any:
        return cloud.client(
            "artifactregistry", "google.cloud.artifactregistry_v1", "ArtifactRegistryClient"
        )

    def _builds(self, cloud: Cloud) -> Any:
        return cloud.client("cloudbuild", "google.cloud.devtools.cloudbuild_v1", "CloudBuildClient")

    @staticmethod
    def _parent(cloud: Cloud, node: Node) -> str:
        return f"projects/{cloud.project}/locations/{node.location}"

    def _package(self, cloud: Cloud, node: Node) -> str:
        repository, package = node.name.split("/", 1)
        return f"{self._parent(cloud, node)}/repositories/{repository}/packages/{package}"

    def _uri(self, cloud: Cloud, node: Node) -> str:
        return f"{node.location}-docker.pkg.dev/{cloud.project}/{node.name}"

    def request(self, node: Node, tag: str = "") -> dict[str, Any] | None:
        """The Cloud Build request (JSON names) without its source, or None while an
        input (the ray-base digest) is not recorded yet."""
        spec = node.spec
        if "build" not in spec:
            return None  # known from the ledger only
        substitutions = dict(spec["substitutions"])
        if "_BASE_IMAGE" in substitutions:
            if not spec.get("base_image"):
                return None
            substitutions["_BASE_IMAGE"] = spec["base_image"]
        if tag and _uses(spec["build"], "_TAG"):
            # Cloud Build refuses a substitution its config does not use ("key in the
            # substitution data is not matched in the template"); oasis needs no tag: it
            # records the digest the build pushed.
            substitutions["_TAG"] = tag
        options = {**spec["build"].get("options", {}), "pool": {"name": spec["pool"]}}
        options.setdefault("logging", "GCS_ONLY")
        return {
            **spec["build"],
            "substitutions": substitutions,
            "options": options,
            "logsBucket": f"gs://{spec['bucket']}/logs",
            "serviceAccount": spec["service_account"],
            "timeout": f"{spec['timeout_s']}s",
        }

    def tag(self, node: Node) -> str | None:
        """`src-<identity>`: the hash of the sources and the resolved request."""
        import hashlib

        request = self.request(node)
        if request is None:
            return None
        identity = json.dumps(
            {"source": node.spec["source_hash"], "build": request}, sort_keys=True
        )
        return "src-" + hashlib.sha256(identity.encode()).hexdigest()[:16]

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        registry, retry = self._registry(cloud), transient_retry(cloud.poll.initial_s)
        package = self._package(cloud, node)
        if fetch(node, lambda: registry.get_package(name=package, retry=retry)) is None:
            # nothing pushed yet; a build an interrupted run left running is still ours
            with api_errors(f"{node.key} ({node.name})"):
                parent = self._parent(cloud, node)
                running = builds.running_for(
                    cloud, self._builds(cloud), parent, self._uri(cloud, node)
                )
            return {"package": package, "running_builds": running} if running else None
        tag = self.tag(node)
        found = None
        if tag is not None:
            name = f"{package}/tags/{tag}"
            found = fetch(node, lambda: registry.get_tag(name=name, retry=retry))
        digest = found["version"].rsplit("/", 1)[-1] if found else None
        return {"package": package, "tag": tag if found else None, "digest": digest}

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return True  # a package oasis names, in a repository the deployment owns

    def compare(self, node: Node, observed: Mapping[str, Any]) -> list[Change]:
        if "build" not in node.spec:
            return []
        if node.spec.get("force"):
            return [Change("rebuild", "--force", self.tag(node) or "")]
        if observed.get("digest") is None:
            return [Change("tag", "(sources changed)", self.tag(node) or "(after ray-base)")]
        return []

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        digest = observed.get("digest")
        if not digest:
            return {}
        project, location, repository, package = _parts(observed["package"])
        image = f"{location}-docker.pkg.dev/{project}/{repository}/{package}"
        return {
            "image": image,
            "digest": digest,
            "ref": f"{image}@{digest}",
            "tag": observed["tag"],
        }

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        return self._build(cloud, node, on_operation)

    def _build(self, cloud: Cloud, node: Node, on_operation: OnOperation) -> dict[str, Any]:
        from google.cloud.devtools import cloudbuild_v1

        where = f"{node.key} ({node.name})"
        tag = self.tag(node)
        request = self.request(node, tag or "")
        if tag is None or request is None:
            raise CloudError(where, "ray-base has no recorded digest", hint="Build ray-base first.")
        archive = pack(Path(node.spec["context"]))
        if archive.sha256 != node.spec["source_hash"]:
            raise CloudError(where, "the build context changed while oasis ran; run it again")
        bucket = node.spec["bucket"]
        source = f"source/{node.name.split('/')[-1]}-{tag}.tgz"
        parent = self._parent(cloud, node)
        client = self._builds(cloud)
        with api_errors(where):
            builds.upload(cloud, bucket, source, archive.data)
            running = builds.running(cloud, client, parent, tag)
            if running is None:
                request = {
                    **request,
                    "source": {"storageSource": {"bucket": bucket, "object": source}},
                    "tags": ["oasis", *node.spec["labels"], tag],
                }
                build = cloudbuild_v1.Build.from_json(json.dumps(request))
                name = builds.submit(cloud, client, parent, build, tag)
            else:
                name = running
            on_operation(name)
            latest = builds.follow(cloud, client, name, on_operation, node.spec["timeout_s"])
        uri = self._uri(cloud, node)
        pushed = latest.get("results", {}).get("images", [])
        images = [image for image in pushed if image["name"].startswith(uri)]
        if not images:
            raise CloudError(where, f"build {latest['id']} pushed no image {uri}")
        digest = images[0]["digest"]
        return {
            "image": uri,
            "digest": digest,
            "ref": f"{uri}@{digest}",
            "tag": tag,
            "source_hash": node.spec["source_hash"],
            "build": latest["id"],
            "log_url": latest.get("log_url", ""),
        }

    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None:
        """Cancel what still builds this image (a killed `up --all`'s), then delete it."""
        parent = self._parent(cloud, node)
        client = self._builds(cloud)
        with api_errors(f"{node.key} ({node.name})"):
            builds.cancel(
                cloud, client, builds.running_for(cloud, client, parent, self._uri(cloud, node))
            )
        package, retry = self._package(cloud, node), transient_retry(cloud.poll.initial_s)
        remove_longrunning(
            cloud,
            node,
            lambda: self._registry(cloud).delete_package(name=package, retry=retry),
            on_operation,
        )


def _parts(package: str) -> tuple[str, str, str, str]:
    parts = package.split("/")
    return parts[1], parts[3], parts[5], parts[7]


KINDS: tuple[Kind, ...] = (Image(),)
