"""Consensus over a panel's answers, with the fast fake embedder and the shipped calibrator."""

from __future__ import annotations

import pytest

from evals.consensus.calibrator import Calibrator, default_calibrator
from evals.consensus.decision import SINGLE_ANSWER_CAP, build_consensus, prepare_answer
from evals.errors import InputError
from evals.records import ConsensusStatus, ErrorKind, ModelAnswer
from tests.fakes.embedder import FakeEmbedder


def ans(member: str, text: str) -> ModelAnswer:
    return ModelAnswer(member=member, model=f"openai/{member}", text=text)


def failed(member: str, kind: ErrorKind = ErrorKind.TIMEOUT) -> ModelAnswer:
    return ModelAnswer(member=member, model=f"openai/{member}", error=kind)


@pytest.fixture
def calibrator() -> Calibrator:
    return default_calibrator()


def test_identical_answers_agree_fully(fake_embedder: FakeEmbedder, calibrator: Calibrator) -> None:
    text = "Water boils at 100 degrees Celsius at sea level."
    result = build_consensus(
        [ans("a", text), ans("b", text), ans("c", text)], fake_embedder, calibrator
    )
    assert result.status is ConsensusStatus.OK
    assert result.text == text
    assert result.agreement == {"a": 1.0, "b": 1.0, "c": 1.0}
    assert result.clusters == (("a", "b", "c"),)
    assert result.dissenters == ()
    assert result.raw_confidence == 1.0
    assert 0.0 <= result.confidence <= 1.0
    assert result.calibrator == calibrator.id


def test_no_answers_is_no_consensus(fake_embedder: FakeEmbedder, calibrator: Calibrator) -> None:
    result = build_consensus([], fake_embedder, calibrator)
    assert result.status is ConsensusStatus.NONE
    assert result.model is None and result.text is None
    assert result.confidence == 0.0
    assert result.reason == "There were no answers."


def test_all_failed_is_no_consensus(fake_embedder: FakeEmbedder, calibrator: Calibrator) -> None:
    result = build_consensus(
        [failed("a"), failed("b", ErrorKind.RATE_LIMITED)], fake_embedder, calibrator
    )
    assert result.status is ConsensusStatus.NONE
    assert result.reason == "No model gave a usable answer."
    assert result.label == "none"


def test_one_answer_is_single_with_low_labelled_confidence(
    fake_embedder: FakeEmbedder, calibrator: Calibrator
) -> None:
    result = build_consensus(
        [ans("a", "No, there is no evidence for that."), failed("b"), failed("c")],
        fake_embedder,
        calibrator,
    )
    assert result.status is ConsensusStatus.SINGLE
    assert result.model == "a"
    assert 0.0 < result.confidence <= SINGLE_ANSWER_CAP
    assert result.label == "single answer"
    assert "Only one of 3 models answered" in result.reason


def test_below_quorum_is_no_consensus_with_a_plain_reason(
    fake_embedder: FakeEmbedder, calibrator: Calibrator
) -> None:
    result = build_consensus(
        [ans("a", "Paris."), ans("b", "Paris."), failed("c"), failed("d")],
        fake_embedder,
        calibrator,
        quorum=3,
    )
    assert result.status is ConsensusStatus.NONE
    assert result.reason == "Only 2 of 4 models answered; at least 3 are needed for a consensus."


def test_bad_quorum_and_weights_are_input_errors(
    fake_embedder: FakeEmbedder, calibrator: Calibrator
) -> None:
    answers = [ans("a", "Paris."), ans("b", "Paris.")]
    with pytest.raises(InputError, match="quorum"):
        build_consensus(answers, fake_embedder, calibrator, quorum=0)
    with pytest.raises(InputError, match="weights"):
        build_consensus(answers, fake_embedder, calibrator, weights={"a": -1.0})


def test_non_answers_are_never_chosen(fake_embedder: FakeEmbedder, calibrator: Calibrator) -> None:
    answers = [
        ans("a", "I have no comment."),
        ans("b", "I have no comment."),
        ans("c", "I'm sorry, but I can't help with that."),
        ans("d", ""),
        ans("e", "The Great Wall is not visible from space with the naked eye."),
    ]
    result = build_consensus(answers, fake_embedder, calibrator)
    assert result.model == "e"
    assert result.agreement["a"] == 0.0
    assert set(result.dissenters) == {"a", "b", "c", "d"}
    assert result.clusters[0] == ("a", "b")  # the two identical non-answers agree


def test_non_answers_and_failures_lower_confidence(
    fake_embedder: FakeEmbedder, calibrator: Calibrator
) -> None:
    informative = [
        ans("a", "The Great Wall is not visible from space."),
        ans("b", "The Great Wall cannot be seen from space."),
    ]
    clean = build_consensus(informative, fake_embedder, calibrator)
    with_non_answer = build_consensus(
        [*informative, ans("c", "I have no comment.")], fake_embedder, calibrator
    )
    with_failure = build_consensus([*informative, failed("c")], fake_embedder, calibrator)
    assert with_non_answer.model == clean.model
    assert with_non_answer.confidence < clean.confidence
    assert with_failure.confidence < clean.confidence
    assert with_failure.features["answers"] == 3.0
    assert with_failure.features["usable_answers"] == 2.0


def test_only_non_answers_says_so(fake_embedder: FakeEmbedder, calibrator: Calibrator) -> None:
    result = build_consensus(
        [ans("a", "I have no comment."), ans("b", "I don't know."), ans("c", "")],
        fake_embedder,
        calibrator,
    )
    assert result.status is ConsensusStatus.OK
    assert result.text in {"I have no comment.", "I don't know."}
    assert result.raw_confidence == 0.0
    assert "No model gave an informative answer" in result.reason


def test_weights_decide_between_equal_camps(
    fake_embedder: FakeEmbedder, calibrator: Calibrator
) -> None:
    answers = [
        ans("a", "The capital of Australia is Canberra."),
        ans("b", "The capital of Australia is Canberra."),
        ans("c", "The capital of Australia is Sydney."),
        ans("d", "The capital of Australia is Sydney."),
    ]
    q = "What is the capital of Australia?"
    for heavy, expected in (("a", "Canberra"), ("c", "Sydney")):
        result = build_consensus(
            answers, fake_embedder, calibrator, weights={heavy: 3.0}, question=q
        )
        assert result.text is not None and expected in result.text
        assert len(result.clusters) == 2
        assert result.raw_confidence == pytest.approx(4 / 6)


def test_the_majority_wins_a_near_tie(fake_embedder: FakeEmbedder, calibrator: Calibrator) -> None:
    answers = [
        ans("a", "The answer is 42."),
        ans("b", "The answer is 42."),
        ans("c", "The answer is 43."),
    ]
    result = build_consensus(answers, fake_embedder, calibrator)
    assert result.text == "The answer is 42."
    assert result.clusters == (("a", "b"), ("c",))
    assert result.dissenters == ("c",)
    assert result.agreement["c"] < 0.5


def test_a_member_answering_twice_is_an_input_error(
    fake_embedder: FakeEmbedder, calibrator: Calibrator
) -> None:
    with pytest.raises(InputError, match="answered twice"):
        build_consensus([ans("a", "x"), ans("a", "y")], fake_embedder, calibrator)


def test_all_chunks_of_all_answers_are_embedded_in_one_call(calibrator: Calibrator) -> None:
    embedder = FakeEmbedder(max_tokens=16)
    long = " ".join(f"Sentence number {i} talks about bridges." for i in range(12))
    build_consensus([ans("a", long), ans("b", long + " More.")], embedder, calibrator)
    assert embedder.calls == 1
    assert len(embedder.embedded) > 2  # several chunks per answer


def test_prepare_answer_embeds_ahead(calibrator: Calibrator) -> None:
    embedder = FakeEmbedder()
    prepare_answer("Water boils at 100 degrees.", embedder)
    assert embedder.embedded == ["Water boils at 100 degrees."]


def test_difference_beyond_the_window_is_seen(calibrator: Calibrator) -> None:
    embedder = FakeEmbedder(max_tokens=32)
    shared = " ".join(f"Step {i} of the recipe is to stir the pot gently." for i in range(10))
    a = shared + " Finally, serve the soup hot with fresh bread and butter."
    b = shared + " Finally, throw everything away because the stock market crashed."
    truncated = embedder.embed([a, b])
    assert float(truncated[0] @ truncated[1]) > 0.999  # the trap: the window hides it
    result = build_consensus([ans("a", a), ans("b", b)], embedder, calibrator)
    other = "b" if result.model == "a" else "a"
    assert result.agreement[other] < 0.99
    same = build_consensus([ans("a", a), ans("b", a)], embedder, calibrator)
    assert same.agreement == {"a": 1.0, "b": 1.0}
