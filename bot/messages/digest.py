"""The weekly digest as Block Kit (slack_sdk block models), within Slack's limits.

Pure: takes a :class:`evals.digest.sections.Digest`, returns JSON-ready blocks. Questions and
model names are untrusted text and are escaped; links are ours (Slack archive links).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.slack.mrkdwn import SECTION_TEXT_LIMIT, escape, truncate
from evals import money
from evals.cases.schema import FAILURE_MODE_TEXT, FailureMode
from evals.digest.sections import MIN_VOTES, Digest, ModelLine, ShadowLine

JSON = dict[str, Any]

MAX_BLOCKS = 50
MAX_REGRESSIONS = 10
#: action_id of the "Open the review list" button (the cases listeners handle it).
ACTION_OPEN_REVIEW = "quorum_review_open"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, SECTION_TEXT_LIMIT)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(text, 2000))])


def window(digest: Digest) -> str:
    """The digest's week in its own time zone: ``16 Nov 09:00 – 23 Nov 2026 09:00 (Europe/Berlin)``."""
    zone = ZoneInfo(digest.timezone)
    start, end = digest.start.astimezone(zone), digest.end.astimezone(zone)
    return f"{start:%d %b %H:%M} – {end:%d %b %Y %H:%M} ({escape(digest.timezone)})"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def usd(value: float | None) -> str:
    return money.usd(value, unknown="cost unknown", cents_from=0.01)


def signed(value: float, unit: str = "") -> str:
    return f"{'+' if value >= 0 else '−'}{abs(value):g}{unit}"


def failure_mode_text(mode: str) -> str:
    try:
        return FAILURE_MODE_TEXT[FailureMode(mode)]
    except ValueError:
        return mode


def model_text(line: ModelLine, timezone: str = "UTC") -> str:
    """One model's numbers as mrkdwn (run days in ``timezone``)."""
    parts: list[str] = []
    if line.eval is not None:
        rate = line.eval.rate
        drop = line.eval.week_drop_text(timezone)
        limits = line.eval.limits_text
        parts.append(
            f"eval {pct(rate.rate)} ({pct(rate.low)}–{pct(rate.high)}) on "
            f"{line.eval.size_text}; {line.eval.change_text}"
            + (f"; {drop}" if drop else "")
            + (f"; {limits}" if limits else "")
        )
    else:
        parts.append("no eval results this week")
    if line.thumbs is not None:
        parts.append(f"👍 {pct(line.thumbs.rate)} of {line.thumbs.n} ratings")
    else:
        parts.append("no 👍/👎 yet")
    parts.append(f"{line.volume} answers")
    if line.preference is not None and line.preference.votes >= MIN_VOTES:
        parts.append(
            f"preferred #{line.preference.rank} ({line.preference.wins}/{line.preference.votes} "
            "best-answer votes)"
        )
    elif line.preference is not None and line.preference.votes:
        votes = line.preference.votes
        parts.append(f"{votes} best-answer vote{'s' if votes != 1 else ''}: too few to rank")
    if line.latency_p50_ms is not None:
        parts.append(f"latency p50 {ms(line.latency_p50_ms)} / p95 {ms(line.latency_p95_ms)}")
    if line.cost_per_100 is not None:
        parts.append(f"{usd(line.cost_per_100)} per 100 questions")
    return f"*{escape(line.model)}*\n" + " · ".join(parts)


def shadow_text(line: ShadowLine) -> str:
    parts = [
        f"agreed with the served answer {pct(line.mean_agreement)} on {line.questions} questions"
    ]
    if line.eval_rate is not None:
        parts.append(f"eval {pct(line.eval_rate)} vs panel {pct(line.panel_eval_rate)}")
    if line.cost_delta_per_100 is not None:
        delta = line.cost_delta_per_100
        parts.append(f"{'+' if delta >= 0 else '−'}{usd(abs(delta))} per 100 questions vs panel")
    if line.latency_p50_delta_ms is not None:
        parts.append(f"{signed(round(line.latency_p50_delta_ms))} ms median latency vs panel")
    text = f"*{escape(line.model)}*: " + " · ".join(parts)
    if line.disagreements:
        links = []
        for d in line.disagreements:
            label = escape(truncate(" ".join(d.question.split()), 80)).replace("|", "¦")
            links.append(
                f"• <{d.link}|{label}> ({pct(d.agreement)})"
                if d.link
                else f"• {label} ({pct(d.agreement)})"
            )
        text += "\nDisagreed most:\n" + "\n".join(links)
    return text


def _calibration(digest: Digest) -> str:
    cal = digest.calibration
    lines = ["*Confidence vs users*"]
    lines.append(escape(cal.verdict))
    if cal.ece is not None:
        lines.append(
            f"Expected calibration error {cal.ece:.2f} over {cal.n} judged answers"
            + (
                "."
                if cal.chance_ece is None
                else f" (chance alone reaches {cal.chance_ece:.2f} one week in ten)."
            )
        )
        lines.extend(
            f"• said {b.low:.0%}–{b.high:.0%} (avg {b.mean_confidence:.0%}): users agreed "
            f"{b.accuracy:.0%} of {b.count}"
            for b in cal.bins
        )
    if cal.refit is not None:
        lines.append(
            ("Calibrator refitted: " if cal.refit.refitted else "Calibrator not refitted: ")
            + escape(cal.refit.reason)
        )
    return "\n".join(lines)


def digest_blocks(digest: Digest, *, chart_attached: bool = False) -> list[JSON]:
    """The whole digest; at most 50 blocks, every section within 3000 characters."""
    blocks: list[Block] = [
        HeaderBlock(
            text=PlainTextObject(text=truncate(f"Quorum weekly digest · {digest.period}", 150))
        ),
        _context(f"{window(digest)} · {digest.questions} question(s)"),
    ]
    if digest.decisions:
        blocks.append(
            _section(
                "*This week, decide:*\n" + "\n".join(f"• {escape(d)}" for d in digest.decisions)
            )
        )
    else:
        blocks.append(_section("*Nothing needs a decision this week.*"))
    blocks.append(_section(f"*Biggest change:* {escape(digest.headline)}"))
    if digest.warnings:
        blocks.append(_section("\n".join(f"⚠️ {escape(w)}" for w in digest.warnings)))
    if digest.quiet:
        blocks.append(_context(" ".join(escape(n) for n in digest.notes)))

    if digest.review_total:
        items = "\n".join(
            f"• `{escape(item.case_id)}` {escape(truncate(' '.join(item.question.split()), 120))}"
            for item in digest.review
        )
        more = digest.review_total - len(digest.review)
        if more > 0:
            items += f"\n… and {more} more in the review list"
        blocks.append(
            _section(f"*{digest.review_total} proposed case(s) awaiting review*\n{items}".rstrip())
        )
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Open the review list",
                        action_id=ACTION_OPEN_REVIEW,
                        value="proposed",
                        style="primary",
                    )
                ]
            )
        )
    else:
        blocks.append(_context("No proposed cases awaiting review."))

    if digest.shadow:
        blocks.append(DividerBlock())
        blocks.append(_section("*Shadow candidates* (answers never shown to users)"))
        blocks.extend(_section(shadow_text(line)) for line in digest.shadow)

    if digest.models:
        blocks.append(DividerBlock())
        blocks.append(_section("*Models this week*"))
        blocks.extend(
            _section(model_text(line, digest.timezone))
            for line in digest.models
            if line.role == "panel"
        )
        blocks.append(
            _section(
                "*Does the benchmark predict production?*\n" + escape(digest.rank_agreement.text)
            )
        )
    blocks.append(_section(_calibration(digest)))

    if digest.regressions or digest.new_failure_modes:
        lines = []
        if digest.regressions:
            lines.append(f"*Regressions* ({len(digest.regressions)}): passed before, fail now")
            lines.extend(
                f"• {escape(r.model)}: `{escape(r.case_id)}`"
                for r in digest.regressions[:MAX_REGRESSIONS]
            )
            if len(digest.regressions) > MAX_REGRESSIONS:
                lines.append(f"… and {len(digest.regressions) - MAX_REGRESSIONS} more")
        if digest.new_failure_modes:
            lines.append(
                "*New failure modes:* "
                + ", ".join(f"{failure_mode_text(m)} ({n})" for m, n in digest.new_failure_modes)
            )
        blocks.append(_section("\n".join(lines)))

    footer = []
    if not digest.quiet and digest.notes:
        footer.append(" ".join(escape(n) for n in digest.notes))
    if chart_attached:
        footer.append("Weekly pass rate and 👍 rate per model: see the chart below.")
    if footer:
        blocks.append(_context(" ".join(footer)))
    return fit(list(b.to_dict() for b in blocks))


def fit(blocks: Sequence[JSON], limit: int = MAX_BLOCKS) -> list[JSON]:
    """Hold the digest to Slack's 50 blocks, keeping the head and the last few blocks."""
    if len(blocks) <= limit:
        return list(blocks)
    note = _context(
        "… shortened to fit in Slack; `quorum digest --preview` shows it all."
    ).to_dict()
    keep_tail = 3
    return [*blocks[: limit - keep_tail - 1], note, *blocks[-keep_tail:]]


def digest_text(digest: Digest) -> str:
    """The notification text (what shows in notifications and for screen readers)."""
    return truncate(f"Quorum weekly digest {digest.period}: {digest.headline}", 3000)
