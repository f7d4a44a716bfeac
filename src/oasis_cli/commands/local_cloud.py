"""`oasis local-cloud serve | ls | log | reset`: look into and drive the local cloud."""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

from oasis_cli.errors import PreflightError
from oasis_cli.options import Options
from oasis_cli.ui import print_json


def serve(opts: Options, *, port: int) -> None:
    """Serve the local cloud in the foreground until Ctrl-C or SIGTERM."""
    from oasis_cli.localcloud.cloud import LocalCloud
    from oasis_cli.session import latency_scale

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cloud = LocalCloud(opts.local_cloud_dir, latency_scale=latency_scale(), port=port)
    try:
        cloud.start()
    except (OSError, RuntimeError) as exc:  # grpc raises RuntimeError for a taken port
        cloud.stop()
        raise PreflightError(
            f"cannot serve the local cloud on ports {port}-{port + 2}: {exc}",
            hint="Is `oasis local-cloud serve` running already? Or pick others with --port.",
        ) from None
    try:
        print(f"export OASIS_ENDPOINTS={shlex.quote(json.dumps(cloud.endpoints))}", flush=True)
        opts.stderr.print(
            f"serving the local cloud on 127.0.0.1:{cloud.port} (Ctrl-C stops it); in "
            f'another shell, `eval "$(oasis local-cloud env --port {cloud.port})"` points '
            "gcloud, kubectl and oasis at it",
            highlight=False,
        )
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        cloud.stop()


# gcloud's endpoint override for each API the local cloud serves: its base URL with
# what gcloud's client appends dropped (Compute's and Storage's JSON API include the
# version; the others add it themselves)
GCLOUD_APIS = {
    "compute": "compute/compute/v1/",
    "container": "container/",
    "storage": "storage/storage/v1/",
    "artifactregistry": "artifactregistry/",
    "cloudbuild": "cloudbuild/",
    "secretmanager": "secretmanager/",
    "serviceusage": "serviceusage/",
    "cloudresourcemanager": "cloudresourcemanager/",
    "servicenetworking": "servicenetworking/",
    "binaryauthorization": "binaryauthorization/",
    "iam": "iam/",
}


def env(opts: Options, *, port: int) -> None:
    """The shell settings that point gcloud, kubectl and oasis at `local-cloud serve`
    on `port`: `eval "$(oasis local-cloud env)"`. gcloud gets a throwaway config
    directory with the project set and a placeholder access token (the local cloud
    takes any bearer token; a token rather than credentials turned off lets
    gke-gcloud-auth-plugin get one, so the kubeconfig `gcloud container clusters
    get-credentials` writes works); kubectl a kubeconfig with a context per
    simulated cluster."""
    from oasis_cli.kube.client import LOCAL_TOKEN
    from oasis_cli.ledger import private_dir
    from oasis_cli.localcloud.cloud import endpoints_at
    from oasis_cli.session import LOCAL_PROJECT

    config = private_dir(opts.state_root / "gcloud").resolve()
    token = config / "local-access-token"
    token.write_text(LOCAL_TOKEN + "\n")  # a placeholder, not a credential
    settings = {
        "OASIS_ENDPOINTS": json.dumps(endpoints_at(port, port + 2)),
        "CLOUDSDK_CONFIG": str(config),
        "CLOUDSDK_CORE_PROJECT": LOCAL_PROJECT,
        "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(token),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        **{
            f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api.upper()}": f"http://127.0.0.1:{port}/{path}"
            for api, path in GCLOUD_APIS.items()
        },
        "KUBECONFIG": str(_kubeconfig(opts)),
    }
    for name, value in settings.items():
        print(f"export {name}={shlex.quote(value)}")


def _kubeconfig(opts: Options) -> Path:
    """The kubeconfig for kubectl, with a context per simulated cluster `local-cloud
    serve` has given a port (the last one current); `gcloud container clusters
    get-credentials` adds to it."""
    from oasis_cli.kube.client import Endpoint
    from oasis_cli.kube.kubeconfig import write
    from oasis_cli.localcloud.infra import world as world_tables
    from oasis_cli.localcloud.infra.store import Store
    from oasis_cli.localcloud.infra.tls import ca_certificate

    target = (opts.state_root / "kubeconfig").resolve()
    if not (opts.local_cloud_dir / "state.json").exists():
        return target
    world = Store(opts.local_cloud_dir).read()
    clusters = world_tables.CLUSTERS.rows(world)
    ports = world_tables.KUBE_PORTS.rows(world)
    served = sorted(path for path in clusters if path in ports)
    ca = ca_certificate(opts.local_cloud_dir) if served else b""
    for path in served:
        _, project, _, location, _, name = path.split("/")
        server = f"https://127.0.0.1:{ports[path]}"
        write(target, project, location, name, Endpoint(server, ca), local=True)
    return target


def list_resources(opts: Options) -> None:
    """Every simulated resource, as GET returns it."""
    from oasis_cli.localcloud.cloud import LocalCloud

    _show(
        opts,
        LocalCloud(opts.local_cloud_dir).inventory(),
        "{service:<18} {kind:<30} {location:<12} {name}",
    )


def request_log(opts: Options) -> None:
    """The requests the local cloud served."""
    from oasis_cli.localcloud.infra.store import Store

    _show(opts, Store(opts.local_cloud_dir).read_log(), "{status} {method:<6} /{service}{path}")


def _show(opts: Options, rows: list[dict[str, Any]], line: str) -> None:
    """Rows as JSON, or one `line` each, never wrapped (piped output keeps names whole)."""
    if opts.json:
        print_json(rows)
        return
    for row in rows:
        opts.stdout.print(line.format(**row), highlight=False, soft_wrap=True, markup=False)


def reset(opts: Options) -> None:
    """Forget the local cloud's world and the local ledgers (stopping its Ray heads)."""
    if opts.local_cloud_dir.is_dir():
        from oasis_cli.localcloud.infra.store import Store
        from oasis_cli.localcloud.kubernetes.controllers import stop_all

        with Store(opts.local_cloud_dir).transaction() as world:
            stop_all(world)  # the real Ray heads it started
    shutil.rmtree(opts.state_root, ignore_errors=True)
    opts.stderr.print(f"removed {opts.state_root}")
