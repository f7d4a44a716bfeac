"""Documentation generated from the model: the commented `oasis.toml` that `oasis init`
writes and the README's configuration reference (`tools/sync_docs.py`)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from oasis_cli.config.model import Config, env_name, field_paths


def render_init() -> str:
    """A commented `oasis.toml` with every setting at its default."""
    lines = [
        "# oasis configuration. Every setting is shown at its default.",
        "# Precedence: this file < environment OASIS_<SECTION>_<FIELD> < --set section.field=value",
        "# Name templates may use {deployment}, {project}, {region} and {zone}.",
        "",
    ]
    lines.extend(_render_section(Config, Config()))
    return "\n".join(lines).rstrip() + "\n"


def _render_section(model: type[BaseModel], instance: BaseModel) -> list[str]:
    scalars: list[str] = []
    sections: list[str] = []
    for name, info in model.model_fields.items():
        value = getattr(instance, name)
        if isinstance(value, BaseModel):
            sections.append("")
            sections.append(f"# {info.description}")
            sections.append(f"[{name}]")
            sections.extend(_render_section(type(value), value))
            continue
        scalars.append(f"# {info.description}")
        if value is None:
            scalars.append(f"# {name} = ")
        else:
            scalars.append(f"{name} = {_toml_value(value)}")
    return scalars + sections


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


def reference_table() -> str:
    """The configuration reference as a Markdown table (the README embeds it)."""
    lines = ["| setting | default | environment | meaning |", "|---|---|---|---|"]
    for path in field_paths():
        model: Any = Config()
        for part in path[:-1]:
            model = getattr(model, part)
        value = getattr(model, path[-1])
        info = type(model).model_fields[path[-1]]
        if value is None or value == []:
            shown = "(unset)"
        elif isinstance(value, list) and len(value) > 3:
            shown = f"[{_toml_value(value[0])}, …, {_toml_value(value[-1])}]"
        else:
            shown = _toml_value(value)
        lines.append(
            f"| `{'.'.join(path)}` | `{shown}` | `{env_name(path)}` | {info.description} |"
        )
    return "\n".join(lines)
