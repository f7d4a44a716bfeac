"""The command line: Typer commands only. Each parses its options, calls one function
and renders the result; `main()` turns an OasisError into its message and exit code.
"""

from __future__ import annotations

import os
import sys

import typer

from oasis_cli import gc_tuning
from oasis_cli.cli import images, infra, local_cloud, ray  # noqa: F401  (registers them)
from oasis_cli.cli.app import app
from oasis_cli.errors import OasisError

INTERRUPTED = "interrupted: the ledger is consistent; run the same command again to resume."


def main() -> None:
    gc_tuning.tune()
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    debug = "--debug" in sys.argv or os.environ.get("OASIS_DEBUG", "").lower() in ("1", "true")
    try:
        code = app(standalone_mode=False)
    except OasisError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # usage errors: typer's own message, exit 2
        exc.show()  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:  # the user answered no to a confirmation
        print("aborted: nothing was changed.", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        _interrupted()
    if code == 130:  # typer turns Ctrl-C into exit code 130
        _interrupted()
    sys.exit(code if isinstance(code, int) else 0)


def _interrupted() -> None:
    """Say so and exit 130 at once. Calls still in flight on worker threads are not
    waited for (a cloud create can take minutes): the ledger already holds them as
    pending with their request ids and operations, which is the state a killed run
    leaves and the next run resumes from; waiting for the threads at exit would
    only hold the terminal."""
    import threading

    print(INTERRUPTED, file=sys.stderr)
    sys.stderr.flush()
    if any(t.name.startswith("oasis") and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        os._exit(130)
    sys.exit(130)
