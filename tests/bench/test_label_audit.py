"""The label audit scored beside the published labels in ``bench.consensus_quality``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from bench.consensus_quality import (
    DEFAULT_AUDIT,
    AuditError,
    _print_audit,
    audited,
    read_label_audit,
)
from evals.consensus.calibrator_fit import LabelledPanel, read_labelled_panels
from evals.consensus.quality_metrics import PanelOutcome
from evals.jsonl import jsonl_lines
from tests.fakes.embedder import FakeEmbedder

NQ_DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "normalqa_dev.jsonl"


def test_every_audited_panel_is_in_the_dev_file_and_overturns_a_label() -> None:
    if not NQ_DEV.exists():
        pytest.skip(f"{NQ_DEV} is not here: the audit cannot be checked against it")
    audit = read_label_audit(DEFAULT_AUDIT)
    notes = [json.loads(line) for line in jsonl_lines(DEFAULT_AUDIT.read_text(encoding="utf-8"))]
    dev = {
        record["id"]: record
        for record in map(json.loads, jsonl_lines(NQ_DEV.read_text(encoding="utf-8")))
    }
    assert len(audit) == len(notes) >= 20
    for note in notes:
        record = dev[note["id"]]
        assert note["question"] == record["question"] and note["gold"] == record["gold"]
        assert note["why"].strip()
        labels = {a["model"]: a["correct"] for a in record["answers"]}
        # Each member the audit judges right is in the panel and was labelled wrong.
        assert audit[note["id"]] <= set(labels)
        assert not any(labels[m] for m in audit[note["id"]])


def _panel(tmp_path: Path) -> LabelledPanel:
    data = tmp_path / "one.jsonl"
    answers = [
        {"model": "a", "text": "Denali.", "correct": False},
        {"model": "b", "text": "Mount Whitney.", "correct": True},
        {"model": "c", "text": "Denali, in Alaska.", "correct": False},
    ]
    question = "What's the highest point in the US?"
    data.write_text(json.dumps({"question": question, "answers": answers}) + "\n")
    return read_labelled_panels(data, FakeEmbedder())[0]


def test_audited_judges_the_named_members_right_and_keeps_the_rest(tmp_path: Path) -> None:
    panel = _panel(tmp_path)
    judged = audited(panel, frozenset({"a"}))
    assert judged.correct == {"a": True, "b": True, "c": False}
    assert panel.correct == {"a": False, "b": True, "c": False}  # the original is untouched
    with pytest.raises(AuditError, match="names zed, not a member"):
        audited(panel, frozenset({"zed"}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json\n", r"audit.jsonl line 1 is not JSON"),
        ('{"right": ["a"]}\n', r"line 1 needs an \"id\""),
        ('\n{"id": "x", "right": []}\n', r"line 2 needs \"right\""),
        ('{"id": "x", "right": "a"}\n', r"line 1 needs \"right\""),
        ('{"id": "x", "right": ["a"]}\n{"id": "x", "right": ["b"]}\n', "line 2 audits 'x' a"),
        ("[1, 2]\n", r"line 1 needs an \"id\""),
    ],
)
def test_a_bad_audit_line_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AuditError, match=message):
        read_label_audit(path)


def test_a_missing_audit_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match=r"Cannot read the label audit .*missing\.jsonl"):
        read_label_audit(tmp_path / "missing.jsonl")


def _outcome(right: bool, confidence: float) -> PanelOutcome:
    return PanelOutcome(right, confidence, float(right), right)


def test_the_audit_table_scores_the_same_confidences_on_both_labels() -> None:
    confidences = [0.9, 0.8, 0.3, 0.2]
    labelled = [
        _outcome(r, c) for r, c in zip([False, True, False, True], confidences, strict=True)
    ]
    audited_ = [_outcome(r, c) for r, c in zip([True, True, False, True], confidences, strict=True)]
    console = Console(record=True, width=120)
    by = {"NQ": [0, 1, 2, 3], "ordinary": [0, 1, 2, 3], "all": [0, 1, 2, 3]}
    ids = ["q0", "q1", "q2", "q3"]
    _print_audit(
        console, Path("audit.jsonl"), by, ids, {"q0": frozenset({"a"})}, [labelled], [audited_]
    )
    text = console.export_text()
    assert "1 panels re-judged" in text
    nq = next(line for line in text.splitlines() if line.lstrip("│ ").startswith("NQ"))
    # Pick 2 of 4 right as labelled, 3 of 4 audited; AUROC 0.25 → 0.667.
    assert "0.500 → 0.750" in nq and "0.250 → 0.667" in nq


def test_an_audit_of_other_panels_says_so() -> None:
    console = Console(record=True, width=120)
    _print_audit(
        console, Path("audit.jsonl"), {"all": [0]}, ["q0"], {"zz": frozenset({"a"})}, [], []
    )
    assert "none of its panels is in these files" in console.export_text()
