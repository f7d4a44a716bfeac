"""The three VPCs of SPEC section 3: their nodes and their kinds.

Management VPC (cluster nic0): subnet with Private Google Access, proxy-only subnet,
internal firewall, the proxies' firewall, router + NAT. gVNIC VPC (nic1): subnet,
firewall, router + NAT.
RDMA VPC (nic2-9): RoCE network profile, MTU 8896, 8 subnets, no firewall, no NAT.
"""

from __future__ import annotations

from typing import Any

from oasis_cli.config.names import DASHBOARD_PORT, Deployment
from oasis_cli.graph import Node
from oasis_cli.resources.base import Kind
from oasis_cli.resources.compute import ComputeKind


def network_nodes(d: Deployment) -> list[Node]:
    names = d.names
    net = d.config.network
    mgmt, primary, rdma = (
        names.mgmt_network,
        names.primary_network,
        names.rdma_network,
    )
    nodes = [
        _network(d, "network:mgmt", mgmt),
        _subnet(
            d,
            "subnet:mgmt",
            names.mgmt_subnet,
            "network:mgmt",
            mgmt,
            net.mgmt_cidr,
            private_ip_google_access=True,
        ),
        _subnet(
            d,
            "subnet:proxy-only",
            names.proxy_subnet,
            "network:mgmt",
            mgmt,
            net.proxy_cidr,
            purpose="REGIONAL_MANAGED_PROXY",
            role="ACTIVE",
        ),
        _firewall(d, "firewall:mgmt", names.mgmt_firewall, "network:mgmt", mgmt, net.mgmt_cidr),
        # The internal Ingress's load balancer reaches the dashboard pods from the
        # proxy-only subnet; GKE's how-to has you create this allow rule on the backend's
        # container port, as the Ingress controller does not (https://cloud.google.com/
        # kubernetes-engine/docs/how-to/internal-load-balance-ingress).
        _firewall(
            d,
            "firewall:proxies",
            names.proxy_firewall,
            "network:mgmt",
            mgmt,
            net.proxy_cidr,
            allowed=[{"I_p_protocol": "tcp", "ports": [str(DASHBOARD_PORT)]}],
        ),
        _router(d, "router:mgmt", names.mgmt_router, names.mgmt_nat, "network:mgmt", mgmt),
        _network(d, "network:primary", primary),
        _subnet(
            d,
            "subnet:primary",
            names.primary_subnet,
            "network:primary",
            primary,
            net.primary_cidr,
            private_ip_google_access=True,
        ),
        _firewall(
            d,
            "firewall:primary",
            names.primary_firewall,
            "network:primary",
            primary,
            net.gvnic_firewall_source_range,
        ),
        _router(
            d,
            "router:primary",
            names.primary_router,
            names.primary_nat,
            "network:primary",
            primary,
        ),
        _network(
            d,
            "network:rdma",
            rdma,
            mtu=net.rdma_mtu,
            network_profile=f"projects/{d.project}/global/networkProfiles/{d.zone}-vpc-roce",
        ),
    ]
    for i, (name, cidr) in enumerate(d.rdma_subnets):
        nodes.append(_subnet(d, f"subnet:rdma-{i}", name, "network:rdma", rdma, cidr))
    return nodes


def _link(d: Deployment, network: str) -> str:
    return f"projects/{d.project}/global/networks/{network}"


def _network(d: Deployment, key: str, name: str, **settings: Any) -> Node:
    spec = {
        "name": name,
        "description": d.marker,
        "auto_create_subnetworks": False,
        "routing_config": {"routing_mode": "REGIONAL"},
        **settings,
    }
    return Node(key, "compute.network", name, "global", ("apis",), spec)


def _subnet(
    d: Deployment, key: str, name: str, dep: str, network: str, cidr: str, **settings: Any
) -> Node:
    spec = {
        "name": name,
        "description": d.marker,
        "network": _link(d, network),
        "ip_cidr_range": cidr,
        **settings,
    }
    return Node(key, "compute.subnetwork", name, d.region, (dep,), spec)


def _firewall(
    d: Deployment,
    key: str,
    name: str,
    dep: str,
    network: str,
    source: str,
    allowed: list[dict[str, Any]] | None = None,
) -> Node:
    """An ingress allow rule from `source` (all protocols unless `allowed` says)."""
    spec = {
        "name": name,
        "description": d.marker,
        "network": _link(d, network),
        "direction": "INGRESS",
        "priority": 1000,
        "source_ranges": [source],
        "allowed": allowed or [{"I_p_protocol": "all"}],
    }
    return Node(key, "compute.firewall", name, "global", (dep,), spec)


def _router(d: Deployment, key: str, name: str, nat: str, dep: str, network: str) -> Node:
    spec = {
        "name": name,
        "description": d.marker,
        "network": _link(d, network),
        "nats": [
            {
                "name": nat,
                "nat_ip_allocate_option": "AUTO_ONLY",
                "source_subnetwork_ip_ranges_to_nat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
                "log_config": {"enable": True, "filter": "ERRORS_ONLY"},
            }
        ],
    }
    return Node(key, "compute.router", name, d.region, (dep,), spec)


class Network(ComputeKind):
    kind = "compute.network"
    client = "NetworksClient"
    message = "Network"
    name_field = "network"
    regional = False


class Subnetwork(ComputeKind):
    kind = "compute.subnetwork"
    client = "SubnetworksClient"
    message = "Subnetwork"
    name_field = "subnetwork"
    regional = True


class Firewall(ComputeKind):
    kind = "compute.firewall"
    client = "FirewallsClient"
    message = "Firewall"
    name_field = "firewall"
    regional = False
    patchable = True


class Router(ComputeKind):
    kind = "compute.router"
    client = "RoutersClient"
    message = "Router"
    name_field = "router"
    regional = True
    patchable = True


KINDS: tuple[Kind, ...] = (Network(), Subnetwork(), Firewall(), Router())
