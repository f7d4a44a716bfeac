"""Regenerate the generated files: the README's configuration reference and the
`oasis plan` golden file of the default config (tests/golden/plan-default.json).

python tools/sync_docs.py          # rewrite in place
python tools/sync_docs.py --check  # exit 1 if anything is out of date
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from oasis_cli.config.docs import reference_table

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def synced_readme(text: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{reference_table()}\n{END}{tail}"


GOLDEN = ROOT / "tests" / "golden" / "plan-default.json"


def default_plan() -> str:
    """`oasis --local plan --output json` for the default config, on a fresh local cloud."""
    with tempfile.TemporaryDirectory() as workdir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OASIS_")}
        env.update(NO_GCE_CHECK="true", OASIS_LOCAL_LATENCY_SCALE="0")
        result = subprocess.run(
            [sys.executable, "-m", "oasis_cli", "--local", "plan", "--output", "json"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return result.stdout


def main() -> int:
    readme = ROOT / "README.md"
    files = {readme: synced_readme(readme.read_text()), GOLDEN: default_plan()}
    stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    if "--check" in sys.argv:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)}")
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
    return 0


if __name__ == "__main__":
    sys.exit(main())
