"""Markdown (as models write it) to Slack mrkdwn, escaping and safe splitting.

Model output is untrusted text. Slack turns ``<!channel>``, ``<@U123>`` and
``<http://x|label>`` into pings and links, so every ``&``, ``<`` and ``>`` coming from a
model is escaped (``&amp;``, ``&lt;``, ``&gt;``) and Markdown links are written out as
``label (url)`` so the target is always visible: nothing a model says can ping
anyone, forge a link or act as a Slack command.

Splitting keeps every piece within a limit counted in UTF-16 code units (what Slack's
JavaScript-side limits count; never fewer than Python characters), never cuts inside a
character, a surrogate pair, a combining sequence, an emoji ZWJ sequence or an
``&amp;``-style entity, prefers paragraph, line and word boundaries, and closes/reopens
code fences that a cut falls inside.
"""

from __future__ import annotations

import re
import unicodedata

#: Slack's limit for a section block's text.
SECTION_TEXT_LIMIT = 3000
#: Slack's recommended limit for a message's top-level ``text``.
MESSAGE_TEXT_LIMIT = 4000

_FENCE = "```"
_ENTITY = re.compile(r"&(?:amp|lt|gt);")
_ZWJ = "\u200d"

_CODE_SPLIT = re.compile(r"(```.*?(?:```|\Z)|`[^`\n]+`)", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.MULTILINE)
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_ITALIC_STAR = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~", re.DOTALL)
_HRULE = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_QUOTE = re.compile(r"^&gt;[ \t]?", re.MULTILINE)

# Private-use sentinels for bold while italics are converted; stripped from input first.
_B_OPEN, _B_CLOSE = "\ue000", "\ue001"


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control sequences."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (characters outside the BMP count twice)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _convert_prose(text: str) -> str:
    """Convert one stretch of escaped Markdown that holds no code."""
    text = _IMAGE.sub(lambda m: f"{m.group(1) or 'image'} ({m.group(2)})", text)
    text = _LINK.sub(
        lambda m: m.group(1) if m.group(1) == m.group(2) else f"{m.group(1)} ({m.group(2)})",
        text,
    )
    text = _HRULE.sub("──────────", text)
    text = _HEADING.sub(lambda m: f"{_B_OPEN}{m.group(1).strip('*_ ')}{_B_CLOSE}", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = _BOLD.sub(lambda m: f"{_B_OPEN}{m.group(2)}{_B_CLOSE}", text)
    text = _ITALIC_STAR.sub(lambda m: f"_{m.group(1)}_", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    text = _QUOTE.sub("> ", text)
    return text.replace(_B_OPEN, "*").replace(_B_CLOSE, "*")


def to_mrkdwn(markdown: str) -> str:
    """Convert untrusted Markdown to Slack mrkdwn; the result never contains ``<``."""
    text = markdown.replace(_B_OPEN, "").replace(_B_CLOSE, "").replace("\r\n", "\n")
    text = escape(text)
    parts = _CODE_SPLIT.split(text)
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 == 1:  # code: keep verbatim (already escaped)
            if part.startswith(_FENCE):
                body = part[3:]
                body = body.removesuffix(_FENCE)
                # Slack does not understand a language tag after the fence.
                first, sep, rest = body.partition("\n")
                if sep and re.fullmatch(r"[\w+#.-]*", first):
                    body = rest
                body = body.strip("\n")
                out.append(f"{_FENCE}\n{body}\n{_FENCE}" if body else "")
            else:
                out.append(part)
        else:
            out.append(_convert_prose(part))
    return "".join(out).strip("\n")


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
