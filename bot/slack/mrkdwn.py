"""Markdown (as models write it) to Slack mrkdwn, escaping and safe splitting.

Markdown is parsed by markdown-it-py (CommonMark, with GitHub's tables and
strikethrough; raw HTML off) and its token stream rendered here as mrkdwn: headings
become bold lines, ``**bold**`` ``*bold*``, ``*em*`` ``_em_``, ``~~gone~~`` ``~gone~``,
list items bullets (nested ones indented), quotes ``>`` lines, tables preformatted text,
code spans and blocks stay verbatim (the language tag dropped: Slack ignores it).
A parser, unlike a set of regexes, knows that ``**`` inside code is code, where a
list ends and what a link's label and target are.

Model output is untrusted text. Slack turns ``<!channel>``, ``<@U123>`` and
``<http://x|label>`` into pings and links, so every ``&``, ``<`` and ``>`` coming from a
model is escaped (``&amp;``, ``&lt;``, ``&gt;``), code included, and Markdown links are
written out as ``label (url)`` so the target is always visible: nothing a model says can
ping anyone, forge a link or act as a Slack command. The output never contains ``<``.

Splitting keeps every piece within a limit counted in UTF-16 code units (what Slack's
JavaScript-side limits count; never fewer than Python characters), never cuts inside a
character, a surrogate pair, a combining sequence, an emoji ZWJ sequence or an
``&amp;``-style entity, prefers paragraph, line and word boundaries, and closes/reopens
code fences that a cut falls inside. Slack-specific, so written here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

#: Slack's limit for a section block's text.
SECTION_TEXT_LIMIT = 3000
#: Slack's recommended limit for a message's top-level ``text``.
MESSAGE_TEXT_LIMIT = 4000

_FENCE = "```"
_ENTITY = re.compile(r"&(?:amp|lt|gt);")
_ZWJ = "\u200d"
_RULE = "──────────"
_BULLETS = ("•", "◦", "▪")
# Em spaces: Slack's clients (and HTML) collapse runs of ordinary spaces.
_INDENT = "\u2003\u2003"
_NEWLINE = re.compile(r"\r\n|\r|\n")  # markdown-it's line breaks, for its line numbers
# A source line's quote markers, then its indentation.
_QUOTED_INDENT = re.compile(r"(?:[ \t]{0,3}>[ \t]?)*([ \t]*)")

# Raw HTML stays text (escaped below); links and images keep markdown-it's URL checks.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["strikethrough", "table"])
_MARKERS = {
    "strong_open": "*",
    "strong_close": "*",
    "em_open": "_",
    "em_close": "_",
    "s_open": "~",
    "s_close": "~",
}


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control sequences."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (characters outside the BMP count twice)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def to_mrkdwn(markdown: str) -> str:
    """Convert untrusted Markdown to Slack mrkdwn; the result never contains ``<``."""
    return _Renderer(_NEWLINE.split(markdown)).render(_MARKDOWN.parse(markdown))


# -- inline --------------------------------------------------------------------------------


def _shown_url(href: str) -> str:
    """A link target as people read it (markdown-it percent-encodes what it stores)."""
    return _MARKDOWN.normalizeLinkText(href)


def _inline(
    tokens: Sequence[Token], *, esc: Callable[[str], str] = escape, styled: bool = True
) -> str:
    """One inline run as mrkdwn; ``styled=False`` drops the emphasis markers and the code
    backticks (a heading's inside, which is bold already, or a table cell's)."""
    out: list[str] = []
    links: list[tuple[str, int, bool]] = []  # (url shown, where the label starts, autolink)
    for token in tokens:
        kind = token.type
        if kind in ("text", "html_inline"):
            out.append(esc(token.content))
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "code_inline":
            out.append(f"`{esc(token.content)}`" if styled else esc(token.content))
        elif kind in _MARKERS:
            if styled:
                out.append(_MARKERS[kind])
        elif kind == "link_open":
            url = _shown_url(str(token.attrGet("href") or ""))
            links.append((url, len(out), token.markup == "autolink"))
        elif kind == "link_close" and links:
            url, start, auto = links.pop()
            label = "".join(out[start:])
            if not label:
                out.append(esc(url))
            elif not auto and label != esc(url):
                out.append(f" ({esc(url)})")
        elif kind == "image":
            alt = _inline(token.children or [], esc=esc, styled=False) or "image"
            out.append(f"{alt} ({esc(_shown_url(str(token.attrGet('src') or '')))})")
    return "".join(out)


# -- blocks --------------------------------------------------------------------------------


@dataclass
class _Container:
    """A quote or list item: the prefix of its first line, then of its other lines."""

    first: str
    rest: str
    quote: bool = False
    used: bool = False


@dataclass
class _List:
    ordered: bool
    number: int
    delimiter: str


@dataclass
class _Renderer:
    source: list[str]
    lines: list[str] = field(default_factory=list)
    containers: list[_Container] = field(default_factory=list)
    lists: list[_List] = field(default_factory=list)
    last_line: int | None = None  # where the previous block ended in the source

    def render(self, tokens: Sequence[Token]) -> str:
        i = 0
        while i < len(tokens):
            i = self._block(tokens, i)
        return "\n".join(self.lines).strip("\n")

    def _block(self, tokens: Sequence[Token], i: int) -> int:
        """Render the block token at ``i``; returns the index of the next one."""
        token = tokens[i]
        kind = token.type
        if kind == "blockquote_open":
            self.containers.append(_Container("> ", "> ", quote=True))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrGet("start") or 1)
            self.lists.append(_List(kind == "ordered_list_open", start, token.markup))
        elif kind in ("bullet_list_close", "ordered_list_close") and self.lists:
            self.lists.pop()
        elif kind == "list_item_open" and self.lists:
            current = self.lists[-1]
            if current.ordered:
                marker = f"{current.number}{current.delimiter} "
                current.number += 1
            else:
                marker = _BULLETS[min(len(self.lists), len(_BULLETS)) - 1] + " "
            self.containers.append(_Container(marker, _INDENT))
        elif kind in ("blockquote_close", "list_item_close") and self.containers:
            self.containers.pop()
        elif kind in ("paragraph_open", "heading_open"):
            inline = tokens[i + 1] if i + 1 < len(tokens) else None
            children = (inline.children or []) if inline is not None else []
            if kind == "paragraph_open":
                self._leaf(token, _inline(children).split("\n"), paragraph=True)
            else:
                text = _inline(children, styled=False)
                self._leaf(
                    token, [f"*{line.strip()}*" for line in text.split("\n") if line.strip()]
                )
            return i + 3  # open, inline, close
        elif kind in ("fence", "code_block"):
            body = token.content.strip("\n")
            if body:
                self._leaf(token, [_FENCE, *escape(body).split("\n"), _FENCE], verbatim=True)
        elif kind == "hr":
            self._leaf(token, [_RULE])
        elif kind == "table_open":
            end = i
            while end < len(tokens) and tokens[end].type != "table_close":
                end += 1
            table = _table(tokens[i:end])
            lines = [_FENCE, *escape(table).split("\n"), _FENCE] if table else []
            self._leaf(token, lines, verbatim=True)
            return end + 1
        return i + 1

    def _leaf(
        self, token: Token, lines: list[str], *, paragraph: bool = False, verbatim: bool = False
    ) -> None:
        """Write a leaf block's lines under the open quotes and list items, a blank line
        before it where the source had one. A paragraph's line that the source did not
        indent (a lazy continuation) is not indented under its list item either, nor is
        code (``verbatim``: indenting would change it, and Slack boxes it anyway)."""
        if not lines:
            return
        where = token.map
        if where is not None:
            if self.last_line is not None and where[0] > self.last_line and self.lines:
                # under the quotes already open (not one this block opens)
                self.lines.append("".join(c.rest for c in self.containers if c.used).rstrip())
            self.last_line = where[1]
        for k, line in enumerate(lines):
            lazy = verbatim or (
                paragraph and k > 0 and where is not None and self._lazy(where[0] + k)
            )
            prefix = "".join(
                c.first if not c.used else c.rest if c.quote or not lazy else ""
                for c in self.containers
            )
            for container in self.containers:
                container.used = True
            self.lines.append(prefix + line)

    def _lazy(self, line: int) -> bool:
        """Is the source's ``line`` not indented (past its quote markers)?"""
        if line >= len(self.source):
            return False
        found = _QUOTED_INDENT.match(self.source[line])
        return found is not None and not found.group(1)


def _table(tokens: Sequence[Token]) -> str:
    """A table as aligned plain text (Slack has no tables; a code block keeps columns)."""
    rows: list[list[str]] = []
    aligns: list[str] = []
    for j, token in enumerate(tokens):
        if token.type == "tr_open":
            rows.append([])
        elif token.type in ("th_open", "td_open") and rows:
            inline = tokens[j + 1] if j + 1 < len(tokens) else None
            cell = _inline(inline.children or [], esc=str, styled=False) if inline else ""
            rows[-1].append(" ".join(cell.split()))
            if token.type == "th_open":
                aligns.append(str(token.attrGet("style") or "").removeprefix("text-align:"))
    if not rows:
        return ""
    columns = max(len(row) for row in rows)
    widths = [
        max((_width(row[c]) for row in rows if c < len(row)), default=0) for c in range(columns)
    ]
    out: list[str] = []
    for r, row in enumerate(rows):
        cells = []
        for c, width in enumerate(widths):
            text = row[c] if c < len(row) else ""
            pad = " " * (width - _width(text))
            align = aligns[c] if c < len(aligns) else ""
            cells.append(pad + text if align == "right" else text + pad)
        out.append("  ".join(cells).rstrip())
        if r == 0:
            out.append("  ".join("─" * w for w in widths))
    return "\n".join(out)


def _width(text: str) -> int:
    """Columns ``text`` takes in a monospaced font (wide East Asian characters take two)."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _is_safe_cut(text: str, i: int) -> bool:
    """May ``text`` be cut between index i-1 and i?"""
    if i <= 0 or i >= len(text):
        return True
    before, after = text[i - 1], text[i]
    if before == "`" and after == "`":
        return False  # never split a code fence
    if "\ud800" <= before <= "\udbff":  # a lone high surrogate (only in odd input)
        return False
    if unicodedata.combining(after) or after == _ZWJ or before == _ZWJ:
        return False
    if "\ufe00" <= after <= "\ufe0f" or "\U0001f3fb" <= after <= "\U0001f3ff":
        return False  # variation selectors and skin-tone modifiers stay with their base
    if "\U000e0020" <= after <= "\U000e007f":
        return False  # emoji tag sequences (flags of regions)
    if _is_regional(before) and _is_regional(after):
        # Regional indicators pair up into flags: cut only between pairs.
        run = 0
        j = i - 1
        while j >= 0 and _is_regional(text[j]):
            run += 1
            j -= 1
        if run % 2 == 1:
            return False
    start = max(0, i - 4)
    return all(not (m.start() < i - start < m.end()) for m in _ENTITY.finditer(text[start : i + 4]))


def _is_regional(ch: str) -> bool:
    return "\U0001f1e6" <= ch <= "\U0001f1ff"


def _max_prefix(text: str, budget: int) -> int:
    """Largest index i such that utf16_len(text[:i]) <= budget."""
    used = 0
    for i, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            return i
    return len(text)


def _best_cut(text: str, hard: int) -> int:
    """A cut index in (0, hard], preferring paragraph, line, then word boundaries."""
    floor = hard // 2
    for sep in ("\n\n", "\n", " "):
        idx = text.rfind(sep, 0, hard)
        while idx >= floor and idx > 0:
            cut = idx + len(sep)
            if cut <= hard and _is_safe_cut(text, cut):
                return cut
            idx = text.rfind(sep, 0, idx)
    cut = hard
    while cut > 0 and not _is_safe_cut(text, cut):
        cut -= 1
    if cut == 0:  # one unbreakable sequence longer than the limit: cut at a code point
        cut = hard
        while cut > 0 and "\ud800" <= text[cut - 1] <= "\udbff":
            cut -= 1
        cut = max(cut, 1)
    return cut


def split_mrkdwn(text: str, limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """Split mrkdwn into pieces of at most ``limit`` UTF-16 units each.

    Joining the pieces gives back ``text`` apart from the fence lines added where a cut
    falls inside a code block. An empty text gives an empty list.
    """
    if limit < 16:
        raise ValueError("limit must be at least 16")
    pieces: list[str] = []
    rest = text
    reopen = False
    while rest:
        prefix = _FENCE + "\n" if reopen else ""
        budget = limit - utf16_len(prefix)
        if utf16_len(rest) <= budget:
            pieces.append(prefix + rest)
            break
        reserve = len("\n" + _FENCE)
        cut = _best_cut(rest, _max_prefix(rest, budget - reserve))
        chunk = rest[:cut]
        in_code = reopen ^ (chunk.count(_FENCE) % 2 == 1)
        opened_at = chunk.rstrip("\n").rfind(_FENCE)
        if in_code and not reopen and opened_at > 0 and chunk.rstrip("\n").endswith(_FENCE):
            # Do not end a piece on an opening fence: start the next piece with it.
            cut, in_code = opened_at, False
            chunk = rest[:cut]
        rest = rest[cut:]
        piece = prefix + chunk
        if in_code:
            piece = piece.rstrip("\n") + "\n" + _FENCE
        pieces.append(piece)
        reopen = in_code
        if reopen and rest.startswith("\n"):
            rest = rest[1:]
    return [p for p in pieces if p.strip()] or ([text] if text.strip() else [])


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Shorten to at most ``limit`` UTF-16 units at a safe boundary, marking the cut."""
    if utf16_len(text) <= limit:
        return text
    budget = limit - utf16_len(ellipsis)
    cut = _max_prefix(text, budget)
    while cut > 0 and not _is_safe_cut(text, cut):
        cut -= 1
    return text[:cut].rstrip() + ellipsis
