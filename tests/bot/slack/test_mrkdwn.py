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


# -- Markdown as models write it, rendered by the parser ------------------------------------

_EVIL = ["<!channel>", "<!here>", "<@U123>", "<http://evil.example|click>", "<#C1>", "&", ">"]
_WORDS = st.sampled_from(["word", "Paris", "a < b", "x & y", "**", "_", "`", "|", *_EVIL])
_URLS = st.sampled_from(
    ["https://x.y/z", "http://evil.example", "https://a.b/?q=1&r=<2>", "mailto:a@b.c"]
)


@st.composite
def _inline_md(draw: st.DrawFn) -> str:
    words = draw(st.lists(_WORDS, min_size=1, max_size=4))
    text = " ".join(words)
    style = draw(st.sampled_from(["", "**", "*", "_", "~~", "`"]))
    if style == "`":
        text = text.replace("`", "'")
    return f"{style}{text}{style}"


@st.composite
def _link_md(draw: st.DrawFn) -> tuple[str, str]:
    label = draw(st.lists(_WORDS, min_size=1, max_size=3).map(" ".join))
    label = label.replace("[", "").replace("]", "").replace("`", "")
    url = draw(_URLS)
    return f"[{label}]({url.replace('<', '%3C').replace('>', '%3E')})", url


_CODE = st.lists(st.sampled_from(["if a < b && c > d:", "  **x** <!here>", "`y`", "中 👍"]))


@st.composite
def _markdown(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    """A Markdown answer, the bodies of its code blocks and the targets of its links."""
    blocks: list[str] = []
    codes: list[str] = []
    urls: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["h", "p", "ul", "ol", "quote", "code", "table", "hr"]))
        if kind == "hr":
            blocks.append("---")
            continue
        if kind == "code":
            body = "\n".join(draw(_CODE)) or "x"
            codes.append(body)
            blocks.append(f"```python\n{body}\n```")
            continue
        line = " ".join(draw(st.lists(_inline_md(), min_size=1, max_size=4)))
        if draw(st.booleans()):
            link, url = draw(_link_md())
            line += " " + link
            urls.append(url)
        if kind == "h":
            blocks.append("#" * draw(st.integers(1, 6)) + " " + line)
        elif kind == "p":
            blocks.append(line)
        elif kind in ("ul", "ol"):
            marker = "-" if kind == "ul" else "1."
            blocks.append(f"{marker} {line}\n{marker} {line}\n    {marker} nested {line}")
        elif kind == "quote":
            blocks.append(f"> {line}\n> more")
        else:
            blocks.append(f"| a | b |\n|---|--:|\n| {line.replace('|', '/')} | 1 |")
    return "\n\n".join(blocks), codes, urls


@settings(max_examples=200)
@given(_markdown())
def test_answers_never_ping_keep_code_verbatim_and_show_link_targets(
    answer: tuple[str, list[str], list[str]],
) -> None:
    markdown, codes, urls = answer
    out = to_mrkdwn(markdown)
    # The only way to ping or link in mrkdwn starts with "<": it never comes out, so no
    # <!channel>, <!here>, <@U…> or <http…|…> whatever the model wrote; links are shown
    # as "label (url)" with the target in plain sight.
    assert "<" not in out
    assert not _ENTITY_OR_PLAIN.search(out), "every & starts an escape sequence"
    for body in codes:  # code is kept line for line, only Slack's three escaped
        assert escape(body.strip("\n")) in out
    for url in urls:
        assert escape(url) in out


@given(st.text())
@example("\ud83d\ude00 lone \ud800 [a](\udc00) ```\x00")
@example("> " * 200 + "- " * 200 + "*" * 500)
def test_conversion_and_splitting_never_raise(text: str) -> None:
    out = to_mrkdwn(text)
    assert "<" not in out
    for piece in split_mrkdwn(out, 40):
        assert utf16_len(piece) <= 40


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from(["a", " ", "\n", "😀", "\ud83d\ude00", "&amp;", "`"]), max_size=300),
    st.integers(min_value=16, max_value=64),
)
def test_splitting_never_breaks_a_surrogate_pair_nor_exceeds_the_limit(
    parts: list[str], limit: int
) -> None:
    """Slack counts UTF-16 units: a piece is within the limit in UTF-16, and a surrogate
    pair (as JSON-decoded text can hold) is never cut in two."""
    text = "".join(parts)
    for piece in split_mrkdwn(text, limit):
        assert len(piece.encode("utf-16-le", "surrogatepass")) // 2 <= limit
        assert not ("\ud800" <= piece[-1] <= "\udbff"), "a piece ends on a high surrogate"
        assert not ("\udc00" <= piece[0] <= "\udfff"), "a piece starts on a low surrogate"


def test_lists_quotes_tables_and_rules() -> None:
    md = (
        "1. first\n2. second\n   - nested\n\n> quoted **bold**\n\n"
        "| Code | Meaning |\n|-----:|---|\n| 429 | Too many |\n\n---\n![chart](https://x/c.png)"
    )
    assert to_mrkdwn(md) == (
        "1. first\n2. second\n\u2003\u2003◦ nested\n\n> quoted *bold*\n\n"
        "```\nCode  Meaning\n────  ────────\n 429  Too many\n```\n\n──────────\n"
        "chart (https://x/c.png)"
    )


def test_headings_are_one_bold_line_and_code_inside_markdown_stays_code() -> None:
    assert to_mrkdwn("## **Use** `429`\ntext") == "*Use 429*\ntext"
    assert to_mrkdwn("`**not bold**` and **bold**") == "`**not bold**` and *bold*"
    assert to_mrkdwn("<https://x.y/a>") == "https://x.y/a"
