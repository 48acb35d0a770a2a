"""The Block Kit preview renders everything the bot posts, escaped, and the gallery
in docs/ has a picture of each message it builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import gallery
from tools.slack_preview import Message, Modal, Panel, mrkdwn_html, render

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize(("name", "build"), gallery.GALLERY, ids=[n for n, _ in gallery.GALLERY])
def test_every_gallery_message_renders_with_every_block_understood(name: str, build) -> None:  # type: ignore[no-untyped-def]
    page = render([build()])
    assert 'class="unknown"' not in page, name
    assert "Traceback" not in page


def test_every_gallery_message_has_its_picture_in_docs_and_the_readme_links_it() -> None:
    names = [name for name, _ in (*gallery.GALLERY, *gallery.PAGES)]
    for name in names:
        png = DOCS / "gallery" / f"{name}.png"
        assert png.is_file(), f"run `python -m tools.gallery` to make {png}"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    total = sum(p.stat().st_size for p in (DOCS / "gallery").glob("*.png"))
    assert total < 600_000  # a few hundred KB: the README's readers download it
    index = (DOCS / "gallery.md").read_text(encoding="utf-8")
    assert all(f"gallery/{name}.png" in index for name in names)
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert "docs/gallery.md" in readme


def test_mrkdwn_is_rendered_like_slack_and_untrusted_text_stays_text() -> None:
    html = str(mrkdwn_html("*bold* _it_ ~gone~ `co*de*` <https://x.example/a?b=1&amp;c|a link>"))
    assert "<b>bold</b>" in html and "<i>it</i>" in html and "<s>gone</s>" in html
    assert "<code>co*de*</code>" in html
    assert '<a href="#">a link</a>' in html
    # Slack-escaped model output shows as text, never as markup or a mention
    shown = str(mrkdwn_html("&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; a &amp; b"))
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    assert "mention" not in shown and "a &amp; b" in shown
    # a quote and a code block
    assert '<div class="quote">asked</div>' in str(mrkdwn_html("&gt; asked"))
    assert "<pre>x &lt; y</pre>" in str(mrkdwn_html("```x &lt; y```"))


def test_plain_text_fields_and_titles_are_escaped_by_the_template() -> None:
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "<b>not bold</b>"},
        "blocks": [
            {
                "type": "input",
                "label": {"type": "plain_text", "text": "Label <i>"},
                "element": {"type": "plain_text_input", "initial_value": "<img src=x>"},
            }
        ],
    }
    page = render([Panel("<title>", [Modal(view), Message([], text="*hi*", who="<who>")])])
    assert "<b>not bold</b>" not in page and "&lt;b&gt;not bold&lt;/b&gt;" in page
    assert "<img src=x>" not in page and "&lt;title&gt;" in page and "&lt;who&gt;" in page
    assert "<b>hi</b>" in page
