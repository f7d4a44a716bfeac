"""Loading the configuration: `oasis.toml` < environment `OASIS_<SECTION>_<FIELD>` <
flags (`--set section.field=value`, `--project`, `--deployment`), then the rules that
span fields. Every problem is one line `field: value: rule` (exit code 2).

A file named with `--config` must exist and be TOML text; only the default
`./oasis.toml` may be absent. The file's values are typed as TOML types them and
checked strictly (`count = "8"` is not a number, `allow_any_ip = "no"` not a
boolean); the environment and flags are text and are parsed. An unknown setting
names the nearest known one.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from oasis_cli.config.model import GCP_NAME, GPU_MACHINES, PROJECT_ID, Config, env_name, field_paths
from oasis_cli.config.versions import version_problems
from oasis_cli.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _parse_scalar(raw: str) -> Any:
    text = raw.strip()
    if text.startswith("[") or text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(path)}: {part} is not a section")
        node = child
    node[path[-1]] = value


def _list_value(path: tuple[str, ...], raw: str) -> Any:
    """Lists from env/flags: JSON (`["a","b"]`) or comma-separated (`a,b`)."""
    parsed = _parse_scalar(raw)
    if isinstance(parsed, str) and _is_list_field(path):
        return [item.strip() for item in parsed.split(",") if item.strip()]
    return parsed


def _is_list_field(path: tuple[str, ...]) -> bool:
    model: type[BaseModel] = Config
    for part in path[:-1]:
        annotation = model.model_fields[part].annotation
        assert isinstance(annotation, type)
        model = annotation
    info = model.model_fields.get(path[-1])
    return info is not None and "list" in str(info.annotation)


def read_file(path: Path) -> dict[str, Any]:
    """The file's settings, checked strictly against the model's types."""
    if path.is_dir():
        raise ConfigError(f"--config {path}: is a directory, not a TOML file")
    try:
        text = path.read_bytes().decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path}: not a text file (expected TOML)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror})") from None
    try:
        Config.model_validate(data, strict=True)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where=f"{path}: ")) from None
    return data


def load(
    path: Path | None,
    *,
    required: bool = False,
    environ: Mapping[str, str] | None = None,
    overrides: Iterable[str] = (),
) -> Config:
    """Load and validate the configuration; raises ConfigError with one line per problem.
    `required`: `path` was named by the user, so it must exist."""
    data: dict[str, Any] = {}
    if path is not None and required and not path.exists():
        raise ConfigError(
            f"--config {path}: no such file",
            hint="Name an existing file, or run `oasis init` to write one.",
        )
    if path is not None and path.exists():
        data = read_file(path)
    env = os.environ if environ is None else environ
    for field_path in field_paths():
        raw = env.get(env_name(field_path))
        if raw is not None and raw != "":
            _set_path(data, field_path, _list_value(field_path, raw))
    known = {".".join(p) for p in field_paths()}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"--set {item}: expected section.field=value")
        if key not in known:
            raise ConfigError(f"--set {key}: {unknown(key)}")
        field_path = tuple(key.split("."))
        _set_path(data, field_path, _list_value(field_path, raw))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    _check_cross_field(config)
    return config


def unknown(key: str) -> str:
    """ "unknown setting", with the nearest known one when one is near."""
    known = [".".join(p) for p in field_paths()]
    nearest = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {nearest[0]}?" if nearest else "see `oasis init` for the list"
    return f"unknown setting ({hint})"


def format_validation_error(exc: ValidationError, where: str = "") -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = unknown(loc)
        lines.append(f"{where}{loc}: {err.get('input')!r}: {message}")
    return "\n".join(lines)


OPEN_LIMIT = 2**24
"""More addresses than a /8 (the largest block any one organization holds) in the
authorized networks, counted over their union, is an open control plane: 0.0.0.0/0,
or 0.0.0.0/1 + 128.0.0.0/1, or any set of ranges that adds up past a /8."""


def open_addresses(cidrs: list[str]) -> int:
    """How many addresses the union of `cidrs` covers (overlaps counted once)."""
    networks = [ipaddress.IPv4Network(cidr, strict=False) for cidr in cidrs]
    return sum(n.num_addresses for n in ipaddress.collapse_addresses(networks))


def _check_cross_field(config: Config) -> None:
    problems: list[str] = []
    if not re.fullmatch(r"[a-z]+-[a-z]+\d+", config.region):
        problems.append(f"region: {config.region!r}: not a region name like us-south1")
    if not re.fullmatch(r"[a-z]+-[a-z]+\d+-[a-z]", config.zone) or not config.zone.startswith(
        config.region + "-"
    ):
        problems.append(f"zone: {config.zone!r}: must be a zone of region {config.region}")
    if config.project is not None and not PROJECT_ID.match(config.project):
        problems.append(
            f"project: {config.project!r}: 6-30 lowercase letters, digits or hyphens, "
            "starting with a letter"
        )
    if not GCP_NAME.match(config.deployment) or len(config.deployment) > 20:
        problems.append(
            f"deployment: {config.deployment!r}: lowercase letters, digits and hyphens, "
            "starting with a letter, at most 20 characters (it prefixes every name)"
        )
    gpu = config.gpu
    machine = GPU_MACHINES.get(gpu.machine_type)
    if machine is None:
        problems.append(
            f"gpu.machine_type: {gpu.machine_type!r}: unknown; one of " + ", ".join(GPU_MACHINES)
        )
    else:
        accelerator, count = machine
        if gpu.count != count:
            problems.append(
                f"gpu.count: {gpu.count}: {gpu.machine_type} comes with exactly {count} GPUs"
            )
        if gpu.accelerator != accelerator:
            problems.append(
                f"gpu.accelerator: {gpu.accelerator!r}: {gpu.machine_type} has {accelerator}"
            )
    net = config.network
    ranges = {
        "network.mgmt_cidr": net.mgmt_cidr,
        "network.proxy_cidr": net.proxy_cidr,
        "network.primary_cidr": net.primary_cidr,
        **{f"network.rdma_cidrs[{i}]": cidr for i, cidr in enumerate(net.rdma_cidrs)},
    }
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for key, cidr in ranges.items():
        parsed = ipaddress.IPv4Network(cidr)
        for other_key, other in seen:
            if parsed.overlaps(other):
                problems.append(f"{key}: {cidr!r}: overlaps {other_key} ({other})")
        seen.append((key, parsed))
    opened = open_addresses(config.cluster.authorized_networks)
    if opened > OPEN_LIMIT and not config.cluster.allow_any_ip:
        problems.append(
            f"cluster.authorized_networks: {config.cluster.authorized_networks!r}: together "
            f"they open the control plane to {opened:,} addresses (more than a /8, "
            f"{OPEN_LIMIT:,}: the internet, in effect); pass --allow-any-ip to allow it"
        )
    tag = config.images.upstream.rpartition(":")[2]
    if not tag.startswith(config.ray.version + "-") and tag != config.ray.version:
        problems.append(
            f"images.upstream: {config.images.upstream!r}: its tag must be ray.version "
            f"{config.ray.version} (e.g. rayproject/ray:{config.ray.version}-py312-cu128)"
        )
    if config.cluster.version is not None:
        problems += [
            f"cluster.version: {problem}"
            for problem in version_problems(config.cluster.version, config)
        ]
    if problems:
        raise ConfigError("\n".join(problems))
