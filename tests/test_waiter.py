"""The waiter: deadline and backoff, and each operation shape over real HTTP.

GKE and google.longrunning operations are served here in their wire formats by a
small scripted server, so the real client libraries poll them exactly as they
would poll Google.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from oasis_cli.errors import OperationFailed, OperationTimeout
from oasis_cli.gcp.clients import Cloud
from oasis_cli.gcp.waiter import wait_gke, wait_longrunning
from oasis_cli.polling import PollPolicy, wait_until

FAST = PollPolicy(initial_s=0.01, maximum_s=0.02, deadline_s=5)


def test_wait_until_backs_off_and_stops_at_the_deadline():
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    policy = PollPolicy(initial_s=1, maximum_s=4, multiplier=2, deadline_s=10)
    with pytest.raises(OperationTimeout, match="op-1 still running after 10s"):
        wait_until(lambda: False, name="op-1", policy=policy, clock=lambda: now[0], sleep=sleep)
    assert sleeps == [1, 2, 4, 3]


def test_wait_until_returns_once_done():
    calls = iter([False, False, True])
    wait_until(lambda: next(calls), name="op", policy=FAST)


class Scripted(BaseHTTPRequestHandler):
    """Answers GET/POST paths from `routes`: path -> list of JSON bodies, one per call."""

    routes: dict[str, list[dict]] = {}
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        path = self.path.split("?")[0]
        bodies = self.routes.get(path)
        status, body = (
            (200, bodies.pop(0) if len(bodies) > 1 else bodies[0])
            if bodies
            else (
                404,
                {"error": {"code": 404, "message": f"no route {path}", "status": "NOT_FOUND"}},
            )
        )
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer


@pytest.fixture
def scripted():
    routes: dict[str, list[dict]] = {}
    handler = type("Handler", (Scripted,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    cloud = Cloud(
        project="test-project",
        endpoints={"container": f"{base}/container", "serviceusage": f"{base}/serviceusage"},
        anonymous=True,
        poll=FAST,
    )
    yield routes, cloud
    server.shutdown()
    server.server_close()


GKE_OP = "projects/test-project/locations/us-south1/operations/operation-1"


def gke_op(status: str, **extra: object) -> dict:
    return {
        "name": "operation-1",
        "operationType": "CREATE_CLUSTER",
        "status": status,
        "selfLink": f"https://container.googleapis.com/v1/{GKE_OP}",
        **extra,
    }


def test_gke_operation_is_polled_until_done(scripted):
    routes, cloud = scripted
    routes[f"/container/v1/{GKE_OP}"] = [gke_op("PENDING"), gke_op("RUNNING"), gke_op("DONE")]
    assert wait_gke(cloud, GKE_OP).name == "operation-1"
    assert routes[f"/container/v1/{GKE_OP}"] == [gke_op("DONE")]


def test_gke_operation_error_raises_with_name_and_message(scripted):
    routes, cloud = scripted
    routes[f"/container/v1/{GKE_OP}"] = [
        gke_op("DONE", error={"code": 8, "message": "ZONE_RESOURCE_POOL_EXHAUSTED"})
    ]
    with pytest.raises(OperationFailed, match=r"operation-1 failed \(8\): ZONE_RESOURCE_POOL"):
        wait_gke(cloud, GKE_OP)


def batch_enable(cloud: Cloud):
    client = cloud.client("serviceusage", "google.cloud.service_usage_v1", "ServiceUsageClient")
    return client.batch_enable_services(
        request={"parent": "projects/test-project", "service_ids": ["compute.googleapis.com"]}
    )


RESPONSE_TYPE = "type.googleapis.com/google.api.serviceusage.v1.BatchEnableServicesResponse"


def test_longrunning_operation_is_refreshed_until_done(scripted):
    routes, cloud = scripted
    routes["/serviceusage/v1/projects/test-project/services:batchEnable"] = [
        {"name": "operations/op-7", "done": False}
    ]
    routes["/serviceusage/v1/operations/op-7"] = [
        {"name": "operations/op-7", "done": False},
        {
            "name": "operations/op-7",
            "done": True,
            "response": {"@type": RESPONSE_TYPE, "services": [{"name": "s1"}]},
        },
    ]
    response = wait_longrunning(cloud, batch_enable(cloud))
    assert [service.name for service in response.services] == ["s1"]


def test_longrunning_operation_error_raises(scripted):
    routes, cloud = scripted
    routes["/serviceusage/v1/projects/test-project/services:batchEnable"] = [
        {"name": "operations/op-8", "done": False}
    ]
    routes["/serviceusage/v1/operations/op-8"] = [
        {
            "name": "operations/op-8",
            "done": True,
            "error": {"code": 7, "message": "Permission denied to enable service"},
        },
    ]
    with pytest.raises(OperationFailed, match="operations/op-8 failed .*Permission denied"):
        wait_longrunning(cloud, batch_enable(cloud))
