"""How a command that runs a graph reports its outcome, and asks before it acts."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable

from oasis_cli.errors import CloudError, ConfigError, OasisError, PreflightError
from oasis_cli.graph import Outcome
from oasis_cli.options import Options
from oasis_cli.session import Context
from oasis_cli.ui import print_json

Confirm = Callable[[str], None]  # asks; raises (the CLI's abort) unless the answer is yes


def confirm(opts: Options, ask: Confirm, question: str) -> None:
    """Ask `question` unless --yes; without a terminal to ask on, refuse."""
    if opts.yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"{question} Needs confirmation.", hint="Re-run with --yes.")
    ask(question)


def finish(opts: Options, context: Context, outcome: Outcome, command: str, retry: str) -> None:
    """Print what the run did (JSON or a summary); raise with the retry command if any
    node failed or never started."""
    results = {key: str(value) for key, value in outcome.results.items()}
    errors = {key: str(error) for key, error in outcome.errors.items()}
    if opts.json:
        print_json(
            {
                "deployment": context.deployment.name,
                "command": command,
                "ok": outcome.ok,
                "results": results,
                "errors": errors,
                "not_started": outcome.not_started,
                "waiting_for": outcome.waiting_for,
                "log": str(context.log_path),
            }
        )
    if outcome.ok:
        if not opts.json:
            counts = Counter(results.values())
            summary = ", ".join(f"{n} {verb}" for verb, n in sorted(counts.items()))
            opts.stderr.print(f"[green]{command} finished[/]: {summary}.", soft_wrap=True)
        return
    preflight = [e for e in outcome.errors.values() if isinstance(e, PreflightError)]
    if preflight and len(outcome.errors) == 1:
        raise preflight[0]  # checked before anything was created: exit 3, nothing else ran
    lines = [_line(key, error) for key, error in outcome.errors.items()]
    groups: dict[str, list[str]] = {}
    for key in outcome.not_started:
        failed = outcome.waiting_for.get(key)
        reason = f"waiting for {', '.join(failed)}, which failed" if failed else ""
        groups.setdefault(reason, []).append(key)
    for reason, keys in groups.items():
        lines.append(f"not started{f' ({reason})' if reason else ''}: {', '.join(keys)}")
    raise OasisError(
        f"{command} failed:\n  " + "\n  ".join(lines),
        hint=f"The ledger is consistent. Fix the cause, then run `{retry}` again; it resumes "
        f"where this run stopped. Log: {context.log_path}",
    )


def _line(key: str, error: BaseException) -> str:
    """`key: error`, unless the error names the node itself (a CloudError about
    `key (name)`): then the error alone, so the resource is named once."""
    if isinstance(error, CloudError) and error.resource.split(" ", 1)[0] == key:
        return str(error)
    return f"{key}: {error}"
