"""`oasis ray deploy | status | submit`, `oasis kubeconfig` and `oasis dashboard`: the
Kubernetes and Ray layer, and reaching it from this machine."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from oasis_cli import deploy, graphs, rayjobs
from oasis_cli.commands.outcome import finish
from oasis_cli.config.names import Deployment
from oasis_cli.errors import ConfigError, OasisError, PreflightError
from oasis_cli.kube.client import Kube, cluster_client, cluster_path, endpoint, pod_ready
from oasis_cli.options import Options
from oasis_cli.session import Context, open_session
from oasis_cli.ui import print_json

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def deploy_layer(opts: Options) -> None:
    """Apply the Kubernetes and Ray layer and wait until the Ray head is ready."""
    with open_session(opts, "ray-deploy", detect_ip=False) as context:
        graph = graphs.kubernetes(context.deployment, context.ledger)
        graphs.require(context.ledger, graph, "ray deploy")
        outcome = deploy.up(context, graph)
    finish(opts, context, outcome, "ray deploy", retry="oasis ray deploy")


def cluster_kube(context: Context, d: Deployment) -> Kube:
    """The deployment's cluster's Kubernetes client; refuses (exit 3) without a cluster."""
    kube = cluster_client(
        context.cloud, cluster_path(context.cloud.project, d.region, d.names.cluster)
    )
    if kube is None:
        raise PreflightError("the cluster does not exist.", hint="Run `oasis up` first.")
    return kube


def status(opts: Options) -> None:
    """The RayCluster's state and its head and worker pods."""
    from oasis_cli.kube.errors import kube_errors

    with open_session(opts, "ray-status", read_only=True, detect_ip=False) as context:
        ray = context.deployment.config.ray
        kube = cluster_kube(context, context.deployment)
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


def kubeconfig(opts: Options, *, path: Path | None) -> None:
    """Write or update a kubeconfig context for the cluster, as `gcloud container
    clusters get-credentials` does."""
    from oasis_cli.kube.kubeconfig import write

    with open_session(opts, "kubeconfig", read_only=True, detect_ip=False) as context:
        d = context.deployment
        name = d.names.cluster
        where = endpoint(context.cloud, cluster_path(context.cloud.project, d.region, name))
        if where is None:
            raise PreflightError(f"cluster {name} does not exist.", hint="Run `oasis up` first.")
        target, previous = write(path, d.project, d.region, name, where, local=opts.local)
    context_name = f"gke_{d.project}_{d.region}_{name}"
    opts.stderr.print(
        f"wrote context {context_name} to {target}; it is now the current context", highlight=False
    )
    if previous and previous != context_name:
        opts.stderr.print(
            f"it was {previous}: `kubectl config use-context {previous}` switches back",
            highlight=False,
        )
    if opts.local:
        opts.stderr.print(
            "[yellow]note[/]: the local cloud serves this cluster only while an oasis command "
            "runs; keep `oasis local-cloud serve` running in another terminal to use kubectl "
            "with this context.",
            highlight=False,
        )


def dashboard(opts: Options, *, port: int, open_browser: bool) -> None:
    """Forward the Ray dashboard to http://127.0.0.1:PORT until Ctrl-C or SIGTERM."""
    with open_session(opts, "dashboard", read_only=True, detect_ip=False) as context:
        try:
            forwarder = rayjobs.forwarder(
                cluster_kube(context, context.deployment),
                context.deployment,
                port,
                lambda m: opts.stderr.print(m),
            )
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


def submit(
    opts: Options,
    command: list[str],
    *,
    working_dir: Path | None,
    runtime_env: Path | None,
    write: Callable[[str], None],
) -> str:
    """Run `command` as a Ray job through the dashboard's Jobs API, streaming its log
    to `write`; the job's final status. A job that did not succeed raises with the
    Jobs API's reason and the log's last lines."""
    import shlex

    if not command:
        raise ConfigError("ray submit: no command", hint="e.g. oasis ray submit -- python train.py")
    env = {} if runtime_env is None else rayjobs.runtime_env(runtime_env)
    if working_dir is not None and not working_dir.is_dir():
        raise ConfigError(f"--working-dir {working_dir}: not a directory")
    with open_session(opts, "ray-submit", read_only=True, detect_ip=False) as context:
        job, ended = rayjobs.run(
            cluster_kube(context, context.deployment),
            context.deployment,
            shlex.join(command),
            env,
            working_dir,
            write,
            on_submit=lambda job: opts.stderr.print(f"submitted job {job}"),
        )
    if ended.status != "SUCCEEDED":
        raise OasisError(
            rayjobs.failure(job, ended),
            hint="The whole log is above; `oasis dashboard` shows the job too.",
        )
    opts.stderr.print(f"job {job}: {ended.status}")
    return ended.status
