"""The Cloud Build private pool peered to the management VPC, and the rules of its
simulated services."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1
from google.cloud.devtools import cloudbuild_v1

from oasis_cli.localcloud.gcp.projects import project_number

from conftest import gapic

NUMBER = project_number("oasis-local")


def test_worker_pool_range_is_a_global_vpc_peering_slash_16(deployed):
    address = deployed["oasis-worker-pool-range"]
    assert (address["purpose"], address["addressType"], address["prefixLength"]) == (
        "VPC_PEERING",
        "INTERNAL",
        16,
    )
    assert address["network"].endswith("projects/oasis-local/global/networks/oasis-mgmt-net")


def test_mgmt_vpc_is_peered_with_service_networking(deployed, world):
    connections = [item["resource"] for item in world() if item["service"] == "servicenetworking"]
    assert [c["reservedPeeringRanges"] for c in connections] == [["oasis-worker-pool-range"]]


def test_build_pool_is_e2_highmem_8_with_100_gb_on_the_peered_network(deployed):
    pool = deployed["oasis-build-pool"]
    assert pool["privatePoolV1Config"] == {
        "workerConfig": {"machineType": "e2-highmem-8", "diskSizeGb": "100"},
        "networkConfig": {"peeredNetwork": f"projects/{NUMBER}/global/networks/oasis-mgmt-net"},
    }
    assert pool["annotations"] == {"oasis-deployment": "oasis"}
    assert pool["name"] == "projects/oasis-local/locations/us-south1/workerPools/oasis-build-pool"


@pytest.fixture
def clients(local_cloud):
    def make(module, name, service):
        return gapic(local_cloud, getattr(module, name), service)

    networks = make(compute_v1, "NetworksClient", "compute")
    networks.insert(
        project="p-test1", network_resource={"name": "net", "auto_create_subnetworks": False}
    )
    return make


def peered_pool() -> cloudbuild_v1.WorkerPool:
    """An e2-highmem-8 pool (100 GB) peered to p-test1's network `net`."""
    return cloudbuild_v1.WorkerPool(
        private_pool_v1_config={
            "worker_config": {"machine_type": "e2-highmem-8", "disk_size_gb": 100},
            "network_config": {
                "peered_network": f"projects/{project_number('p-test1')}/global/networks/net"
            },
        }
    )


def test_pool_on_a_network_without_peering_is_refused(clients):
    build = clients(cloudbuild_v1, "CloudBuildClient", "cloudbuild")
    pool = peered_pool()
    with pytest.raises(exceptions.BadRequest, match="not peered"):
        build.create_worker_pool(
            parent="projects/p-test1/locations/us-south1", worker_pool=pool, worker_pool_id="pool"
        )


def test_pool_disk_below_100_gb_is_refused(clients):
    build = clients(cloudbuild_v1, "CloudBuildClient", "cloudbuild")
    pool = cloudbuild_v1.WorkerPool(
        private_pool_v1_config={
            "worker_config": {"machine_type": "e2-highmem-8", "disk_size_gb": 50}
        }
    )
    with pytest.raises(exceptions.BadRequest, match="between 100 and 4000"):
        build.create_worker_pool(
            parent="projects/p-test1/locations/us-south1", worker_pool=pool, worker_pool_id="pool"
        )


def reserved_range(clients, network: str):
    """A /16 VPC_PEERING range `range` on `network`; the addresses client."""
    addresses = clients(compute_v1, "GlobalAddressesClient", "compute")
    addresses.insert(
        project="p-test1",
        address_resource={
            "name": "range",
            "purpose": "VPC_PEERING",
            "address_type": "INTERNAL",
            "prefix_length": 16,
            "network": network,
        },
    )
    return addresses


def test_peering_needs_a_reserved_range_and_keeps_it_in_use(clients, local_cloud):
    import requests

    base = local_cloud.endpoints["servicenetworking"]
    url = f"{base}/v1/services/servicenetworking.googleapis.com/connections"
    network = "projects/p-test1/global/networks/net"
    refused = requests.post(
        url, json={"network": network, "reservedPeeringRanges": ["absent"]}, timeout=5
    )
    assert refused.status_code == 400
    assert "not a VPC_PEERING range" in refused.json()["error"]["message"]
    addresses = reserved_range(clients, network)
    created = requests.post(
        url, json={"network": network, "reservedPeeringRanges": ["range"]}, timeout=5
    )
    assert created.status_code == 200
    with pytest.raises(exceptions.BadRequest, match="already being used"):
        addresses.delete(project="p-test1", address="range")


def test_a_connection_held_by_its_producer_is_refused_until_its_peering_is_removed(
    clients, local_cloud
):
    """deleteConnection fails in its operation while the build pool holds the
    connection; removing the peering through compute removes the connection."""
    import requests

    base = local_cloud.endpoints["servicenetworking"]
    network = "projects/p-test1/global/networks/net"
    addresses = reserved_range(clients, network)
    connections = f"{base}/v1/services/servicenetworking.googleapis.com/connections"
    assert requests.post(
        connections, json={"network": network, "reservedPeeringRanges": ["range"]}, timeout=5
    ).ok
    build = clients(cloudbuild_v1, "CloudBuildClient", "cloudbuild")
    pool = peered_pool()
    build.create_worker_pool(
        parent="projects/p-test1/locations/us-south1", worker_pool=pool, worker_pool_id="pool"
    )
    refused = requests.post(
        f"{connections}/servicenetworking-googleapis-com",
        json={"consumerNetwork": network},
        timeout=5,
    ).json()
    assert refused["done"] is True
    assert refused["error"] == {
        "code": 9,
        "message": "Failed to delete connection; Producer services (e.g. CloudSQL, Cloud "
        "Memstore, etc.) are still using this connection.",
    }
    networks = clients(compute_v1, "NetworksClient", "compute")
    with pytest.raises(exceptions.BadRequest, match="There is no peering 'other'"):
        networks.remove_peering(
            project="p-test1",
            network="net",
            networks_remove_peering_request_resource={"name": "other"},
        )
    networks.remove_peering(
        project="p-test1",
        network="net",
        networks_remove_peering_request_resource={"name": "servicenetworking-googleapis-com"},
    ).result()
    assert requests.get(connections, timeout=5).json() == {"connections": []}
    addresses.delete(project="p-test1", address="range").result()


def test_down_removes_the_peering_when_the_pool_keeps_holding_the_connection(
    oasis, monkeypatch, world, requests_log
):
    """At any latency scale the deleted pool holds the connection far longer than oasis
    retries deleteConnection (an hour vs a few polls), so `down` removes the peering."""
    monkeypatch.setenv("OASIS_LOCAL_LATENCY_SCALE", "0.001")
    assert oasis("--local", "up", "--yes").code == 0
    result = oasis("--local", "down", "--yes")
    assert result.code == 0, result.stderr
    kinds = {item["kind"] for item in world()}
    assert not kinds & {"servicenetworking#connection", "compute#network", "compute#address"}
    removals = [r for r in requests_log() if r["path"].endswith("/removePeering")]
    assert [r["status"] for r in removals] == [200]
