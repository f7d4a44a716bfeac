"""The secret `{d}-secrets` (automatic replication), created empty: oasis never
stores, reads or prints secret values."""

from __future__ import annotations

from oasis_cli.config.names import Deployment
from oasis_cli.graph import Node
from oasis_cli.resources.base import Kind
from oasis_cli.resources.template import PlainKind


def secret_nodes(d: Deployment) -> list[Node]:
    spec = {"replication": {"automatic": {}}, "labels": d.label}
    return [Node("secret", "secretmanager.secret", d.names.secret, "global", ("apis",), spec)]


class Secret(PlainKind):
    kind = "secretmanager.secret"
    service, module = "secretmanager", "google.cloud.secretmanager_v1"
    client_name, message = "SecretManagerServiceClient", "Secret"
    resource, collection = "secret", "secrets"


KINDS: tuple[Kind, ...] = (Secret(),)
