"""Panel runs, answers and consensus survive their one JSON form unchanged (the spool
writes it while the database is down; `quorum ask --json` prints a view of it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from evals.records import (
    ChatMessage,
    Consensus,
    ConsensusStatus,
    ErrorKind,
    ModelAnswer,
    PanelRun,
    SentOptions,
    SentPrompt,
)


def test_a_run_and_its_consensus_round_trip_through_json() -> None:
    run = PanelRun(
        question="What is 6 x 7?",
        answers=(
            ModelAnswer(
                member="alpha",
                model="openai/alpha",
                text="42",
                resolved_model="alpha-2026",
                latency_ms=640,
                prompt_tokens=12,
                completion_tokens=3,
                cost_usd=0.0031,
                finish_reason="stop",
            ),
            ModelAnswer(
                member="beta",
                model="openai/beta",
                error=ErrorKind.RATE_LIMITED,
                error_detail="429 after 2 retries",
            ),
        ),
        started_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        finished_at=datetime(2026, 11, 30, 9, 0, 2, 500000, tzinfo=UTC),
        quorum=1,
        prompt=SentPrompt(
            messages=(
                ChatMessage("system", "Answer briefly."),
                ChatMessage("user", "Earlier in the thread"),
                ChatMessage("user", "What is 6 x 7?"),
            ),
            options={"alpha": SentOptions(0.2, 512), "beta": SentOptions()},
        ),
    )
    consensus = Consensus(
        status=ConsensusStatus.SINGLE,
        model="alpha",
        text="42",
        confidence=0.35,
        raw_confidence=0.9,
        clusters=(("alpha",),),
        agreement={"alpha": 1.0},
        dissenters=(),
        features={"support": 1.0, "entropy": 0.0},
        calibrator="cal-test",
        reason="one usable answer",
    )
    assert PanelRun.from_dict(json.loads(json.dumps(run.to_dict()))) == run
    assert Consensus.from_dict(json.loads(json.dumps(consensus.to_dict()))) == consensus
