"""The known traps of embedding agreement, with the real all-MiniLM-L6-v2 model."""

from __future__ import annotations

import pytest

from evals.consensus.calibrator import default_calibrator
from evals.consensus.decision import build_consensus
from evals.embedding.sentence_embedder import SentenceTransformerEmbedder
from evals.records import ModelAnswer

pytestmark = pytest.mark.slow
CALIBRATOR = default_calibrator()


def ans(member: str, text: str) -> ModelAnswer:
    return ModelAnswer(member=member, model=member, text=text)


def cosine(embedder: SentenceTransformerEmbedder, a: str, b: str) -> float:
    vectors = embedder.embed([a, b])
    return float(vectors[0] @ vectors[1])


def pair(embedder: SentenceTransformerEmbedder, a: str, b: str, question: str = "") -> float:
    result = build_consensus(
        [ans("a", a), ans("b", b)], embedder, CALIBRATOR, question=question or None
    )
    assert result.agreement[result.model or "a"] == 1.0
    return min(result.agreement.values())


@pytest.mark.parametrize(
    ("a", "b", "question"),
    [
        ("The answer is 42.", "The answer is 43.", ""),
        ("Yes.", "No.", "Is the Earth round?"),
        ("The Eiffel Tower was completed in 1889.", "The Eiffel Tower was completed in 1901.", ""),
        (
            "Cracking your knuckles causes arthritis.",
            "Cracking your knuckles does not cause arthritis.",
            "",
        ),
        ("Paris.", "Berlin.", "What is the capital of France?"),
        (
            "The capital of France is Paris.",
            "The capital of France is Berlin.",
            "What is the capital of France?",
        ),
        (
            "Paris is the capital of France.",
            "Berlin is the capital of France.",
            "What is the capital of France?",
        ),
    ],
)
def test_contradicting_key_facts_do_not_agree(
    real_embedder: SentenceTransformerEmbedder, a: str, b: str, question: str
) -> None:
    raw = cosine(real_embedder, a, b)
    agreement = pair(real_embedder, a, b, question)
    assert agreement < raw  # the contradiction lowered it
    assert agreement < 0.5
    result = build_consensus(
        [ans("a", a), ans("b", a), ans("c", b)], real_embedder, CALIBRATOR, question=question
    )
    assert result.clusters == (("a", "b"), ("c",))
    # The pick may go either way (the calibrator favours denials on TruthfulQA);
    # whichever it is, the other camp dissents.
    expected = ("c",) if result.model in {"a", "b"} else ("a", "b")
    assert result.dissenters == expected


def test_a_name_as_subject_or_object_is_the_same_fact(
    real_embedder: SentenceTransformerEmbedder,
) -> None:
    question = "What is the capital of France?"
    agreement = pair(
        real_embedder,
        "Paris is the capital of France.",
        "The capital of France is Paris.",
        question,
    )
    assert agreement > 0.7


def test_paraphrases_still_agree(real_embedder: SentenceTransformerEmbedder) -> None:
    agreement = pair(
        real_embedder,
        "Cracking your knuckles does not cause arthritis.",
        "No, cracking knuckles does not lead to arthritis.",
    )
    assert agreement > 0.7


def test_identical_answers_agree_fully(real_embedder: SentenceTransformerEmbedder) -> None:
    text = "Water boils at 100 degrees Celsius at sea level."
    result = build_consensus(
        [ans("a", text), ans("b", text), ans("c", text)], real_embedder, CALIBRATOR
    )
    assert result.agreement == {"a": 1.0, "b": 1.0, "c": 1.0}
    assert result.clusters == (("a", "b", "c"),)


def test_a_difference_beyond_token_256_is_seen(real_embedder: SentenceTransformerEmbedder) -> None:
    shared = " ".join(
        f"Step {i}: add a pinch of salt to the broth and keep stirring slowly." for i in range(30)
    )
    assert real_embedder.count_tokens(shared) > real_embedder.max_tokens
    a = shared + " In the end the soup tastes wonderful and everyone at the table loves it."
    b = shared + " In the end the soup is poisonous and everyone who ate it got very ill."
    assert cosine(real_embedder, a, b) > 0.999  # what a plain embedding would report
    assert pair(real_embedder, a, b) < 0.99
    assert pair(real_embedder, a, a + " ") == 1.0


def test_a_contradicting_number_beyond_token_256_splits_the_panel(
    real_embedder: SentenceTransformerEmbedder,
) -> None:
    shared = " ".join(
        f"Part {i} of the report describes the bridge and its long history." for i in range(30)
    )
    a = shared + " The bridge opened to traffic in 1932."
    b = shared + " The bridge opened to traffic in 1937."
    result = build_consensus([ans("a", a), ans("b", a), ans("c", b)], real_embedder, CALIBRATOR)
    assert result.text == a
    assert result.clusters == (("a", "b"), ("c",))
    assert result.agreement["c"] < 0.5
