"""Report summaries and renderings: Markdown, JSON, self-contained HTML, run comparison."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from evals.cases.schema import FailureMode
from evals.runs.report import (
    CaseInfo,
    EvalReport,
    ModelRecord,
    RunRecord,
    RunStatus,
    SampleResult,
    find_regressions,
    summarize,
)
from evals.runs.report_html import to_html
from evals.runs.report_render import (
    compare_reports,
    comparison_markdown,
    to_json,
    to_json_summary,
    to_markdown,
)
from evals.scorers.checks import CheckResult
from evals.scorers.judge import JudgeVerdict

T0 = datetime(2026, 11, 1, 22, 0, tzinfo=UTC)


def make_report(
    outcomes: Mapping[tuple[str, str], list[bool | None]],
    *,
    run_id: int = 1,
    version: str = "v1",
    status: RunStatus = RunStatus.COMPLETE,
    reason: str = "all samples ran",
) -> EvalReport:
    """outcomes: (case, model) -> per-sample passed (None = a model error)."""
    models = sorted({m for _, m in outcomes})
    case_ids = sorted({c for c, _ in outcomes})
    results = []
    for (case, model), samples in outcomes.items():
        for i, passed in enumerate(samples):
            err = passed is None
            results.append(
                SampleResult(
                    case_id=case,
                    model=model,
                    sample=i,
                    text="" if err else f"{model} says {'yes' if passed else 'no <b>'} on {case}",
                    passed=passed,
                    checks=() if err else (CheckResult("must_include", bool(passed), None, "x"),),
                    verdict=None
                    if passed or err
                    else JudgeVerdict(2, False, "wrong", FailureMode.WRONG_FACT),
                    error="timed out" if err else None,
                    error_source="model" if err else None,
                    cost_usd=None if err else 0.01,
                    latency_ms=0 if err else 100 + 10 * i,
                    prompt_tokens=10,
                    completion_tokens=5,
                )
            )
    record = RunRecord(
        case_set="golden",
        dataset_version=version,
        case_count=len(case_ids),
        models=tuple(ModelRecord(name=m, model=f"openai/{m}", resolved=f"{m}-v1") for m in models),
        system_prompt="Be brief.",
        prompt_template="t",
        prompt_hash="a" * 64,
        temperature=0.2,
        top_p=None,
        max_tokens=512,
        samples=max(len(v) for v in outcomes.values()),
        judge_model="openai/judge",
        judge_prompt_hash="b" * 64,
        rubric_version="quorum-rubric-1",
        scorer_settings={"judge_min_score": 4},
        quorum_version="0.1.0",
        git_commit="abc123",
        started_at=T0,
        finished_at=T0,
        total_cost_usd=sum(r.total_cost for r in results),
    )
    cases = tuple(
        CaseInfo(
            id=c,
            question=f"Question {c} <script>alert(1)</script>",
            expected="yes",
            category="sql" if c.endswith(("0", "2", "4")) else "k8s",
            severity="high" if c == "c0" else "medium",
        )
        for c in case_ids
    )
    return EvalReport(record, status, reason, cases, tuple(results), run_id=run_id)


def strong_vs_weak(n: int = 20) -> dict[tuple[str, str], list[bool | None]]:
    out: dict[tuple[str, str], list[bool | None]] = {}
    for i in range(n):
        out[(f"c{i}", "alpha")] = [True, True, i != 0]
        out[(f"c{i}", "beta")] = [i < 3, False, False]
    return out


def test_summary_numbers() -> None:
    report = make_report(strong_vs_weak())
    alpha, beta = summarize(report)
    assert alpha.model == "alpha" and alpha.pass_rate.passed == 59 and alpha.pass_rate.n == 60
    assert alpha.pass_rate.low < 59 / 60 < alpha.pass_rate.high
    assert alpha.pass_at_k == 1.0
    assert alpha.pass_hat_k == pytest.approx(19 / 20)
    assert alpha.consistency == pytest.approx((19 + 2 / 3) / 20)
    assert beta.failure_modes == {"wrong_fact": 57}
    assert beta.by_category["sql"].n == 18  # c0 c2 c4 c10 c12 c14
    assert beta.by_severity["high"].passed == 1
    assert alpha.cost_usd == pytest.approx(0.6) and alpha.cost_per_case == pytest.approx(0.03)
    assert alpha.latency_p50_ms == 110 and alpha.prompt_tokens == 600


def test_errors_leave_pass_rates_and_mark_a_model_invalid() -> None:
    outcomes: dict[tuple[str, str], list[bool | None]] = {
        ("c0", "flaky"): [None, None, True],
        ("c1", "flaky"): [None, True, True],
    }
    s = summarize(make_report(outcomes))[0]
    assert s.errors == 3 and s.pass_rate.n == 3 and s.pass_rate.passed == 3
    assert not s.valid and s.error_rate == 0.5


def test_markdown_says_which_difference_is_real_and_what_it_cost() -> None:
    md = to_markdown(make_report(strong_vs_weak()))
    assert md.startswith("# Eval run 1: golden set, COMPLETE")
    assert "| alpha | 98% (59/60) |" in md
    assert re.search(r"\*\*alpha vs beta\*\*: alpha beats beta \(p=[0-9.e-]+, n = 20\)", md)
    assert "## By category" in md and "## By severity" in md and "wrong_fact × 57" in md
    assert "## Failure examples" in md and "beta says no &lt;b&gt; on c1" in md
    assert "<script>" not in md  # untrusted text never becomes raw HTML
    assert "## Reproducibility record" in md and "abc123" in md and "quorum-rubric-1" in md


def test_noise_is_called_noise() -> None:
    outcomes: dict[tuple[str, str], list[bool | None]] = {}
    for i in range(12):
        outcomes[(f"c{i}", "alpha")] = [i % 2 == 0]
        outcomes[(f"c{i}", "beta")] = [i % 3 == 0]
    md = to_markdown(make_report(outcomes))
    assert "difference within noise (n = 12" in md


def test_a_partial_run_is_clearly_marked() -> None:
    report = make_report(
        strong_vs_weak(4), status=RunStatus.PARTIAL, reason="stopped at the $0.05 budget"
    )
    md = to_markdown(report)
    assert "PARTIAL" in md.splitlines()[0]
    assert "> **PARTIAL RUN: stopped at the $0.05 budget." in md
    assert "PARTIAL RUN" in to_html(report)
    assert to_json_summary(report)["status"] == "partial"


def test_regressions_are_listed_against_the_previous_run() -> None:
    before = make_report(strong_vs_weak(), run_id=1)
    now_outcomes = strong_vs_weak()
    now_outcomes[("c5", "alpha")] = [False, False, True]
    now = make_report(now_outcomes, run_id=2)
    regs = find_regressions(before, now)
    assert [(r.case_id, r.model) for r in regs] == [("c5", "alpha")]
    assert regs[0].before.startswith("alpha says yes") and regs[0].now.startswith("alpha says no")
    md = to_markdown(now, previous=before)
    assert "## Regressions vs run 1 (1)" in md and "`c5` · alpha" in md
    assert to_json_summary(now, before)["regressions"] == [{"case_id": "c5", "model": "alpha"}]
    page = to_html(now, previous=before)
    assert "Regressions vs run 1 (1)" in page and "alpha says no &lt;b&gt; on c5" in page
    other = make_report(strong_vs_weak(), run_id=3, version="v2")
    assert find_regressions(before, other) == []
    assert "dataset version changed (v1 → v2)" in to_markdown(other, previous=before)


def test_json_round_trips_the_whole_report() -> None:
    report = make_report(strong_vs_weak(3))
    data = json.loads(to_json(report))
    assert data["summary"]["models"][0]["model"] == "alpha"
    assert data["summary"]["comparisons"][0]["verdict"]
    again = EvalReport.from_dict(data)
    assert again == report


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_one_self_contained_file_with_a_sortable_table_and_a_chart() -> None:
    page = to_html(make_report(strong_vs_weak()))
    parser = _Collector()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert "svg" in tags and "rect" in tags  # the chart
    assert any(t == "table" and a.get("class") == "sortable" for t, a in parser.tags)
    scripts = [a for t, a in parser.tags if t == "script"]
    assert scripts == [{}]  # one inline script, nothing loaded from elsewhere
    assert not any(a.get("src") or a.get("href") for _, a in parser.tags)
    assert "addEventListener('click'" in page
    # Model output and case text are escaped: an answer cannot inject markup.
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "no &lt;b&gt; on c1" in page
    text = "".join(parser.text)
    assert "Failure examples" in text and "By category" in text and "abc123" in text


def test_comparing_two_runs() -> None:
    a = make_report(strong_vs_weak(), run_id=1)
    b_outcomes = strong_vs_weak()
    b_outcomes[("c5", "alpha")] = [False, False, False]
    b_outcomes[("c1", "beta")] = [True, True, True]
    b = make_report(b_outcomes, run_id=2)
    cmp = compare_reports(a, b)
    assert [(r.case_id, r.model) for r in cmp.regressions] == [("c5", "alpha")]
    assert cmp.improvements == [("c1", "beta")]
    assert cmp.changed == []
    md = comparison_markdown(cmp)
    assert "# Run 2 vs run 1" in md and "## Regressions (1)" in md and "## Improvements (1)" in md
    assert "difference within noise" in md
    c = make_report(strong_vs_weak(), run_id=3, version="v2")
    changed = compare_reports(a, c).changed
    assert ("dataset version", "v1", "v2") in changed
    assert "different dataset versions" in comparison_markdown(compare_reports(a, c))


def test_an_unknown_price_is_shown_as_unknown_not_as_free() -> None:
    report = make_report({("c1", "local"): [True, False]})
    unpriced = replace(report, results=[replace(r, cost_usd=None) for r in report.results])
    (summary,) = summarize(unpriced)
    assert summary.cost_usd is None and summary.cost_per_case is None
    markdown = to_markdown(unpriced)
    assert "$0.0000" not in markdown and "total cost unknown" in markdown
    (priced,) = summarize(report)
    assert priced.cost_usd == pytest.approx(0.02)


def _html_text(page: str) -> str:
    parser = _Collector()
    parser.feed(page)
    return " ".join(" ".join(parser.text).split())


def test_html_leads_with_a_verdict_and_the_run_date() -> None:
    page = to_html(make_report(strong_vs_weak()))
    text = _html_text(page)
    verdict = text.index("alpha is best: alpha 98%, beta")
    assert verdict < text.index("Models")  # above everything else but the title
    assert "(p = " in text and "on 20 shared cases" in text
    assert f"Run {T0:%d %b %Y, %H:%M} UTC" in text
    # a close race is said to be one
    close: dict[tuple[str, str], list[bool | None]] = {}
    for i in range(12):
        close[(f"c{i}", "alpha")] = [i % 2 == 0]
        close[(f"c{i}", "beta")] = [i % 3 == 0]
    assert "No clear winner: alpha 50%, beta 33%, a difference within noise (12 shared cases)" in (
        _html_text(to_html(make_report(close)))
    )


def test_html_marks_shadow_candidates_and_recommends_one_that_beats_the_panel() -> None:
    outcomes = {
        (case, {"alpha": "cand", "beta": "panel"}[model]): v
        for (case, model), v in strong_vs_weak().items()
    }
    page = to_html(make_report(outcomes), shadow={"cand"})
    parser = _Collector()
    parser.feed(page)
    rows = [a for t, a in parser.tags if t == "tr" and a.get("class") == "shadow"]
    assert len(rows) == 1
    text = _html_text(page)
    assert "cand shadow" in text  # the tag next to the name in the table
    assert "cand (shadow) is best" in text and "Consider cand for the panel." in text


def test_html_renders_answers_as_markdown_without_running_their_html() -> None:
    report = make_report(strong_vs_weak(3))
    answer = (
        "Use **exponential backoff**:\n\n- wait `Retry-After`\n- add jitter\n\n<script>x()</script>"
    )
    report = replace(
        report,
        results=tuple(replace(r, text=answer) if r.passed is False else r for r in report.results),
    )
    page = to_html(report)
    assert "<strong>exponential backoff</strong>" in page
    assert "<li>wait <code>Retry-After</code></li>" in page
    assert "<script>x()</script>" not in page and "&lt;script&gt;x()&lt;/script&gt;" in page


def test_html_says_unknown_for_an_unpriced_model() -> None:
    report = make_report({("c1", "local"): [True, False]})
    unpriced = replace(report, results=tuple(replace(r, cost_usd=None) for r in report.results))
    page = to_html(unpriced)
    assert "total cost unknown" in _html_text(page)
    # the Cost and Cost/case cells of the model's row, as Slack says it
    assert '<td data-v="">unknown</td><td data-v="">unknown</td>' in page
    assert "$0" not in page.split("<script>")[0]


def test_a_reports_repr_is_short_however_many_samples_it_holds() -> None:
    # asyncio.run builds it as a run ends (Python 3.11's Ctrl-C handling): it must not
    # spell out thousands of samples.
    small = make_report(strong_vs_weak(2))
    big = make_report(strong_vs_weak(400))
    assert len(big.results) == 200 * len(small.results)
    assert repr(big) == "EvalReport(run_id=1, status='complete', cases=400, results=2400)"
    assert len(repr(big)) == len(repr(small)) + 4  # "400" and "2400" for "2" and "12"
