"""Word lists are package data: every file under evals/data ships, and loads as words."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from evals.word_lists import word_list

ROOT = Path(__file__).resolve().parents[2]


def test_every_data_file_is_package_data() -> None:
    """A data file left out of ``[tool.setuptools.package-data]`` is missing from the wheel,
    and the code reading it fails only once installed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["evals"]
    files = sorted(
        p.relative_to(ROOT / "evals").as_posix() for p in (ROOT / "evals/data").iterdir()
    )
    assert files and [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)] == []


def test_a_list_is_its_words_without_the_comments() -> None:
    words = word_list("prose_not_secret")
    assert {"required", "hashed", "too", "the"} <= words
    assert "#" not in words and "password" not in words and "Words" not in words
    assert all(w == w.lower() and w.isalpha() for w in words)
    assert word_list("prose_not_secret") is words  # read once
