"""The local cloud rejects what Compute Engine rejects, in GCP's wire shapes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from conftest import gapic

PROJECT = "test-project"
REGION = "us-south1"


@pytest.fixture
def clients(local_cloud):
    def make(name):
        return gapic(local_cloud, getattr(compute_v1, name), "compute")

    return make


def raw_post(local_cloud, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{local_cloud.endpoints['compute']}/compute/v1/projects/{PROJECT}/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def network(clients, name="net-a", **fields):
    body = {"name": name, "auto_create_subnetworks": False, **fields}
    return clients("NetworksClient").insert(project=PROJECT, network_resource=body)


def subnet(clients, name, cidr, net="net-a", region=REGION, **fields):
    body = {
        "name": name,
        "network": f"projects/{PROJECT}/global/networks/{net}",
        "ip_cidr_range": cidr,
        **fields,
    }
    return clients("SubnetworksClient").insert(
        project=PROJECT, region=region, subnetwork_resource=body
    )


def test_misspelled_field_is_rejected_like_gcp(local_cloud):
    status, body = raw_post(
        local_cloud, "global/networks", {"name": "n1", "autoCreateSubnetwork": False}
    )
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert 'Unknown name "autoCreateSubnetwork"' in body["error"]["message"]


def test_bad_enum_is_rejected(local_cloud):
    status, body = raw_post(
        local_cloud,
        "global/networks",
        {"name": "n1", "autoCreateSubnetworks": False, "routingConfig": {"routingMode": "LOCAL"}},
    )
    assert status == 400
    assert "TYPE_ENUM" in body["error"]["message"]


def test_wrong_type_is_rejected(local_cloud):
    status, body = raw_post(
        local_cloud, "global/networks", {"name": "n1", "autoCreateSubnetworks": "no"}
    )
    assert status == 400
    assert "TYPE_BOOL" in body["error"]["message"]


@pytest.mark.parametrize("name", ["Upper", "1starts-with-digit", "ends-with-", "x" * 64])
def test_bad_name_is_rejected(clients, name):
    with pytest.raises(exceptions.BadRequest, match="resource.name"):
        network(clients, name)


def test_legacy_network_is_rejected(clients):
    with pytest.raises(exceptions.BadRequest, match="autoCreateSubnetworks"):
        clients("NetworksClient").insert(project=PROJECT, network_resource={"name": "legacy"})


def test_duplicate_name_conflicts(clients):
    network(clients)
    with pytest.raises(exceptions.Conflict, match="already exists"):
        network(clients)


def test_deleting_a_network_in_use_fails(clients):
    network(clients)
    subnet(clients, "sub-a", "10.0.0.0/24")
    with pytest.raises(exceptions.BadRequest, match="already being used by .*subnetworks/sub-a"):
        clients("NetworksClient").delete(project=PROJECT, network="net-a")


def test_subnet_of_missing_network_is_not_found(clients):
    with pytest.raises(exceptions.NotFound, match="networks/absent"):
        subnet(clients, "sub-a", "10.0.0.0/24", net="absent")


def test_overlapping_subnet_ranges_conflict(clients):
    network(clients)
    subnet(clients, "sub-a", "10.0.0.0/24")
    with pytest.raises(exceptions.BadRequest, match="conflicts with existing subnetwork"):
        subnet(clients, "sub-b", "10.0.0.128/25")


def test_proxy_only_subnet_needs_a_role(clients):
    network(clients)
    with pytest.raises(exceptions.BadRequest, match="role"):
        subnet(clients, "proxy", "10.1.0.0/26", purpose="REGIONAL_MANAGED_PROXY")


def test_rdma_subnet_outside_the_profile_zone_region_is_rejected(clients):
    profile = f"projects/{PROJECT}/global/networkProfiles/us-south1-b-vpc-roce"
    network(clients, "rdma", mtu=8896, network_profile=profile)
    subnet(clients, "rdma-ok", "10.2.0.0/24", net="rdma")
    with pytest.raises(exceptions.BadRequest, match="network profile"):
        subnet(clients, "rdma-bad", "10.3.0.0/24", net="rdma", region="us-east4")


def test_unknown_network_profile_is_not_found(clients):
    with pytest.raises(exceptions.NotFound, match="networkProfiles"):
        network(clients, "rdma", network_profile=f"projects/{PROJECT}/global/networkProfiles/x")


def test_rdma_network_takes_no_firewall_and_no_router(clients):
    profile = f"projects/{PROJECT}/global/networkProfiles/us-south1-b-vpc-roce"
    network(clients, "rdma", network_profile=profile)
    rdma = f"projects/{PROJECT}/global/networks/rdma"
    with pytest.raises(exceptions.BadRequest, match="Firewall rules are not supported"):
        clients("FirewallsClient").insert(
            project=PROJECT,
            firewall_resource={"name": "fw", "network": rdma, "allowed": [{"I_p_protocol": "all"}]},
        )
    with pytest.raises(exceptions.BadRequest, match="Cloud Router is not supported"):
        clients("RoutersClient").insert(
            project=PROJECT, region=REGION, router_resource={"name": "r", "network": rdma}
        )


def test_mtu_out_of_range_is_rejected(clients):
    with pytest.raises(exceptions.BadRequest, match="mtu"):
        network(clients, mtu=9000)


def test_nat_without_allocation_option_is_rejected(clients):
    network(clients)
    with pytest.raises(exceptions.BadRequest, match="natIpAllocateOption"):
        clients("RoutersClient").insert(
            project=PROJECT,
            region=REGION,
            router_resource={
                "name": "r",
                "network": f"projects/{PROJECT}/global/networks/net-a",
                "nats": [
                    {
                        "name": "nat",
                        "source_subnetwork_ip_ranges_to_nat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
                    }
                ],
            },
        )


def test_request_id_replays_the_original_operation(clients):
    request_id = str(uuid.uuid4())
    request = compute_v1.InsertNetworkRequest(
        project=PROJECT,
        network_resource={"name": "net-a", "auto_create_subnetworks": False},
        request_id=request_id,
    )
    first = clients("NetworksClient").insert(request=request)
    second = clients("NetworksClient").insert(request=request)
    assert first.name == second.name
    listed = clients("GlobalOperationsClient").list(project=PROJECT)
    assert [operation.name for operation in listed] == [first.name]  # acted once


def test_invalid_request_id_is_rejected(clients):
    request = compute_v1.InsertNetworkRequest(
        project=PROJECT,
        network_resource={"name": "net-a", "auto_create_subnetworks": False},
        request_id="00000000-0000-0000-0000-000000000000",
    )
    with pytest.raises(exceptions.BadRequest, match="requestId"):
        clients("NetworksClient").insert(request=request)


def test_unknown_route_is_not_found(local_cloud):
    status, body = raw_post(local_cloud, "global/nonsense", {})
    assert status == 404
    assert body["error"]["status"] == "NOT_FOUND"


def test_a_fault_injected_for_a_block_ends_with_it(local_cloud):
    from oasis_cli.localcloud.infra import faults

    kept = {"action": "error", "status": 429, "path": "/global/firewalls$", "count": -1}
    faults.add(local_cloud.store, kept)
    outage = {"action": "error", "status": 503, "path": "/global/networks$", "count": -1}
    body = {"name": "net-a", "autoCreateSubnetworks": False}
    with faults.injected(local_cloud.store, outage):
        assert raw_post(local_cloud, "global/networks", body)[0] == 503
        assert raw_post(local_cloud, "global/networks", body)[0] == 503
    assert raw_post(local_cloud, "global/networks", body)[0] == 200  # over with the block
    assert local_cloud.store.read_faults() == [kept]  # the other rule stays
