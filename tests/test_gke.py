"""The GKE cluster and H200 node pools: SPEC settings on the simulated cloud, and
the simulation's GKE rules."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1, container_v1

from oasis_cli.localcloud.cloud import LocalCloud
from oasis_cli.localcloud.gcp.echo import PUBLIC_IP
from oasis_cli.localcloud.infra import faults
from oasis_cli.localcloud.infra.store import Store

from conftest import enable_apis, gapic, reserve

SA = "oasis-cluster@oasis-local.iam.gserviceaccount.com"
CLASS = "cloud.google.com/compute-class"


def test_cluster_has_every_spec_setting(deployed):
    c = deployed["oasis-h200"]
    assert c["location"] == "us-south1"
    assert c["locations"] == ["us-south1-b"]
    assert (c["network"], c["subnetwork"]) == ("oasis-mgmt-net", "oasis-mgmt-sub")
    assert c["ipAllocationPolicy"]["useIpAliases"] is True
    assert c["networkConfig"]["datapathProvider"] == "ADVANCED_DATAPATH"
    assert c["networkConfig"]["enableMultiNetworking"] is True
    assert c["networkConfig"]["defaultEnablePrivateNodes"] is True
    assert "privateClusterConfig" not in c  # its enablePrivateNodes is deprecated for this
    endpoints = c["controlPlaneEndpointsConfig"]
    assert endpoints["dnsEndpointConfig"].get("allowExternalTraffic", False) is False
    ip = endpoints["ipEndpointsConfig"]
    assert (ip["enabled"], ip["enablePublicEndpoint"], ip["globalAccess"]) == (True, True, True)
    assert ip["authorizedNetworksConfig"] == {
        "enabled": True,
        "cidrBlocks": [{"displayName": "oasis", "cidrBlock": f"{PUBLIC_IP}/32"}],
    }
    assert c["workloadIdentityConfig"] == {"workloadPool": "oasis-local.svc.id.goog"}
    assert c["shieldedNodes"] == {"enabled": True}
    assert c["secretManagerConfig"] == {"enabled": True}
    assert c["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    assert c["addonsConfig"] == {
        "gcsFuseCsiDriverConfig": {"enabled": True},
        "rayOperatorConfig": {
            "enabled": True,
            "rayClusterLoggingConfig": {"enabled": True},
            "rayClusterMonitoringConfig": {"enabled": True},
        },
    }
    assert c["loggingConfig"]["componentConfig"]["enableComponents"] == [
        "SYSTEM_COMPONENTS",
        "WORKLOADS",
    ]
    assert c["monitoringConfig"] == {"managedPrometheusConfig": {"enabled": True}}
    assert c["autoscaling"] == {"autoscalingProfile": "OPTIMIZE_UTILIZATION"}
    assert c["costManagementConfig"] == {"enabled": True}
    assert c["resourceLabels"] == {"oasis-deployment": "oasis"}
    assert c["status"] == "RUNNING"


def test_default_pool_runs_one_e2_standard_32_as_the_cluster_sa(deployed):
    default = next(p for p in deployed["oasis-h200"]["nodePools"] if p["name"] == "default-pool")
    assert default["initialNodeCount"] == 1
    assert default["config"]["machineType"] == "e2-standard-32"
    assert default["config"]["serviceAccount"] == SA
    assert default["config"]["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
    assert default["config"]["gcfsConfig"] == {"enabled": True}


@pytest.mark.parametrize("pool", ["oasis-h200-spot", "oasis-h200-flex"])
def test_gpu_pools_share_the_h200_settings(deployed, pool):
    p = deployed[pool]
    config = p["config"]
    assert config["machineType"] == "a3-ultragpu-8g"
    assert config["accelerators"] == [
        {
            "acceleratorCount": "8",
            "acceleratorType": "nvidia-h200-141gb",
            "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"},
        }
    ]
    assert config["serviceAccount"] == SA
    assert config["gvnic"] == {"enabled": True}
    assert config["gcfsConfig"] == {"enabled": True}
    assert config["ephemeralStorageLocalSsdConfig"] == {"localSsdCount": 32}
    assert config["shieldedInstanceConfig"] == {
        "enableSecureBoot": True,
        "enableIntegrityMonitoring": True,
    }
    assert config["labels"] == {CLASS: "h200-ccc"}
    assert config["taints"] == [
        {"key": CLASS, "value": "h200-ccc", "effect": "NO_SCHEDULE"},
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"},  # GKE's own
    ]
    assert p["management"].get("autoRepair", False) is False
    assert p.get("initialNodeCount", 0) == 0
    assert p["locations"] == ["us-south1-b"]
    networks = p["networkConfig"]["additionalNodeNetworkConfigs"]
    assert networks == [{"network": "oasis-primary-net", "subnetwork": "oasis-primary-sub"}] + [
        {"network": "oasis-rdma-net", "subnetwork": f"oasis-rdma-sub-{i}"} for i in range(8)
    ]


def test_spot_pool_autoscales_per_zone(deployed):
    p = deployed["oasis-h200-spot"]
    assert p["config"]["spot"] is True
    assert p["config"]["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
    assert p["autoscaling"] == {"enabled": True, "maxNodeCount": 10}


def test_flex_pool_is_dws_with_seven_day_runs(deployed):
    p = deployed["oasis-h200-flex"]
    config = p["config"]
    assert config["flexStart"] is True
    assert config["maxRunDuration"] == "604800s"
    assert config["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
    assert (config["diskType"], config["diskSizeGb"]) == ("hyperdisk-balanced", 100)
    assert p["autoscaling"] == {"enabled": True, "totalMaxNodeCount": 10, "locationPolicy": "ANY"}


def test_reservation_entry_adds_a_specific_reservation_pool(oasis, world, cloud_dir):
    reserve(cloud_dir, "h200-res")
    result = oasis("--local", "--set", "gpu.capacity=reservation:h200-res,spot", "up", "--yes")
    assert result.code == 0, result.stderr
    pools = {i["name"]: i["resource"] for i in world() if i["kind"] == "container#nodePool"}
    assert set(pools) == {"default-pool", "oasis-h200-res", "oasis-h200-spot"}
    assert pools["oasis-h200-res"]["config"]["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["h200-res"],
    }


@pytest.mark.parametrize(
    "reservation",
    ["h200-res/reservationBlocks/block-1", "projects/owner-project/reservations/h200-res"],
)
def test_reservation_blocks_and_shared_reservations_are_accepted(oasis, world, reservation):
    result = oasis("--local", "--set", f"gpu.capacity=reservation:{reservation}", "plan")
    assert result.code == 0, result.stderr
    assert "oasis-h200-res" in result.stdout
    assert (
        f'"{reservation}"'
        in oasis(
            "--local",
            "--set",
            f"gpu.capacity=reservation:{reservation}",
            "plan",
            "--output",
            "json",
        ).stdout
    )


def test_configured_version_below_the_minimums_is_refused(oasis, cloud_dir):
    result = oasis("--local", "--set", "cluster.version=1.31.2-gke.1000000", "up", "--yes")
    assert result.code == 2
    assert "A3 Ultra RDMA needs 1.31.4-gke.1183000 or later" in result.stderr
    assert "flex-start GPU node pools needs 1.32.2-gke.1652000" in result.stderr
    assert not cloud_dir.exists()


def test_any_ip_needs_the_explicit_flag(oasis, world):
    any_ip = ("--local", "--set", "cluster.authorized_networks=0.0.0.0/0")
    refused = oasis(*any_ip, "plan")
    assert refused.code == 2
    assert "--allow-any-ip" in refused.stderr
    assert oasis(*any_ip, "up", "--allow-any-ip", "--yes").code == 0
    cluster = next(i["resource"] for i in world() if i["name"] == "oasis-h200")
    blocks = cluster["controlPlaneEndpointsConfig"]["ipEndpointsConfig"]["authorizedNetworksConfig"]
    assert blocks["cidrBlocks"] == [{"displayName": "oasis", "cidrBlock": "0.0.0.0/0"}]


def test_ip_detection_failure_says_what_to_set(oasis, monkeypatch):
    monkeypatch.setenv("OASIS_ENDPOINTS", '{"echo": "http://127.0.0.1:9/none"}')
    result = oasis("--local", "plan")
    assert result.code == 3
    assert "could not detect your public IP" in result.stderr
    assert "cluster.authorized_networks" in result.stderr


# --- the simulation's GKE rules ---------------------------------------------------

PROJECT = "p-test1"
PARENT = f"projects/{PROJECT}/locations/us-south1"


@pytest.fixture
def clouds(tmp_path):
    """Two local clouds serving one world, as two processes would: one whose operations
    end at once (for what a test needs done first), one with realistic durations (for
    what must still be running)."""
    directory = tmp_path / "gke-cloud"
    with LocalCloud(directory) as instant, LocalCloud(directory, latency_scale=1.0) as slow:
        enable_apis(instant, PROJECT)
        yield instant, slow


@pytest.fixture
def gke(clouds):
    """A GKE client whose operations stay RUNNING, over the networks a cluster needs."""
    instant, slow = clouds
    networks = gapic(instant, compute_v1.NetworksClient, "compute")
    subnets = gapic(instant, compute_v1.SubnetworksClient, "compute")
    networks.insert(
        project=PROJECT, network_resource={"name": "net", "auto_create_subnetworks": False}
    )
    subnets.insert(
        project=PROJECT,
        region="us-south1",
        subnetwork_resource={
            "name": "sub",
            "network": f"projects/{PROJECT}/global/networks/net",
            "ip_cidr_range": "10.0.0.0/24",
        },
    )
    networks.insert(
        project=PROJECT,
        network_resource={
            "name": "rdma",
            "auto_create_subnetworks": False,
            "network_profile": f"projects/{PROJECT}/global/networkProfiles/us-south1-b-vpc-roce",
        },
    )
    subnets.insert(
        project=PROJECT,
        region="us-south1",
        subnetwork_resource={
            "name": "rdma-sub",
            "network": f"projects/{PROJECT}/global/networks/rdma",
            "ip_cidr_range": "10.1.0.0/24",
        },
    )
    return gapic(slow, container_v1.ClusterManagerClient, "container"), subnets


def cluster(**extra):
    return {
        "name": "c1",
        "network": "net",
        "subnetwork": "sub",
        "locations": ["us-south1-b"],
        "ip_allocation_policy": {"use_ip_aliases": True},
        "network_config": {
            "datapath_provider": "ADVANCED_DATAPATH",
            "enable_multi_networking": True,
        },
        "initial_node_count": 1,
        **extra,
    }


def pool(name="gpu", **extra):
    return {
        "name": name,
        "initial_node_count": 0,
        "locations": ["us-south1-b"],
        "config": {"machine_type": "e2-standard-4"},
        **extra,
    }


def test_multi_networking_needs_dataplane_v2(gke):
    client, _ = gke
    with pytest.raises(exceptions.BadRequest, match="Dataplane V2"):
        client.create_cluster(
            parent=PARENT, cluster=cluster(network_config={"enable_multi_networking": True})
        )


def test_no_pool_operation_while_the_cluster_is_created_and_networks_in_use(gke):
    client, subnets = gke
    client.create_cluster(parent=PARENT, cluster=cluster())
    with pytest.raises(exceptions.BadRequest, match="incompatible operation"):
        client.create_node_pool(parent=f"{PARENT}/clusters/c1", node_pool=pool())
    with pytest.raises(exceptions.BadRequest, match="already being used by .*clusters/c1"):
        subnets.delete(project=PROJECT, region="us-south1", subnetwork="sub")


def running_cluster(clouds):
    """Cluster c1, created through the instant cloud: RUNNING at once."""
    instant, _ = clouds
    gapic(instant, container_v1.ClusterManagerClient, "container").create_cluster(
        parent=PARENT, cluster=cluster()
    )


def test_pool_operations_run_concurrently_one_per_pool_and_block_the_cluster(gke, clouds):
    """GKE allows "one cluster-level operation or one operation per node pool" at once."""
    client, _ = gke
    running_cluster(clouds)
    client.create_node_pool(parent=f"{PARENT}/clusters/c1", node_pool=pool("a"))
    client.create_node_pool(parent=f"{PARENT}/clusters/c1", node_pool=pool("b"))
    with pytest.raises(exceptions.BadRequest, match="incompatible operation"):
        client.delete_node_pool(name=f"{PARENT}/clusters/c1/nodePools/a")
    with pytest.raises(exceptions.BadRequest, match="incompatible operation"):
        client.delete_cluster(name=f"{PARENT}/clusters/c1")
    statuses = {
        p.name: p.status.name
        for p in client.list_node_pools(parent=f"{PARENT}/clusters/c1").node_pools
    }
    assert statuses == {"a": "PROVISIONING", "b": "PROVISIONING"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {
                "network_config": {
                    "additional_node_network_configs": [{"network": "absent", "subnetwork": "sub"}]
                }
            },
            "does not exist",
        ),
        (
            {
                "locations": ["us-south1-a"],
                "network_config": {
                    "additional_node_network_configs": [
                        {"network": "rdma", "subnetwork": "rdma-sub"}
                    ]
                },
            },
            "limited to zone us-south1-b",
        ),
        ({"config": {"machine_type": "e2-standard-4", "flex_start": True}}, "autoscaling"),
        (
            {
                "config": {"machine_type": "e2-standard-4", "flex_start": True},
                "autoscaling": {"enabled": True, "total_max_node_count": 2},
                "management": {"auto_repair": True},
            },
            "auto-repair",
        ),
        ({"config": {"machine_type": "a3-ultragpu-8g"}}, "requires accelerator"),
        (
            {
                "config": {
                    "machine_type": "e2-standard-4",
                    "service_account": f"ghost@{PROJECT}.iam.gserviceaccount.com",
                }
            },
            "Verify if principal exists",
        ),
    ],
)
def test_node_pool_rules(gke, clouds, extra, message):
    client, _ = gke
    running_cluster(clouds)
    with pytest.raises(exceptions.BadRequest, match=message):
        client.create_node_pool(parent=f"{PARENT}/clusters/c1", node_pool=pool(**extra))


def test_legacy_zone_paths_are_refused(gke):
    client, _ = gke
    with pytest.raises(exceptions.BadRequest, match="parent/name"):
        client.get_cluster(project_id=PROJECT, zone="us-south1-b", cluster_id="c1")


def test_unknown_version_is_refused(gke):
    client, _ = gke
    with pytest.raises(exceptions.BadRequest, match="unsupported"):
        client.create_cluster(
            parent=PARENT, cluster=cluster(initial_cluster_version="1.20.0-gke.1")
        )


def test_down_deletes_a_pool_the_config_no_longer_names(oasis, world):
    assert oasis("--local", "up", "--yes").code == 0
    result = oasis("--local", "--set", "gpu.capacity=spot", "down", "--yes")
    assert result.code == 0, result.stderr
    assert "nodepool:flex" in result.stderr
    assert [i for i in world() if i["service"] == "container"] == []


def test_gpu_pools_are_created_in_parallel(oasis, monkeypatch, cloud_dir):
    """Pool operations overlap: the second pool is created while the first one still is."""
    monkeypatch.setenv("OASIS_LOCAL_LATENCY_SCALE", "0.005")  # a pool takes 0.9 s
    assert oasis("--local", "up", "--yes").code == 0
    with LocalCloud(cloud_dir) as cloud:
        client = gapic(cloud, container_v1.ClusterManagerClient, "container")
        ops = client.list_operations(parent="projects/oasis-local/locations/us-south1").operations
    pools = sorted(
        (op.start_time, op.end_time) for op in ops if op.operation_type.name == "CREATE_NODE_POOL"
    )
    assert len(pools) == 2
    (_, first_end), (second_start, _) = pools
    assert second_start < first_end


def test_a_cluster_upgraded_by_its_channel_is_not_drift(oasis, world):
    """Created at an older version, the cluster is upgraded by the Regular channel (at
    once at latency scale 0); `plan` sees no change, and never plans a downgrade."""
    older = ("--local", "--set", "cluster.version=1.32.4-gke.1415000")
    assert oasis(*older, "up", "--yes").code == 0
    (cluster,) = [i["resource"] for i in world() if i["kind"] == "container#cluster"]
    assert cluster["releaseChannel"] == {"channel": "REGULAR"}
    assert cluster["currentMasterVersion"] == "1.33.5-gke.1080000"
    plan = oasis(*older, "plan")
    assert plan.code == 0
    assert "0 to change" in plan.stdout


def test_pin_version_keeps_the_minor_as_the_a3_ultra_blueprint_does(oasis, world):
    pinned = (
        "--local",
        "--set",
        "cluster.version=1.32.4-gke.1415000",
        "--set",
        "cluster.pin_version=true",
    )
    assert oasis(*pinned, "up", "--yes").code == 0
    (cluster,) = [i["resource"] for i in world() if i["kind"] == "container#cluster"]
    assert cluster["currentMasterVersion"] == "1.32.4-gke.1415000"
    (exclusion,) = cluster["maintenancePolicy"]["window"]["maintenanceExclusions"].values()
    assert exclusion["maintenanceExclusionOptions"] == {
        "scope": "NO_MINOR_OR_NODE_UPGRADES",
        "endTimeBehavior": "UNTIL_END_OF_SUPPORT",
    }
    assert "0 to change" in oasis(*pinned, "plan").stdout


def test_a_changed_operator_ip_updates_the_authorized_networks_in_place(
    built, oasis, monkeypatch, world
):
    """The caller's address changes (routine): `plan` shows an in-place change, `up`
    makes it with clusters.update, and the cluster API admits the new address."""
    monkeypatch.setenv("OASIS_LOCAL_CALLER_IP", "198.51.100.9")
    plan = oasis("--local", "plan")
    assert "198.51.100.9/32" in plan.stdout
    assert "needs recreation" not in plan.stdout
    assert "1 to change" in plan.stdout
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    assert "1 updated" in result.stderr
    cluster = next(i["resource"] for i in world() if i["name"] == "oasis-h200")
    blocks = cluster["controlPlaneEndpointsConfig"]["ipEndpointsConfig"]["authorizedNetworksConfig"]
    assert blocks["cidrBlocks"] == [{"displayName": "oasis", "cidrBlock": "198.51.100.9/32"}]
    assert oasis("--local", "ray", "deploy").code == 0  # reachable from the new address


def test_pool_autoscaling_changes_in_place_and_other_settings_say_they_need_recreation(
    deployed, oasis, world
):
    resized = ("--local", "--set", "gpu.max_nodes=4")
    plan = oasis(*resized, "plan")
    assert "needs recreation" not in plan.stdout
    assert oasis(*resized, "up", "--yes").code == 0
    pools = {i["name"]: i["resource"] for i in world() if i["kind"] == "container#nodePool"}
    assert pools["oasis-h200-spot"]["autoscaling"]["maxNodeCount"] == 4
    assert pools["oasis-h200-flex"]["autoscaling"]["totalMaxNodeCount"] == 4
    driver = ("--local", "--set", "gpu.max_nodes=4", "--set", "gpu.driver=DEFAULT")
    changes = [
        c for p in oasis(*driver, "plan", "--output", "json").json()["plan"] for c in p["changes"]
    ]
    assert any(
        c.startswith("config.accelerators") and c.endswith("(needs recreation)") for c in changes
    )
    refused = oasis(*driver, "up", "--yes")
    assert refused.code == 1
    assert "cannot be changed in place" in refused.stderr


def test_a_cluster_left_in_error_by_a_failed_create_is_replaced(
    oasis, cloud_dir, world, requests_log
):
    """GKE leaves a failed create's cluster in ERROR; the next `plan` shows its
    replacement and `up` deletes and creates it again instead of looping on 'ok'."""
    faults.add(
        Store(cloud_dir),
        {"action": "fail_operation", "method": "POST", "path": "/clusters$", "message": "boom"},
    )
    assert oasis("--local", "up", "--yes").code == 1
    (broken,) = [i["resource"] for i in world() if i["kind"] == "container#cluster"]
    assert broken["status"] == "ERROR"
    plan = oasis("--local", "plan", "--output", "json").json()["plan"]
    (cluster,) = [p for p in plan if p["key"] == "cluster"]
    assert cluster["action"] == "update"
    assert cluster["changes"][0] == "status: 'ERROR' -> 'RUNNING (deleted and created again)'"
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    (cluster_now,) = [i["resource"] for i in world() if i["kind"] == "container#cluster"]
    assert cluster_now["status"] == "RUNNING"
    pools = {i["name"] for i in world() if i["kind"] == "container#nodePool"}
    assert pools == {"default-pool", "oasis-h200-spot", "oasis-h200-flex"}


def test_up_after_a_killed_down_waits_for_the_deletion_then_creates(
    oasis, deployed, cloud_dir, world
):
    """A cluster still STOPPING (a `down` killed after the delete was sent): `up` waits
    for the deletion to finish, then creates it again."""
    with LocalCloud(cloud_dir, latency_scale=0.005) as slow:  # the delete takes 1.2 s
        gapic(slow, container_v1.ClusterManagerClient, "container").delete_cluster(
            name="projects/oasis-local/locations/us-south1/clusters/oasis-h200"
        )
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    (cluster,) = [i["resource"] for i in world() if i["kind"] == "container#cluster"]
    assert cluster["status"] == "RUNNING"


def test_cluster_settings_gke_updates_in_place_are_repaired_in_place(
    deployed, oasis, cloud_dir, world
):
    """Someone turned cost management off and dropped workload logging: `plan` shows
    in-place changes and `up` makes them through clusters.update; the datapath (which
    GKE cannot change on an existing cluster) would need recreation."""
    with LocalCloud(cloud_dir) as cloud:
        client = gapic(cloud, container_v1.ClusterManagerClient, "container")
        name = "projects/oasis-local/locations/us-south1/clusters/oasis-h200"
        for update in (
            {"desired_cost_management_config": {"enabled": False}},
            {
                "desired_logging_config": {
                    "component_config": {"enable_components": ["SYSTEM_COMPONENTS"]}
                }
            },
        ):
            client.update_cluster(name=name, update=update)
    plan = oasis("--local", "plan", "--output", "json").json()["plan"]
    (cluster,) = [p for p in plan if p["key"] == "cluster"]
    assert cluster["action"] == "update"
    assert all("needs recreation" not in c for c in cluster["changes"])
    result = oasis("--local", "up", "--yes")
    assert result.code == 0, result.stderr
    live = next(i["resource"] for i in world() if i["kind"] == "container#cluster")
    assert live["costManagementConfig"] == {"enabled": True}
    assert live["loggingConfig"]["componentConfig"]["enableComponents"] == [
        "SYSTEM_COMPONENTS",
        "WORKLOADS",
    ]
    from oasis_cli.resources.base import Change
    from oasis_cli.resources.gke import Cluster

    assert not Cluster().in_place(Change("network_config.datapath_provider", "LEGACY", "ADVANCED"))
