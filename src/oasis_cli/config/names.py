"""Every name the deployment uses, computed once from a validated config and a project.

`Names` holds each name as a typed attribute, configured (rendered from a template in
the config) or derived (`{d}-mgmt-router`, `{d}-build-pool`, the GPU pools); nothing
else in oasis builds a resource name. `Deployment` binds config, project and names;
`resolve()` makes one and checks every configured name against GCP's rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from oasis_cli.config.model import BUCKET_NAME, GCP_NAME, PROJECT_ID, Config
from oasis_cli.errors import ConfigError

COMPUTE_CLASS = "h200-ccc"
POOL_SUFFIX = {"spot": "spot", "flex-start": "flex", "reservation": "res"}


DASHBOARD_PORT = 8265
"""The Ray dashboard's port: the internal Ingress's backend, the proxies' firewall rule
and `oasis dashboard` all meet there."""
DASHBOARD_SERVICE = "ray-dashboard-service"


@dataclass(frozen=True)
class Names:
    """Resource names of one deployment (`{d}` is the deployment's name)."""

    mgmt_network: str
    mgmt_subnet: str
    proxy_subnet: str
    mgmt_firewall: str
    proxy_firewall: str  # the internal load balancer's proxies -> the dashboard pods
    mgmt_router: str
    mgmt_nat: str
    primary_network: str
    primary_subnet: str
    primary_firewall: str
    primary_router: str
    primary_nat: str
    rdma_network: str
    rdma_subnets: tuple[str, ...]
    cluster: str
    gpu_pools: Mapping[str, str]  # capacity entry -> node pool
    compute_class: str
    cluster_service_account: str
    builder_service_account: str
    bucket: str
    build_bucket: str
    secret: str
    docker: str
    docker_hub: str
    docker_virtual: str
    python: str
    pypi: str
    python_virtual: str
    worker_pool_range: str
    build_pool: str
    ray_service_account: str

    @classmethod
    def of(cls, config: Config, project: str) -> Names:
        """Render the config's templates; a KeyError names an unknown placeholder."""

        def render(template: str) -> str:
            return template.format(
                deployment=config.deployment,
                project=project,
                region=config.region,
                zone=config.zone,
            )

        d, net = config.deployment, config.network
        rdma_prefix = render(net.rdma_subnet_prefix)
        return cls(
            mgmt_network=render(net.mgmt_network),
            mgmt_subnet=render(net.mgmt_subnet),
            proxy_subnet=render(net.proxy_subnet),
            mgmt_firewall=f"{d}-mgmt-internal",
            proxy_firewall=f"{d}-mgmt-allow-proxies",
            mgmt_router=f"{d}-mgmt-router",
            mgmt_nat=f"{d}-mgmt-nat",
            primary_network=render(net.primary_network),
            primary_subnet=render(net.primary_subnet),
            primary_firewall=f"{d}-primary-internal",
            primary_router=f"{d}-primary-router",
            primary_nat=f"{d}-primary-nat",
            rdma_network=render(net.rdma_network),
            rdma_subnets=tuple(f"{rdma_prefix}-{i}" for i in range(len(net.rdma_cidrs))),
            cluster=render(config.cluster.name),
            gpu_pools={
                entry: f"{d}-h200-{POOL_SUFFIX[entry.partition(':')[0]]}"
                for entry in config.gpu.capacity
            },
            compute_class=COMPUTE_CLASS,
            cluster_service_account=render(config.iam.cluster_service_account),
            builder_service_account=render(config.iam.builder_service_account),
            bucket=render(config.storage.bucket),
            build_bucket=render(config.storage.build_bucket),
            secret=f"{d}-secrets",
            docker=d,
            docker_hub=f"{d}-docker-hub",
            docker_virtual=f"{d}-virtual",
            python=f"{d}-python",
            pypi=f"{d}-pypi",
            python_virtual=f"{d}-python-virtual",
            worker_pool_range=f"{d}-worker-pool-range",
            build_pool=f"{d}-build-pool",
            ray_service_account=render(config.ray.service_account),
        )

    def configured(self) -> list[tuple[str, str]]:
        """(setting, name) of every name rendered from a configurable template."""
        return [
            ("network.mgmt_network", self.mgmt_network),
            ("network.mgmt_subnet", self.mgmt_subnet),
            ("network.proxy_subnet", self.proxy_subnet),
            ("network.primary_network", self.primary_network),
            ("network.primary_subnet", self.primary_subnet),
            ("network.rdma_network", self.rdma_network),
            ("cluster.name", self.cluster),
            ("iam.cluster_service_account", self.cluster_service_account),
            ("iam.builder_service_account", self.builder_service_account),
            *(("network.rdma_subnet_prefix", subnet) for subnet in self.rdma_subnets),
        ]


@dataclass(frozen=True)
class Deployment:
    """A validated config with every name computed once, for one project."""

    config: Config
    project: str
    detected_networks: tuple[str, ...] = ()
    names: Names = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", Names.of(self.config, self.project))

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

    @property
    def rdma_subnets(self) -> list[tuple[str, str]]:
        """(name, range) of the RDMA subnets, in NIC order."""
        return list(zip(self.names.rdma_subnets, self.config.network.rdma_cidrs, strict=True))

    def pool_name(self, entry: str) -> str:
        """The GPU node pool of one capacity entry (`spot`, `flex-start`, `reservation:x`)."""
        return self.names.gpu_pools[entry]

    def node_networks(self) -> list[tuple[str, str]]:
        """(VPC, subnet) of the GPU nodes' additional NICs, in NIC order: gVNIC (nic1),
        then RDMA subnets 0..7 (nic2..nic9). Pods' interfaces follow the same order."""
        n = self.names
        return [
            (n.primary_network, n.primary_subnet),
            *((n.rdma_network, s) for s in n.rdma_subnets),
        ]


def resolve(config: Config, project: str) -> Deployment:
    """Bind a project to the config and check every derived name; raises ConfigError."""
    if not PROJECT_ID.match(project):
        raise ConfigError(
            f"project: {project!r}: 6-30 lowercase letters, digits or hyphens, "
            "starting with a letter"
        )
    try:
        deployment = Deployment(config=config, project=project)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"a name template uses an unknown placeholder: {exc}") from None
    names = deployment.names
    problems = []
    for key, value in names.configured():
        limit = 30 if key.startswith("iam.") else 63
        if not GCP_NAME.match(value) or len(value) > limit:
            problems.append(
                f"{key}: {value!r}: lowercase letters, digits and hyphens, "
                f"starting with a letter, at most {limit} characters"
            )
    buckets = {"storage.bucket": names.bucket, "storage.build_bucket": names.build_bucket}
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
