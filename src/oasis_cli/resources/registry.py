"""Artifact Registry: the Docker and Python repositories of SPEC section 3.

`{d}` (Docker, with cleanup policies), `{d}-docker-hub` (remote: Docker Hub),
`{d}-virtual` over both; `{d}-python`, `{d}-pypi` (remote: PyPI),
`{d}-python-virtual` over both. Upstreams get priority 20 (ours) and 10 (public).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.gcp.errors import api_errors, transient_retry
from oasis_cli.gcp.messages import to_message, to_plain
from oasis_cli.gcp.waiter import wait_longrunning
from oasis_cli.graph import Node
from oasis_cli.resources.base import Kind, OnOperation, fetch, labelled, remove_longrunning

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud

CLEANUP_POLICIES = {
    "delete-untagged": {
        "id": "delete-untagged",
        "action": "DELETE",
        "condition": {"tag_state": "UNTAGGED"},
    },
    "keep-recent-untagged": {
        "id": "keep-recent-untagged",
        "action": "KEEP",
        "condition": {"tag_state": "UNTAGGED", "newer_than": "604800s"},
    },
    "keep-tagged": {"id": "keep-tagged", "action": "KEEP", "condition": {"tag_state": "TAGGED"}},
    "keep-minimum-versions": {
        "id": "keep-minimum-versions",
        "action": "KEEP",
        "most_recent_versions": {"keep_count": 2},
    },
}


def registry_nodes(d: Deployment) -> list[Node]:
    def repo(key: str, name: str, deps: tuple[str, ...], **spec: Any) -> Node:
        return Node(
            key,
            "artifactregistry.repository",
            name,
            d.region,
            ("apis", *deps),
            {"labels": d.label, **spec},
        )

    def virtual(ours: str, public: str) -> dict[str, Any]:
        parent = f"projects/{d.project}/locations/{d.region}/repositories"
        return {
            "upstream_policies": [
                {"id": ours, "repository": f"{parent}/{ours}", "priority": 20},
                {"id": public, "repository": f"{parent}/{public}", "priority": 10},
            ]
        }

    n = d.names
    return [
        repo(
            "registry:docker",
            n.docker,
            (),
            format_="DOCKER",
            mode="STANDARD_REPOSITORY",
            cleanup_policies=CLEANUP_POLICIES,
        ),
        repo(
            "registry:docker-hub",
            n.docker_hub,
            (),
            format_="DOCKER",
            mode="REMOTE_REPOSITORY",
            remote_repository_config={
                "description": "Docker Hub",
                "docker_repository": {"public_repository": "DOCKER_HUB"},
            },
        ),
        repo(
            "registry:docker-virtual",
            n.docker_virtual,
            ("registry:docker", "registry:docker-hub"),
            format_="DOCKER",
            mode="VIRTUAL_REPOSITORY",
            virtual_repository_config=virtual(n.docker, n.docker_hub),
        ),
        repo("registry:python", n.python, (), format_="PYTHON", mode="STANDARD_REPOSITORY"),
        repo(
            "registry:pypi",
            n.pypi,
            (),
            format_="PYTHON",
            mode="REMOTE_REPOSITORY",
            remote_repository_config={
                "description": "PyPI",
                "python_repository": {"public_repository": "PYPI"},
            },
        ),
        repo(
            "registry:python-virtual",
            n.python_virtual,
            ("registry:python", "registry:pypi"),
            format_="PYTHON",
            mode="VIRTUAL_REPOSITORY",
            virtual_repository_config=virtual(n.python, n.pypi),
        ),
    ]


class Repository(Kind):
    kind = "artifactregistry.repository"

    def _client(self, cloud: Cloud) -> Any:
        return cloud.client(
            "artifactregistry", "google.cloud.artifactregistry_v1", "ArtifactRegistryClient"
        )

    @staticmethod
    def _parent(cloud: Cloud, node: Node) -> str:
        return f"projects/{cloud.project}/locations/{node.location}"

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        name = f"{self._parent(cloud, node)}/repositories/{node.name}"
        retry = transient_retry(cloud.poll.initial_s)
        return fetch(node, lambda: self._client(cloud).get_repository(name=name, retry=retry))

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        return labelled(observed.get("labels"), node.spec["labels"])

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        return {"uri": observed.get("registry_uri", "")}

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        from google.api_core import exceptions
        from google.cloud import artifactregistry_v1

        repository = to_message(artifactregistry_v1.Repository, node.spec)
        with api_errors(f"{node.key} ({node.name})"):
            try:
                operation = self._client(cloud).create_repository(
                    parent=self._parent(cloud, node),
                    repository_id=node.name,
                    repository=repository,
                )
            except exceptions.AlreadyExists as exc:
                return self.outputs(self.adopt_existing(cloud, node, exc))
            on_operation(operation.operation.name)
            return self.outputs(to_plain(wait_longrunning(cloud, operation)))

    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None:
        name = f"{self._parent(cloud, node)}/repositories/{node.name}"
        remove_longrunning(
            cloud, node, lambda: self._client(cloud).delete_repository(name=name), on_operation
        )
