"""`oasis build-images | binauth`: graphs of their own on top of `up`'s."""

from __future__ import annotations

from oasis_cli import deploy, graphs
from oasis_cli.commands.outcome import finish
from oasis_cli.errors import PreflightError
from oasis_cli.options import Options
from oasis_cli.resources.binauth import ATTESTOR, attestor_exists
from oasis_cli.session import open_session


def build_images(opts: Options, *, only: str, force: bool) -> None:
    """Build ray-base, then ray-server FROM its digest; print each recorded image."""
    with open_session(opts, "build-images", detect_ip=False) as context:
        graph = graphs.image_builds(
            context.deployment, opts.config_path.parent, force=force, only=only
        )
        graphs.require(context.ledger, graph, "build-images")
        outcome = deploy.up(context, graph)
        refs = {
            node.key: entry.outputs.get("ref", "")
            for node in graph.nodes
            if (entry := context.ledger.get(node.key)) is not None
        }
    finish(opts, context, outcome, "build-images", retry="oasis build-images")
    if not opts.json:
        for key, ref in refs.items():
            opts.stdout.print(f"{key}: {ref}", highlight=False, soft_wrap=True)


def binauth(opts: Options, *, enforce: bool) -> None:
    """Require Cloud Build attestations for the cluster's images (dry-run unless
    `enforce`); refuses, before changing anything, while the attestor does not exist."""
    with open_session(opts, "binauth", detect_ip=False) as context:
        graph = graphs.binauth_rule(context.deployment, enforce=enforce)
        graphs.require(context.ledger, graph, "binauth")
        if not attestor_exists(context.cloud):
            raise PreflightError(
                f"the attestor projects/{context.cloud.project}/attestors/{ATTESTOR} does not "
                "exist yet: Cloud Build creates it with the first image it builds.",
                hint="Run `oasis build-images` first, then `oasis binauth` again.",
            )
        outcome = deploy.up(context, graph)
    finish(opts, context, outcome, "binauth", retry="oasis binauth")
    if not opts.json:
        mode = "enforced" if enforce else "dry-run (audit only)"
        opts.stdout.print(f"Binary Authorization for the cluster: {mode}.")
