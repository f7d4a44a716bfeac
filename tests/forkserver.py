"""A warm interpreter that forks one child per oasis run, for the kill tests.

A fresh `python -m oasis_cli` spends most of a short run importing the client
libraries. The server imports them once; each run is a forked child with its own
working directory, environment, argv and output files, so a child the local cloud
SIGKILLs dies alone, exactly as a separate process does, and its status is reported
the way `subprocess` reports it (a negative signal number).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SERVER = r"""
import json, os, sys
import oasis_cli.cli, oasis_cli.deploy, oasis_cli.graphs, oasis_cli.localcloud.cloud
for module in WARM:
    __import__(module)
from oasis_cli.cli import main
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        sys.argv = ["oasis", *job["args"]]
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    print(json.dumps({"returncode": code}), flush=True)
"""

# What `up` and `down` import lazily; imported once in the server.
WARM = (
    "google.cloud.compute_v1",
    "google.cloud.container_v1",
    "google.cloud.storage",
    "google.cloud.iam_admin_v1",
    "google.cloud.artifactregistry_v1",
    "google.cloud.resourcemanager_v3",
    "google.cloud.service_usage_v1",
    "google.cloud.secretmanager_v1",
    "google.cloud.devtools.cloudbuild_v1",
    "google.auth.transport.requests",
    "grpc",
)


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


class ForkServer:
    def __init__(self) -> None:
        source = f"WARM = {WARM!r}\n{SERVER}"
        self._process = subprocess.Popen(
            [sys.executable, "-c", source],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "GRPC_ENABLE_FORK_SUPPORT": "0"},
        )
        self._out = Path(tempfile.mkdtemp(prefix="oasis-fork-"))

    def run(self, *args: str, env: dict[str, str] | None = None) -> Completed:
        """Run `oasis ARGS` in a forked child, in the current directory and environment."""
        assert self._process.stdin is not None and self._process.stdout is not None
        stdout, stderr = self._out / "stdout", self._out / "stderr"
        job = {
            "args": list(args),
            "env": {**os.environ, **(env or {})},
            "cwd": os.getcwd(),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        self._process.stdin.write(json.dumps(job) + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError("the fork server died")
        return Completed(json.loads(answer)["returncode"], stdout.read_text(), stderr.read_text())

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)
