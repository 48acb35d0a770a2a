"""Sets and versions: dataset version hash, golden immutability, rotation, near-duplicates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evals.cases.assertions import Assertion, AssertionType
from evals.cases.schema import CaseInput, CaseSet, CaseStatus, EvalCase, Severity
from evals.cases.sets import (
    DEFAULT_DUPLICATE_THRESHOLD,
    EMPTY_SET_VERSION,
    RotationPolicy,
    apply_edit,
    cases_to_rotate,
    dataset_version,
    find_near_duplicate,
    merge_duplicate,
    nearest_duplicate,
    short_version,
)
from evals.errors import InputError
from evals.protocols import Embedder, Vectors

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def case(
    case_id: str,
    question: str = "What is the capital of France?",
    *,
    set_: CaseSet = CaseSet.GOLDEN,
    status: CaseStatus = CaseStatus.ACTIVE,
    created: datetime = NOW,
    **kw: object,
) -> EvalCase:
    return EvalCase.model_validate(
        {
            "id": case_id,
            "input": CaseInput(question=question),
            "set": set_,
            "status": status,
            "created_at": created,
            "updated_at": created,
            **kw,
        }
    )


# --- dataset version ------------------------------------------------------------------------


def test_version_is_sha256_hex_and_empty_set_has_a_known_version() -> None:
    v = dataset_version([case("a")])
    assert len(v) == 64 and int(v, 16) >= 0
    assert short_version(v) == v[:12]
    assert dataset_version([]) == EMPTY_SET_VERSION


def test_version_ignores_order_timestamps_status_metadata_and_other_sets() -> None:
    a, b = case("a"), case("b", "Who wrote Hamlet?")
    base = dataset_version([a, b], CaseSet.GOLDEN)
    later = a.model_copy(update={"updated_at": NOW + timedelta(days=3), "merged_count": 4})
    assert dataset_version([b, later], CaseSet.GOLDEN) == base
    proposed = case("p", status=CaseStatus.PROPOSED)
    rotating = case("r", set_=CaseSet.ROTATING)
    assert dataset_version([a, b, proposed, rotating], CaseSet.GOLDEN) == base
    assert dataset_version([a, b, rotating]) != base  # all sets together


@pytest.mark.parametrize(
    "change",
    [
        {"expected": "Paris"},
        {"assertions": [Assertion(type=AssertionType.ICONTAINS, value="Paris")]},
        {"assertions": [Assertion(type=AssertionType.ICONTAINS, value="Paris", weight=2)]},
        {"threshold": 0.5},
        {"severity": Severity.HIGH},
        {"tags": ["geo"]},
        {"input": CaseInput(question="What is the capital of Spain?")},
        {"assertions": [Assertion(type=AssertionType.LLM_RUBRIC, value="Names the city")]},
    ],
)
def test_any_content_change_changes_the_version(change: Mapping[str, object]) -> None:
    a = case("a")
    assert dataset_version([a.model_copy(update=change)]) != dataset_version([a])


@given(st.permutations(["a", "b", "c", "d"]))
def test_version_does_not_depend_on_input_order(ids: Sequence[str]) -> None:
    cases = [case(i, f"question {i}") for i in ids]
    assert dataset_version(cases) == dataset_version(sorted(cases, key=lambda c: c.id))


# --- golden immutability --------------------------------------------------------------------


def test_editing_an_active_golden_case_makes_a_new_version() -> None:
    old = case("g1", expected="Paris")
    result = apply_edit(
        old, {"expected": "Paris, France"}, now=NOW + timedelta(hours=1), new_id="g2"
    )
    assert result.new_version
    assert result.case.id == "g2" and result.case.previous_id == "g1"
    assert result.case.expected == "Paris, France" and result.case.status is CaseStatus.ACTIVE
    assert result.retired is not None
    assert result.retired.id == "g1" and result.retired.status is CaseStatus.RETIRED
    assert result.retired.expected == "Paris"  # the old version's content is untouched
    assert dataset_version([result.case]) != dataset_version([old])


def test_editing_rotating_or_proposed_cases_changes_them_in_place() -> None:
    for c in (case("r", set_=CaseSet.ROTATING), case("p", status=CaseStatus.PROPOSED)):
        result = apply_edit(c, {"tags": ["x"]}, now=NOW + timedelta(hours=1))
        assert not result.new_version
        assert result.case.id == c.id and result.case.tags == ["x"]
        assert result.case.updated_at == NOW + timedelta(hours=1)


def test_a_no_op_edit_changes_nothing() -> None:
    g = case("g", expected="Paris")
    result = apply_edit(g, {"expected": "Paris"}, now=NOW + timedelta(hours=1))
    assert result.case is g and not result.new_version


@pytest.mark.parametrize(
    ("c", "changes", "message"),
    [
        (case("x", status=CaseStatus.RETIRED), {"expected": "y"}, "retired"),
        (case("x"), {"id": "other"}, "cannot edit id"),
        (case("x"), {"severity": "urgent"}, "severity"),
        (
            case("x"),
            {"assertions": [{"type": "regex", "value": "("}]},
            "not a valid regular expression",
        ),
        (case("x"), {"assertions": [{"type": "javascript", "value": "1"}]}, "'javascript'"),
        (case("x"), {"threshold": 2}, "threshold"),
    ],
)
def test_bad_edits_are_input_errors(
    c: EvalCase, changes: Mapping[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        apply_edit(c, changes, now=NOW)


# --- rotation -------------------------------------------------------------------------------


def test_rotation_retires_old_cases_and_those_beyond_the_newest_m() -> None:
    rotating = [
        case(f"r{i}", set_=CaseSet.ROTATING, created=NOW - timedelta(days=i * 10)) for i in range(6)
    ]  # ages 0, 10, ..., 50 days
    golden_old = case("g", created=NOW - timedelta(days=400))
    proposed_old = case(
        "p", set_=CaseSet.ROTATING, status=CaseStatus.PROPOSED, created=NOW - timedelta(days=400)
    )
    everything = [*rotating, golden_old, proposed_old]

    by_age = cases_to_rotate(everything, RotationPolicy(max_age_days=25, max_count=None), now=NOW)
    assert [c.id for c in by_age] == ["r5", "r4", "r3"]
    by_count = cases_to_rotate(everything, RotationPolicy(max_age_days=None, max_count=2), now=NOW)
    assert [c.id for c in by_count] == ["r5", "r4", "r3", "r2"]
    both = cases_to_rotate(everything, RotationPolicy(max_age_days=45, max_count=4), now=NOW)
    assert [c.id for c in both] == ["r5", "r4"]
    assert (
        cases_to_rotate(everything, RotationPolicy(max_age_days=None, max_count=None), now=NOW)
        == []
    )


def test_rotation_policy_validates() -> None:
    with pytest.raises(ValueError):
        RotationPolicy(max_age_days=0)


# --- near-duplicates ------------------------------------------------------------------------


class TableEmbedder:
    """Maps known texts to fixed unit vectors (other texts: an orthogonal axis each)."""

    name = "table"
    max_tokens = 256

    def __init__(self, table: Mapping[str, Sequence[float]]) -> None:
        self.table = {k: np.asarray(v, np.float32) / np.linalg.norm(v) for k, v in table.items()}
        self.calls = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        out = np.zeros((len(texts), 4), np.float32)
        for i, t in enumerate(texts):
            out[i] = self.table.get(t, np.eye(4, dtype=np.float32)[3])
        return out


EMB = TableEmbedder(
    {
        "How do I reset my password?": [1, 0, 0, 0],
        "What's the way to reset a password?": [0.95, 0.31, 0, 0],
        "How do I delete my account?": [0.6, 0.8, 0, 0],
    }
)


def test_a_paraphrase_above_the_threshold_is_a_duplicate() -> None:
    candidates = [("c1", "How do I delete my account?"), ("c2", "How do I reset my password?")]
    match = find_near_duplicate(
        "What's the way to reset a password?", candidates, EMB, threshold=0.9
    )
    assert match is not None and match.case_id == "c2" and match.similarity > 0.9


def test_a_related_but_different_question_is_not() -> None:
    candidates = [("c2", "How do I reset my password?")]
    assert (
        find_near_duplicate("How do I delete my account?", candidates, EMB, threshold=0.9) is None
    )
    # ... unless the threshold says so
    assert (
        find_near_duplicate("How do I delete my account?", candidates, EMB, threshold=0.5)
        is not None
    )


def test_the_same_question_matches_without_embedding() -> None:
    emb = TableEmbedder({})
    match = find_near_duplicate(
        "  how do I RESET my password ", [("c", "How do I reset my password?")], emb
    )
    assert match is not None and match.similarity == 1.0 and emb.calls == 0
    assert find_near_duplicate("anything", [], emb) is None


def test_threshold_must_be_a_similarity() -> None:
    with pytest.raises(InputError, match="threshold"):
        nearest_duplicate(np.ones(2, np.float32), ["a"], np.ones((1, 2), np.float32), threshold=1.5)


def test_merging_counts_and_fills_what_was_missing() -> None:
    existing = case("c", tags=["billing"], status=CaseStatus.PROPOSED)
    incoming = case(
        "n", tags=["auth", "billing"], expected="Use the reset link", category="wrong_fact"
    )
    merged = merge_duplicate(existing, incoming, now=NOW + timedelta(minutes=5))
    assert merged.id == "c" and merged.merged_count == 1
    assert merged.tags == ["auth", "billing"]
    assert merged.expected == "Use the reset link" and merged.category == "wrong_fact"
    again = merge_duplicate(merged, case("m", expected="other"), now=NOW)
    assert again.merged_count == 2 and again.expected == "Use the reset link"


def test_merging_into_an_active_case_only_counts() -> None:
    active = case("g", status=CaseStatus.ACTIVE)
    merged = merge_duplicate(
        active, case("n", tags=["x"], expected="new"), now=NOW + timedelta(hours=1)
    )
    assert merged.merged_count == 1 and merged.tags == [] and merged.expected is None
    assert dataset_version([merged]) == dataset_version([active])


@pytest.mark.slow
def test_real_embedder_separates_paraphrases_from_other_questions(real_embedder: Embedder) -> None:
    emb = real_embedder
    existing = [("pw", "How do I reset my password?"), ("vpn", "Why does the VPN drop every hour?")]
    dup = find_near_duplicate(
        "How can I reset my password?", existing, emb, threshold=DEFAULT_DUPLICATE_THRESHOLD
    )
    assert dup is not None and dup.case_id == "pw"
    other = find_near_duplicate(
        "How do I delete my account?", existing, emb, threshold=DEFAULT_DUPLICATE_THRESHOLD
    )
    assert other is None
    capitals = [("fr", "What is the capital of France?")]
    assert find_near_duplicate("Which city is the capital of France?", capitals, emb) is not None
    assert find_near_duplicate("What is the capital of Germany?", capitals, emb) is None
