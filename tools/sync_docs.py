"""Regenerate the generated parts of the docs: the README's configuration reference.

python tools/sync_docs.py          # rewrite in place
python tools/sync_docs.py --check  # exit 1 if anything is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from oasis_cli.config import reference_table

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def synced_readme(text: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{reference_table()}\n{END}{tail}"


def main() -> int:
    readme = ROOT / "README.md"
    current = readme.read_text()
    wanted = synced_readme(current)
    if "--check" in sys.argv:
        return 0 if current == wanted else 1
    readme.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
