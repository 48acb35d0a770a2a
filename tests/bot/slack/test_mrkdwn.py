"""Markdown → mrkdwn: escaping of untrusted text and safe splitting, for all inputs."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.slack.mrkdwn import escape, split_mrkdwn, to_mrkdwn, truncate, utf16_len

# Text with the characters that matter: Slack control chars, markdown markers, emoji,
# combining marks, ZWJ sequences, regional indicators, CJK, newlines.
_ALPHABET = st.sampled_from(
    [
        *"ab <>&|!@#*_~`[]()\n -:/.",
        "é",
        "e\u0301",
        "👍",
        "👍🏽",
        "👩\u200d💻",
        "🇩🇪",
        "中",
        "\u200d",
        "\ufe0f",
        "𝕏",
        "&amp;",
    ]
)
texts = st.lists(_ALPHABET, max_size=400).map("".join)
_ENTITY_OR_PLAIN = re.compile(r"&(?!amp;|lt;|gt;)")


@given(texts)
@example("<!channel> <!here> <@U123> <http://evil|click> <#C1> <!subteam^S1>")
@example("[click](http://evil.example) ![img](http://x/y.png)")
def test_model_output_can_never_ping_or_link(text: str) -> None:
    out = to_mrkdwn(text)
    assert "<" not in out
    assert not _ENTITY_OR_PLAIN.search(out), "every & starts an escape sequence"
    for danger in ("<!channel>", "<!here>", "<@U123>", "<http"):
        assert danger not in out


def test_markdown_becomes_slack_mrkdwn() -> None:
    md = "# Title\n**bold**, *italic*, ~~gone~~ and `a<b`\n- one\n* two\n[docs](https://x.y/z)"
    assert to_mrkdwn(md) == (
        "*Title*\n*bold*, _italic_, ~gone~ and `a&lt;b`\n• one\n• two\ndocs (https://x.y/z)"
    )


def test_code_blocks_keep_their_content_and_drop_the_language_tag() -> None:
    out = to_mrkdwn("Run:\n```python\nif a < b and c:\n    **x**\n```\ndone")
    assert out == "Run:\n```\nif a &lt; b and c:\n    **x**\n```\ndone"


def test_escape_is_exactly_slacks_three() -> None:
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"


@settings(max_examples=300)
@given(texts, st.integers(min_value=16, max_value=120))
def test_split_never_exceeds_the_limit_nor_cuts_a_character(text: str, limit: int) -> None:
    source = to_mrkdwn(text)
    pieces = split_mrkdwn(source, limit)
    for i, piece in enumerate(pieces):
        assert utf16_len(piece) <= limit
        assert piece.strip()
        if i == 0:
            continue
        # never starts with something that belongs to the previous piece's character
        first = piece.removeprefix("```\n")[0]
        assert not unicodedata.combining(first)
        assert first not in ("\u200d", "\ufe0f")
        assert not ("\U0001f3fb" <= first <= "\U0001f3ff")
        # never ends inside an entity
        assert not re.search(r"&(a|am|amp|l|lt|g|gt)$", piece)
    # nothing lost: all non-fence text is still there, in order
    assert _squash("".join(pieces)) == _squash(source)


def _squash(text: str) -> str:
    return re.sub(r"\s|`", "", text)


@given(texts)
def test_split_leaves_short_text_alone(text: str) -> None:
    source = to_mrkdwn(text)
    if source.strip() and utf16_len(source) <= 3000:
        assert split_mrkdwn(source) == [source]


def test_split_prefers_paragraphs_and_closes_code_fences() -> None:
    para = "word " * 10
    text = f"{para}\n\n{para}\n\n```\n" + "line of code\n" * 8 + "```"
    pieces = split_mrkdwn(text, 80)
    assert pieces[0].endswith("word ") or pieces[0].endswith("\n")
    for piece in pieces:
        assert piece.count("```") % 2 == 0, piece


def test_split_counts_emoji_as_two_utf16_units() -> None:
    text = "👍" * 30
    pieces = split_mrkdwn(text, 20)
    assert all(utf16_len(p) <= 20 for p in pieces)
    assert "".join(pieces) == text


def test_flags_are_never_split_in_half() -> None:
    text = "🇩🇪" * 20
    for piece in split_mrkdwn(text, 18):
        assert len(piece) % 2 == 0


def test_truncate_marks_the_cut() -> None:
    assert truncate("abc", 10) == "abc"
    out = truncate("hello world " * 10, 20)
    assert out.endswith("…") and utf16_len(out) <= 20


@pytest.mark.parametrize("limit", [0, 15])
def test_split_rejects_silly_limits(limit: int) -> None:
    with pytest.raises(ValueError):
        split_mrkdwn("x", limit)
