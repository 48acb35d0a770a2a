"""Reading JSON Lines: one record per line, split on newlines only.

``str.splitlines`` also splits on characters JSON allows raw inside a string (U+2028,
U+2029, U+0085, form feeds), which cuts a valid record in two; real model answers
carry them.
"""

from __future__ import annotations


def jsonl_lines(text: str) -> list[str]:
    """The lines of a JSONL text: split on "\\n" only (a trailing "\\r" is dropped)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]
