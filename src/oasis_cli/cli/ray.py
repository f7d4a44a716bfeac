"""`oasis ray deploy | status | submit`, `oasis kubeconfig` and `oasis dashboard`:
parse, then call one function."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from oasis_cli.cli.app import OutputOption, app, options

ray_app = typer.Typer(help="The Ray cluster on GKE: deploy it, see it.")
app.add_typer(ray_app, name="ray")


@ray_app.command("deploy")
def ray_deploy(ctx: typer.Context, output: OutputOption = None) -> None:
    """Apply the Kubernetes and Ray layer and wait until the Ray head is ready.

    Server-side apply in SPEC order, each object waited on; safe to re-run.
    """
    from oasis_cli.commands import ray

    ray.deploy_layer(options(ctx, output=output))


@ray_app.command("status")
def ray_status(ctx: typer.Context, output: OutputOption = None) -> None:
    """The RayCluster's state and its head and worker pods."""
    from oasis_cli.commands import ray

    ray.status(options(ctx, output=output))


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
    from oasis_cli.commands import ray

    ray.kubeconfig(options(ctx), path=path)


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
    from oasis_cli.commands import ray

    ray.dashboard(options(ctx), port=port, open_browser=open_browser)


def _write(text: str) -> None:
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
    from oasis_cli.commands import ray

    status = ray.submit(
        options(ctx),
        list(ctx.args),
        working_dir=working_dir,
        runtime_env=runtime_env,
        write=_write,
    )
    if status != "SUCCEEDED":
        raise typer.Exit(1)
