"""Artifact Registry repositories: SPEC settings on the simulated cloud, and the
simulation's rejections."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import artifactregistry_v1

from conftest import gapic

PARENT = "projects/oasis-local/locations/us-south1/repositories"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("oasis", {"format": "DOCKER", "mode": "STANDARD_REPOSITORY"}),
        (
            "oasis-docker-hub",
            {
                "format": "DOCKER",
                "mode": "REMOTE_REPOSITORY",
                "remoteRepositoryConfig": {
                    "description": "Docker Hub",
                    "dockerRepository": {"publicRepository": "DOCKER_HUB"},
                },
            },
        ),
        (
            "oasis-virtual",
            {
                "format": "DOCKER",
                "mode": "VIRTUAL_REPOSITORY",
                "virtualRepositoryConfig": {
                    "upstreamPolicies": [
                        {"id": "oasis", "repository": f"{PARENT}/oasis", "priority": 20},
                        {
                            "id": "oasis-docker-hub",
                            "repository": f"{PARENT}/oasis-docker-hub",
                            "priority": 10,
                        },
                    ]
                },
            },
        ),
        ("oasis-python", {"format": "PYTHON", "mode": "STANDARD_REPOSITORY"}),
        (
            "oasis-pypi",
            {
                "format": "PYTHON",
                "mode": "REMOTE_REPOSITORY",
                "remoteRepositoryConfig": {
                    "description": "PyPI",
                    "pythonRepository": {"publicRepository": "PYPI"},
                },
            },
        ),
        (
            "oasis-python-virtual",
            {
                "format": "PYTHON",
                "mode": "VIRTUAL_REPOSITORY",
                "virtualRepositoryConfig": {
                    "upstreamPolicies": [
                        {
                            "id": "oasis-python",
                            "repository": f"{PARENT}/oasis-python",
                            "priority": 20,
                        },
                        {"id": "oasis-pypi", "repository": f"{PARENT}/oasis-pypi", "priority": 10},
                    ]
                },
            },
        ),
    ],
)
def test_repository_has_spec_settings(deployed, name, expected):
    repository = deployed[name]
    assert {key: repository.get(key) for key in expected} == expected
    assert repository["labels"] == {"oasis-deployment": "oasis"}
    assert repository["name"] == f"{PARENT}/{name}"


def test_docker_repository_has_the_cleanup_policies(deployed):
    assert deployed["oasis"]["cleanupPolicies"] == {
        "delete-untagged": {
            "id": "delete-untagged",
            "action": "DELETE",
            "condition": {"tagState": "UNTAGGED"},
        },
        "keep-recent-untagged": {
            "id": "keep-recent-untagged",
            "action": "KEEP",
            "condition": {"tagState": "UNTAGGED", "newerThan": "604800s"},
        },
        "keep-tagged": {"id": "keep-tagged", "action": "KEEP", "condition": {"tagState": "TAGGED"}},
        "keep-minimum-versions": {
            "id": "keep-minimum-versions",
            "action": "KEEP",
            "mostRecentVersions": {"keepCount": 2},
        },
    }


@pytest.fixture
def registry(local_cloud):
    return gapic(local_cloud, artifactregistry_v1.ArtifactRegistryClient, "artifactregistry")


def create(registry, repository_id, **fields):
    operation = registry.create_repository(
        parent="projects/p-test1/locations/us-south1",
        repository_id=repository_id,
        repository=artifactregistry_v1.Repository(**fields),
    )
    return operation.result(timeout=5)


DOCKER = artifactregistry_v1.Repository.Format.DOCKER
PYTHON = artifactregistry_v1.Repository.Format.PYTHON
Mode = artifactregistry_v1.Repository.Mode


def test_remote_repository_needs_an_upstream_of_its_format(registry):
    with pytest.raises(exceptions.BadRequest, match="needs a DOCKER upstream"):
        create(
            registry,
            "hub",
            format_=DOCKER,
            mode=Mode.REMOTE_REPOSITORY,
            remote_repository_config={"python_repository": {"public_repository": "PYPI"}},
        )


def test_virtual_repository_needs_existing_same_format_upstreams(registry):
    create(registry, "py", format_=PYTHON)
    upstream = {
        "id": "py",
        "repository": "projects/p-test1/locations/us-south1/repositories/py",
        "priority": 1,
    }
    with pytest.raises(exceptions.BadRequest, match="same format"):
        create(
            registry,
            "virt",
            format_=DOCKER,
            mode=Mode.VIRTUAL_REPOSITORY,
            virtual_repository_config={"upstream_policies": [upstream]},
        )
    missing = {**upstream, "repository": upstream["repository"] + "-absent"}
    with pytest.raises(exceptions.BadRequest, match="not found"):
        create(
            registry,
            "virt",
            format_=PYTHON,
            mode=Mode.VIRTUAL_REPOSITORY,
            virtual_repository_config={"upstream_policies": [missing]},
        )


def test_upstream_of_a_virtual_repository_cannot_be_deleted(registry):
    create(registry, "py", format_=PYTHON)
    upstream = {
        "id": "py",
        "repository": "projects/p-test1/locations/us-south1/repositories/py",
        "priority": 1,
    }
    create(
        registry,
        "virt",
        format_=PYTHON,
        mode=Mode.VIRTUAL_REPOSITORY,
        virtual_repository_config={"upstream_policies": [upstream]},
    )
    with pytest.raises(exceptions.BadRequest, match="upstream of virtual repository"):
        registry.delete_repository(name=upstream["repository"])


def test_repository_without_format_or_with_bad_id_is_refused(registry):
    with pytest.raises(exceptions.BadRequest, match="format"):
        create(registry, "noformat")
    with pytest.raises(exceptions.BadRequest, match="Invalid repository id"):
        create(registry, "Bad_Id", format_=DOCKER)


def test_duplicate_repository_conflicts(registry):
    create(registry, "dup", format_=DOCKER)
    with pytest.raises(exceptions.Conflict):
        create(registry, "dup", format_=DOCKER)
