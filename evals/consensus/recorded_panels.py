"""Recorded panels in and consensus records out, for ``quorum consensus IN.jsonl``.

Input line: ``{"id": ..., "question": "...", "answers": [{"model": "...", "text": "..."}]}``
(extra fields such as correctness labels are ignored). Output line:
``{"id", "consensus_model", "consensus_text", "confidence", "clusters", "agreement"}``
plus ``raw_confidence``, ``status``, ``label``, ``dissenters``, ``calibrator`` and
``reason``.
"""

from __future__ import annotations

import json
from typing import Any

from evals.errors import InputError
from evals.records import Consensus, ModelAnswer
from evals.user_files import MAX_ANSWER_CHARS, MAX_CASE_TEXT_CHARS, check_length

RecordId = str | int


def parse_recorded_line(line: str) -> tuple[RecordId, str, list[ModelAnswer]]:
    """One input line as (id, question, answers); InputError says what is wrong."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(record, dict):
        raise InputError("expected a JSON object with 'id', 'question' and 'answers'")
    if "id" not in record:
        raise InputError("missing 'id'")
    record_id = record["id"]
    if isinstance(record_id, bool) or not isinstance(record_id, str | int):
        raise InputError("'id' must be a string or an integer")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InputError("'question' must be non-empty text")
    check_length(question, what="the question", limit=MAX_CASE_TEXT_CHARS)
    raw_answers = record.get("answers")
    if not isinstance(raw_answers, list) or not raw_answers:
        raise InputError('\'answers\' must be a non-empty list of {"model", "text"} objects')
    answers: list[ModelAnswer] = []
    seen: set[str] = set()
    for n, item in enumerate(raw_answers, start=1):
        if not isinstance(item, dict):
            raise InputError(f"answer {n} must be an object with 'model' and 'text'")
        model = item.get("model")
        if not isinstance(model, str) or not model.strip():
            raise InputError(f"answer {n} needs a 'model' name")
        if model in seen:
            raise InputError(f"model {model!r} appears twice")
        seen.add(model)
        text = item.get("text")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise InputError(f"answer {n} ('{model}'): 'text' must be text")
        check_length(text, what=f"answer {n} ('{model}')", limit=MAX_ANSWER_CHARS)
        answers.append(ModelAnswer(member=model, model=model, text=text))
    return record_id, question, answers


def consensus_record(record_id: RecordId, consensus: Consensus) -> dict[str, Any]:
    """The output line for one recorded panel."""
    return {
        "id": record_id,
        "consensus_model": consensus.model,
        "consensus_text": consensus.text,
        "confidence": consensus.confidence,
        "clusters": [list(c) for c in consensus.clusters],
        "agreement": dict(consensus.agreement),
        "raw_confidence": consensus.raw_confidence,
        "status": consensus.status.value,
        "label": consensus.label,
        "dissenters": list(consensus.dissenters),
        "calibrator": consensus.calibrator,
        "reason": consensus.reason,
        "meaning": consensus.meaning,
        "caveat": consensus.caveat,
    }
