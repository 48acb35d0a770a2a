"""Render an :class:`~evals.runs.report.EvalReport` as Markdown or JSON, and compare two
reports. The single-file HTML report is in :mod:`evals.runs.report_html`."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evals import money, stats
from evals.runs.report import (
    EvalReport,
    ModelSummary,
    Regression,
    RunRecord,
    RunStatus,
    SampleResult,
    case_outcomes,
    case_rates,
    comparisons,
    find_regressions,
    summarize,
)

EXAMPLES_LIMIT = 10


def fmt_pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def fmt_usd(x: float | None) -> str:
    return money.usd(x, unknown="unknown")


def total_cost_text(report: EvalReport) -> str:
    """The run's total cost, or "unknown" when no call had a known price (not "$0")."""
    priced = any(r.cost_usd is not None or r.judge_cost_usd is not None for r in report.results)
    return fmt_usd(report.record.total_cost_usd) if priced else "unknown (no known prices)"


def fmt_ms(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f} ms"


def fmt_ci(rate: stats.Rate) -> str:
    return "–" if rate.n == 0 else f"{rate.low:.0%}–{rate.high:.0%}"


def report_title(report: EvalReport) -> str:
    run = f"run {report.run_id}" if report.run_id is not None else "run"
    return f"Eval {run}: {report.record.case_set} set, {report.status.value.upper()}"


def report_verdict(report: EvalReport, *, shadow: Collection[str] = ()) -> str:
    """One sentence a reader acts on: which model is best and whether that is real."""
    scored = [s for s in summarize(report) if s.pass_rate.n and s.valid]
    if not scored:
        return "No verdict: no sample was scored (give the cases expected answers or checks)."

    def named(model: str) -> str:
        return f"{model} (shadow)" if model in shadow else model

    ranked = sorted(scored, key=lambda s: -(s.pass_rate.rate or 0.0))
    best = ranked[0]
    cases = report.record.case_count
    if len(ranked) == 1:
        return (
            f"{named(best.model)} passed {fmt_pct(best.pass_rate.rate)} "
            f"({best.pass_rate.passed} of {best.pass_rate.n} samples, {cases} cases)."
        )
    runner = ranked[1]
    pair = next((c for c in comparisons(report) if {c.a, c.b} == {best.model, runner.model}), None)
    rates = (
        f"{named(best.model)} {fmt_pct(best.pass_rate.rate)}, "
        f"{named(runner.model)} {fmt_pct(runner.pass_rate.rate)}"
    )
    if pair is None or not pair.significant:
        n = f"{pair.n} shared cases" if pair is not None else f"{cases} cases"
        verdict = f"No clear winner: {rates}, a difference within noise ({n})."
    else:
        verdict = (
            f"{named(best.model)} is best: {rates} "
            f"(p = {pair.p_value:.2g} on {pair.n} shared cases)."
        )
    panel_best = next((s for s in ranked if s.model not in shadow), None)
    if best.model in shadow and panel_best is not None and pair is not None and pair.significant:
        verdict += f" Consider {best.model} for the panel."
    return verdict


def status_banner(report: EvalReport) -> str | None:
    if report.status is RunStatus.PARTIAL:
        return f"PARTIAL RUN: {report.status_reason}. Numbers cover only the samples that ran."
    if report.status is RunStatus.INVALID:
        return f"INVALID RUN: {report.status_reason}."
    if report.status is RunStatus.RUNNING:
        return "This run has not finished (interrupted or still running): resume it to finish."
    return None


def summary_dict(summary: ModelSummary) -> dict[str, Any]:
    return {
        "model": summary.model,
        "samples": summary.samples,
        "scored": summary.pass_rate.n,
        "passed": summary.pass_rate.passed,
        "pass_rate": summary.pass_rate.rate,
        "ci95": [summary.pass_rate.low, summary.pass_rate.high],
        "pass_at_k": summary.pass_at_k,
        "pass_hat_k": summary.pass_hat_k,
        "k": summary.k,
        "consistency": summary.consistency,
        "errors": summary.errors,
        "error_rate": summary.error_rate,
        "valid": summary.valid,
        "by_category": {k: _rate_dict(v) for k, v in summary.by_category.items()},
        "by_severity": {k: _rate_dict(v) for k, v in summary.by_severity.items()},
        "failure_modes": summary.failure_modes,
        "cost_usd": summary.cost_usd,
        "cost_per_case_usd": summary.cost_per_case,
        "latency_p50_ms": summary.latency_p50_ms,
        "latency_p95_ms": summary.latency_p95_ms,
        "prompt_tokens": summary.prompt_tokens,
        "completion_tokens": summary.completion_tokens,
        "error_kinds": summary.error_kinds,
        "throttled": summary.throttled,
        "throttle_wait_s": round(summary.throttle_wait_s, 3),
    }


def _rate_dict(rate: stats.Rate) -> dict[str, Any]:
    return {"passed": rate.passed, "n": rate.n, "rate": rate.rate, "ci95": [rate.low, rate.high]}


def to_json_summary(report: EvalReport, previous: EvalReport | None = None) -> dict[str, Any]:
    """The machine-readable summary (``quorum eval run --json``)."""
    regs = find_regressions(previous, report) if previous else []
    return {
        "run_id": report.run_id,
        "status": report.status.value,
        "status_reason": report.status_reason,
        "dataset_version": report.record.dataset_version,
        "case_set": report.record.case_set,
        "cases": report.record.case_count,
        "samples": report.record.samples,
        "total_cost_usd": report.record.total_cost_usd,
        "models": [summary_dict(s) for s in summarize(report)],
        "comparisons": [
            {
                "a": c.a,
                "b": c.b,
                "n": c.n,
                "p_value": c.p_value,
                "diff": c.diff,
                "ci95": [c.ci_low, c.ci_high],
                "verdict": c.verdict,
            }
            for c in comparisons(report)
        ],
        "previous_run_id": previous.run_id if previous else None,
        "regressions": [{"case_id": r.case_id, "model": r.model} for r in regs],
    }


def to_json(report: EvalReport, previous: EvalReport | None = None) -> str:
    """Everything: the summary, the record and every sample."""
    data = {"summary": to_json_summary(report, previous), **report.to_dict()}
    return json.dumps(data, indent=2, ensure_ascii=False)


# ---------------------------------------------------------------- Markdown


def _md_cell(text: str, limit: int = 160) -> str:
    """One line of untrusted text made safe for a Markdown table: no raw HTML, no pipes."""
    one_line = " ".join(text.split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    one_line = one_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return one_line.replace("|", "\\|")


def failure_examples(report: EvalReport) -> list[tuple[str, dict[str, SampleResult | None]]]:
    """Cases where some model failed, with each model's first failing (else first) sample."""
    out: list[tuple[str, dict[str, SampleResult | None]]] = []
    for case in report.cases:
        rows = [r for r in report.results if r.case_id == case.id]
        if not any(r.passed is False for r in rows):
            continue
        picked: dict[str, SampleResult | None] = {}
        for model in report.model_names:
            mine = [r for r in rows if r.model == model]
            picked[model] = next((r for r in mine if r.passed is False), mine[0] if mine else None)
        out.append((case.id, picked))
    return out[:EXAMPLES_LIMIT]


def result_words(r: SampleResult | None) -> str:
    if r is None:
        return "(not run)"
    if r.error:
        return f"ERROR: {r.error}"
    state = "PASS" if r.passed else "FAIL" if r.passed is False else "unscored"
    why = [c.detail for c in r.checks if not c.passed]
    if r.verdict:
        mode = f", {r.verdict.failure_mode.value}" if r.verdict.failure_mode else ""
        why.append(f"judge {r.verdict.score}/5{mode}: {r.verdict.reason}")
    return f"{state}: {r.text}" + (f" — {'; '.join(why)}" if why else "")


def record_lines(report: EvalReport) -> list[tuple[str, str]]:
    rec = report.record
    models = "; ".join(
        f"{m.name} = {m.model} (resolved: {m.resolved or 'not reported'}, "
        f"temperature {m.temperature}, max_tokens {m.max_tokens})"
        for m in rec.models
    )
    return [
        ("Case set / dataset version", f"{rec.case_set} / {rec.dataset_version}"),
        ("Cases", str(rec.case_count)),
        ("Filters", json.dumps(dict(rec.filters)) if rec.filters else "none"),
        ("Models", models),
        ("System prompt", rec.system_prompt or "(none)"),
        ("Prompt template / hash", f"{rec.prompt_template} / {rec.prompt_hash[:16]}"),
        (
            "Temperature / top_p / max tokens",
            " / ".join(
                "per model" if v is None else str(v)
                for v in (rec.temperature, rec.top_p, rec.max_tokens)
            ),
        ),
        ("Samples per case", str(rec.samples)),
        (
            "Judge",
            f"{rec.judge_model} (prompt {(rec.judge_prompt_hash or '')[:16]}, "
            f"rubric {rec.rubric_version})"
            if rec.judge_model
            else "none (rule scorers only)",
        ),
        ("Scorer settings", json.dumps(dict(rec.scorer_settings), sort_keys=True)),
        ("Quorum version / git commit", f"{rec.quorum_version} / {rec.git_commit or 'unknown'}"),
        ("Started / finished", f"{rec.started_at.isoformat()} / {_iso(rec)}"),
        (
            "Total cost / wall time",
            f"{total_cost_text(report)} / {rec.total_latency_ms / 1000:.1f} s",
        ),
        ("Budget / concurrency", f"{fmt_usd(rec.max_cost_usd)} / {rec.concurrency}"),
        ("Error policy", f"invalid above {rec.max_error_rate:.0%} errored samples"),
    ]


def _iso(rec: RunRecord) -> str:
    return rec.finished_at.isoformat() if rec.finished_at else "not finished"


def to_markdown(report: EvalReport, previous: EvalReport | None = None) -> str:
    summaries = summarize(report)
    k = report.record.samples
    lines = [f"# {report_title(report)}", ""]
    banner = status_banner(report)
    if banner:
        lines += [f"> **{banner}**", ""]
    lines += [
        f"{report.record.case_count} cases × {len(summaries)} models × {k} samples; "
        f"total cost {total_cost_text(report)}.",
        "",
        "## Models",
        "",
        f"| Model | Pass rate | 95% CI | pass@{k} | pass^{k} | Consistency | Errors "
        "| Cost | Cost/case | p50 | p95 | Tokens in/out |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        flag = " (invalid: too many errors)" if not s.valid else ""
        lines.append(
            f"| {s.model}{flag} | {fmt_pct(s.pass_rate.rate)} ({s.pass_rate.passed}/{s.pass_rate.n}) "
            f"| {fmt_ci(s.pass_rate)} | {fmt_pct(s.pass_at_k)} | {fmt_pct(s.pass_hat_k)} "
            f"| {fmt_pct(s.consistency)} | {s.errors} | {fmt_usd(s.cost_usd)} | {fmt_usd(s.cost_per_case)} "
            f"| {fmt_ms(s.latency_p50_ms)} | {fmt_ms(s.latency_p95_ms)} "
            f"| {s.prompt_tokens}/{s.completion_tokens} |"
        )
    comps = comparisons(report)
    if comps:
        lines += ["", "## Is the difference real?", ""]
        lines += [
            f"- **{c.a} vs {c.b}**: {c.verdict}; difference {c.diff:+.0%} "
            f"(95% CI {c.ci_low:+.0%} to {c.ci_high:+.0%})"
            for c in comps
        ]
    if previous is not None:
        lines += ["", *regression_lines(previous, report)]
    lines += ["", *_breakdown_md("category", summaries), "", *_breakdown_md("severity", summaries)]
    lines += rate_limit_lines(summaries)
    modes = [(s.model, m, n) for s in summaries for m, n in s.failure_modes.items()]
    if modes:
        lines += ["", "## Failure modes (judge)", ""]
        lines += [f"- {model}: {mode} × {n}" for model, mode, n in modes]
    examples = failure_examples(report)
    if examples:
        lines += ["", "## Failure examples", ""]
        lines += ["| Case | " + " | ".join(report.model_names) + " |"]
        lines += ["|---|" + "---|" * len(report.model_names)]
        for case_id, picked in examples:
            info = report.case(case_id)
            question = _md_cell(info.question if info else "", 80)
            cells = " | ".join(_md_cell(result_words(picked[m])) for m in report.model_names)
            lines.append(f"| `{case_id}` {question} | {cells} |")
    lines += ["", "## Reproducibility record", ""]
    lines += [f"- **{key}**: {_md_cell(value, 2000)}" for key, value in record_lines(report)]
    return "\n".join(lines) + "\n"


def limits_mattered(summaries: Sequence[ModelSummary]) -> bool:
    """Whether a report shows what rate limits cost: a request was refused, a second
    was waited, or a sample errored."""
    return any(s.throttled or s.throttle_wait_s >= 1 or s.errors for s in summaries)


def rate_limit_lines(summaries: Sequence[ModelSummary]) -> list[str]:
    """What rate limits cost each model and which kinds of errors there were, when it
    mattered (nothing when no request was refused and no sample errored)."""
    if not limits_mattered(summaries):
        return []
    lines = [
        "",
        "## Rate limits and errors",
        "",
        "A refused request is asked again (until the run's deadline): it costs time, not a sample.",
        "",
        "| Model | Requests refused | Waited on limits | Errors by kind |",
        "|---|---|---|---|",
    ]
    for s in summaries:
        kinds = ", ".join(f"{kind} × {n}" for kind, n in s.error_kinds.items()) or "none"
        lines.append(
            f"| {s.model} | {s.throttled} | {s.throttle_wait_s:.1f} s | {_md_cell(kinds)} |"
        )
    return lines


def _breakdown_md(kind: str, summaries: Sequence[ModelSummary]) -> list[str]:
    groups = sorted({g for s in summaries for g in getattr(s, f"by_{kind}")}, key=lambda g: str(g))
    if not groups:
        return []
    out = [
        f"## By {kind}",
        "",
        f"| {kind.title()} | " + " | ".join(s.model for s in summaries) + " |",
    ]
    out.append("|---|" + "---|" * len(summaries))
    for g in groups:
        cells = []
        for s in summaries:
            rate: stats.Rate | None = getattr(s, f"by_{kind}").get(g)
            cells.append(
                "–"
                if rate is None
                else f"{fmt_pct(rate.rate)} ({rate.passed}/{rate.n}, {fmt_ci(rate)})"
            )
        out.append(f"| {g} | " + " | ".join(cells) + " |")
    return out


def regression_lines(previous: EvalReport, current: EvalReport) -> list[str]:
    prev = f"run {previous.run_id}" if previous.run_id is not None else "the previous run"
    if previous.record.dataset_version != current.record.dataset_version:
        return [
            f"## Regressions vs {prev}",
            "",
            "Not compared: the dataset version changed "
            f"({previous.record.dataset_version} → {current.record.dataset_version}).",
        ]
    regs = find_regressions(previous, current)
    out = [f"## Regressions vs {prev} ({len(regs)})", ""]
    if not regs:
        return [*out, "No case that passed before fails now."]
    out += [
        f"- `{r.case_id}` · {r.model}: {_md_cell(r.question, 100)} — before: "
        f"{_md_cell(r.before, 80)} — now: {_md_cell(r.now, 80)}"
        for r in regs
    ]
    return out


# ---------------------------------------------------------------- comparing two runs


@dataclass(frozen=True)
class RunComparison:
    a: EvalReport
    b: EvalReport
    per_model: list[tuple[str, stats.Rate, stats.Rate, stats.PairedComparison]]
    regressions: list[Regression]
    improvements: list[tuple[str, str]]
    changed: list[tuple[str, str, str]]  # (what, in A, in B)


def compare_reports(a: EvalReport, b: EvalReport) -> RunComparison:
    """Run B against run A: the same model on the shared cases, what regressed from A to
    B, what improved, and what changed in the reproducibility record."""
    sa = {s.model: s for s in summarize(a)}
    sb = {s.model: s for s in summarize(b)}
    per_model = []
    for model in [m for m in b.model_names if m in sa]:
        cmp = stats.compare_paired(
            f"{model} (run {b.run_id})",
            case_rates(b, model),
            f"{model} (run {a.run_id})",
            case_rates(a, model),
        )
        per_model.append((model, sa[model].pass_rate, sb[model].pass_rate, cmp))
    regs = find_regressions(a, b)
    # An improvement is a regression of the inverted outcomes: failed in A, passes in B.
    improvements = stats.regressions(_inverted(a), _inverted(b)) if _same_data(a, b) else []
    ra, rb = a.record, b.record
    pairs: list[tuple[str, object, object]] = [
        ("dataset version", ra.dataset_version, rb.dataset_version),
        ("case set", ra.case_set, rb.case_set),
        ("prompt hash", ra.prompt_hash[:16], rb.prompt_hash[:16]),
        ("temperature", ra.temperature, rb.temperature),
        ("samples", ra.samples, rb.samples),
        ("judge model", ra.judge_model, rb.judge_model),
        ("judge prompt hash", (ra.judge_prompt_hash or "")[:16], (rb.judge_prompt_hash or "")[:16]),
        ("rubric version", ra.rubric_version, rb.rubric_version),
        ("scorer settings", dict(ra.scorer_settings), dict(rb.scorer_settings)),
        ("quorum version", ra.quorum_version, rb.quorum_version),
    ]
    resolved_a = {m.name: m.resolved for m in ra.models}
    for m in rb.models:
        if m.name in resolved_a:
            pairs.append((f"{m.name} resolved version", resolved_a[m.name], m.resolved))
    changed = [(what, str(x), str(y)) for what, x, y in pairs if x != y]
    return RunComparison(a, b, per_model, regs, improvements, changed)


def _same_data(a: EvalReport, b: EvalReport) -> bool:
    return a.record.dataset_version == b.record.dataset_version


def _inverted(report: EvalReport) -> Mapping[tuple[str, str], bool]:
    return {k: not v for k, v in case_outcomes(report).items()}


def comparison_markdown(cmp: RunComparison) -> str:
    a, b = cmp.a.run_id, cmp.b.run_id
    lines = [f"# Run {b} vs run {a}", ""]
    for report in (cmp.a, cmp.b):
        banner = status_banner(report)
        if banner:
            lines += [f"> **Run {report.run_id}: {banner}**", ""]
    lines += ["| Model | Run " + str(a) + " | Run " + str(b) + " | Verdict |", "|---|---|---|---|"]
    for model, ra, rb, c in cmp.per_model:
        lines.append(
            f"| {model} | {fmt_pct(ra.rate)} ({fmt_ci(ra)}) | {fmt_pct(rb.rate)} ({fmt_ci(rb)}) | {c.verdict} |"
        )
    if not _same_data(cmp.a, cmp.b):
        lines += ["", "Regressions not listed: the two runs used different dataset versions."]
    else:
        lines += [
            "",
            f"## Regressions ({len(cmp.regressions)}): passed in run {a}, fail in run {b}",
            "",
        ]
        lines += [
            f"- `{r.case_id}` · {r.model}: {_md_cell(r.question, 100)}" for r in cmp.regressions
        ]
        if not cmp.regressions:
            lines.append("None.")
        lines += [
            "",
            f"## Improvements ({len(cmp.improvements)}): failed in run {a}, pass in run {b}",
            "",
        ]
        lines += [f"- `{case}` · {model}" for case, model in cmp.improvements] or ["None."]
    lines += ["", "## What changed between the runs", ""]
    lines += [f"- {what}: {x} → {y}" for what, x, y in cmp.changed] or ["- nothing recorded"]
    return "\n".join(lines) + "\n"
