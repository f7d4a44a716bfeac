"""A `docker build` step as the simulated Cloud Build runs it: no container runs,
but everything checkable is checked, and the log reads like Docker's.

Checked: the flags (unknown flag, missing tag value), the Dockerfile (present,
parseable, a FROM first), ARG substitution into FROM, base images in Artifact
Registry (the repository exists, a digest-pinned image exists), and COPY/ADD
sources present in the uploaded context. An error ends the step as Docker would.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

REGISTRY_REF = re.compile(
    r"^([a-z0-9-]+)-docker\.pkg\.dev/([^/]+)/([^/]+)/([^@:]+)"
    r"(?::([^@]+))?(?:@(sha256:[0-9a-f]{64}))?$"
)
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
FLAGS_WITH_VALUE = {"-t", "--tag", "-f", "--file", "--build-arg", "--network", "--target"}
FLAGS_ALONE = {"--no-cache", "--pull", "-q", "--quiet", "--rm"}

# Looks an Artifact Registry reference up: None if fine, else Docker's error text.
Resolver = Callable[[str, str, str, str, str | None], str | None]


class StepFailed(Exception):
    """The step exits non-zero; the message is its last log line."""


@dataclass
class DockerRun:
    lines: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def _parse_args(args: list[str]) -> tuple[dict[str, list[str]], str]:
    if not args or args[0] != "build":
        raise StepFailed(f"docker: '{args[0] if args else ''}' is not simulated (only `build`)")
    options: dict[str, list[str]] = {}
    positional: list[str] = []
    rest = iter(args[1:])
    for arg in rest:
        if arg.startswith("-"):
            flag, has_value, value = arg.partition("=")
            if flag in FLAGS_WITH_VALUE:
                if not has_value:
                    value = next(rest, "")
                    if not value:
                        raise StepFailed(f"flag needs an argument: {flag}")
                options.setdefault({"-t": "--tag", "-f": "--file"}.get(flag, flag), []).append(
                    value
                )
            elif flag not in FLAGS_ALONE:
                raise StepFailed(f"unknown flag: {flag}")
        else:
            positional.append(arg)
    if len(positional) != 1:
        raise StepFailed('"docker build" requires exactly 1 argument.')
    return options, positional[0]


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    joined, current = [], ""
    for line in dockerfile.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        joined.append(current)
        current = ""
    if current:
        joined.append(current)
    result = []
    for line in joined:
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def _substitute(text: str, values: dict[str, str]) -> str:
    return VARIABLE.sub(lambda m: values.get(m.group(1) or m.group(2), ""), text)


def run(args: list[str], context: dict[str, bytes], resolve: Resolver, seed: str) -> DockerRun:
    """Simulate `docker build ARGS` over `context` (path -> bytes); raises StepFailed."""
    options, path = _parse_args(args)
    prefix = "" if path in (".", "./") else path.strip("/") + "/"
    dockerfile_name = prefix + options.get("--file", ["Dockerfile"])[-1]
    if dockerfile_name not in context:
        raise StepFailed(
            f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
            f"lstat /workspace/{dockerfile_name}: no such file or directory"
        )
    build_args = dict(arg.partition("=")[::2] for arg in options.get("--build-arg", []))
    steps = _instructions(context[dockerfile_name].decode(errors="replace"))
    if not any(word == "FROM" for word, _ in steps):
        raise StepFailed("failed to solve: no build stage in current context")
    out = DockerRun()
    size = sum(len(data) for data in context.values())
    out.lines.append(f"Sending build context to Docker daemon  {size / 1024:.2f}kB")
    values: dict[str, str] = {}
    count = len(steps)
    for number, (word, rest) in enumerate(steps, start=1):
        out.lines.append(f"Step {number}/{count} : {word} {rest}")
        if word == "ARG":
            name, _, default = rest.partition("=")
            values[name] = build_args.get(name, default.strip('"'))
        elif word == "FROM":
            image = _substitute(rest.split()[0], values)
            if not image:
                raise StepFailed("failed to solve: base name (${...}) should not be blank")
            _check_base(image, resolve)
            out.lines.append(f"Pulling {image}")
        elif word in ("COPY", "ADD"):
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            for source in words[:-1]:
                if "://" in source:
                    continue
                pattern = prefix + _substitute(source, values).lstrip("./")
                if not any(fnmatch.fnmatch(name, pattern) for name in context):
                    raise StepFailed(
                        f"COPY failed: file not found in build context or excluded by "
                        f".dockerignore: stat {source}: file does not exist"
                    )
        elif word == "RUN":
            container = hashlib.sha256(f"{seed}{number}".encode()).hexdigest()[:12]
            out.lines.append(f" ---> Running in {container}")
            out.lines.append(f"Removing intermediate container {container}")
        layer = hashlib.sha256(f"{seed}/{number}".encode()).hexdigest()[:12]
        out.lines.append(f" ---> {layer}")
    image_id = hashlib.sha256(seed.encode()).hexdigest()[:12]
    out.lines.append(f"Successfully built {image_id}")
    for tag in options.get("--tag", []):
        out.tags.append(tag)
        out.lines.append(f"Successfully tagged {tag}")
    return out


def _check_base(image: str, resolve: Resolver) -> None:
    found = REGISTRY_REF.match(image)
    if found is None:
        return  # Docker Hub or another registry: reachable from the pool, not simulated
    location, project, repository, package, digest = (
        found.group(1),
        found.group(2),
        found.group(3),
        found.group(4),
        found.group(6),
    )
    problem = resolve(location, project, repository, package, digest)
    if problem:
        raise StepFailed(f"failed to solve: {image}: {problem}")
