"""`oasis ray deploy | status` and `oasis kubeconfig`: the Kubernetes and Ray layer."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from oasis_cli import deploy
from oasis_cli.cli.app import OutputOption, app, options
from oasis_cli.cli.commands import finish
from oasis_cli.errors import PreflightError
from oasis_cli.session import open_session
from oasis_cli.ui import print_json

ray_app = typer.Typer(help="The Ray cluster on GKE: deploy it, see it.")
app.add_typer(ray_app, name="ray")


@ray_app.command("deploy")
def ray_deploy(ctx: typer.Context, output: OutputOption = None) -> None:
    """Apply the Kubernetes and Ray layer and wait until the Ray head is ready.

    Server-side apply in SPEC order, each object waited on; safe to re-run.
    """
    from oasis_cli import graphs

    opts = options(ctx, output=output)
    with open_session(opts, "ray-deploy", detect_ip=False) as (session, context):
        graph = graphs.kubernetes(session.deployment, context.ledger)
        graphs.require(context.ledger, graph, "ray deploy")
        outcome = deploy.up(context, graph)
    finish(opts, session, outcome, "ray deploy", retry="oasis ray deploy")


@ray_app.command("status")
def ray_status(ctx: typer.Context, output: OutputOption = None) -> None:
    """The RayCluster's state and its head and worker pods."""
    from oasis_cli.kube.client import pod_ready
    from oasis_cli.kube.errors import kube_errors

    opts = options(ctx, output=output)
    with open_session(opts, "ray-status", read_only=True, detect_ip=False) as (session, context):
        ray = session.deployment.config.ray
        kube = cluster_kube(context, session.deployment)
        with kube_errors(f"RayCluster {ray.cluster_name}"):
            cluster = kube.get("ray.io/v1", "RayCluster", ray.cluster_name, ray.namespace)
            pods = kube.list("v1", "Pod", ray.namespace, f"ray.io/cluster={ray.cluster_name}")
    if cluster is None:
        raise PreflightError(
            f"RayCluster {ray.cluster_name} is not deployed.", hint="Run `oasis ray deploy`."
        )
    rows = [
        {
            "pod": pod["metadata"]["name"],
            "type": pod["metadata"].get("labels", {}).get("ray.io/node-type", ""),
            "phase": (pod.get("status") or {}).get("phase", ""),
            "ready": pod_ready(pod),
        }
        for pod in pods
    ]
    state = (cluster.get("status") or {}).get("state") or "pending"
    if opts.json:
        print_json({"cluster": ray.cluster_name, "state": state, "pods": rows})
        return
    opts.stdout.print(f"RayCluster {ray.cluster_name}: {state}")
    for row in rows:
        ready = "ready" if row["ready"] else "not ready"
        opts.stdout.print(f"  {row['type']:<7} {row['pod']:<40} {row['phase']:<10} {ready}")


def cluster_kube(context: Any, d: Any) -> Any:
    """The deployment's cluster's Kubernetes client; refuses (exit 3) without a cluster."""
    from oasis_cli.kube.client import cluster_client, cluster_path

    kube = cluster_client(
        context.cloud, cluster_path(context.cloud.project, d.region, d.names.cluster)
    )
    if kube is None:
        raise PreflightError("the cluster does not exist.", hint="Run `oasis up` first.")
    return kube


@app.command()
def kubeconfig(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Option(
            "--path", help="Kubeconfig to update (default: $KUBECONFIG or ~/.kube/config)."
        ),
    ] = None,
) -> None:
    """Write or update a kubeconfig context for the cluster.

    As `gcloud container clusters get-credentials` does: kubectl then authenticates
    with gke-gcloud-auth-plugin.
    """
    from oasis_cli.kube.kubeconfig import write

    opts = options(ctx)
    with open_session(opts, "kubeconfig", read_only=True, detect_ip=False) as (session, context):
        d = session.deployment
        name = d.names.cluster
        from oasis_cli.kube.client import cluster_path, endpoint

        where = endpoint(context.cloud, cluster_path(context.cloud.project, d.region, name))
        if where is None:
            raise PreflightError(f"cluster {name} does not exist.", hint="Run `oasis up` first.")
        target = write(path, d.project, d.region, name, where, local=opts.local)
    opts.stderr.print(f"wrote context gke_{d.project}_{d.region}_{name} to {target}")
    if opts.local:
        opts.stderr.print(
            "[yellow]note[/]: the local cloud serves this cluster only while an oasis command "
            "or `oasis local-cloud serve` runs, on the port it had then."
        )


DASHBOARD_SERVICE = "ray-dashboard-service"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
DASHBOARD_PORT = 8265


def _forwarder(context: Any, session: Any, local_port: int, on_event: Any) -> Any:
    from oasis_cli.kube.forward import Forwarder

    d = session.deployment
    forwarder = Forwarder(
        cluster_kube(context, d),
        d.config.ray.namespace,
        DASHBOARD_SERVICE,
        DASHBOARD_PORT,
        local_port,
        on_event,
    )
    forwarder.pod()  # fail now, clearly, if nothing serves the dashboard
    return forwarder


@app.command()
def dashboard(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="Local port.", min=0, max=65535)] = 8265,
    open_browser: Annotated[bool, typer.Option("--open", help="Open it in a browser.")] = False,
) -> None:
    """Forward the Ray dashboard to http://127.0.0.1:PORT until Ctrl-C.

    Each connection gets its own port-forward stream to the Running head pod, so a
    dropped connection or a new head pod is picked up by the next request.
    """
    from oasis_cli.kube.forward import NoPod

    opts = options(ctx)
    with open_session(opts, "dashboard", read_only=True, detect_ip=False) as (session, context):
        try:
            forwarder = _forwarder(context, session, port, lambda m: opts.stderr.print(m))
        except NoPod as exc:
            raise PreflightError(str(exc), hint="Run `oasis ray deploy` first.") from None
        except OSError as exc:
            raise PreflightError(f"cannot listen on 127.0.0.1:{port}: {exc}") from None
        url = f"http://127.0.0.1:{forwarder.port}"
        opts.stdout.print(f"Ray dashboard: {url}  (Ctrl-C to stop)", highlight=False)
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        # Ctrl-C (or SIGTERM) asks the accept loop to end, whatever the threads are doing
        stop = {sig: signal.signal(sig, lambda *_: forwarder.stop()) for sig in STOP_SIGNALS}
        try:
            forwarder.serve_forever()
        finally:
            for sig, previous in stop.items():
                signal.signal(sig, previous)
        opts.stderr.print("stopped.")


def _write(text: str) -> None:
    import sys

    sys.stdout.write(text)
    sys.stdout.flush()


@ray_app.command(
    "submit", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def ray_submit(
    ctx: typer.Context,
    working_dir: Annotated[
        Path | None,
        typer.Option("--working-dir", help="Directory uploaded as the job's working dir."),
    ] = None,
    runtime_env: Annotated[
        Path | None,
        typer.Option("--runtime-env", help="JSON or YAML file with the job's runtime env."),
    ] = None,
) -> None:
    """Run `-- CMD...` as a Ray job and stream its log; exit 0 if it succeeded.

    Goes through the dashboard's Jobs API; --working-dir is uploaded as a package.
    """
    import shlex

    import yaml

    from oasis_cli.errors import ConfigError
    from oasis_cli.kube import jobs
    from oasis_cli.kube.forward import NoPod

    opts = options(ctx)
    command = list(ctx.args)
    if not command:
        raise ConfigError("ray submit: no command", hint="e.g. oasis ray submit -- python train.py")
    env: dict = {}
    if runtime_env is not None:
        try:
            env = yaml.safe_load(runtime_env.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"--runtime-env {runtime_env}: {exc}") from None
        if not isinstance(env, dict):
            raise ConfigError(f"--runtime-env {runtime_env}: must be a mapping")
    if working_dir is not None and not working_dir.is_dir():
        raise ConfigError(f"--working-dir {working_dir}: not a directory")
    import threading

    with open_session(opts, "ray-submit", read_only=True, detect_ip=False) as (session, context):
        try:
            forwarder = _forwarder(context, session, 0, lambda m: None)
        except NoPod as exc:
            raise PreflightError(str(exc), hint="Run `oasis ray deploy` first.") from None
        threading.Thread(target=forwarder.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{forwarder.port}"
        try:
            job = jobs.submit(base, shlex.join(command), env, working_dir)
            opts.stderr.print(f"submitted job {job}")
            status = jobs.follow(base, job, _write)
        finally:
            forwarder.stop()
    opts.stderr.print(f"job {job}: {status}")
    if status != "SUCCEEDED":
        raise typer.Exit(1)
