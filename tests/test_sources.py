"""Build contexts are packed as gcloud packs them: ignore files honoured, and the
archive reproducible (its hash is the image's identity)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oasis_cli.errors import ConfigError
from oasis_cli.sources import files, pack


def context(root: Path, names: list[str], **ignore: str) -> Path:
    for name in ["Dockerfile", *names]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    for filename, text in ignore.items():
        (root / f".{filename}").write_text(text)
    return root


def test_without_a_gcloudignore_git_files_are_left_out(tmp_path):
    root = context(tmp_path, [".git/HEAD", ".gitignore", "app.py"])
    assert list(files(root)) == ["Dockerfile", "app.py"]


def test_gcloudignore_globs_negation_anchoring_and_directories(tmp_path):
    root = context(
        tmp_path,
        ["a.log", "keep.log", "sub/b.log", "build/x", "sub/build/y", "top.txt", "sub/top.txt"],
        gcloudignore="*.log\n!keep.log\n/top.txt\nbuild/\n# a comment\n",
    )
    assert list(files(root)) == [".gcloudignore", "Dockerfile", "keep.log", "sub/top.txt"]


def test_double_star_and_include_directive(tmp_path):
    root = context(
        tmp_path,
        ["deep/a/b/c.tmp", "deep/keep.py", "secret.env"],
        gcloudignore="#!include:.gitignore\n**/*.tmp\n",
        gitignore="*.env\n",
    )
    assert list(files(root)) == [".gcloudignore", ".gitignore", "Dockerfile", "deep/keep.py"]


def test_dockerignore_applies_but_never_to_the_dockerfile(tmp_path):
    root = context(
        tmp_path,
        ["data/big.bin", "notes.md", "src/app.py"],
        dockerignore="data\n*.md\nDockerfile\n",
    )
    assert list(files(root)) == [".dockerignore", "Dockerfile", "src/app.py"]


def test_the_archive_is_reproducible_and_changes_with_content(tmp_path):
    root = context(tmp_path, ["app.py"])
    first = pack(root)
    os.utime(root / "app.py", (1, 1))
    assert pack(root).data == first.data
    (root / "app.py").write_text("changed")
    assert pack(root).sha256 != first.sha256


def test_a_context_without_a_dockerfile_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no Dockerfile"):
        pack(tmp_path)
