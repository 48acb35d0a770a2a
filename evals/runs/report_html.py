"""The eval report as one self-contained HTML file, rendered by a jinja2 template with
autoescaping: a verdict and the run date at the top, a chart (inline SVG), a sortable
per-model table (a little inline JS) with shadow candidates marked, per-category and
per-severity breakdowns, failure examples side by side (answers rendered as Markdown)
and the reproducibility record. Nothing is loaded from elsewhere.

Escaping is jinja2's job, not ours: every value goes into the template as text and is
escaped there. The only markup that goes in unescaped is model answers rendered by
markdown-it with raw HTML disabled (so an answer's ``<script>`` stays text) and links
limited to http(s) and mailto.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from evals.runs.report import (
    EvalReport,
    ModelSummary,
    SampleResult,
    comparisons,
    find_regressions,
    summarize,
)
from evals.runs.report_render import (
    failure_examples,
    fmt_ci,
    fmt_ms,
    fmt_pct,
    fmt_usd,
    limits_mattered,
    record_lines,
    report_title,
    report_verdict,
    status_banner,
    total_cost_text,
)

if TYPE_CHECKING:
    from jinja2 import Environment
    from markdown_it import MarkdownIt

#: Charted rows: one per model.
_ROW, _LEFT, _WIDTH = 28, 180, 420


@cache
def _markdown() -> MarkdownIt:
    # Lazy, here and in _environment: markdown-it and jinja2 take ~0.1 s to import and only
    # the HTML report needs them (fast CLI start).
    from markdown_it import MarkdownIt

    # "js-default": CommonMark without raw HTML, with the safe link validation.
    return MarkdownIt("js-default", {"linkify": False, "typographer": False}).enable("table")


def markdown_html(text: str) -> Markup:
    """Model Markdown as HTML; raw HTML in the text is shown as text, never run."""
    return Markup(_markdown().render(text))  # markdown-it escapes everything it does not parse


@dataclass(frozen=True)
class ChartRow:
    y: int
    model: str
    label: str
    rate: float
    low: float
    high: float
    shadow: bool


@dataclass(frozen=True)
class ResultCell:
    css: str
    state: str
    answer: str
    why: str


def _cell(r: SampleResult | None) -> ResultCell:
    if r is None:
        return ResultCell("err", "not run", "", "")
    if r.error:
        return ResultCell("err", "error", "", r.error)
    state = "pass" if r.passed else "fail" if r.passed is False else "unscored"
    why = [c.detail for c in r.checks if not c.passed]
    if r.verdict:
        mode = f", {r.verdict.failure_mode.value}" if r.verdict.failure_mode else ""
        why.append(f"judge {r.verdict.score}/5{mode}: {r.verdict.reason}")
    css = "pass" if r.passed else "fail" if r.passed is False else "err"
    return ResultCell(css, state, r.text, "; ".join(why))


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.6f}"


def _model_rows(summaries: Sequence[ModelSummary], shadow: Collection[str]) -> list[Any]:
    rows = []
    for s in summaries:
        cells = [
            (
                f"{fmt_pct(s.pass_rate.rate)} ({s.pass_rate.passed}/{s.pass_rate.n})",
                _num(s.pass_rate.rate),
            ),
            (fmt_ci(s.pass_rate), _num(s.pass_rate.low)),
            (fmt_pct(s.pass_at_k), _num(s.pass_at_k)),
            (fmt_pct(s.pass_hat_k), _num(s.pass_hat_k)),
            (fmt_pct(s.consistency), _num(s.consistency)),
            (str(s.errors), str(s.errors)),
            (fmt_usd(s.cost_usd) if s.cost_usd is not None else "unknown", _num(s.cost_usd)),
            (
                fmt_usd(s.cost_per_case) if s.cost_per_case is not None else "unknown",
                _num(s.cost_per_case),
            ),
            (fmt_ms(s.latency_p50_ms), _num(s.latency_p50_ms)),
            (fmt_ms(s.latency_p95_ms), _num(s.latency_p95_ms)),
            (str(s.prompt_tokens), str(s.prompt_tokens)),
            (str(s.completion_tokens), str(s.completion_tokens)),
        ]
        rows.append({"summary": s, "shadow": s.model in shadow, "cells": cells})
    return rows


def _breakdowns(summaries: Sequence[ModelSummary]) -> list[dict[str, Any]]:
    out = []
    for kind in ("category", "severity"):
        groups = sorted({g for s in summaries for g in getattr(s, f"by_{kind}")})
        if not groups:
            continue
        rows = []
        for g in groups:
            cells = []
            for s in summaries:
                rate = getattr(s, f"by_{kind}").get(g)
                if rate is None:
                    cells.append(("–", ""))
                else:
                    text = f"{fmt_pct(rate.rate)} ({rate.passed}/{rate.n}, {fmt_ci(rate)})"
                    cells.append((text, _num(rate.rate)))
            rows.append({"group": g, "cells": cells})
        out.append({"kind": kind, "rows": rows})
    return out


def _when(moment: datetime | None) -> str:
    return moment.strftime("%d %b %Y, %H:%M %Z").strip() if moment else "not finished"


@cache
def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("evals", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["markdown"] = markdown_html
    return env


def to_html(
    report: EvalReport, previous: EvalReport | None = None, *, shadow: Collection[str] = ()
) -> str:
    """One self-contained HTML file: no external scripts, styles, fonts or images.

    ``shadow``: the models that are shadow candidates (marked as such), not the panel.
    """
    summaries = summarize(report)
    shadow = set(shadow)
    chart = [
        ChartRow(
            y=10 + i * _ROW,
            model=s.model + (" (shadow)" if s.model in shadow else ""),
            label=f"{s.model}: {fmt_pct(s.pass_rate.rate)} ({fmt_ci(s.pass_rate)})",
            rate=s.pass_rate.rate or 0.0,
            low=s.pass_rate.low,
            high=s.pass_rate.high,
            shadow=s.model in shadow,
        )
        for i, s in enumerate(summaries)
    ]
    regressions: dict[str, Any] | None = None
    if previous is not None:
        same = previous.record.dataset_version == report.record.dataset_version
        regressions = {
            "previous": f"run {previous.run_id}"
            if previous.run_id is not None
            else "the previous run",
            "same_version": same,
            "before_version": previous.record.dataset_version,
            "now_version": report.record.dataset_version,
            "rows": find_regressions(previous, report) if same else [],
        }
    examples = []
    for case_id, picked in failure_examples(report):
        info = report.case(case_id)
        examples.append(
            {
                "case_id": case_id,
                "question": info.question if info else "",
                "expected": info.expected if info else None,
                "cells": [_cell(picked[m]) for m in report.model_names],
            }
        )
    rec = report.record
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=report_title(report),
        verdict=report_verdict(report, shadow=shadow),
        ran=_when(rec.started_at),
        finished=_when(rec.finished_at),
        banner=status_banner(report),
        case_count=rec.case_count,
        model_count=len(summaries),
        k=rec.samples,
        total_cost=total_cost_text(report),
        shadow=sorted(shadow & {s.model for s in summaries}),
        chart=chart,
        chart_left=_LEFT,
        chart_width=_WIDTH,
        chart_height=_ROW * len(summaries) + 30,
        axis_y=10 + len(summaries) * _ROW,
        rows=_model_rows(summaries, shadow),
        comparisons=comparisons(report),
        regressions=regressions,
        breakdowns=_breakdowns(summaries),
        limits=summaries if limits_mattered(summaries) else [],
        summaries=summaries,
        model_names=report.model_names,
        examples=examples,
        record=record_lines(report),
    )
