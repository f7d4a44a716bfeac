"""Where each part of the local cloud keeps its state in the world, named once.

The world is one JSON document, mostly `world[service][table][name] = resource`. A
service reaches its own tables through `RestService.table()`; whatever one part
reads or changes of another's (Cloud Build reading buckets, Compute asking whether a
cluster still uses a subnet, every service's IAM policies) goes through a `Table`
declared here, so no part spells another's keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Table:
    path: tuple[str, ...]

    def rows(self, world: dict[str, Any]) -> dict[str, Any]:
        """The table's entries by name (created empty when absent)."""
        found: dict[str, Any] = world
        for key in self.path:
            found = found.setdefault(key, {})
        return found


def table(*path: str) -> Table:
    return Table(path)


NETWORKS = table("compute", "networks")
SUBNETWORKS = table("compute", "subnetworks")
GLOBAL_ADDRESSES = table("compute", "globalAddresses")
CLUSTERS = table("container", "clusters")
CONNECTIONS = table("servicenetworking", "connections")
WORKER_POOLS = table("cloudbuild", "workerPools")
BUCKETS = table("storage", "buckets")
OBJECTS = table("storage_objects")  # bucket -> object name -> object
SERVICE_ACCOUNTS = table("iam", "serviceAccounts")
POLICIES = table("iam_policies")  # resource name -> IAM policy, of every service
REPOSITORIES = table("artifactregistry", "repositories")
DOCKER_IMAGES = table("artifactregistry", "dockerImages")
ATTESTORS = table("binaryauthorization", "attestors")
KUBERNETES = table("kubernetes")  # cluster path -> its Kubernetes objects
KUBE_PORTS = table("kubernetes_ports")  # cluster path -> its API's port (serve --port)
