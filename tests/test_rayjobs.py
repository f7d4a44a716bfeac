"""Submitting a Ray job through the Jobs API when the connection to the dashboard
drops (a port-forward stream that failed, a head still starting): the submit is
sent again under the same submission id, and never runs the job twice. The
dashboard here is a stand-in HTTP server that answers as Ray's Jobs API does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from oasis_cli import rayjobs


class Dashboard:
    """Jobs by submission id; `drop` says how to fail the next POSTs."""

    def __init__(self, drop: list[str]) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.drop = drop  # "before": close before acting; "after": act, then close
        self.posts = 0


@pytest.fixture
def dashboard(request) -> Iterator[tuple[str, Dashboard]]:
    state = Dashboard(list(request.param))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.posts += 1
            how = state.drop.pop(0) if state.drop else ""
            if how == "before":
                self.close_connection = True
                self.connection.close()
                return
            job = body["submission_id"]
            if job in state.jobs:  # Ray's answer to a second job of one id
                self._answer(400, {"detail": f"Job with submission_id {job} already exists."})
                return
            state.jobs[job] = body
            if how == "after":
                self.close_connection = True
                self.connection.close()
                return
            self._answer(200, {"submission_id": job})

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("dashboard", [["before"], ["after"], ["before", "after"]], indirect=True)
def test_a_dropped_submit_is_sent_again_and_runs_the_job_once(dashboard, monkeypatch):
    monkeypatch.setattr(rayjobs.time, "sleep", lambda seconds: None)
    base, state = dashboard
    job = rayjobs.submit(base, "python job.py", {}, None)
    assert list(state.jobs) == [job]  # one job, whichever answer was lost
    assert state.posts >= 2 and job.startswith("oasis-")
