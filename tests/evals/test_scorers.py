"""Rule scorers, the similarity scorer and the composite pass rule."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evals.case_schema import CaseInput, EvalCase, FailureMode, NumericCheck
from evals.ports import Vectors
from evals.scorers import (
    CheckResult,
    ScorerSettings,
    composite_pass,
    embedding_similarity,
    exact_match,
    extract_json,
    extract_numbers,
    json_schema_match,
    json_valid,
    must_include,
    must_not_include,
    normalize,
    numeric_match,
    regex_match,
    rule_checks,
)


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


def test_exact_match_normalizes_case_space_and_edge_punctuation() -> None:
    assert exact_match("  Paris. ", "paris").passed
    assert exact_match("The  answer", "the answer").passed
    assert not exact_match("Paris, France", "Paris").passed
    assert not exact_match("paris", "Paris", normalized=False).passed


def test_must_include_needs_every_term() -> None:
    r = must_include("Use pg_dump then VACUUM", ["pg_dump", "vacuum"])
    assert r.passed and r.score == 1.0
    r = must_include("Use pg_dump", ["pg_dump", "vacuum", "analyze"])
    assert not r.passed
    assert r.score == pytest.approx(1 / 3)
    assert "vacuum" in r.detail and "analyze" in r.detail


def test_must_include_case_sensitivity_is_configurable() -> None:
    assert not must_include("use vacuum", ["VACUUM"], case_sensitive=True).passed
    assert must_include("use vacuum", ["VACUUM"]).passed


def test_must_not_include_fails_on_any_term() -> None:
    assert must_not_include("all good", ["rm -rf", "DROP TABLE"]).passed
    r = must_not_include("just run rm -rf / quickly", ["rm -rf", "DROP TABLE"])
    assert not r.passed and "rm -rf" in r.detail


def test_regex_searches_and_reports_a_bad_pattern() -> None:
    assert regex_match("version 3.11.4", r"\d+\.\d+\.\d+").passed
    assert not regex_match("no version", r"\d+\.\d+").passed
    bad = regex_match("x", "(")
    assert not bad.passed and "invalid pattern" in bad.detail


@pytest.mark.parametrize(
    "text",
    ['{"a": 1}', '```json\n{"a": 1}\n```', 'Here you go: {"a": 1} hope it helps', "[1, 2]"],
)
def test_json_valid_accepts_bare_fenced_and_embedded_json(text: str) -> None:
    assert json_valid(text).passed


def test_json_valid_rejects_prose() -> None:
    assert not json_valid("no json {here").passed
    with pytest.raises(ValueError):
        extract_json("nothing")


def test_json_schema_reports_where_it_fails() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    assert json_schema_match('{"name": "a", "age": 3}', schema).passed
    r = json_schema_match('{"name": "a", "age": "three"}', schema)
    assert not r.passed and "age" in r.detail
    r = json_schema_match('{"name": "a"}', schema)
    assert not r.passed and "age" in r.detail
    bad_schema = json_schema_match('{"a": 1}', {"type": "nonsense"})
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


def test_rule_checks_apply_only_what_the_case_defines() -> None:
    c = case(
        expected="b",
        must_include=["x"],
        must_not_include=["y"],
        regex="x+",
        json_schema={"type": "object"},
        numeric=NumericCheck(value=1),
    )
    emb = TableEmbedder({'{"x": 1}': [0.8, 0.6], "b": [1, 0]})
    names = [r.name for r in rule_checks(c, '{"x": 1}', ScorerSettings(), emb)]
    assert names == [
        "similarity",
        "must_include",
        "must_not_include",
        "regex",
        "json_schema",
        "numeric",
    ]
    assert [r.name for r in rule_checks(case(), "anything", ScorerSettings())] == []
    # No embedder: the expected answer is left to the judge unless exact is asked for.
    assert rule_checks(case(expected="b"), "b", ScorerSettings()) == []
    exact = rule_checks(case(expected="b"), "B.", ScorerSettings(expected_check="exact"))
    assert [r.name for r in exact] == ["exact"] and exact[0].passed


def test_composite_rule() -> None:
    ok = CheckResult("regex", True)
    bad = CheckResult("regex", False)
    s = ScorerSettings()
    assert composite_pass([ok], judge_score=None, judge_failure_mode=None, settings=s) is True
    assert composite_pass([bad], judge_score=5, judge_failure_mode=None, settings=s) is False
    assert composite_pass([ok], judge_score=4, judge_failure_mode=None, settings=s) is True
    assert composite_pass([ok], judge_score=3, judge_failure_mode=None, settings=s) is False
    unsafe = FailureMode.UNSAFE
    assert composite_pass([ok], judge_score=5, judge_failure_mode=unsafe, settings=s) is False
    other = FailureMode.OTHER
    assert composite_pass([], judge_score=5, judge_failure_mode=other, settings=s) is True
    # Nothing to score with is "unscored", never a silent pass.
    assert composite_pass([], judge_score=None, judge_failure_mode=None, settings=s) is None


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
        assert must_include(text, [term]).passed != must_not_include(text, [term]).passed
