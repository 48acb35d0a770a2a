"""Word lists shipped as data files (``evals/data/<name>.txt``), loaded once.

A vocabulary (words that are not secrets, ...) is data, not code: it lives in a text file
that reads as a list and diffs one word at a time, instead of a literal the formatter
spreads over a hundred lines. Words are separated by spaces or newlines; a line starting
with ``#`` is a comment. The files are package data (``pyproject.toml``), read through
:mod:`importlib.resources`, so they load from a wheel as well as from a checkout.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def word_list(name: str) -> frozenset[str]:
    """The words of ``evals/data/<name>.txt``. A missing or empty list is an error: the
    code that uses it would silently change behaviour without it."""
    text = resources.files("evals").joinpath(f"data/{name}.txt").read_text(encoding="utf-8")
    words = frozenset(
        word
        for line in text.splitlines()
        if not line.lstrip().startswith("#")
        for word in line.split()
    )
    if not words:
        raise RuntimeError(f"the word list evals/data/{name}.txt is empty")
    return words
