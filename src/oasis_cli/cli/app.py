"""The Typer app and its global options (each also read from an OASIS_* variable)."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from oasis_cli.options import Options

app = typer.Typer(
    name="oasis",
    help="Stand up and tear down a Ray-on-GKE H200 training platform on Google Cloud.",
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


class Output(str, Enum):
    text = "text"
    json = "json"


OutputOption = Annotated[
    Output | None,
    typer.Option("--output", "-o", help="text for people, json for scripts.", show_default=False),
]
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.", show_default=False)
]


@app.callback()
def global_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="OASIS_CONFIG",
            help="Configuration file; it must exist (default ./oasis.toml, if there).",
            show_default=False,
        ),
    ] = None,
    local: Annotated[
        bool,
        typer.Option("--local", envvar="OASIS_LOCAL", help="Run against the built-in local cloud."),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", envvar="OASIS_YES", help="Do not ask for confirmation.")
    ] = False,
    output: Annotated[
        Output, typer.Option("--output", "-o", envvar="OASIS_OUTPUT", help="text or json.")
    ] = Output.text,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="OASIS_DEBUG", help="Log to stderr; tracebacks.")
    ] = False,
    project: Annotated[
        str | None, typer.Option("--project", help="Google Cloud project (OASIS_PROJECT).")
    ] = None,
    deployment: Annotated[
        str | None,
        typer.Option("--deployment", "-d", help="Deployment name (OASIS_DEPLOYMENT)."),
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a setting: section.field=value (repeatable)."),
    ] = None,
) -> None:
    overrides = list(settings or [])
    if project is not None:
        overrides.append(f"project={project}")
    if deployment is not None:
        overrides.append(f"deployment={deployment}")
    ctx.obj = Options(
        config_path=config or Path("oasis.toml"),
        config_explicit=config is not None,
        local=local,
        yes=yes,
        output=output.value,
        debug=debug,
        overrides=tuple(overrides),
    )


AllowAnyIpOption = Annotated[
    bool,
    typer.Option(
        "--allow-any-ip",
        help="Allow authorized networks spanning more than a /8 (0.0.0.0/0, say).",
    ),
]


def options(
    ctx: typer.Context,
    *,
    output: Output | None = None,
    yes: bool = False,
    allow_any_ip: bool = False,
) -> Options:
    """The global options, with a command's own flags taking precedence."""
    base: Options = ctx.find_root().obj
    overrides = (*base.overrides, "cluster.allow_any_ip=true") if allow_any_ip else base.overrides
    return replace(
        base,
        yes=base.yes or yes,
        output=output.value if output is not None else base.output,
        overrides=overrides,
    )
