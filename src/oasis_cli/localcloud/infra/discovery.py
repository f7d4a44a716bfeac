"""Google's own REST discovery documents as the simulation's source of truth.

`Api.load("compute", "v1")` reads the document shipped offline in
google-api-python-client. `Api.route(method, path)` maps an HTTP request to the
discovery method id (e.g. `compute.networks.insert`) and its path parameters;
`Api.validate(schema, body)` rejects unknown fields, wrong types and unknown enum
values with the messages Google's front end uses.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oasis_cli.localcloud.infra.http import HttpError


class Template:
    """One path template (`/compute/v1/projects/{project}/global/networks/{network}`):
    a cheap test on the path's fixed parts first, then a regex compiled on first use
    (a discovery document has thousands of methods; a process uses a few)."""

    def __init__(self, template: str) -> None:
        self.template = template
        first, last = template.find("{"), template.rfind("}")
        self.prefix = template if first < 0 else template[:first]
        self.suffix = "" if first < 0 else template[last + 1 :]
        self._parts: list[str] | None = None
        self._regex: re.Pattern[str] | None = None

    @property
    def parts(self) -> list[str]:
        """Fixed text and `{parameter}`s, alternating (split on first use)."""
        if self._parts is None:
            self._parts = re.split(r"(\{\+?[A-Za-z0-9_]+\})", self.template)
        return self._parts

    @property
    def literal_chars(self) -> int:
        return sum(len(part) for part in self.parts[::2])

    def match(self, path: str) -> dict[str, str] | None:
        if not (path.startswith(self.prefix) and path.endswith(self.suffix)):
            return None
        parts = self.parts
        slashes, fixed = path.count("/"), sum(part.count("/") for part in parts[::2])
        spans = any(part.startswith("{+") for part in parts[1::2])
        if slashes < fixed or (slashes > fixed and not spans):
            return None  # a {simple} parameter never holds a "/"
        at = len(self.prefix)
        for literal in parts[2:-1:2]:  # the fixed parts between parameters, in order
            at = path.find(literal, at)
            if at < 0:
                return None
            at += len(literal)
        if self._regex is None:
            self._regex = _template_regex(parts)
        found = self._regex.match(path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class Method:
    id: str
    http_method: str
    path: Template  # flatPath, which tells `.../clusters/{id}` from `.../operations/{id}`
    request_schema: str | None
    parameters: dict[str, Any]
    name_path: Template  # path, whose `{+name}` parameters the handlers read
    response_schema: str | None = None


def _documents_dir() -> Path:
    import googleapiclient

    return Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


def _template_regex(parts: list[str]) -> re.Pattern[str]:
    pattern = ""
    for part in parts:
        if part.startswith("{"):
            name = part.strip("{}+")
            body = ".+" if part.startswith("{+") else "[^/:]+"
            pattern += f"(?P<{name}>{body})"
        else:
            pattern += re.escape(part)
    return re.compile(pattern + "$")


class Api:
    """One discovery document: routes and schemas."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.name: str = document["name"]
        self.service_path: str = document.get("servicePath", "")
        self.schemas: dict[str, Any] = document["schemas"]
        self.methods: list[Method] = []
        self._collect(document.get("resources", {}))
        # candidates by (HTTP method, "/" count): a {simple} parameter holds no "/", so
        # only templates with as many can match; {+spanning} ones are tried for any
        self._shaped: dict[tuple[str, int], list[Method]] = {}
        self._spanning: dict[str, list[Method]] = {}
        for method in self.methods:
            template = method.path.template
            if "{+" in template:
                self._spanning.setdefault(method.http_method, []).append(method)
            else:
                key = (method.http_method, template.count("/"))
                self._shaped.setdefault(key, []).append(method)

    @classmethod
    @functools.cache
    def load(cls, name: str, version: str) -> Api:
        path = _documents_dir() / f"{name}.{version}.json"
        return cls(json.loads(path.read_text()))

    def _collect(self, resources: dict[str, Any]) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                base = "/" + self.service_path
                request = method.get("request", {}).get("$ref")
                self.methods.append(
                    Method(
                        id=method["id"],
                        http_method=method["httpMethod"],
                        path=Template(base + method.get("flatPath", method["path"])),
                        request_schema=request,
                        parameters=method.get("parameters", {}),
                        name_path=Template(base + method["path"]),
                        response_schema=method.get("response", {}).get("$ref"),
                    )
                )
            self._collect(resource.get("resources", {}))

    def kind_of(self, schema: str | None) -> str:
        """The `kind` a schema's resources carry (its documented default)."""
        kind = ((self.schemas.get(schema or "") or {}).get("properties") or {}).get("kind") or {}
        return str(kind.get("default", ""))

    def route(self, http_method: str, path: str) -> tuple[Method, dict[str, str]] | None:
        """The method serving this request and its path parameters.

        Matched on `flatPath` (which tells `.../clusters/{id}` from
        `.../operations/{id}`); the `{+name}`-style parameters of `path` are added.
        """
        best: tuple[Method, dict[str, str]] | None = None
        candidates = [
            *self._shaped.get((http_method, path.count("/")), []),
            *self._spanning.get(http_method, []),
        ]
        for method in candidates:
            found = method.path.match(path)
            if found is None:
                continue
            if best is None or method.path.literal_chars > best[0].path.literal_chars:
                best = (method, found)
        if best is not None:
            named = best[0].name_path.match(path)
            if named:
                best[1].update(named)
        return best

    def route_or_404(self, http_method: str, path: str) -> tuple[Method, dict[str, str]]:
        """`route()`, answering Google's 404 for a path no method serves."""
        found = self.route(http_method, path)
        if found is None:
            raise HttpError(404, f"The requested URL {path} was not found.", "notFound")
        return found

    def validate(self, schema: str, value: Any, where: str = "") -> list[str]:
        """Problems with `value` as an instance of `schema`, worded like Google's errors."""
        return self._check({"$ref": schema}, value, where)

    def _check(self, prop: dict[str, Any], value: Any, where: str) -> list[str]:
        if "$ref" in prop:
            prop = self.schemas[prop["$ref"]]
        kind = prop.get("type")
        if value is None:
            return []
        if kind == "object" or "properties" in prop:
            if not isinstance(value, dict):
                return [f"Invalid value at '{where}': expected an object"]
            problems: list[str] = []
            properties = prop.get("properties")
            extra = prop.get("additionalProperties")
            for key, item in value.items():
                child = f"{where}.{key}" if where else key
                if properties is not None and key in properties:
                    problems += self._check(properties[key], item, child)
                elif extra is not None:
                    problems += self._check(extra, item, child)
                elif properties is not None or extra is None:
                    problems.append(
                        f'Invalid JSON payload received. Unknown name "{key}" at '
                        f"'{where}': Cannot find field."
                    )
            return problems
        if kind == "array":
            if not isinstance(value, list):
                return [f"Invalid value at '{where}': expected a list"]
            return [
                p
                for i, item in enumerate(value)
                for p in self._check(prop.get("items", {}), item, f"{where}[{i}]")
            ]
        if kind == "string":
            return self._check_string(prop, value, where)
        if kind == "integer":
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None
            )
            return [] if ok else [f"Invalid value at '{where}' (TYPE_INT), {json.dumps(value)}"]
        if kind == "number":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return [] if ok else [f"Invalid value at '{where}' (TYPE_DOUBLE), {json.dumps(value)}"]
        if kind == "boolean":
            ok = isinstance(value, bool)
            return [] if ok else [f"Invalid value at '{where}' (TYPE_BOOL), {json.dumps(value)}"]
        return []

    @staticmethod
    def _check_string(prop: dict[str, Any], value: Any, where: str) -> list[str]:
        enum = prop.get("enum")
        if enum is not None:
            if isinstance(value, int) and not isinstance(value, bool):
                # GAPIC REST clients send enums as integers (enum-encoding=int).
                return [] if 0 <= value < len(enum) else [_enum_error(where, value)]
            return [] if value in enum else [_enum_error(where, value)]
        if prop.get("format") in ("int64", "uint64"):
            ok = isinstance(value, (int, str)) and re.fullmatch(r"-?\d+", str(value)) is not None
            return [] if ok else [f"Invalid value at '{where}' (TYPE_INT64), {json.dumps(value)}"]
        if not isinstance(value, str):
            return [f"Invalid value at '{where}' (TYPE_STRING), {json.dumps(value)}"]
        return []


def _enum_error(where: str, value: Any) -> str:
    return f"Invalid value at '{where}' (TYPE_ENUM), {json.dumps(value)}"
