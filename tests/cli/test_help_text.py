"""`quorum ... --help` reads cleanly in an 80-column terminal.

Typer keeps the help text's own line breaks: a summary broken over two lines shows
ragged in its group's command list, and a line longer than the terminal is wrapped by
Rich and then broken again where the docstring breaks it. So every summary (the first
paragraph) is one line, and every line that a paragraph breaks after fits 80 columns
(Rich indents help text by one)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import typer
from typer.testing import CliRunner

from bot.cli import app

WIDTH = 80 - 1


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    yield " ".join(("quorum", *path)), command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _commands(sub, (*path, name))


def test_every_summary_is_one_line_and_no_line_is_wrapped_twice() -> None:
    problems = []
    for name, command in _commands(typer.main.get_command(app)):
        summary, *paragraphs = inspect.cleandoc(command.help or "").split("\n\n")
        if "\n" in summary:
            problems.append(f"{name}: its summary is broken over lines")
        for paragraph in paragraphs:
            broken_after = paragraph.splitlines()[:-1]
            problems += [f"{name}: {line!r}" for line in broken_after if len(line) > WIDTH]
    assert problems == []


def test_the_cases_command_list_wraps_each_summary_only_at_the_column_edge() -> None:
    result = CliRunner().invoke(app, ["cases", "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    box = result.output[result.output.index("Commands") :]
    rows = re.findall(r"^│ (\w*) +(\S.*?) *│$", box, flags=re.MULTILINE)
    entries: list[list[str]] = []
    for name, text in rows:
        if name:
            entries.append([text])
        else:
            entries[-1].append(text)
    assert len(entries) == 9  # list, show, approve, reject, retire, edit, rotate, export, import
    column = max(len(text) for _, text in rows)
    ragged = [
        (entry[0], line)
        for entry in entries
        for line, after in pairwise(entry)
        if len(line) + 1 + len(after.split()[0]) <= column
    ]
    assert ragged == []
