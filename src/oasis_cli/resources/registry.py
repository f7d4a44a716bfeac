"""Artifact Registry: the Docker and Python repositories of SPEC section 3.

`{d}` (Docker, with cleanup policies), `{d}-docker-hub` (remote: Docker Hub),
`{d}-virtual` over both; `{d}-python`, `{d}-pypi` (remote: PyPI),
`{d}-python-virtual` over both. Upstreams get priority 20 (ours) and 10 (public).
"""

from __future__ import annotations

from typing import Any

from oasis_cli.config.names import Deployment
from oasis_cli.graph import Node
from oasis_cli.resources.base import Kind
from oasis_cli.resources.template import PlainKind

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


class Repository(PlainKind):
    kind = "artifactregistry.repository"
    service, module = "artifactregistry", "google.cloud.artifactregistry_v1"
    client_name, message = "ArtifactRegistryClient", "Repository"
    resource, collection, regional, longrunning = "repository", "repositories", True, True
    output = ("uri", "registry_uri")


KINDS: tuple[Kind, ...] = (Repository(),)
