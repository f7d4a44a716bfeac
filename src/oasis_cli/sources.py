"""Build contexts packed as `gcloud builds submit` packs them, reproducibly.

A context is a directory with a Dockerfile and a `cloudbuild.yaml`. What is
uploaded leaves out what `.gcloudignore` ignores (gitignore syntax, with
`#!include:FILE`; without one, gcloud's default: `.gcloudignore`, `.git`,
`.gitignore`) and what `.dockerignore` ignores (the Docker build would not see it
anyway). The archive is a gzipped tar with sorted entries and zeroed times and
owners, so equal sources give equal bytes and the same hash.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from oasis_cli.errors import ConfigError

DEFAULT_GCLOUDIGNORE = (".gcloudignore", ".git", ".gitignore")
ALWAYS_UPLOADED = ("Dockerfile", ".dockerignore")  # Docker reads them whatever it ignores


def shipped(*parts: str) -> Path:
    """A directory shipped with oasis (`images/base`, `manifests`): inside the package
    when installed from the wheel, at the top of the source tree otherwise."""
    package = Path(__file__).resolve().parent
    for candidate in (package.joinpath(*parts), package.parents[1].joinpath(*parts)):
        if candidate.is_dir():
            return candidate
    raise ConfigError(
        f"{'/'.join(parts)}: not found beside oasis ({package})",
        hint="Reinstall oasis; for images, images.*_context in oasis.toml can name a directory.",
    )


def builtin_context(name: str) -> Path:
    """`images/{name}` shipped with oasis."""
    return shipped("images", name)


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    negated: bool
    directory_only: bool


def _translate(glob: str) -> str:
    """A gitignore glob (already anchored or not) as a regex over '/'-separated paths."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[":
            end = glob.find("]", i + 1)
            if end < 0:
                out.append(re.escape(glob[i]))
                i += 1
            else:
                body = glob[i + 1 : end].replace("\\", "\\\\")
                out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
                i = end + 1
        elif glob[i] == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def parse_patterns(lines: Iterable[str], *, anchored: bool) -> list[Pattern]:
    """gitignore lines (`anchored=False`) or .dockerignore lines (always from the root)."""
    patterns = []
    for raw in lines:
        line = raw.rstrip("\n").rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:]
        if line.startswith("\\"):
            line = line[1:]
        directory_only = line.endswith("/")
        line = line.strip("/") if anchored else line.rstrip("/")
        if not line:
            continue
        if anchored or "/" in line:
            body = _translate(line.lstrip("/"))
        else:
            body = "(?:.*/)?" + _translate(line)
        patterns.append(Pattern(re.compile(f"^{body}$"), negated, directory_only))
    return patterns


def _read_ignore(directory: Path, name: str, seen: frozenset[Path] = frozenset()) -> list[str]:
    path = directory / name
    if path in seen:
        raise ConfigError(f"{path}: includes itself")
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("#!include:"):
            included = line.removeprefix("#!include:").strip()
            if (directory / included).is_file():
                lines += _read_ignore(directory, included, seen | {path})
        else:
            lines.append(line)
    return lines


@dataclass(frozen=True)
class IgnoreRules:
    """Both ignore files of a context; a path is uploaded unless either ignores it."""

    gcloud: tuple[Pattern, ...]
    docker: tuple[Pattern, ...]

    @classmethod
    def of(cls, context: Path) -> IgnoreRules:
        gcloud_lines: Iterable[str] = DEFAULT_GCLOUDIGNORE
        if (context / ".gcloudignore").is_file():
            gcloud_lines = _read_ignore(context, ".gcloudignore")
        docker_lines: list[str] = []
        if (context / ".dockerignore").is_file():
            docker_lines = (context / ".dockerignore").read_text().splitlines()
        return cls(
            tuple(parse_patterns(gcloud_lines, anchored=False)),
            tuple(parse_patterns(docker_lines, anchored=True)),
        )

    @staticmethod
    def _last_match(patterns: Iterable[Pattern], path: str, is_dir: bool) -> bool:
        ignored = False
        for pattern in patterns:
            if pattern.directory_only and not is_dir:
                continue
            if pattern.regex.match(path):
                ignored = not pattern.negated
        return ignored

    def ignored(self, path: str, is_dir: bool) -> bool:
        if path in ALWAYS_UPLOADED:
            return False
        if self._last_match(self.gcloud, path, is_dir):
            return True
        # Docker matches a pattern against the path and each of its parents.
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(
            self._last_match(self.docker, prefix, is_dir or prefix != path) for prefix in prefixes
        )


def files(context: Path) -> Iterator[str]:
    """Relative paths of the files to upload, sorted; an ignored directory is skipped
    whole (as gcloud and git do)."""
    rules = IgnoreRules.of(context)
    for root, dirs, names in os.walk(context):
        base = Path(root).relative_to(context).as_posix()
        prefix = "" if base == "." else base + "/"
        dirs[:] = sorted(d for d in dirs if not rules.ignored(prefix + d, is_dir=True))
        for name in sorted(names):
            path = prefix + name
            if not rules.ignored(path, is_dir=False) and not Path(root, name).is_symlink():
                yield path


@dataclass(frozen=True)
class Archive:
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def pack(context: Path) -> Archive:
    """The context as a reproducible .tgz (sorted, zero mtimes/owners, 0644/0755)."""
    if not (context / "Dockerfile").is_file():
        raise ConfigError(f"{context}: no Dockerfile in the build context")
    names = tuple(sorted(files(context)))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            path = context / name
            info = tarfile.TarInfo(name)
            info.size = path.stat().st_size
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.mtime = 0
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return Archive(packed.getvalue())
