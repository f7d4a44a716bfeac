"""`oasis local-cloud serve` on stable ports, and `local-cloud` subcommands acting on
the local cloud whether or not --local is given."""

from __future__ import annotations

import socket

from oasis_cli.localcloud.cloud import LocalCloud

from conftest import free_ports


def test_a_port_makes_every_endpoint_stable_across_restarts(tmp_path):
    port = free_ports()
    with LocalCloud(tmp_path / "cloud", port=port) as cloud:
        first = cloud.endpoints
    with LocalCloud(tmp_path / "cloud", port=port) as cloud:
        again = cloud.endpoints
    assert first == again
    assert first["compute"] == f"http://127.0.0.1:{port}/compute"
    assert first["iam"] == f"127.0.0.1:{port + 2}"


def test_each_cluster_keeps_its_own_api_port_across_restarts(deployed, cloud_dir):
    """kubectl talks to the root of a kubeconfig's server, so each cluster has a port
    of its own; a kubeconfig written against `serve --port` must survive a restart."""
    from google.cloud import container_v1

    from conftest import CLUSTER, gapic

    port = free_ports()
    with LocalCloud(cloud_dir, port=port) as cloud:
        first = gapic(cloud, container_v1.ClusterManagerClient, "container").get_cluster(
            name=CLUSTER
        )
    with LocalCloud(cloud_dir, port=port) as cloud:
        again = gapic(cloud, container_v1.ClusterManagerClient, "container").get_cluster(
            name=CLUSTER
        )
    assert first.endpoint == again.endpoint == f"127.0.0.1:{port + 1}"


def test_serve_on_a_taken_port_says_so(oasis):
    port = free_ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 2))
        taken.listen()
        result = oasis("local-cloud", "serve", "--port", str(port))
    assert result.code == 3
    assert f"cannot serve the local cloud on ports {port}-{port + 2}" in result.stderr


def test_local_cloud_commands_act_on_the_local_cloud_without_local(deployed, oasis, workspace):
    result = oasis("local-cloud", "ls")
    assert result.code == 0, result.stderr
    assert "oasis-mgmt-net" in result.stdout
    assert not (workspace / ".oasis" / "cloud").exists()  # no second, empty world
    assert "compute" in oasis("local-cloud", "log").stdout
