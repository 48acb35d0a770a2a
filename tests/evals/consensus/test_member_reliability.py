"""Member reliability: learned from labels, weighed in the pick, with the panel weight
as the prior. A strong member is not outvoted by weaker ones agreeing on a wrong answer,
unless their record says their agreement is worth more."""

from __future__ import annotations

import json
import random
from pathlib import Path

from evals.consensus.calibrator_fit import fit_from_labelled_files
from evals.consensus.decision import build_consensus
from evals.records import ModelAnswer
from tests.fakes.embedder import FakeEmbedder

QUESTION = "How many widgets are in crate {k}?"


def numeric_panels(
    path: Path, *, weak_accuracy: float, shared_mistakes: bool, panels: int = 300, seed: int = 3
) -> Path:
    """'strong' is right 92% of the time; 'weak1' and 'weak2' ``weak_accuracy`` of the
    time. With ``shared_mistakes`` the weak pair is right or wrong together, with the
    same wrong number (a shared misconception); otherwise each errs on its own."""
    rng = random.Random(seed)
    lines = []
    for k in range(panels):
        truth = 100 + k
        strong_right = rng.random() < 0.92
        strong = truth if strong_right else 900 + k
        first = rng.random() < weak_accuracy
        second = first if shared_mistakes else rng.random() < weak_accuracy
        weak1 = truth if first else 500 + k
        weak2 = truth if second else (500 + k if shared_mistakes else 700 + k)
        answers = [
            {"model": "strong", "text": f"There are {strong} widgets.", "correct": strong_right},
            {"model": "weak1", "text": f"I count {weak1} widgets.", "correct": first},
            {"model": "weak2", "text": f"The crate holds {weak2}.", "correct": second},
        ]
        question = QUESTION.format(k=k)
        lines.append(json.dumps({"id": k, "question": question, "answers": answers}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def disputed(k: int = 10_000) -> list[ModelAnswer]:
    return [
        ModelAnswer(member="strong", model="strong", text=f"There are {k} widgets."),
        ModelAnswer(member="weak1", model="weak1", text="I count 7 widgets."),
        ModelAnswer(member="weak2", model="weak2", text="The crate holds 7."),
    ]


def test_a_strong_member_is_not_outvoted_by_weak_ones_sharing_a_mistake(tmp_path: Path) -> None:
    data = numeric_panels(tmp_path / "weak.jsonl", weak_accuracy=0.3, shared_mistakes=True)
    calibrator = fit_from_labelled_files([data], FakeEmbedder(), folds=3).calibrator
    assert calibrator.reliability("strong") > 0.85
    assert calibrator.reliability("weak1") < 0.4
    result = build_consensus(
        disputed(), FakeEmbedder(), calibrator, question=QUESTION.format(k=10_000)
    )
    assert result.model == "strong"
    assert result.support == 1
    assert set(result.dissenters) == {"weak1", "weak2"}


def test_weaker_members_that_agree_independently_do_outvote_one(tmp_path: Path) -> None:
    # Each weak member is worse than 'strong', but two of them landing on the same
    # number by chance is rare: their agreement is the stronger evidence.
    data = numeric_panels(tmp_path / "good.jsonl", weak_accuracy=0.75, shared_mistakes=False)
    calibrator = fit_from_labelled_files([data], FakeEmbedder(), folds=3).calibrator
    result = build_consensus(
        disputed(), FakeEmbedder(), calibrator, question=QUESTION.format(k=10_000)
    )
    assert result.model in {"weak1", "weak2"}
    assert result.support == 2
    assert result.dissenters == ("strong",)


def test_the_panel_weight_is_the_prior_for_an_unknown_member(tmp_path: Path) -> None:
    data = numeric_panels(tmp_path / "weak.jsonl", weak_accuracy=0.3, shared_mistakes=True)
    calibrator = fit_from_labelled_files([data], FakeEmbedder(), folds=3).calibrator
    newcomers = [
        ModelAnswer(member="new-a", model="x", text="There are 12 widgets."),
        ModelAnswer(member="new-b", model="x", text="I count 13 widgets."),
    ]
    q = QUESTION.format(k=1)
    for favourite in ("new-a", "new-b"):
        result = build_consensus(
            newcomers, FakeEmbedder(), calibrator, question=q, weights={favourite: 4.0}
        )
        assert result.model == favourite


def unanimous_panels(path: Path, *, panels: int = 400, seed: int = 5) -> Path:
    """Two kinds of panel, every answer in both agreeing: 'strong' members who are right
    together 90% of the time, and 'weak' members who share a misconception and are right
    together only 30% of the time (TruthfulQA-like)."""
    rng = random.Random(seed)
    lines = []
    for k in range(panels):
        kind, accuracy = ("strong", 0.9) if k % 2 else ("weak", 0.3)
        right = rng.random() < accuracy
        value = 100 + k if right else 900 + k
        answers = [
            {"model": f"{kind}{m}", "text": f"There are {value} widgets.", "correct": right}
            for m in range(3)
        ]
        question = QUESTION.format(k=k)
        lines.append(json.dumps({"id": k, "question": question, "answers": answers}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_agreement_among_weak_members_is_calibrated_as_weaker_evidence(tmp_path: Path) -> None:
    data = unanimous_panels(tmp_path / "unanimous.jsonl")
    calibrator = fit_from_labelled_files([data], FakeEmbedder(), folds=3).calibrator

    def confidence(kind: str) -> float:
        answers = [
            ModelAnswer(member=f"{kind}{m}", model=f"{kind}{m}", text="There are 5 widgets.")
            for m in range(3)
        ]
        result = build_consensus(
            answers, FakeEmbedder(), calibrator, question=QUESTION.format(k=10_000)
        )
        assert result.support == 3
        return result.confidence

    assert abs(confidence("strong") - 0.9) < 0.1
    assert abs(confidence("weak") - 0.3) < 0.15
