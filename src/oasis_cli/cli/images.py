"""`oasis build-images` and `oasis binauth`: graphs of their own on top of `up`'s."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from oasis_cli import deploy
from oasis_cli.cli.app import OutputOption, app, options
from oasis_cli.cli.commands import finish
from oasis_cli.errors import PreflightError
from oasis_cli.session import open_session


class Only(str, Enum):
    base = "base"
    server = "server"


@app.command("build-images")
def build_images(
    ctx: typer.Context,
    only: Annotated[
        Only | None, typer.Option("--only", help="Build one image: base or server.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if the sources did not change.")
    ] = False,
    output: OutputOption = None,
) -> None:
    """Build ray-base, then ray-server FROM its digest, on the private pool.

    Records both digests in the ledger; unchanged sources build nothing.
    """
    from oasis_cli import graphs

    opts = options(ctx, output=output)
    with open_session(opts, "build-images", detect_ip=False) as (session, context):
        graph = graphs.images(
            session.deployment,
            opts.config_path.parent,
            force=force,
            only=only.value if only else "",
        )
        graphs.require(context.ledger, graph, "build-images")
        outcome = deploy.up(context, graph)
        refs = {
            node.key: entry.outputs.get("ref", "")
            for node in graph.nodes
            if (entry := context.ledger.get(node.key)) is not None
        }
    finish(opts, session, outcome, "build-images", retry="oasis build-images")
    if not opts.json:
        for key, ref in refs.items():
            opts.stdout.print(f"{key}: {ref}", highlight=False, soft_wrap=True)


@app.command()
def binauth(
    ctx: typer.Context,
    enforce: Annotated[
        bool,
        typer.Option(
            "--enforce/--dry-run",
            help="Block images without the built-by-cloud-build attestation, or only "
            "audit them (the default).",
        ),
    ] = False,
    output: OutputOption = None,
) -> None:
    """Require Cloud Build attestations for the cluster's images (Binary Authorization).

    Dry-run (audit only) unless --enforce; `oasis down` restores the policy as it was.
    """
    from oasis_cli import graphs

    opts = options(ctx, output=output)
    with open_session(opts, "binauth", detect_ip=False) as (session, context):
        graph = graphs.binauth(session.deployment, enforce=enforce)
        graphs.require(context.ledger, graph, "binauth")
        if context.ledger.get("image:base") is None:
            raise PreflightError(
                "the built-by-cloud-build attestor appears with the first image Cloud Build "
                "builds, and no image has been built.",
                hint="Run `oasis build-images` first.",
            )
        outcome = deploy.up(context, graph)
    finish(opts, session, outcome, "binauth", retry="oasis binauth")
    if not opts.json:
        mode = "enforced" if enforce else "dry-run (audit only)"
        opts.stdout.print(f"Binary Authorization for the cluster: {mode}.")
