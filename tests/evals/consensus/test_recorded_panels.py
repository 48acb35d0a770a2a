"""Recorded panels in, consensus records out (the `quorum consensus` line formats)."""

from __future__ import annotations

import json

import pytest

from evals.consensus.calibrator import default_calibrator
from evals.consensus.decision import build_consensus
from evals.consensus.recorded_panels import consensus_record, parse_recorded_line
from evals.errors import InputError
from tests.fakes.embedder import FakeEmbedder

LINE = json.dumps(
    {
        "id": "tqa-1",
        "question": "What happens if you crack your knuckles a lot?",
        "category": "Health",
        "answers": [
            {"model": "m1", "text": "You will get arthritis.", "correct": False},
            {"model": "m2", "text": "Nothing in particular happens.", "correct": True},
            {"model": "m3", "text": "You will get arthritis.", "correct": False},
        ],
    }
)


def test_parses_a_line_and_ignores_labels() -> None:
    record_id, question, answers = parse_recorded_line(LINE)
    assert record_id == "tqa-1"
    assert question.startswith("What happens")
    assert [(a.member, a.text) for a in answers] == [
        ("m1", "You will get arthritis."),
        ("m2", "Nothing in particular happens."),
        ("m3", "You will get arthritis."),
    ]
    assert all(a.ok for a in answers)


def test_null_text_is_an_empty_answer() -> None:
    line = '{"id": 7, "question": "q?", "answers": [{"model": "a", "text": null}]}'
    record_id, _, answers = parse_recorded_line(line)
    assert record_id == 7
    assert answers[0].text == ""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{oops", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"question": "q", "answers": []}', "missing 'id'"),
        ('{"id": true, "question": "q", "answers": []}', "'id' must be a string or an integer"),
        ('{"id": 1, "question": " ", "answers": []}', "'question' must be non-empty text"),
        ('{"id": 1, "question": "q", "answers": []}', "'answers' must be a non-empty list"),
        ('{"id": 1, "question": "q", "answers": ["x"]}', "answer 1 must be an object"),
        ('{"id": 1, "question": "q", "answers": [{"text": "x"}]}', "answer 1 needs a 'model'"),
        (
            '{"id": 1, "question": "q", "answers": [{"model": "a", "text": 3}]}',
            "'text' must be text",
        ),
        (
            '{"id": 1, "question": "q", "answers": [{"model": "a", "text": "x"},'
            ' {"model": "a", "text": "y"}]}',
            "model 'a' appears twice",
        ),
    ],
)
def test_bad_lines_say_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_recorded_line(line)


def test_output_record_has_the_documented_shape(fake_embedder: FakeEmbedder) -> None:
    record_id, question, answers = parse_recorded_line(LINE)
    consensus = build_consensus(answers, fake_embedder, default_calibrator(), question=question)
    record = consensus_record(record_id, consensus)
    assert list(record)[:6] == [
        "id",
        "consensus_model",
        "consensus_text",
        "confidence",
        "clusters",
        "agreement",
    ]
    assert record["id"] == "tqa-1"
    assert record["consensus_model"] in {"m1", "m2", "m3"}
    assert record["consensus_text"] == next(
        a.text for a in answers if a.member == record["consensus_model"]
    )
    assert 0.0 <= record["confidence"] <= 1.0
    assert sorted(m for c in record["clusters"] for m in c) == ["m1", "m2", "m3"]
    assert ["m1", "m3"] in record["clusters"]
    assert set(record["agreement"]) == {"m1", "m2", "m3"}
    assert record["status"] == "ok"
    json.dumps(record)  # one JSON line


def test_the_output_line_says_what_the_confidence_means() -> None:
    _, question, answers = parse_recorded_line(
        '{"id": 7, "question": "How many legs does a spider have?", "answers": ['
        '{"model": "a", "text": "Eight."}, {"model": "b", "text": "A spider has 8 legs."}]}'
    )
    result = build_consensus(answers, FakeEmbedder(), default_calibrator(), question=question)
    line = consensus_record(7, result)
    assert line["clusters"] == [["a", "b"]]  # "Eight" and "8" are the same final answer
    assert line["meaning"].startswith("Of ") and line["meaning"].endswith("were right.")
    assert line["caveat"] == ""
