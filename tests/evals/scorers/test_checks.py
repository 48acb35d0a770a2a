"""The check behind each assertion type, the Scorer registry and the weighted pass rule."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evals.cases.assertions import Assertion, AssertionType
from evals.cases.schema import CaseInput, EvalCase, FailureMode
from evals.protocols import Vectors
from evals.scorers.checks import (
    CheckResult,
    ScorerSettings,
    case_passes,
    case_score,
    contains,
    embedding_similarity,
    equals,
    extract_json,
    extract_numbers,
    inverted,
    json_check,
    judge_passes,
    normalize,
    numeric_match,
    regex_match,
)
from evals.scorers.registry import REGISTRY, score_answer


class TableEmbedder:
    """Unit vectors looked up by text: the similarity of two texts is set by the test."""

    def __init__(self, table: dict[str, Sequence[float]]) -> None:
        self.table = table

    @property
    def name(self) -> str:
        return "table"

    @property
    def max_tokens(self) -> int:
        return 256

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows = np.array([self.table[t] for t in texts], dtype=np.float32)
        norms = np.linalg.norm(rows, axis=1, keepdims=True).astype(np.float32)
        out: Vectors = rows / norms
        return out


def case(**kw: object) -> EvalCase:
    return EvalCase(id="c1", input=CaseInput(question="q?"), **kw)


def test_equals_is_exact_as_in_promptfoo() -> None:
    assert equals("Paris", "Paris").passed
    assert not equals("Paris.", "Paris").passed
    assert not equals("paris", "Paris").passed


def test_contains_is_verbatim_and_icontains_ignores_case_and_spacing() -> None:
    assert contains("Use pg_dump then VACUUM", "VACUUM").passed
    assert not contains("use vacuum", "VACUUM").passed
    assert contains("use vacuum", "VACUUM", ignore_case=True).passed
    assert contains("use  the\nvacuum", "the vacuum", ignore_case=True).passed
    r = contains("Use pg_dump", "analyze")
    assert not r.passed and r.score == 0.0 and "analyze" in r.detail


def test_regex_searches_and_reports_a_bad_pattern() -> None:
    assert regex_match("version 3.11.4", r"\d+\.\d+\.\d+").passed
    assert not regex_match("no version", r"\d+\.\d+").passed
    bad = regex_match("x", "(")
    assert not bad.passed and "invalid pattern" in bad.detail


@pytest.mark.parametrize(
    "text",
    ['{"a": 1}', '```json\n{"a": 1}\n```', 'Here you go: {"a": 1} hope it helps', "[1, 2]"],
)
def test_contains_json_accepts_bare_fenced_and_embedded_json(text: str) -> None:
    assert json_check(text, None, whole=False).passed


def test_is_json_needs_the_whole_answer_to_be_json() -> None:
    assert json_check(' {"a": 1}\n', None, whole=True).passed
    assert not json_check('Here: {"a": 1}', None, whole=True).passed
    assert not json_check("no json {here", None, whole=False).passed
    with pytest.raises(ValueError):
        extract_json("nothing")


def test_json_schema_reports_where_it_fails() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    assert json_check('{"name": "a", "age": 3}', schema, whole=True).passed
    r = json_check('{"name": "a", "age": "three"}', schema, whole=True)
    assert not r.passed and "age" in r.detail
    r = json_check('{"name": "a"}', schema, whole=False)
    assert not r.passed and "age" in r.detail
    bad_schema = json_check('{"a": 1}', {"type": "nonsense"}, whole=True)
    assert not bad_schema.passed and "schema is invalid" in bad_schema.detail


def test_extract_numbers_handles_signs_separators_exponents_and_percent() -> None:
    assert extract_numbers("It costs 1,234.50 dollars, not -3 or 6.02e23 or 12%") == [
        1234.5,
        -3.0,
        6.02e23,
        12.0,
    ]
    assert extract_numbers("version v2 and x3") == []


def test_numeric_takes_the_last_number_with_absolute_or_relative_tolerance() -> None:
    assert numeric_match("2 + 2 = 4", 4).passed
    assert not numeric_match("4 or maybe 5", 4).passed
    assert numeric_match("about 101", 100, tolerance=1).passed
    assert not numeric_match("about 102", 100, tolerance=1).passed
    assert numeric_match("about 104", 100, tolerance=0.05, relative=True).passed
    assert not numeric_match("about 106", 100, tolerance=0.05, relative=True).passed
    none = numeric_match("no idea", 4)
    assert not none.passed and none.detail == "no number in the answer"


def test_similarity_uses_the_threshold() -> None:
    emb = TableEmbedder({"a": [1, 0], "b": [0.8, 0.6], "c": [0, 1]})
    r = embedding_similarity("a", "b", emb, threshold=0.75)
    assert r.passed and r.score == pytest.approx(0.8, abs=1e-6)
    assert not embedding_similarity("a", "c", emb, threshold=0.75).passed
    assert not embedding_similarity("  ", "b", emb, threshold=0.1).passed


def test_every_assertion_type_has_one_scorer() -> None:
    assert set(REGISTRY) == set(AssertionType)


async def test_each_assertion_is_scored_by_its_scorer_in_order() -> None:
    c = case(
        expected="b",
        assertions=[
            {"type": "icontains", "value": "X"},
            {"type": "not-contains", "value": "y"},
            {"type": "regex", "value": "x+"},
            {"type": "not-regex", "value": "z"},
            {"type": "contains-json", "value": {"type": "object"}},
            {"type": "is-json"},
            {"type": "equals", "value": '{"x": 1}'},
            {"type": "not-equals", "value": "b"},
            {"type": "numeric", "value": {"value": 1}},
        ],
    )
    emb = TableEmbedder({'{"x": 1}': [0.8, 0.6], "b": [1, 0]})
    scored = await score_answer(c, '{"x": 1}', ScorerSettings(), embedder=emb)
    names = [r.name for r in scored.checks]
    assert names == [
        "icontains",
        "not-contains",
        "regex",
        "not-regex",
        "contains-json",
        "is-json",
        "equals",
        "not-equals",
        "numeric",
    ]  # the case has its own equals: no default check of `expected`
    assert all(r.passed for r in scored.checks) and scored.passed is True
    assert (await score_answer(case(), "anything", ScorerSettings())).passed is None


async def test_expected_gets_a_default_similar_check_only_when_it_can_run() -> None:
    emb = TableEmbedder({"a": [1, 0], "b": [0.8, 0.6]})
    scored = await score_answer(case(expected="b"), "a", ScorerSettings(), embedder=emb)
    assert [(r.name, r.passed) for r in scored.checks] == [("similar", True)]
    # No embedder: the expected answer is left to the judge; nothing scores it.
    assert (await score_answer(case(expected="b"), "b", ScorerSettings())).passed is None
    exact = await score_answer(case(expected="b"), "b", ScorerSettings(expected_check="exact"))
    assert [r.name for r in exact.checks] == ["equals"] and exact.passed
    # A case threshold on `similar` replaces the run's default.
    strict = case(assertions=[{"type": "similar", "value": "b", "threshold": 0.9}])
    assert (await score_answer(strict, "a", ScorerSettings(), embedder=emb)).passed is False


def test_assertions_refuse_what_they_cannot_check() -> None:
    with pytest.raises(ValueError, match="'factuality' is not supported"):
        Assertion.model_validate({"type": "factuality", "value": "x"})
    with pytest.raises(ValueError, match="takes no `threshold`"):
        Assertion.model_validate({"type": "contains", "value": "x", "threshold": 0.5})
    with pytest.raises(ValueError, match="non-empty"):
        Assertion.model_validate({"type": "contains", "value": " "})
    with pytest.raises(ValueError, match="schema is invalid"):
        Assertion.model_validate({"type": "is-json", "value": {"type": "nonsense"}})
    with pytest.raises(ValueError, match="greater than or equal"):
        Assertion.model_validate({"type": "contains", "value": "x", "weight": -1})


def test_old_fixed_checks_read_as_the_same_assertions() -> None:
    old = EvalCase.model_validate(
        {
            "id": "old",
            "input": {"question": "q?"},
            "must_include": ["a", "b"],
            "must_not_include": ["c"],
            "regex": "x+",
            "json_schema": {},
            "numeric": {"value": 4, "tolerance": 0.5},
            "rubric": "cites a source",
        }
    )
    assert [(a.type.value, a.value) for a in old.assertions] == [
        ("icontains", "a"),
        ("icontains", "b"),
        ("not-icontains", "c"),
        ("regex", "x+"),
        ("contains-json", None),
        ("numeric", {"value": 4.0, "tolerance": 0.5, "relative": False}),
        ("llm-rubric", "cites a source"),
    ]
    assert old.rubric_notes == "cites a source"


def test_the_weighted_rule_with_and_without_a_threshold() -> None:
    ok = CheckResult("regex", True, 1.0, weight=3)
    bad = CheckResult("contains", False, 0.0, weight=1)
    assert case_passes([ok]) is True
    assert case_passes([ok, bad]) is False  # no threshold: every assertion must pass
    assert case_score([ok, bad]) == pytest.approx(0.75)
    assert case_passes([ok, bad], threshold=0.75) is True
    assert case_passes([ok, bad], threshold=0.8) is False
    assert case_passes([]) is None  # unscored, never a silent pass
    assert case_score([CheckResult("x", True, 1.0, weight=0)]) == 0.0


async def test_a_weight_zero_assertion_is_reported_but_never_fails() -> None:
    c = case(
        assertions=[
            {"type": "contains", "value": "Paris"},
            {"type": "contains", "value": "France", "weight": 0},
        ]
    )
    scored = await score_answer(c, "Paris", ScorerSettings())
    assert scored.passed is True
    assert scored.checks[1].passed and "weight 0" in scored.checks[1].detail


@given(
    st.lists(
        st.tuples(st.booleans(), st.floats(min_value=0.1, max_value=5)), min_size=1, max_size=6
    ),
    st.floats(min_value=0, max_value=1),
)
def test_pass_rule_matches_promptfoo_for_any_results(
    results: list[tuple[bool, float]], threshold: float
) -> None:
    checks = [CheckResult("c", p, 1.0 if p else 0.0, weight=w) for p, w in results]
    assert case_passes(checks) is all(p for p, _ in results)
    mean = sum(w for p, w in results if p) / sum(w for _, w in results)
    if abs(mean - threshold) > 1e-9:  # away from the boundary, where rounding decides
        assert case_passes(checks, threshold) is (mean >= threshold)


def test_judge_verdicts_pass_on_score_and_mode() -> None:
    s = ScorerSettings()
    assert judge_passes(4, None, s, passed=True) and not judge_passes(3, None, s, passed=True)
    assert not judge_passes(5, FailureMode.UNSAFE, s, passed=True)
    assert judge_passes(5, FailureMode.OTHER, s, passed=True)
    # the judge's own "pass" wins over its score; score and pass disagreeing never pass
    assert not judge_passes(4, None, s, passed=False)
    assert not judge_passes(5, None, s, passed=False)
    assert not judge_passes(2, None, s, passed=True)


def test_scorer_settings_round_trip() -> None:
    s = ScorerSettings(expected_check="exact", similarity_threshold=0.6, judge_min_score=3)
    assert ScorerSettings.from_dict(s.to_dict()) == s


@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(st.text(max_size=40), st.lists(st.text(min_size=1, max_size=5), max_size=4))
def test_include_and_exclude_are_complementary_for_one_term(text: str, terms: list[str]) -> None:
    for term in terms:
        for ignore_case in (False, True):
            found = contains(text, term, ignore_case=ignore_case)
            assert found.passed != inverted(found, "not").passed
