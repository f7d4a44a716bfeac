"""`up`, `plan`, `status` and `down` for the three VPCs, asserted on the simulated cloud."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from oasis_cli.localcloud.infra.faults import is_mutating

from conftest import DATA_BUCKET, NODES, gcs, leftovers, missing

PROJECT = "oasis-local"
NET = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/"


def test_up_creates_exactly_the_spec_network_resources(deployed, world):
    kinds = Counter(item["kind"] for item in world() if item["service"] == "compute")
    assert kinds == {
        "compute#network": 3,
        "compute#subnetwork": 11,
        "compute#firewall": 3,
        "compute#router": 2,
        "compute#address": 1,
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("oasis-mgmt-net", {"autoCreateSubnetworks": False, "mtu": 1460}),
        ("oasis-primary-net", {"autoCreateSubnetworks": False}),
        (
            "oasis-rdma-net",
            {
                "autoCreateSubnetworks": False,
                "mtu": 8896,
                "networkProfile": "https://www.googleapis.com/compute/v1/projects/oasis-local"
                "/global/networkProfiles/us-south1-b-vpc-roce",
            },
        ),
        (
            "oasis-mgmt-sub",
            {
                "network": NET + "oasis-mgmt-net",
                "ipCidrRange": "10.99.0.0/24",
                "privateIpGoogleAccess": True,
                "purpose": "PRIVATE",
            },
        ),
        (
            "oasis-proxy-only-sub",
            {
                "network": NET + "oasis-mgmt-net",
                "ipCidrRange": "10.129.0.0/26",
                "purpose": "REGIONAL_MANAGED_PROXY",
                "role": "ACTIVE",
            },
        ),
        (
            "oasis-primary-sub",
            {
                "network": NET + "oasis-primary-net",
                "ipCidrRange": "10.100.100.0/24",
                "privateIpGoogleAccess": True,
            },
        ),
        (
            "oasis-mgmt-internal",
            {
                "network": NET + "oasis-mgmt-net",
                "direction": "INGRESS",
                "sourceRanges": ["10.99.0.0/24"],
                "allowed": [{"IPProtocol": "all"}],
            },
        ),
        (
            "oasis-primary-internal",
            {
                "network": NET + "oasis-primary-net",
                "sourceRanges": ["10.96.0.0/12"],
                "allowed": [{"IPProtocol": "all"}],
            },
        ),
    ],
)
def test_resource_has_spec_settings(deployed, name, expected):
    resource = deployed[name]
    assert {key: resource.get(key) for key in expected} == expected
    assert "oasis-deployment=oasis" in resource["description"]


@pytest.mark.parametrize("prefix", ["mgmt", "primary"])
def test_router_has_nat_with_auto_ips_all_ranges_errors_only(deployed, prefix):
    router = deployed[f"oasis-{prefix}-router"]
    assert router["network"] == NET + f"oasis-{prefix}-net"
    assert router["region"].endswith("/regions/us-south1")
    assert router["nats"] == [
        {
            "name": f"oasis-{prefix}-nat",
            "natIpAllocateOption": "AUTO_ONLY",
            "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
            "logConfig": {"enable": True, "filter": "ERRORS_ONLY"},
        }
    ]


def test_rdma_subnets_are_eight_in_nic_order_without_firewall_or_nat(deployed):
    for i in range(8):
        subnet = deployed[f"oasis-rdma-sub-{i}"]
        assert subnet["network"] == NET + "oasis-rdma-net"
        assert subnet["ipCidrRange"] == f"10.101.{i + 1}.0/24"
        assert subnet["region"].endswith("/regions/us-south1")
    rdma_users = [
        name
        for name, r in deployed.items()
        if r.get("network") == NET + "oasis-rdma-net" and not name.startswith("oasis-rdma-sub")
    ]
    assert rdma_users == []


def test_second_up_sends_no_mutating_request(deployed, oasis, requests_log):
    before = len(requests_log())
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    second = requests_log()[before:]
    assert second, "the second run should look resources up"
    assert [r for r in second if is_mutating(r["method"], r["path"])] == []
    assert "unchanged" in result.stderr


def test_plan_shows_creates_then_nothing(oasis):
    first = oasis("--local", "plan", "--output", "json")
    assert first.code == 0, first.stderr
    # Service Usage and Cloud Storage are on in every new project: the APIs' node is
    # an update (enable the other 11), everything else a create
    assert Counter(p["action"] for p in first.json()["plan"]) == {
        "create": len(NODES) - 1,
        "update": 1,
    }
    assert oasis("--local", "up", "--yes").code == 0
    second = oasis("--local", "plan", "--output", "json")
    assert Counter(p["action"] for p in second.json()["plan"]) == {"noop": len(NODES)}
    text = oasis("--local", "plan")
    assert f"0 to create, 0 to change, {len(NODES)} unchanged, 0 in conflict." in text.stdout


def test_plan_makes_no_mutating_request(oasis, requests_log):
    assert oasis("--local", "plan").code == 0
    assert requests_log(), "plan should look resources up"
    assert [r for r in requests_log() if is_mutating(r["method"], r["path"])] == []


def test_status_shows_every_resource_done_and_live(deployed, oasis, requests_log):
    before = len(requests_log())
    result = oasis("--local", "status", "--output", "json")
    assert result.code == 0, result.stderr
    assert not [r for r in requests_log()[before:] if r["service"] == "echo"]  # no IP lookup
    document = result.json()
    assert document["deployment"] == "oasis"
    rows = document["resources"]
    assert len(rows) == len(NODES)
    assert {row["state"] for row in rows} == {"done"}
    assert {row["live"] for row in rows} == {"ok"}
    assert {"key", "kind", "name", "location", "state", "outputs"} <= set(rows[0])
    mgmt = next(row for row in rows if row["key"] == "network:mgmt")
    assert mgmt["outputs"]["self_link"] == NET + "oasis-mgmt-net"


def test_down_removes_everything_and_records_it(deployed, oasis, world, ledger):
    result = oasis("--local", "down", "--yes")
    assert result.code == 0, result.stderr
    assert leftovers(world()) == []
    assert DATA_BUCKET in {item["name"] for item in world()}
    states = {key: entry["state"] for key, entry in ledger()["resources"].items()}
    assert states.pop("apis") == "done"
    assert states.pop("bucket:data") == "done"
    assert set(states.values()) == {"deleted"}
    assert "APIs stay enabled" in result.stderr


def test_down_without_yes_refuses_when_not_interactive(deployed, oasis, world):
    result = oasis("--local", "down")
    assert result.code == 2
    assert "--yes" in result.stderr
    assert missing(world()) == []


def test_up_after_down_recreates(deployed, oasis, world):
    assert oasis("--local", "down", "--yes").code == 0
    assert oasis("--local", "up", "--yes").code == 0
    assert missing(world()) == []


def test_up_output_json_reports_results(oasis):
    result = oasis("--local", "up", "--yes", "--output", "json")
    assert result.code == 0, result.stderr
    document = result.json()
    assert document["ok"] is True
    assert document["results"].pop("apis") == "updated"  # some are on in a new project
    assert set(document["results"].values()) == {"created"}
    assert len(document["results"]) == len(NODES) - 1


def test_bucket_is_regional_uniform_private_and_labelled(deployed):
    bucket = deployed["oasis-local-oasis-data"]
    assert bucket["location"] == "US-SOUTH1"
    assert bucket["locationType"] == "region"
    assert bucket["iamConfiguration"]["uniformBucketLevelAccess"] == {"enabled": True}
    assert bucket["iamConfiguration"]["publicAccessPrevention"] == "enforced"
    assert bucket["labels"] == {"oasis-deployment": "oasis", "oasis-role": "data"}
    staging = deployed["oasis-local-oasis-build"]
    assert staging["labels"] == {"oasis-deployment": "oasis", "oasis-role": "staging"}


def put_object(cloud_dir, bucket: str, name: str, data: bytes) -> None:
    from oasis_cli.localcloud.cloud import LocalCloud

    with LocalCloud(cloud_dir) as cloud:
        gcs(cloud).bucket(bucket).blob(name).upload_from_string(data)


def test_down_keeps_the_bucket_and_its_data(deployed, oasis, world, cloud_dir):
    put_object(cloud_dir, "oasis-local-oasis-data", "train/shard-0", b"tokens")
    result = oasis("--local", "down", "--yes")
    assert result.code == 0, result.stderr
    assert "training data is kept; `oasis down --delete-data` deletes it" in result.stderr
    assert leftovers(world()) == []
    assert DATA_BUCKET in {item["name"] for item in world()}


def test_delete_data_needs_a_second_confirmation(deployed, oasis, world):
    before = world()
    result = oasis("--local", "down", "--delete-data")
    assert result.code == 2
    assert "--yes" in result.stderr
    assert "the data bucket and its objects too" in result.stderr
    assert "kept" not in result.stderr
    assert world() == before


def test_down_delete_data_removes_the_bucket_with_its_objects(deployed, oasis, world, cloud_dir):
    put_object(cloud_dir, "oasis-local-oasis-data", "train/shard-0", b"tokens")
    result = oasis("--local", "down", "--delete-data", "--yes")
    assert result.code == 0, result.stderr
    assert [i["name"] for i in world() if i["service"] == "storage"] == []
    again = oasis("--local", "down", "--yes")  # the bucket is gone, not "kept"
    assert again.code == 0, again.stderr
    row = next(line for line in again.stderr.splitlines() if "bucket:data" in line)
    assert row.split()[0] == "absent" and "training data is kept" not in again.stderr


def test_the_load_balancer_proxies_may_reach_the_dashboard_port(deployed):
    """The internal Ingress's proxies come from the proxy-only subnet; the Ingress
    controller opens nothing for them, so `up` does (tcp:8265 only)."""
    rule = deployed["oasis-mgmt-allow-proxies"]
    proxy_subnet = deployed["oasis-proxy-only-sub"]
    assert rule["network"].endswith("/global/networks/oasis-mgmt-net")
    assert rule["direction"] == "INGRESS"
    assert rule["sourceRanges"] == [proxy_subnet["ipCidrRange"]]
    assert rule["allowed"] == [{"IPProtocol": "tcp", "ports": ["8265"]}]


SWAPPED = (
    "--local",
    "--set",
    "storage.bucket=oasis-local-oasis-data2",
    "--set",
    "storage.build_bucket=oasis-local-oasis-data",
)


def objects_of(cloud_dir, bucket: str) -> list[str]:
    from oasis_cli.localcloud.cloud import LocalCloud

    with LocalCloud(cloud_dir) as cloud:
        return [blob.name for blob in gcs(cloud).list_blobs(bucket)]


def test_a_data_bucket_is_never_taken_as_the_staging_bucket(deployed, oasis, cloud_dir):
    """The data bucket named as the staging bucket: `up` refuses (the role is on the
    bucket), and `down` keeps it and its objects, with the ledger and without it."""
    put_object(cloud_dir, DATA_BUCKET, "train/shard-0", b"tokens")
    refused = oasis(*SWAPPED, "up", "--yes")
    assert refused.code == 1
    assert "is this deployment's data bucket (label oasis-role=data)" in refused.stderr
    assert "storage.build_bucket" in refused.stderr
    assert oasis(*SWAPPED, "down", "--yes").code == 0
    assert objects_of(cloud_dir, DATA_BUCKET) == ["train/shard-0"]
    (Path(".oasis") / "local" / "oasis" / "ledger.json").unlink()  # the ledger is lost
    assert oasis(*SWAPPED, "down", "--yes").code == 0
    assert objects_of(cloud_dir, DATA_BUCKET) == ["train/shard-0"]


def test_down_never_empties_a_bucket_oasis_did_not_create(oasis, cloud_dir, apis_enabled):
    """A bucket that was there, with objects, before oasis adopted it as the staging
    bucket (it carries the deployment's label) is kept by `down`."""
    from oasis_cli.localcloud.cloud import LocalCloud

    with LocalCloud(cloud_dir) as cloud:
        bucket = gcs(cloud).bucket("oasis-local-oasis-build")
        bucket.labels = {"oasis-deployment": "oasis"}
        gcs(cloud).create_bucket(bucket, location="US-SOUTH1")
        bucket.blob("someone/else.txt").upload_from_string(b"theirs")
    assert oasis("--local", "up", "--yes").code == 0
    result = oasis("--local", "down", "--yes")
    assert result.code == 0, result.stderr
    assert "not empty and not created by oasis: kept" in result.stderr
    assert objects_of(cloud_dir, "oasis-local-oasis-build") == ["someone/else.txt"]
