"""What Compute Engine checks beyond the discovery schema, per collection, and the
effects resources have on each other: which resource still uses another (GCP refuses
to delete a network with subnets, firewalls, routers, peerings or clusters on it),
and the fields GCP fills in. `CHECKS[collection](world, params, body, patching)`
raises `HttpError` as GCP answers.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any

from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.http import HttpError


def not_found(path: str) -> HttpError:
    """Compute's 404 for a resource path it does not have."""
    return HttpError(404, f"The resource '{path}' was not found", "notFound")


BASE = "https://www.googleapis.com/compute/v1/"
NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
ROCE_PROFILE = re.compile(
    r"^projects/[^/]+/global/networkProfiles/([a-z]+-[a-z]+\d+-[a-z])-vpc-roce$"
)
PROXY_PURPOSES = {"REGIONAL_MANAGED_PROXY", "GLOBAL_MANAGED_PROXY", "INTERNAL_HTTPS_LOAD_BALANCER"}
NETWORK_USERS = ("subnetworks", "firewalls", "routers", "globalAddresses")


def relative(url: str) -> str:
    """`projects/...` for a full, partial or relative resource URL."""
    index = url.find("projects/")
    if index >= 0:
        return url[index:]
    return url


def table(world: dict[str, Any], collection: str) -> dict[str, Any]:
    """One of Compute's collections (`world.table("compute", collection)`)."""
    return world_tables.table("compute", collection).rows(world)


def on_created(world: dict, collection: str, resource: dict) -> None:
    if collection == "subnetworks":
        network = table(world, "networks").get(relative(resource["network"]))
        if network is not None:
            network.setdefault("subnetworks", []).append(resource["selfLink"])


def on_deleted(world: dict, collection: str, resource: dict) -> None:
    if collection == "subnetworks":
        network = table(world, "networks").get(relative(resource["network"]))
        if network is not None and resource["selfLink"] in network.get("subnetworks", []):
            network["subnetworks"].remove(resource["selfLink"])


def user_of(world: dict, collection: str, path: str) -> str | None:
    """The first resource that still uses `path` (GCP refuses to delete it)."""
    if collection == "networks":
        for user_collection in NETWORK_USERS:
            for user_path, user in table(world, user_collection).items():
                if relative(user.get("network", "")) == path:
                    return user_path
    if collection in ("networks", "globalAddresses"):
        for network, connection in world_tables.CONNECTIONS.rows(world).items():
            name = path.rsplit("/", 1)[-1]
            if network == path or name in connection.get("reservedPeeringRanges", []):
                return f"services/servicenetworking.googleapis.com/connections/{network}"
    if collection in ("networks", "subnetworks"):
        field = "network" if collection == "networks" else "subnetwork"
        for cluster_path, cluster in world_tables.CLUSTERS.rows(world).items():
            if relative(cluster.get("networkConfig", {}).get(field, "")) == path:
                return cluster_path
            for pool in cluster.get("nodePools", []):
                extra = pool.get("networkConfig", {}).get("additionalNodeNetworkConfigs", [])
                name = path.rsplit("/", 1)[-1]
                if any(e.get(field, "").rsplit("/", 1)[-1] == name for e in extra):
                    return f"{cluster_path}/nodePools/{pool['name']}"
    return None


def network_of(world: dict, params: dict, body: dict) -> dict[str, Any]:
    reference = body.get("network")
    if not reference:
        raise HttpError(400, "Invalid value for field 'resource.network': ''. Required.")
    path = relative(reference)
    if not path.startswith("projects/"):
        path = f"projects/{params['project']}/{path}"
    network = table(world, "networks").get(path)
    if network is None or network.get("_creating"):
        raise not_found(path)
    body["network"] = BASE + path
    return network


def check_networks(world: dict, params: dict, body: dict, patching: bool = False) -> None:
    if body.get("autoCreateSubnetworks") is None and "IPv4Range" not in body:
        raise HttpError(
            400,
            "Invalid value for field 'resource.autoCreateSubnetworks': ''. "
            "Legacy networks are not supported; set autoCreateSubnetworks.",
        )
    mtu = body.get("mtu")
    if mtu is not None and not 1300 <= int(mtu) <= 8896:
        raise HttpError(400, f"Invalid value for field 'resource.mtu': '{mtu}'. Must be 1300-8896.")
    profile = body.get("networkProfile")
    if profile:
        match = ROCE_PROFILE.match(relative(profile))
        if match is None:
            raise not_found(relative(profile))
        if body.get("autoCreateSubnetworks"):
            raise HttpError(
                400, "Networks with a RoCE network profile must be in custom subnet mode."
            )
        body["networkProfile"] = BASE + relative(profile)


def check_subnetworks(world: dict, params: dict, body: dict, patching: bool = False) -> None:
    network = network_of(world, params, body)
    cidr = body.get("ipCidrRange")
    try:
        parsed = ipaddress.IPv4Network(cidr or "", strict=True)
    except ValueError:
        raise HttpError(
            400,
            f"Invalid value for field 'resource.ipCidrRange': '{cidr}'. Invalid IPCidrRange.",
        ) from None
    region = params["region"]
    if body.get("region") and relative(body["region"]).rsplit("/", 1)[-1] != region:
        raise HttpError(400, f"Invalid value for field 'resource.region': '{body['region']}'.")
    purpose = body.get("purpose", "PRIVATE")
    if purpose in PROXY_PURPOSES:
        if body.get("role") not in ("ACTIVE", "BACKUP"):
            raise HttpError(
                400,
                f"Invalid value for field 'resource.role': '{body.get('role', '')}'. "
                f"Subnetworks with purpose {purpose} require role ACTIVE or BACKUP.",
            )
        if body.get("privateIpGoogleAccess"):
            raise HttpError(
                400, "Private Google Access is not supported for proxy-only subnetworks."
            )
    elif body.get("role"):
        raise HttpError(
            400,
            f"Invalid value for field 'resource.role': '{body['role']}'. "
            "Role is only valid for proxy-only subnetworks.",
        )
    profile = network.get("networkProfile")
    if profile:
        zone = ROCE_PROFILE.match(relative(profile))
        if zone and not zone.group(1).startswith(region + "-"):
            raise HttpError(
                400,
                f"Subnetwork region {region} does not match the network profile's zone "
                f"{zone.group(1)}.",
            )
    if patching:
        return
    for path, other in table(world, "subnetworks").items():
        if relative(other["network"]) != relative(body["network"]):
            continue
        if parsed.overlaps(ipaddress.IPv4Network(other["ipCidrRange"])):
            raise HttpError(
                400,
                f"Invalid IPCidrRange: {cidr} conflicts with existing subnetwork "
                f"'{path.rsplit('/', 1)[-1]}' in region '{region}'.",
            )


def check_firewalls(world: dict, params: dict, body: dict, patching: bool = False) -> None:
    network = network_of(world, params, body)
    if network.get("networkProfile"):
        raise HttpError(
            400, "Firewall rules are not supported on networks with a RoCE network profile."
        )
    if bool(body.get("allowed")) == bool(body.get("denied")):
        raise HttpError(400, "Exactly one of 'allowed' or 'denied' must be set.")
    for cidr in [*body.get("sourceRanges", []), *body.get("destinationRanges", [])]:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise HttpError(
                400, f"Invalid value for field 'resource.sourceRanges': '{cidr}'."
            ) from None
    priority = int(body.get("priority", 1000))
    if not 0 <= priority <= 65535:
        raise HttpError(400, f"Invalid value for field 'resource.priority': '{priority}'.")


def check_routers(world: dict, params: dict, body: dict, patching: bool = False) -> None:
    network = network_of(world, params, body)
    if network.get("networkProfile"):
        raise HttpError(
            400, "Cloud Router is not supported on networks with a RoCE network profile."
        )
    for i, nat in enumerate(body.get("nats", [])):
        for required in ("name", "natIpAllocateOption", "sourceSubnetworkIpRangesToNat"):
            if not nat.get(required):
                raise HttpError(
                    400,
                    f"Invalid value for field 'resource.nats[{i}].{required}': ''. Required.",
                )
        if not NAME.match(nat["name"]):
            raise HttpError(400, f"Invalid value for field 'resource.nats[{i}].name'.")


def check_global_addresses(world: dict, params: dict, body: dict, patching: bool = False) -> None:
    if body.get("purpose") == "VPC_PEERING":
        network_of(world, params, body)
        if body.get("addressType") != "INTERNAL" or not body.get("prefixLength"):
            raise HttpError(
                400, "VPC_PEERING addresses need addressType INTERNAL and a prefixLength."
            )


def fill_defaults(collection: str, resource: dict[str, Any]) -> None:
    if collection == "networks":
        resource.setdefault("mtu", 1460)
        resource.setdefault("routingConfig", {"routingMode": "REGIONAL"})
        resource.setdefault("subnetworks", [])
    elif collection == "subnetworks":
        network = ipaddress.IPv4Network(resource["ipCidrRange"])
        resource.setdefault("gatewayAddress", str(network.network_address + 1))
        resource.setdefault("purpose", "PRIVATE")
        resource.setdefault("privateIpGoogleAccess", False)
        resource.setdefault("fingerprint", uuid.uuid4().hex[:12])
    elif collection == "firewalls":
        resource.setdefault("direction", "INGRESS")
        resource.setdefault("priority", 1000)
        resource.setdefault("disabled", False)
        if resource["direction"] == "INGRESS":
            resource.setdefault("sourceRanges", ["0.0.0.0/0"])
    elif collection == "globalAddresses":
        resource.setdefault("status", "RESERVED")
        if resource.get("purpose") == "VPC_PEERING":
            resource.setdefault("address", "10.200.0.0")


CHECKS = {
    "networks": check_networks,
    "subnetworks": check_subnetworks,
    "firewalls": check_firewalls,
    "routers": check_routers,
    "globalAddresses": check_global_addresses,
}
