"""`oasis build-images` and `oasis binauth`: parse, then call one function."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from oasis_cli.cli.app import OutputOption, app, options


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
    from oasis_cli.commands import images

    images.build_images(options(ctx, output=output), only=only.value if only else "", force=force)


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
    from oasis_cli.commands import images

    images.binauth(options(ctx, output=output), enforce=enforce)
