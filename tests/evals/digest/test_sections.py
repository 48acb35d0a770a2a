"""The weekly digest as data: numbers, warnings, headline, quiet weeks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evals import stats
from evals.digest.preference import PreferencePick
from evals.digest.sections import (
    EvalLine,
    ShadowLine,
    build_digest,
    calibration_summary,
    recommendation,
)
from evals.digest.week_data import (
    DatedEvalResult,
    DigestData,
    Disagreement,
    EvalResult,
    MissedJob,
    ModelWeek,
    RefitInfo,
    ReviewItem,
    ShadowWeek,
)

END = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
START = END - timedelta(days=7)


def cases(passing: int, total: int, *, prefix: str = "c") -> dict[str, float]:
    return {f"{prefix}{i:02d}": 1.0 if i < passing else 0.0 for i in range(total)}


def result(per_case: dict[str, float], modes: dict[str, int] | None = None) -> EvalResult:
    return EvalResult(
        passed=int(sum(per_case.values())),
        n=len(per_case),
        per_case=per_case,
        failure_modes=modes or {},
    )


def data(**kwargs: object) -> DigestData:
    base: dict[str, object] = {
        "period": "2026-W48",
        "start": START,
        "end": END,
        "timezone": "Europe/Berlin",
    }
    base.update(kwargs)
    return DigestData(**base)  # type: ignore[arg-type]


def busy_week() -> DigestData:
    alpha = ModelWeek(
        model="alpha",
        eval_now=result(cases(20, 20)),
        eval_before=result(cases(10, 20)),
        thumbs_up=8,
        thumbs_down=2,
        answers=10,
        latency_p50_ms=300.0,
        latency_p95_ms=880.0,
        mean_cost_usd=0.05,
    )
    beta = ModelWeek(
        model="beta",
        eval_now=result(cases(14, 20), {"wrong_fact": 6}),
        eval_before=result(cases(15, 20), {"wrong_fact": 5}),
        thumbs_up=3,
        thumbs_down=7,
        answers=10,
        latency_p50_ms=600.0,
        latency_p95_ms=690.0,
        mean_cost_usd=0.01,
    )
    gamma = ModelWeek(model="gamma", thumbs_up=5, thumbs_down=5, answers=10)
    shadow = ModelWeek(
        model="shadowy",
        role="shadow",
        eval_now=result(cases(16, 20)),
        answers=4,
        latency_p50_ms=300.0,
        latency_p95_ms=300.0,
        mean_cost_usd=0.02,
    )
    disagreements = [
        Disagreement(run_id=i, question=f"q{i}", agreement=a, link=f"https://x/{i}")
        for i, a in enumerate([0.5, 0.2, 0.4, 0.9])
    ]
    return data(
        models=[alpha, beta, gamma, shadow],
        questions=10,
        votes=[PreferencePick("alpha", ("alpha", "beta", "gamma"))] * 4
        + [PreferencePick("gamma", ("alpha", "beta", "gamma"))],
        calibration=[(0.9, True)] * 8 + [(0.9, False)] * 2 + [(0.3, False)] * 3 + [(0.3, True)],
        refit=RefitInfo(refitted=False, reason="only 14 labels; 50 needed"),
        production_failure_modes={"outdated": 2},
        review=[ReviewItem("case-1", "What is our VPN?")],
        review_total=3,
        shadow=[ShadowWeek("shadowy", [0.9, 0.2, 0.5, 0.4], disagreements)],
        missed=[MissedJob("benchmark", "2026-W46", "missed")],
    )


def test_per_model_numbers() -> None:
    digest = build_digest(busy_week())
    lines = {line.model: line for line in digest.models}
    alpha = lines["alpha"]
    assert alpha.eval is not None
    assert (alpha.eval.rate.passed, alpha.eval.rate.n) == (20, 20)
    assert alpha.eval.rate.low == pytest.approx(0.8389, abs=1e-3)  # Wilson 95%, 20/20
    assert alpha.eval.change == pytest.approx(0.5)
    assert alpha.eval.within_noise is False
    assert alpha.eval.change_text.startswith("+50 pts vs last week (p = 0.002, 20 shared cases")
    assert alpha.thumbs is not None and alpha.thumbs.rate == pytest.approx(0.8)
    assert alpha.volume == 10
    assert alpha.latency_p50_ms == pytest.approx(300)
    assert alpha.latency_p95_ms == pytest.approx(880)
    assert alpha.cost_per_100 == pytest.approx(5.0)
    assert alpha.preference is not None and alpha.preference.rank == 1

    beta = lines["beta"]
    assert beta.eval is not None and beta.eval.within_noise is True
    assert beta.eval.change_text == "−5 pts vs last week, within noise (20 shared cases)"
    assert beta.cost_per_100 == pytest.approx(1.0)
    assert beta.preference is not None and beta.preference.rank == 3

    gamma = lines["gamma"]
    assert gamma.eval is None
    assert gamma.latency_p50_ms is None and gamma.cost_per_100 is None
    assert lines["shadowy"].preference is None


def test_headline_is_the_largest_real_change() -> None:
    digest = build_digest(busy_week())
    assert digest.headline == "alpha's eval pass rate went up 50 pts (to 100%)."
    assert not digest.quiet


def test_regressions_and_new_failure_modes() -> None:
    digest = build_digest(busy_week())
    assert [(r.model, r.case_id) for r in digest.regressions] == [("beta", "c14")]
    # wrong_fact was seen last week; outdated (from corrections) is new.
    assert digest.new_failure_modes == (("outdated", 2),)


def test_calibration_reliability_and_ece() -> None:
    digest = build_digest(busy_week())
    cal = digest.calibration
    assert cal.n == 14
    assert [(round(b.low, 2), b.count, round(b.accuracy, 2)) for b in cal.bins] == [
        (0.2, 4, 0.25),
        (0.8, 10, 0.8),
    ]
    assert cal.ece == pytest.approx(10 / 14 * 0.1 + 4 / 14 * 0.05)
    assert cal.refit is not None and not cal.refit.refitted


def test_reliability_puts_confidence_one_in_the_top_bin() -> None:
    cal = calibration_summary([(1.0, True), (0.0, False)], None)
    assert [(round(b.low, 2), b.count) for b in cal.bins] == [(0.0, 1), (0.8, 1)]
    assert cal.ece == pytest.approx(0.0)
    assert cal.chance_ece == pytest.approx(0.0)  # certainty leaves nothing to chance


def test_rank_agreement_needs_three_models() -> None:
    digest = build_digest(busy_week())
    assert digest.rank_agreement.n == 2
    assert digest.rank_agreement.rho is None
    assert digest.rank_agreement.warning is None
    assert "3 needed" in digest.rank_agreement.text


def test_warning_when_the_benchmark_does_not_predict_production() -> None:
    weeks = [
        ModelWeek(model=name, eval_now=result(cases(p, 20)), thumbs_up=u, thumbs_down=10 - u)
        for name, p, u in [("a", 18, 2), ("b", 12, 5), ("c", 6, 9)]
    ]
    digest = build_digest(data(models=weeks, questions=30))
    agreement = digest.rank_agreement
    assert agreement.n == 3 and agreement.rho == pytest.approx(-1.0)
    assert agreement.warning is not None
    assert "not predicting production" in agreement.warning and "n = 3" in agreement.warning
    assert agreement.warning in digest.warnings
    assert digest.headline == agreement.warning


def test_shadow_candidate_summary() -> None:
    digest = build_digest(busy_week())
    (line,) = digest.shadow
    assert line.questions == 4
    assert line.mean_agreement == pytest.approx(0.5)
    assert line.eval_rate == pytest.approx(0.8)
    assert line.panel_eval_rate == pytest.approx((1.0 + 0.7) / 2)
    assert line.cost_delta_per_100 == pytest.approx(2.0 - (5.0 + 1.0) / 2)
    assert line.latency_p50_delta_ms == pytest.approx(300 - (300 + 600) / 2)
    assert [d.run_id for d in line.disagreements] == [1, 2, 0]


def test_review_and_missed_jobs_are_reported() -> None:
    digest = build_digest(busy_week())
    assert digest.review_total == 3
    assert "The benchmark for 2026-W46 was missed and did not run." in digest.warnings


def test_quiet_week_says_so() -> None:
    digest = build_digest(data())
    assert digest.quiet
    assert digest.headline == "A quiet week: no questions and no benchmark results."
    assert "No benchmark results this week." in digest.notes
    assert digest.calibration.ece is None and digest.calibration.bins == ()
    assert digest.models == () and digest.shadow == ()


def test_questions_without_benchmark_is_still_quiet_but_counts_them() -> None:
    digest = build_digest(data(models=[ModelWeek("a", answers=3)], questions=3))
    assert digest.headline == "A quiet week: 3 question(s), no benchmark results."


def test_no_change_beyond_noise() -> None:
    week = ModelWeek("a", eval_now=result(cases(15, 20)), eval_before=result(cases(14, 20)))
    digest = build_digest(data(models=[week], questions=4))
    assert digest.headline == "Nothing changed beyond noise this week."


def test_a_significant_thumbs_change_can_be_the_headline() -> None:
    week = ModelWeek("a", thumbs_up=1, thumbs_down=9, thumbs_up_before=9, thumbs_down_before=1)
    digest = build_digest(data(models=[week], questions=10))
    assert digest.headline == "a's 👍 rate went down 80 pts (to 10%)."


@st.composite
def model_weeks(draw: st.DrawFn) -> ModelWeek:
    def maybe_eval() -> EvalResult | None:
        if not draw(st.booleans()):
            return None
        per_case = draw(
            st.dictionaries(st.sampled_from(["x", "y", "z"]), st.floats(0, 1), max_size=3)
        )
        return EvalResult(
            passed=int(sum(v > 0.5 for v in per_case.values())),
            n=len(per_case),
            per_case=per_case,
        )

    return ModelWeek(
        model=draw(st.sampled_from(["a", "b", "c", "d"])),
        role=draw(st.sampled_from(["panel", "shadow"])),
        eval_now=maybe_eval(),
        eval_before=maybe_eval(),
        thumbs_up=draw(st.integers(0, 20)),
        thumbs_down=draw(st.integers(0, 20)),
        thumbs_up_before=draw(st.integers(0, 20)),
        thumbs_down_before=draw(st.integers(0, 20)),
        answers=draw(st.integers(0, 30)),
        latency_p50_ms=draw(st.none() | st.floats(0, 10_000)),
        latency_p95_ms=draw(st.none() | st.floats(0, 10_000)),
        mean_cost_usd=draw(st.none() | st.floats(0, 5)),
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(model_weeks(), max_size=5, unique_by=lambda w: w.model),
    st.lists(st.tuples(st.floats(0, 1), st.booleans()), max_size=20),
    st.integers(0, 50),
)
def test_any_data_gives_a_digest(
    weeks: list[ModelWeek], calibration: list[tuple[float, bool]], questions: int
) -> None:
    digest = build_digest(data(models=weeks, calibration=calibration, questions=questions))
    assert digest.headline
    assert len(digest.models) == len(weeks)
    if digest.calibration.ece is not None:
        assert 0.0 <= digest.calibration.ece <= 1.0


def test_failed_jobs_are_reported_as_failed() -> None:
    digest = build_digest(data(missed=[MissedJob("digest", "2026-W47", "failed")]))
    assert digest.warnings == ["The digest for 2026-W47 failed; see the logs."]


# -- decisions first (issue 11) --------------------------------------------------------


def _shadow_line(**kw: object) -> ShadowLine:
    base: dict[str, object] = {
        "model": "cand",
        "questions": 40,
        "mean_agreement": 0.8,
        "eval_rate": 0.9,
        "panel_eval_rate": 0.75,
        "cost_delta_per_100": -0.004,
        "latency_p50_delta_ms": -400.0,
        "disagreements": (),
    }
    base.update(kw)
    return ShadowLine(**base)  # type: ignore[arg-type]


def test_a_shadow_candidate_that_beats_the_panel_gets_a_one_line_recommendation() -> None:
    assert recommendation(_shadow_line()) == (
        "Consider cand for the panel: it passes 90% of the benchmark vs the panel's 75%, "
        "costs $0.0040 less per 100 questions, answers 0.4 s faster (median)."
    )
    cheaper_only = _shadow_line(eval_rate=0.75, latency_p50_delta_ms=100.0)
    assert recommendation(cheaper_only).endswith("costs $0.0040 less per 100 questions.")
    # cheaper but clearly worse: no recommendation
    assert recommendation(_shadow_line(eval_rate=0.6)) == ""
    assert recommendation(_shadow_line(eval_rate=None)) == ""


def test_the_digest_leads_with_what_to_decide() -> None:
    digest = build_digest(busy_week())
    assert digest.decisions, digest
    assert digest.decisions[-1] == "Review 3 proposed eval case(s) with `/compare cases`."
    quiet = build_digest(data())
    assert quiet.decisions == ()


def test_a_model_falling_for_real_is_a_decision() -> None:
    week = ModelWeek(
        "gpt-4.1-mini",
        eval_now=EvalResult(10, 20, {f"c{i}": float(i < 10) for i in range(20)}),
        eval_before=EvalResult(20, 20, {f"c{i}": 1.0 for i in range(20)}),
    )
    digest = build_digest(data(models=[week]))
    assert digest.decisions[0].startswith(
        "Look into gpt-4.1-mini: its eval pass rate fell 50 pts to 50% (p = "
    )


def test_sample_sizes_are_cases_and_samples() -> None:
    week = ModelWeek("m", eval_now=EvalResult(40, 48, {f"c{i}": 1.0 for i in range(16)}))
    digest = build_digest(data(models=[week]))
    (line,) = digest.models
    assert line.eval is not None and line.eval.size_text == "16 cases, 48 samples"


def test_an_error_that_chance_gives_on_few_answers_is_not_called_poor() -> None:
    # 20 answers served at 70%, 11 agreed with (55%): an error of 0.15, but 20 answers of
    # a calibrated 70% land that far from 70% about one week in five.
    few = build_digest(data(calibration=[(0.7, True)] * 11 + [(0.7, False)] * 9)).calibration
    assert few.ece == pytest.approx(0.15)
    assert few.chance_ece is not None and few.chance_ece > 0.15
    assert few.verdict == (
        "Calibrated as far as 20 judged answers can show: it says 70% on average where "
        "users agreed 55%, a gap that chance alone gives on so few at least one week in ten."
    )
    # The same gap on 200 answers is no accident.
    many = build_digest(data(calibration=[(0.7, True)] * 110 + [(0.7, False)] * 90)).calibration
    assert many.chance_ece is not None and many.chance_ece < 0.1
    assert many.verdict.startswith("Poorly calibrated, overconfident: it says 70%")


@pytest.mark.parametrize(
    ("pairs", "verdict"),
    [
        ([(0.8, True)] * 8 + [(0.8, False)] * 2, "Well calibrated (only 10 judged answers)"),
        ([(0.9, True)] * 15 + [(0.9, False)] * 15, "Poorly calibrated, overconfident: it says 90%"),
        (
            [(0.2, True)] * 20 + [(0.2, False)] * 10,
            "Poorly calibrated, underconfident: it says 20%",
        ),
    ],
)
def test_the_calibration_error_has_a_plain_verdict(
    pairs: list[tuple[float, bool]], verdict: str
) -> None:
    digest = build_digest(data(calibration=pairs))
    assert digest.calibration.verdict.startswith(verdict), digest.calibration.verdict


def _runs_this_week(*per_cases: dict[str, float]) -> tuple[DatedEvalResult, ...]:
    """Earlier runs this week, on Tue 17 Nov, Wed 18 Nov, ... (Berlin), oldest first."""
    return tuple(
        DatedEvalResult(START + timedelta(days=1 + i, hours=12), result(pc))
        for i, pc in enumerate(per_cases)
    )


def test_a_fall_between_two_runs_of_this_week_is_a_decision_without_last_week() -> None:
    week = ModelWeek(
        "gpt-4.1-mini",
        eval_now=result(cases(10, 20)),
        eval_earlier=_runs_this_week(cases(20, 20)),
    )
    digest = build_digest(data(models=[week]))
    assert digest.decisions[0] == (
        "Look into gpt-4.1-mini: its eval pass rate fell 50 pts, from 100% to 50%, since "
        "this week's run of Tue 17 Nov (p = 0.002, 20 shared cases)."
    )
    assert digest.headline.startswith("gpt-4.1-mini's eval pass rate fell 50 pts since")
    assert [r.case_id for r in digest.regressions] == [f"c{i:02d}" for i in range(10, 20)]
    (line,) = digest.models
    assert line.eval is not None and line.eval.change_text == "no run last week to compare"


def test_a_fall_within_noise_or_on_one_case_between_runs_is_no_decision() -> None:
    noise = ModelWeek(
        "m", eval_now=result(cases(18, 20)), eval_earlier=_runs_this_week(cases(20, 20))
    )
    one_vote = ModelWeek(
        "one", eval_now=result(cases(0, 1)), eval_earlier=_runs_this_week(cases(1, 1))
    )
    digest = build_digest(data(models=[noise, one_vote]))
    assert not any(d.startswith("Look into") for d in digest.decisions)
    assert digest.headline != "" and "fell" not in digest.headline
    assert {r.model for r in digest.regressions} == {"m", "one"}  # listed, not ranked


def test_the_latest_run_is_compared_with_every_earlier_run_of_the_week() -> None:
    """100% on Tuesday, 50% on Wednesday, 50% again now: the fall still shows (the run
    just before the latest one alone would say nothing changed); the state just before
    the latest run decides which cases regressed."""
    week = ModelWeek(
        "gpt-4.1-mini",
        eval_now=result(cases(10, 20)),
        eval_earlier=_runs_this_week(cases(20, 20), cases(10, 20)),
        eval_before=result(cases(10, 20)),
    )
    digest = build_digest(data(models=[week]))
    assert "since this week's run of Tue 17 Nov" in digest.decisions[0]
    assert digest.regressions == ()  # nothing that passed on Wednesday fails now


def test_rate_limits_are_said_only_when_they_mattered() -> None:
    line = EvalLine(stats.Rate.of(18, 20), None, 0, None, None, 20)
    assert replace(line, throttled=4, throttle_wait_s=12.0).limits_text == ""
    assert replace(line, throttled=40, throttle_wait_s=75.0).limits_text == (
        "the provider refused 40 requests; its samples waited 75 s on rate limits"
    )
    assert replace(line, throttle_wait_s=7_500.0).limits_text == (
        "its samples waited 2 h 5 min on rate limits"
    )
    assert replace(line, lost_to_deadline=1).limits_text == (
        "1 sample lost at the deadline, not in the pass rate"
    )
