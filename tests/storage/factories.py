"""Builders for panel runs and consensus results used by the storage tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from evals.records import Consensus, ConsensusStatus, ErrorKind, ModelAnswer, PanelRun

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def answer(
    member: str,
    text: str = "Paris is the capital of France.",
    *,
    latency_ms: int = 1200,
    cost_usd: float | None = 0.001,
    error: ErrorKind | None = None,
) -> ModelAnswer:
    return ModelAnswer(
        member=member,
        model=f"openai/{member}",
        text="" if error else text,
        resolved_model=None if error else f"{member}-2026-01-01",
        latency_ms=latency_ms,
        prompt_tokens=None if error else 12,
        completion_tokens=None if error else 34,
        cost_usd=cost_usd,
        finish_reason=None if error else "stop",
        error=error,
        error_detail="timed out after 30 s" if error else None,
    )


def panel_run(
    answers: Sequence[ModelAnswer] | None = None,
    *,
    question: str = "What is the capital of France?",
    started_at: datetime = T0,
    quorum: int = 2,
) -> PanelRun:
    items = tuple(answers) if answers is not None else (answer("alpha"), answer("beta"))
    return PanelRun(
        question=question,
        answers=items,
        started_at=started_at,
        finished_at=started_at + timedelta(milliseconds=1850),
        quorum=quorum,
    )


def consensus_for(run: PanelRun, *, confidence: float = 0.82) -> Consensus:
    usable = [a.member for a in run.answers if a.ok]
    if not usable:
        return Consensus.none("no model answered", calibrator="isotonic-test-1")
    first = next(a for a in run.answers if a.ok)
    return Consensus(
        status=ConsensusStatus.OK if len(usable) > 1 else ConsensusStatus.SINGLE,
        model=first.member,
        text=first.text,
        confidence=confidence,
        raw_confidence=0.9,
        clusters=(tuple(usable),),
        agreement={m: 0.95 - 0.1 * i for i, m in enumerate(usable)},
        dissenters=(),
        features={
            "support": 1.0,
            "entropy": 0.0,
            "cohesion": 0.93,
            "n_answers": float(len(usable)),
        },
        calibrator="isotonic-test-1",
    )
