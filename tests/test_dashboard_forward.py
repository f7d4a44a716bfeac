"""`oasis dashboard`'s port-forward under many connections at once, and when the head
pod changes: oasis's Forwarder against the simulated cluster (no real Ray here; the
real dashboard through it is `test_ray_local`)."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from oasis_cli.gcp.clients import Cloud
from oasis_cli.kube.client import cluster_client
from oasis_cli.kube.forward import Forwarder
from oasis_cli.localcloud.cloud import LocalCloud
from oasis_cli.localcloud.infra.store import Store
from oasis_cli.polling import PollPolicy

from conftest import CLUSTER


@pytest.fixture
def kube(ray_deployed, cloud_dir: Path):
    with LocalCloud(cloud_dir) as local:
        cloud = Cloud("oasis-local", local.endpoints, anonymous=True, poll=PollPolicy())
        yield cluster_client(cloud, CLUSTER)


@pytest.fixture
def forwarding(kube):
    events: list[str] = []
    forwarder = Forwarder(kube, "default", "ray-dashboard-service", 8265, 0, events.append)
    serving = threading.Thread(target=forwarder.serve_forever, daemon=True)
    serving.start()
    yield forwarder, events
    forwarder.stop()
    serving.join(timeout=5)


def connect_once(port: int) -> bytes:
    """One local connection through the forward: send a request, read to the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := connection.recv(4096):
            received += chunk
        return received


def test_many_connections_at_once_leave_the_shared_client_working(forwarding, kube):
    """Each connection opens its own port-forward stream at the same moment, as a
    browser's parallel requests do; the kubernetes client's portforward() swaps the
    ApiClient's call_api while it opens one, so a shared client would be left broken."""
    forwarder, events = forwarding
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(connect_once, [forwarder.port] * 64))
    service = kube.get("v1", "Service", "ray-dashboard-service", "default")
    assert service is not None and service["spec"]["ports"][0]["port"] == 8265
    pods = kube.list("v1", "Pod", "default", "ray.io/node-type=head")
    assert len(pods) == 1
    assert not [e for e in events if e.startswith("cannot forward")]


def replace_head_pod(cloud_dir: Path) -> str:
    """What KubeRay does when the head pod is lost: a new head pod, a new name."""
    with Store(cloud_dir).transaction() as world:
        objects = world["kubernetes"][CLUSTER]["objects"]
        key = next(k for k, o in objects.items() if o["kind"] == "Pod")
        pod = objects.pop(key)
        pod["metadata"]["name"] = new = pod["metadata"]["name"][:-5] + "zzzzz"
        pod["metadata"].pop("uid")
        objects[key.rsplit("/", 1)[0] + "/" + new] = pod
    return new


def test_a_new_head_pod_is_picked_up_by_the_next_connection_and_said(forwarding, cloud_dir):
    forwarder, events = forwarding
    old = forwarder.pod()
    connect_once(forwarder.port)
    new = replace_head_pod(cloud_dir)
    connect_once(forwarder.port)
    assert forwarder.pod() == new
    assert f"pod {old} is gone; forwarding to pod {new}" in events
