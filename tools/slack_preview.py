"""Render Block Kit messages, threads and modals to HTML close to Slack's look.

For developers checking what people see: a result, its thread, a modal. It is an
approximation of Slack's rendering (fonts, spacing, mrkdwn), not Slack itself.

Text is handled as Slack does: mrkdwn arrives with ``&``, ``<`` and ``>`` escaped
(``&amp;`` ``&lt;`` ``&gt;``); a raw ``<...>`` is a link, a mention or a special
mention. The page is built by jinja2 templates with autoescaping; the only markup that
goes in unescaped is what :func:`mrkdwn_html` builds from already-escaped text.

    python -m tools.slack_preview IN.json OUT.html

``IN.json``: a list of blocks, a message (``{"blocks": [...]}``), a list of messages,
or a modal view (``{"type": "modal", ...}``). :mod:`tools.gallery` builds the gallery
in ``docs/`` from the bot's real builders and screenshots it with headless Chromium.
"""

from __future__ import annotations

import html
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

JSON = dict[str, Any]

TEMPLATES = Path(__file__).parent / "templates"

#: Slack emoji codes our messages use, as the characters Slack shows.
EMOJI = {
    "thumbsup": "👍",
    "+1": "👍",
    "-1": "👎",
    "thumbsdown": "👎",
    "triangular_flag_on_post": "🚩",
    "white_check_mark": "✅",
    "warning": "⚠️",
    "star": "⭐",
    "pencil2": "✏️",
    "x": "❌",
}

_SLACK_ENTITY = re.compile(r"&(amp|lt|gt);")
_CONTROL = re.compile(r"<([^<>\n]+)>")
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")


def _text(raw: str) -> str:
    """Slack-escaped text -> HTML-escaped text (``&lt;`` shows as ``<`` in both)."""
    plain = _SLACK_ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], raw)
    return html.escape(plain, quote=False)


#: Display names for user ids in mentions (Slack shows the name, not the id).
USER_NAMES: dict[str, str] = {}


def _control(inner: str) -> str:
    """A raw ``<...>``: mention, channel, special mention or link."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        name = label or USER_NAMES.get(target[1:], target[1:])
        return f'<span class="mention">@{_text(name)}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{_text(label or target[1:])}</span>'
    if target.startswith("!date^"):
        # Slack shows the date in the reader's time zone; the fallback is close enough.
        return _text(label or target.split("^")[1])
    if target.startswith("!"):
        return f'<span class="mention">@{_text(label or target[1:].split("^")[0])}</span>'
    return f'<a href="#">{_text(label or target)}</a>'


def _inline(line: str) -> str:
    """One line of mrkdwn (no code blocks) as HTML."""
    kept: list[str] = []

    def keep(fragment: str) -> str:
        kept.append(fragment)
        return f"\x00{len(kept) - 1}\x00"

    line = _CODE.sub(lambda m: keep(f"<code>{_text(m.group(1))}</code>"), line)
    line = _CONTROL.sub(lambda m: keep(_control(m.group(1))), line)
    out = _text(line)
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _ITALIC.sub(r"<i>\1</i>", out)
    out = _STRIKE.sub(r"<s>\1</s>", out)
    out = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), out)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], out)


def mrkdwn_html(text: str) -> Markup:
    """Slack mrkdwn as HTML: bold, italic, strike, code, code blocks, quotes, links."""
    parts = text.split("```")
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 == 1 and i < len(parts) - 1:
            out.append(f"<pre>{_text(part.strip(chr(10)))}</pre>")
            continue
        lines: list[str] = []
        for line in part.split("\n"):
            if line.startswith(("&gt; ", "> ")) or line in ("&gt;", ">"):
                body = line[5:] if line.startswith("&gt;") else line[2:]
                lines.append(f'<div class="quote">{_inline(body)}</div>')
            else:
                lines.append(_inline(line) + "<br>")
        out.append(re.sub(r"(<br>)+$", "", "".join(lines)))
    return Markup("".join(out))  # built from _text()-escaped pieces only


def text_html(obj: Mapping[str, Any] | str | None) -> Markup:
    """A text object (mrkdwn or plain_text) as HTML."""
    if obj is None:
        return Markup("")
    if isinstance(obj, str):
        return Markup(_text(obj))
    if obj.get("type") == "plain_text":
        return Markup(_text(str(obj.get("text", ""))).replace("\n", "<br>"))
    return mrkdwn_html(str(obj.get("text", "")))


@dataclass
class Message:
    """A message as Slack shows it: who, when, blocks, and optional thread replies."""

    blocks: Sequence[JSON]
    who: str = "Quorum"
    bot: bool = True
    time: str = "9:41 AM"
    ephemeral: bool = False
    text: str = ""
    reactions: Sequence[tuple[str, int]] = ()
    image: str | None = None  # an uploaded file shown under the message (a data: URL)
    replies: Sequence[Message] = field(default_factory=list)


@dataclass
class Modal:
    view: JSON


@dataclass
class Panel:
    """One titled screen of the gallery: what a person sees in one place."""

    title: str
    items: Sequence[Message | Modal]
    note: str = ""


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mrkdwn"] = mrkdwn_html
    env.filters["text"] = text_html
    env.globals["is_message"] = lambda item: isinstance(item, Message)
    return env


def render(panels: Sequence[Panel], *, width: int = 720) -> str:
    """A self-contained HTML page with each panel, in order."""
    template = _environment().get_template("slack_preview.html.j2")
    return template.render(panels=panels, width=width)


def _items(data: Any) -> list[Message | Modal]:
    if isinstance(data, dict) and data.get("type") == "modal":
        return [Modal(data)]
    if isinstance(data, dict):
        return [Message(data.get("blocks") or [], text=str(data.get("text") or ""))]
    if isinstance(data, list) and data and all(isinstance(b, dict) for b in data):
        if "blocks" in data[0] or data[0].get("type") == "modal":
            return [item for d in data for item in _items(d)]
        return [Message(data)]
    raise SystemExit("expected blocks, a message, a list of messages or a modal view")


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tools.slack_preview IN.json OUT.html", file=sys.stderr)
        return 2
    data = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    Path(argv[1]).write_text(render([Panel("", _items(data))]), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
