"""The one strict configuration model: every setting, its default and its rule.

Name defaults are templates over `{deployment}`, `{project}`, `{region}` and
`{zone}`; `names.resolve()` renders them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

GCP_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
DOCKER_REFERENCE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[\w][\w.-]{0,127})?$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_NAME = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
CAPACITY_ENTRY = re.compile(
    rf"^(spot|flex-start|reservation:(projects/[a-z][a-z0-9-]{{4,28}}[a-z0-9]/reservations/)?"
    rf"{_NAME}(/reservationBlocks/{_NAME})?)$"
)
"""A reservation is named as GKE's `--reservation` takes it: `NAME`, a block of it
`NAME/reservationBlocks/BLOCK`, or a shared one `projects/OWNER/reservations/NAME`
(https://cloud.google.com/kubernetes-engine/docs/how-to/consuming-reservations)."""

GPU_MACHINES: Mapping[str, tuple[str, int]] = {
    "a3-ultragpu-8g": ("nvidia-h200-141gb", 8),
    "a3-megagpu-8g": ("nvidia-h100-mega-80gb", 8),
    "a3-highgpu-8g": ("nvidia-h100-80gb", 8),
    "a4-highgpu-8g": ("nvidia-b200", 8),
}
"""The accelerator-optimized machine types oasis supports, with the GPU model and the
fixed GPU count each comes with (https://cloud.google.com/compute/docs/gpus): a
node pool must attach exactly that many."""
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
        Field(
            description="GKE version to create the cluster with; unset means the release "
            "channel's default. The channel upgrades it later unless pin_version is set."
        ),
    ] = None
    release_channel: Annotated[
        str, Field(description="Release channel: RAPID, REGULAR, STABLE or EXTENDED.")
    ] = "REGULAR"
    pin_version: Annotated[
        bool,
        Field(
            description="Keep the minor version: a maintenance exclusion of minor and node "
            "upgrades until the version's end of support (as Google's A3 Ultra blueprint)."
        ),
    ] = False
    authorized_networks: Annotated[
        list[str],
        Field(
            description="CIDRs allowed to reach the public endpoint; empty means the "
            "caller's public IP /32, detected at run time."
        ),
    ] = []
    allow_any_ip: Annotated[
        bool,
        Field(
            description="Allow authorized_networks that together span more than a /8, "
            "0.0.0.0/0 among them (also --allow-any-ip)."
        ),
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

    @field_validator("release_channel", mode="after")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value not in ("RAPID", "REGULAR", "STABLE", "EXTENDED"):
            raise ValueError("must be RAPID, REGULAR, STABLE or EXTENDED")
        return value


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
    ] = "v1.1.1"  # container-engine-accelerators gpudirect-rdma, May 2026
    driver: Annotated[str, Field(description="GPU driver version: LATEST or DEFAULT.")] = "LATEST"
    capacity: Annotated[
        list[str],
        Field(
            description='Capacity sources in priority order: "spot", "flex-start", '
            '"reservation:<name>" (or <name>/reservationBlocks/<block>, or '
            "projects/<owner>/reservations/<name> for a shared one; one GPU node pool each)."
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
                    f"unknown entry {entry!r}; use spot, flex-start or reservation:<name> "
                    "(<name>/reservationBlocks/<block>, projects/<owner>/reservations/<name>)"
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
