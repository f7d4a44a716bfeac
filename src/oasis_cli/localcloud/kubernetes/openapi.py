"""The cluster's OpenAPI documents, as far as kubectl reads them before it writes.

`kubectl apply`/`create` (validation on, the default) first downloads `/openapi/v2`
as protobuf (client-go discovery `OpenAPISchema`: Accept
`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, parsed as gnostic's
`openapi_v2.Document`), then asks whether the server validates fields itself: it
looks for a PATCH operation carrying the object's `x-kubernetes-group-version-kind`
with a `fieldValidation` query parameter, in `/openapi/v3` first and v2 as the
fallback (cli-runtime resource/query_param_verifier_v3.go, fallback_query_param_
verifier.go). Both documents here declare exactly that for every kind the cluster
serves, so kubectl sends `fieldValidation=Strict` and the server's schema checks
(`schemas.py`) answer, as they do on GKE. The documents carry no object schemas.

The v2 protobuf is written by hand: field numbers from gnostic's
openapiv2/OpenAPIv2.proto (Document.swagger 1, info 2, paths 8; Paths.path 2;
NamedPathItem name 1, value 2; PathItem.patch 8; Operation.operation_id 5,
parameters 8, vendor_extension 13; ParametersItem.parameter 1;
Parameter.non_body_parameter 2; NonBodyParameter.query_parameter_sub_schema 3;
QueryParameterSubSchema in 2, name 4, type 6, unique_items 20; NamedAny name 1,
value 2; Any.yaml 2; Info title 1, version 2).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from oasis_cli.localcloud.kubernetes.api import VERSION as SERVER_VERSION
from oasis_cli.localcloud.kubernetes.objects import Kind

# the content type answered to either spelling of the protobuf Accept (kube-openapi
# pkg/handler: the deprecated `...spec.v2@v1.0+protobuf` gets this one too)
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
GVK = "x-kubernetes-group-version-kind"
QUERY_PARAMETERS = ("fieldManager", "fieldValidation", "force", "dryRun")
VERSION = SERVER_VERSION["gitVersion"]


def _group_version(kind: Kind) -> str:
    return f"apis/{kind.group}/{kind.version}" if kind.group else "api/v1"


def _path(kind: Kind) -> str:
    scope = "/namespaces/{namespace}" if kind.namespaced else ""
    return f"/{_group_version(kind)}{scope}/{kind.plural}/{{name}}"


def answer(kinds: list[Kind], path: str, accept: str) -> dict[str, Any] | bytes | None:
    """The document at `path` under /openapi/ (the v2 one as protobuf unless the
    client accepts JSON only); None for a path no document has."""
    if path == "/openapi/v2":
        return (
            v2_document(kinds) if "protobuf" in accept or "json" not in accept else v2_json(kinds)
        )
    if path == "/openapi/v3":
        return v3_index(kinds)
    return v3_document(kinds, path.removeprefix("/openapi/v3/"))


def _gvk(kind: Kind) -> dict[str, str]:
    return {"group": kind.group, "kind": kind.kind, "version": kind.version}


def _operation_id(kind: Kind) -> str:
    scope = "Namespaced" if kind.namespaced else ""
    group = "".join(part.capitalize() for part in (kind.group or "core").split("."))
    return f"patch{group}{kind.version.capitalize()}{scope}{kind.kind}"


# --- v3 ------------------------------------------------------------------------


def v3_index(kinds: list[Kind]) -> dict[str, Any]:
    """`/openapi/v3`: each group-version's document, by a URL with its hash."""
    paths = {}
    for group_version in dict.fromkeys(_group_version(k) for k in kinds):
        document = v3_document(kinds, group_version)
        digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()
        paths[group_version] = {"serverRelativeURL": f"/openapi/v3/{group_version}?hash={digest}"}
    return {"paths": paths}


def _paths(kinds: list[Kind], v3: bool) -> dict[str, Any]:
    """Each kind's PATCH operation, with its GVK and query parameters."""
    parameters = [
        {"name": name, "in": "query", "uniqueItems": True}
        | ({"schema": {"type": "string"}} if v3 else {"type": "string"})
        for name in QUERY_PARAMETERS
    ]
    return {
        _path(kind): {
            "patch": {
                "operationId": _operation_id(kind),
                GVK: _gvk(kind),
                "parameters": parameters,
                "responses": {"200": {"description": "OK"}},
            }
        }
        for kind in kinds
    }


def v3_document(kinds: list[Kind], group_version: str) -> dict[str, Any] | None:
    """`/openapi/v3/{group_version}`; None for a group-version not served."""
    mine = [k for k in kinds if _group_version(k) == group_version]
    if not mine:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION},
        "paths": _paths(mine, v3=True),
        "components": {"schemas": {}},
    }


def v2_json(kinds: list[Kind]) -> dict[str, Any]:
    """`/openapi/v2` for a client that accepts JSON only."""
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": VERSION},
        "paths": _paths(kinds, v3=False),
        "definitions": {},
    }


# --- v2, protobuf ------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes | str) -> bytes:
    """A length-delimited field (a string or an embedded message)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _bool(number: int) -> bytes:
    return _varint(number << 3) + b"\x01"


def v2_document(kinds: list[Kind]) -> bytes:
    """`/openapi/v2` as gnostic's `openapi_v2.Document` protobuf."""
    info = _field(1, "Kubernetes") + _field(2, VERSION)
    parameters = b""
    for name in QUERY_PARAMETERS:
        parameter = _field(2, "query") + _field(4, name) + _field(6, "string") + _bool(20)
        # in NonBodyParameter (3), Parameter (2), ParametersItem (1), Operation.parameters (8)
        for number in (3, 2, 1, 8):
            parameter = _field(number, parameter)
        parameters += parameter
    paths = b""
    for kind in kinds:
        extension = json.dumps(_gvk(kind))  # JSON is YAML
        operation = (
            _field(5, _operation_id(kind))
            + parameters
            + _field(13, _field(1, GVK) + _field(2, _field(2, extension)))
        )
        paths += _field(2, _field(1, _path(kind)) + _field(2, _field(8, operation)))
    return _field(1, "2.0") + _field(2, info) + _field(8, paths)
