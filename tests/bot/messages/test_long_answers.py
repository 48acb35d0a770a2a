"""A long answer is converted only as far as a message shows it, and reads exactly as if
the whole answer had been converted."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.messages.compare_result import (
    CONTINUED_NOTE,
    cut_answer_sections,
    cut_pieces,
    shown_head,
)
from bot.slack.mrkdwn import SECTION_TEXT_LIMIT, split_mrkdwn, to_mrkdwn

BLOCKS = [
    "Here is **bold** text with `code` and a [link](https://example.com/x) & <tags>.",
    "- item one\n- item two\n  continued",
    "```python\nprint('hi')\n\n\nprint('after blank lines inside the fence')\n```",
    "# A heading\n\n> a quote\n> over two lines",
    "1. first\n2. second",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "plain words " * 40,
]


def whole_conversion(markdown: str, *, max_sections: int, max_chars: int | None) -> list[str]:
    """What the message shows when the whole answer is converted first."""
    budget = max_chars if max_chars is not None else max_sections * SECTION_TEXT_LIMIT
    pieces = split_mrkdwn(to_mrkdwn(markdown)) or ["_(empty answer)_"]
    return cut_pieces(pieces, budget=budget, max_sections=max_sections, cut_note=CONTINUED_NOTE)[0]


def shown_texts(markdown: str, *, max_sections: int, max_chars: int | None) -> list[str]:
    sections, _ = cut_answer_sections(markdown, max_sections=max_sections, max_chars=max_chars)
    return [s["text"]["text"] for s in sections]


@settings(max_examples=60, deadline=None)
@given(
    order=st.lists(st.integers(0, len(BLOCKS) - 1), min_size=50, max_size=400),
    limits=st.sampled_from([(1, 2_000), (3, None), (40, 40_000)]),
)
def test_a_long_answer_shows_what_the_whole_conversion_would(
    order: list[int], limits: tuple[int, int | None]
) -> None:
    markdown = "\n\n".join(BLOCKS[i] for i in order)
    max_sections, max_chars = limits
    assert shown_texts(markdown, max_sections=max_sections, max_chars=max_chars) == (
        whole_conversion(markdown, max_sections=max_sections, max_chars=max_chars)
    )


def test_only_the_head_of_a_155000_character_answer_is_converted() -> None:
    markdown = "\n\n".join(BLOCKS[i % len(BLOCKS)] for i in range(2_000))[:155_000]
    head = shown_head(markdown, 3 * SECTION_TEXT_LIMIT)
    assert len(head) <= 2 * 3 * SECTION_TEXT_LIMIT + 4_000 < len(markdown) / 6
    assert markdown.startswith(head)
    sections, cut = cut_answer_sections(markdown, max_sections=3)
    assert cut
    assert sections[-1]["text"]["text"].endswith(CONTINUED_NOTE)


def test_an_answer_whose_head_shows_little_is_converted_whole() -> None:
    markdown = " " * 20_000 + "\n\nthe real answer comes last"
    sections, cut = cut_answer_sections(markdown, max_sections=1, max_chars=2_000)
    assert not cut
    assert "the real answer comes last" in sections[-1]["text"]["text"]


def test_a_short_answer_is_converted_whole_and_not_cut() -> None:
    sections, cut = cut_answer_sections("Paris.", max_sections=1, max_chars=2_000)
    assert not cut
    assert [s["text"]["text"] for s in sections] == ["Paris."]
