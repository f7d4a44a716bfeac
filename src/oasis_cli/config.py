"""The one strict configuration model and the names derived from it.

Sources, lowest first: `oasis.toml` < environment `OASIS_<SECTION>_<FIELD>` < flags
(`--set section.field=value`, `--project`, `--deployment`). Name defaults are
templates over `{deployment}`, `{project}` and `{region}`/`{zone}`; `resolve()` turns
a validated `Config` into a frozen `Deployment` that computes every name once.

To add a setting: add an annotated field with a description (that text is also the
comment `oasis init` writes), then use it through `Deployment`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from oasis_cli.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GCP_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
DOCKER_REFERENCE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[\w][\w.-]{0,127})?$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
CAPACITY_ENTRY = re.compile(r"^(spot|flex-start|reservation:[a-z]([-a-z0-9]{0,61}[a-z0-9])?)$")

# GPUs per machine for the accelerator-optimized machine types oasis supports.
GPU_MACHINES: Mapping[str, int] = {
    "a3-ultragpu-8g": 8,
    "a3-megagpu-8g": 8,
    "a3-highgpu-8g": 8,
    "a4-highgpu-8g": 8,
}
RDMA_SUBNETS = 8


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class NetworkSettings(Section):
    mgmt_network: Annotated[
        str, Field(description="Management VPC: the cluster's primary network (nic0).")
    ] = "{deployment}-mgmt-net"
    mgmt_subnet: Annotated[str, Field(description="Management subnet.")] = "{deployment}-mgmt-sub"
    mgmt_cidr: Annotated[str, Field(description="Management subnet range.")] = "10.99.0.0/24"
    proxy_subnet: Annotated[
        str, Field(description="Proxy-only subnet for the internal dashboard load balancer.")
    ] = "{deployment}-proxy-only-sub"
    proxy_cidr: Annotated[str, Field(description="Proxy-only subnet range.")] = "10.129.0.0/26"
    primary_network: Annotated[str, Field(description="gVNIC VPC: nic1 on GPU nodes.")] = (
        "{deployment}-primary-net"
    )
    primary_subnet: Annotated[str, Field(description="gVNIC subnet.")] = "{deployment}-primary-sub"
    primary_cidr: Annotated[str, Field(description="gVNIC subnet range.")] = "10.100.100.0/24"
    gvnic_firewall_source_range: Annotated[
        str, Field(description="Source range allowed by the gVNIC VPC's internal firewall.")
    ] = "10.96.0.0/12"
    rdma_network: Annotated[
        str, Field(description="RDMA VPC (RoCE network profile): nic2-nic9 on GPU nodes.")
    ] = "{deployment}-rdma-net"
    rdma_subnet_prefix: Annotated[
        str, Field(description="RDMA subnets are named <prefix>-0 .. <prefix>-7.")
    ] = "{deployment}-rdma-sub"
    rdma_cidrs: Annotated[
        list[str], Field(description="The 8 RDMA subnet ranges, in NIC order.")
    ] = [f"10.101.{i + 1}.0/24" for i in range(RDMA_SUBNETS)]
    rdma_mtu: Annotated[int, Field(description="MTU of the RDMA VPC.", ge=1300, le=8896)] = 8896

    @field_validator(
        "mgmt_cidr", "proxy_cidr", "primary_cidr", "gvnic_firewall_source_range", mode="after"
    )
    @classmethod
    def _cidr(cls, value: str) -> str:
        return _parse_cidr(value)

    @field_validator("rdma_cidrs", mode="after")
    @classmethod
    def _rdma_cidrs(cls, value: list[str]) -> list[str]:
        if len(value) != RDMA_SUBNETS:
            raise ValueError(f"needs exactly {RDMA_SUBNETS} ranges, one per RDMA NIC")
        return [_parse_cidr(v) for v in value]


class ClusterSettings(Section):
    name: Annotated[str, Field(description="GKE cluster name.")] = "{deployment}-h200"
    version: Annotated[
        str | None,
        Field(description="GKE version; unset means the release channel's default."),
    ] = None
    authorized_networks: Annotated[
        list[str],
        Field(
            description="CIDRs allowed to reach the public endpoint; empty means the "
            "caller's public IP /32, detected at run time."
        ),
    ] = []
    allow_any_ip: Annotated[
        bool,
        Field(description="Allow 0.0.0.0/0 in authorized_networks (also --allow-any-ip)."),
    ] = False
    ip_echo_url: Annotated[
        str, Field(description="HTTPS service answering the caller's public IP, for detection.")
    ] = "https://api.ipify.org"
    ip_echo_timeout_s: Annotated[
        float, Field(description="Timeout of the public IP detection.", gt=0)
    ] = 5.0
    default_pool_machine_type: Annotated[
        str, Field(description="Machine type of the default pool (runs the Ray head).")
    ] = "e2-standard-32"

    @field_validator("authorized_networks", mode="after")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return [_parse_cidr(v) for v in value]


class GpuSettings(Section):
    machine_type: Annotated[str, Field(description="GPU node machine type.")] = "a3-ultragpu-8g"
    accelerator: Annotated[str, Field(description="Accelerator type.")] = "nvidia-h200-141gb"
    count: Annotated[int, Field(description="GPUs per node.", ge=1)] = 8
    gib_version: Annotated[
        str,
        Field(
            description="Version of the gIB NCCL plugin image the RDMA installer DaemonSet runs.",
            pattern=r"^v\d+\.\d+\.\d+$",
        ),
    ] = "v1.0.3"
    driver: Annotated[str, Field(description="GPU driver version: LATEST or DEFAULT.")] = "LATEST"
    capacity: Annotated[
        list[str],
        Field(
            description='Capacity sources in priority order: "spot", "flex-start", '
            '"reservation:<name>" (one GPU node pool each).'
        ),
    ] = ["spot", "flex-start"]
    max_nodes: Annotated[int, Field(description="Max GPU nodes per pool.", ge=1, le=1000)] = 10

    @field_validator("capacity", mode="after")
    @classmethod
    def _capacity(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one entry")
        for entry in value:
            if not CAPACITY_ENTRY.match(entry):
                raise ValueError(
                    f"unknown entry {entry!r}; use spot, flex-start or reservation:<name>"
                )
        kinds = [e.split(":")[0] for e in value]
        if len(set(kinds)) != len(kinds):
            raise ValueError("each kind of capacity may appear once")
        return value

    @field_validator("driver", mode="after")
    @classmethod
    def _driver(cls, value: str) -> str:
        if value not in ("LATEST", "DEFAULT"):
            raise ValueError("must be LATEST or DEFAULT")
        return value


class StorageSettings(Section):
    bucket: Annotated[
        str, Field(description="Training data bucket; kept by `oasis down` unless --delete-data.")
    ] = "{project}-{deployment}-data"
    build_bucket: Annotated[
        str,
        Field(description="Staging bucket for build sources and logs; deleted by `oasis down`."),
    ] = "{project}-{deployment}-build"


class IamSettings(Section):
    cluster_service_account: Annotated[
        str, Field(description="Service account of the cluster's nodes.")
    ] = "{deployment}-cluster"
    builder_service_account: Annotated[
        str, Field(description="Service account Cloud Build runs as.")
    ] = "{deployment}-builder"


class RaySettings(Section):
    version: Annotated[str, Field(description="Ray version of the images.")] = "2.48.0"
    cluster_name: Annotated[str, Field(description="RayCluster name.")] = "ray-cluster-ccc"
    service_account: Annotated[
        str, Field(description="Kubernetes service account of the Ray pods.")
    ] = "{deployment}-ray"
    namespace: Annotated[str, Field(description="Kubernetes namespace.")] = "default"
    idle_timeout_s: Annotated[
        int, Field(description="Seconds before an idle Ray worker is scaled down.", ge=0)
    ] = 120


class ImagesSettings(Section):
    upstream: Annotated[
        str,
        Field(description="Docker Hub image ray-base starts FROM (through {deployment}-virtual)."),
    ] = "rayproject/ray:2.48.0-py312-cu128"
    base_context: Annotated[
        str,
        Field(description="Build context of ray-base; empty means images/base shipped with oasis."),
    ] = ""
    server_context: Annotated[
        str,
        Field(
            description="Build context of ray-server (Dockerfile, cloudbuild.yaml, "
            "requirements.txt); empty means images/custom shipped with oasis."
        ),
    ] = ""
    build_timeout_s: Annotated[
        int, Field(description="Cloud Build timeout of one image build.", ge=600, le=86400)
    ] = 3600

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, value: str) -> str:
        if not DOCKER_REFERENCE.match(value):
            raise ValueError("must be a Docker image reference like rayproject/ray:TAG")
        return value


class RunSettings(Section):
    parallelism: Annotated[
        int, Field(description="How many resources are created or deleted at once.", ge=1, le=64)
    ] = 8
    poll_interval_s: Annotated[
        float, Field(description="First poll interval for long-running operations.", gt=0)
    ] = 2.0
    operation_timeout_s: Annotated[
        float, Field(description="Deadline for one long-running operation.", gt=0)
    ] = 3600.0


class Config(Section):
    """Everything `oasis` needs to know about one deployment."""

    deployment: Annotated[
        str, Field(description="Deployment name: prefixes all names and labels everything.")
    ] = "oasis"
    project: Annotated[
        str | None,
        Field(description="Google Cloud project id; unset means ADC / gcloud's default project."),
    ] = None
    region: Annotated[str, Field(description="Region of every regional resource.")] = "us-south1"
    zone: Annotated[str, Field(description="Zone of the GPU nodes; must be in region.")] = (
        "us-south1-b"
    )
    network: Annotated[NetworkSettings, Field(description="The three VPCs.")] = NetworkSettings()
    cluster: Annotated[ClusterSettings, Field(description="The GKE cluster.")] = ClusterSettings()
    gpu: Annotated[GpuSettings, Field(description="GPU node pools.")] = GpuSettings()
    storage: Annotated[StorageSettings, Field(description="Cloud Storage.")] = StorageSettings()
    iam: Annotated[IamSettings, Field(description="Service accounts.")] = IamSettings()
    ray: Annotated[RaySettings, Field(description="Ray on the cluster.")] = RaySettings()
    images: Annotated[ImagesSettings, Field(description="ray-base and ray-server images.")] = (
        ImagesSettings()
    )
    run: Annotated[RunSettings, Field(description="How oasis runs operations.")] = RunSettings()


def _parse_cidr(value: str) -> str:
    try:
        return str(ipaddress.IPv4Network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"not an IPv4 CIDR range ({exc})") from None


# --- loading -------------------------------------------------------------------------


def field_paths(model: type[BaseModel] = Config, prefix: tuple[str, ...] = ()) -> list[tuple]:
    """Every leaf setting as a path tuple, in declaration order."""
    paths: list[tuple] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths.extend(field_paths(annotation, (*prefix, name)))
        else:
            paths.append((*prefix, name))
    return paths


def env_name(path: tuple[str, ...]) -> str:
    return "OASIS_" + "_".join(path).upper()


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


def load(
    path: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Iterable[str] = (),
) -> Config:
    """Load and validate the configuration; raises ConfigError with one line per problem."""
    data: dict[str, Any] = {}
    if path is not None and path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
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
            raise ConfigError(f"--set {key}: unknown setting (see `oasis init` for the list)")
        field_path = tuple(key.split("."))
        _set_path(data, field_path, _list_value(field_path, raw))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    _check_cross_field(config)
    return config


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown setting (see `oasis init` for the list)"
        lines.append(f"{loc}: {err.get('input')!r}: {message}")
    return "\n".join(lines)


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
    expected_gpus = GPU_MACHINES.get(config.gpu.machine_type)
    if expected_gpus is None:
        problems.append(
            f"gpu.machine_type: {config.gpu.machine_type!r}: unknown; one of "
            + ", ".join(GPU_MACHINES)
        )
    elif config.gpu.count > expected_gpus:
        problems.append(
            f"gpu.count: {config.gpu.count}: {config.gpu.machine_type} has {expected_gpus} GPUs"
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
    if "0.0.0.0/0" in config.cluster.authorized_networks and not config.cluster.allow_any_ip:
        problems.append(
            "cluster.authorized_networks: '0.0.0.0/0': opens the control plane to the whole "
            "internet; pass --allow-any-ip to allow it"
        )
    tag = config.images.upstream.rpartition(":")[2]
    if not tag.startswith(config.ray.version + "-") and tag != config.ray.version:
        problems.append(
            f"images.upstream: {config.images.upstream!r}: its tag must be ray.version "
            f"{config.ray.version} (e.g. rayproject/ray:{config.ray.version}-py312-cu128)"
        )
    problems.extend(_version_problems(config))
    if problems:
        raise ConfigError("\n".join(problems))


# GKE minimums for what the platform uses (SPEC section 3).
MINIMUM_VERSIONS = {
    "A3 Ultra RDMA": "1.31.4-gke.1183000",
    "the Ray Operator add-on": "1.30.0-gke.1747000",
    "compute classes": "1.30.3-gke.1451000",
}
FLEX_START_MINIMUM = "1.32.2-gke.1652000"


def gke_version(text: str) -> tuple[int, ...]:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)-gke\.(\d+)", text)
    if match is None:
        raise ValueError(text)
    return tuple(int(part) for part in match.groups())


def _version_problems(config: Config) -> list[str]:
    version = config.cluster.version
    if version is None:
        return []
    return [f"cluster.version: {problem}" for problem in version_problems(version, config)]


def version_problems(version: str, config: Config) -> list[str]:
    """Why a GKE version cannot run this platform (empty when it can)."""
    try:
        wanted = gke_version(version)
    except ValueError:
        return [f"{version!r}: not a GKE version like 1.33.5-gke.1080000"]
    minimums = dict(MINIMUM_VERSIONS)
    if "flex-start" in config.gpu.capacity:
        minimums["flex-start GPU node pools"] = FLEX_START_MINIMUM
    return [
        f"{version!r}: {feature} needs {minimum} or later"
        for feature, minimum in minimums.items()
        if wanted < gke_version(minimum)
    ]


# --- resolved names ------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """A validated config with every name computed once, for one project."""

    config: Config
    project: str
    detected_networks: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.config.deployment

    @property
    def region(self) -> str:
        return self.config.region

    @property
    def zone(self) -> str:
        return self.config.zone

    @property
    def authorized_networks(self) -> list[str]:
        """The control plane's allowed CIDRs: configured, else the detected caller IP."""
        return list(self.config.cluster.authorized_networks or self.detected_networks)

    @property
    def label(self) -> dict[str, str]:
        """Ownership label for resources that have labels."""
        return {"oasis-deployment": self.name}

    @property
    def marker(self) -> str:
        """Ownership marker for resources without labels (kept in their description)."""
        return f"oasis-deployment={self.name}"

    def render(self, template: str) -> str:
        return template.format(
            deployment=self.name, project=self.project, region=self.region, zone=self.zone
        )

    @property
    def rdma_subnets(self) -> list[tuple[str, str]]:
        prefix = self.render(self.config.network.rdma_subnet_prefix)
        return [(f"{prefix}-{i}", cidr) for i, cidr in enumerate(self.config.network.rdma_cidrs)]

    def names(self) -> dict[str, str]:
        """Every GCP resource name the deployment uses, keyed by its config field."""
        net = self.config.network
        names = {
            "network.mgmt_network": net.mgmt_network,
            "network.mgmt_subnet": net.mgmt_subnet,
            "network.proxy_subnet": net.proxy_subnet,
            "network.primary_network": net.primary_network,
            "network.primary_subnet": net.primary_subnet,
            "network.rdma_network": net.rdma_network,
            "cluster.name": self.config.cluster.name,
            "iam.cluster_service_account": self.config.iam.cluster_service_account,
            "iam.builder_service_account": self.config.iam.builder_service_account,
        }
        return {key: self.render(value) for key, value in names.items()}


def resolve(config: Config, project: str) -> Deployment:
    """Bind a project to the config and check every derived name; raises ConfigError."""
    if not PROJECT_ID.match(project):
        raise ConfigError(
            f"project: {project!r}: 6-30 lowercase letters, digits or hyphens, "
            "starting with a letter"
        )
    try:
        deployment = Deployment(config=config, project=project)
        names = deployment.names()
        buckets = {
            "storage.bucket": deployment.render(config.storage.bucket),
            "storage.build_bucket": deployment.render(config.storage.build_bucket),
        }
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"a name template uses an unknown placeholder: {exc}") from None
    problems = []
    rdma = [("network.rdma_subnet_prefix", name) for name, _ in deployment.rdma_subnets]
    for key, value in [*names.items(), *rdma]:
        limit = 30 if key.startswith("iam.") else 63
        if not GCP_NAME.match(value) or len(value) > limit:
            problems.append(
                f"{key}: {value!r}: lowercase letters, digits and hyphens, "
                f"starting with a letter, at most {limit} characters"
            )
    for key, bucket in buckets.items():
        if not BUCKET_NAME.match(bucket) or ".." in bucket or bucket.startswith("goog"):
            problems.append(
                f"{key}: {bucket!r}: 3-63 lowercase letters, digits, dots, hyphens or "
                "underscores, starting and ending with a letter or digit"
            )
    if len(set(buckets.values())) < len(buckets):
        problems.append("storage.build_bucket: must differ from storage.bucket")
    if problems:
        raise ConfigError("\n".join(problems))
    return deployment


# --- oasis init ----------------------------------------------------------------------


def render_init() -> str:
    """A commented `oasis.toml` with every setting at its default."""
    lines = [
        "# oasis configuration. Every setting is shown at its default.",
        "# Precedence: this file < environment OASIS_<SECTION>_<FIELD> < --set section.field=value",
        "# Name templates may use {deployment}, {project}, {region} and {zone}.",
        "",
    ]
    lines.extend(_render_section(Config, Config()))
    return "\n".join(lines).rstrip() + "\n"


def _render_section(model: type[BaseModel], instance: BaseModel) -> list[str]:
    scalars: list[str] = []
    sections: list[str] = []
    for name, info in model.model_fields.items():
        value = getattr(instance, name)
        if isinstance(value, BaseModel):
            sections.append("")
            sections.append(f"# {info.description}")
            sections.append(f"[{name}]")
            sections.extend(_render_section(type(value), value))
            continue
        scalars.append(f"# {info.description}")
        if value is None:
            scalars.append(f"# {name} = ")
        else:
            scalars.append(f"{name} = {_toml_value(value)}")
    return scalars + sections


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


def reference_table() -> str:
    """The configuration reference as a Markdown table (the README embeds it)."""
    lines = ["| setting | default | environment | meaning |", "|---|---|---|---|"]
    for path in field_paths():
        model: Any = Config()
        for part in path[:-1]:
            model = getattr(model, part)
        value = getattr(model, path[-1])
        info = type(model).model_fields[path[-1]]
        if value is None or value == []:
            shown = "(unset)"
        elif isinstance(value, list) and len(value) > 3:
            shown = f"[{_toml_value(value[0])}, …, {_toml_value(value[-1])}]"
        else:
            shown = _toml_value(value)
        lines.append(
            f"| `{'.'.join(path)}` | `{shown}` | `{env_name(path)}` | {info.description} |"
        )
    return "\n".join(lines)
