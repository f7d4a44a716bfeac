"""`up`'s read-only preflight: a value GCP would refuse stops the run with exit 3
before anything is created, and the local cloud answers unknown regions, zones and
machine types as Compute does."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from oasis_cli.localcloud.cloud import LocalCloud

from conftest import enable_apis, gapic, reserve

MUTATING = ("POST", "PUT", "PATCH", "DELETE")


def created(requests_log) -> list[str]:
    """What the run asked any API to create or change, beyond enabling the APIs."""
    return [
        f"{r['method']} {r['path']}"
        for r in requests_log()
        if r["method"] in MUTATING and r["service"] not in ("serviceusage", "echo")
    ]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["region=mars-north1", "zone=mars-north1-a"], "region: 'mars-north1' does not exist"),
        (["zone=us-south1-z"], "zone: 'us-south1-z' does not exist"),
        (["zone=us-south1-a"], "a3-ultragpu-8g is not offered in zone us-south1-a"),
        (["gpu.capacity=reservation:nope"], "reservation 'nope' does not exist in zone"),
        (["cluster.default_pool_machine_type=n9-huge-7"], "n9-huge-7 is not offered in zone"),
    ],
    ids=["region", "zone", "machine", "reservation", "default-pool"],
)
def test_a_value_gcp_would_refuse_stops_up_before_anything_is_created(
    oasis, requests_log, settings, message
):
    args = [part for setting in settings for part in ("--set", setting)]
    result = oasis("--local", *args, "up", "--yes")
    assert result.code == 3, result.stderr
    assert message in result.stderr
    assert "nothing was created" in result.stderr and "oasis up" in result.stderr
    assert created(requests_log) == []


def test_with_the_apis_enabled_preflight_runs_before_the_graph(
    oasis, apis_enabled, requests_log, workspace
):
    before = len(requests_log())
    result = oasis("--local", "--set", "zone=us-south1-z", "up", "--yes")
    assert result.code == 3, result.stderr
    calls = requests_log()[before:]
    assert not [r for r in calls if r["method"] in MUTATING and r["service"] != "echo"]
    assert not (workspace / ".oasis" / "local" / "oasis" / "ledger.json").exists()


def test_a_reservation_for_another_machine_type_is_refused(oasis, cloud_dir, requests_log):
    reserve(cloud_dir, "wrong", machine_type="a3-megagpu-8g")
    result = oasis("--local", "--set", "gpu.capacity=reservation:wrong", "up", "--yes")
    assert result.code == 3
    assert "reservation 'wrong' is for a3-megagpu-8g, not a3-ultragpu-8g" in result.stderr
    assert created(requests_log) == []


def test_an_existing_shared_reservation_passes(oasis, cloud_dir):
    reserve(cloud_dir, "shared-res", project="owner-project")
    capacity = "gpu.capacity=reservation:projects/owner-project/reservations/shared-res"
    result = oasis("--local", "--set", capacity, "up", "--yes")
    assert result.code == 0, result.stderr


@pytest.fixture
def compute(cloud_dir):
    with LocalCloud(cloud_dir) as cloud:
        enable_apis(cloud, "oasis-local")
        yield lambda name: gapic(cloud, getattr(compute_v1, name), "compute")


def test_unknown_regions_and_zones_are_answered_as_compute_does(compute):
    with pytest.raises(exceptions.NotFound, match="projects/oasis-local/regions/mars-north1"):
        compute("RegionsClient").get(project="oasis-local", region="mars-north1")
    with pytest.raises(exceptions.NotFound, match="projects/oasis-local/zones/us-south1-z"):
        compute("ZonesClient").get(project="oasis-local", zone="us-south1-z")
    with pytest.raises(exceptions.BadRequest, match="Invalid value for field 'zone'"):
        compute("MachineTypesClient").get(
            project="oasis-local", zone="us-south1-z", machine_type="e2-standard-32"
        )
    assert compute("ZonesClient").get(project="oasis-local", zone="us-central1-f").name


def test_a_gpu_machine_type_lists_its_gpus(compute):
    machine = compute("MachineTypesClient").get(
        project="oasis-local", zone="us-south1-b", machine_type="a3-ultragpu-8g"
    )
    assert [
        (a.guest_accelerator_type, a.guest_accelerator_count) for a in machine.accelerators
    ] == [("nvidia-h200-141gb", 8)]


def test_a_subnet_in_an_unknown_region_is_refused(compute):
    subnet = compute_v1.Subnetwork(
        name="s", network="projects/oasis-local/global/networks/x", ip_cidr_range="10.0.0.0/24"
    )
    with pytest.raises(exceptions.BadRequest, match="Unknown region"):
        compute("SubnetworksClient").insert(
            project="oasis-local", region="mars-north1", subnetwork_resource=subnet
        )
