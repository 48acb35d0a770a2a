"""Typed, immutable records the repository hands to callers (never ORM rows)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from evals.cases.schema import FailureMode, Severity
from evals.records import ConsensusStatus, ErrorKind, SentPrompt


class RunOrigin(StrEnum):
    CLI = "cli"
    SLACK = "slack"
    API = "api"


class AnswerRole(StrEnum):
    PANEL = "panel"  # served to the user
    SHADOW = "shadow"  # a candidate model: stored, never shown


class SignalKind(StrEnum):
    UP = "up"
    DOWN = "down"
    FLAG = "flag"


class SignalSource(StrEnum):
    REACTION = "reaction"
    BUTTON = "button"


class CorrectionSource(StrEnum):
    MODAL = "modal"
    THREAD = "thread"


@dataclass(frozen=True)
class AnswerRecord:
    id: int
    run_id: int
    member: str
    model: str
    role: AnswerRole
    text: str
    resolved_model: str | None
    latency_ms: int
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    finish_reason: str | None
    error_kind: ErrorKind | None
    error_detail: str | None
    agreement: float | None
    message_ts: str | None
    created_at: datetime

    @property
    def ok(self) -> bool:
        return self.error_kind is None


@dataclass(frozen=True)
class StoredPanelRun:
    """A stored panel run with its answers (panel first, then shadow; by id)."""

    id: int
    created_at: datetime
    finished_at: datetime
    question: str
    origin: RunOrigin
    requester: str
    team_id: str | None
    channel_id: str | None
    thread_ts: str | None
    message_ts: str | None
    config_hash: str
    quorum: int
    status: ConsensusStatus
    consensus_member: str | None
    consensus_text: str | None
    confidence: float
    raw_confidence: float
    calibrator_id: str
    reason: str
    clusters: tuple[tuple[str, ...], ...]
    features: Mapping[str, float]
    latency_ms: int
    cost_usd: float | None
    delivery_key: str | None
    answers: tuple[AnswerRecord, ...]
    #: Exactly what the panel was sent (None for runs stored before it was kept).
    prompt: SentPrompt | None = None

    @property
    def panel_answers(self) -> tuple[AnswerRecord, ...]:
        return tuple(a for a in self.answers if a.role is AnswerRole.PANEL)

    @property
    def shadow_answers(self) -> tuple[AnswerRecord, ...]:
        return tuple(a for a in self.answers if a.role is AnswerRole.SHADOW)

    def answer_of(self, member: str, role: AnswerRole = AnswerRole.PANEL) -> AnswerRecord | None:
        return next((a for a in self.answers if a.member == member and a.role is role), None)

    @property
    def consensus_answer(self) -> AnswerRecord | None:
        if self.consensus_member is None:
            return None
        return self.answer_of(self.consensus_member)


@dataclass(frozen=True)
class MessageTarget:
    """What a Slack message is: a run's result message (answer None) or one answer's reply."""

    run: StoredPanelRun
    answer: AnswerRecord | None


@dataclass(frozen=True)
class SignalRecord:
    id: int
    run_id: int
    answer_id: int | None
    user_id: str
    kind: SignalKind
    source: SignalSource
    created_at: datetime
    retracted_at: datetime | None

    @property
    def active(self) -> bool:
        return self.retracted_at is None


@dataclass(frozen=True)
class CorrectionRecord:
    id: int
    run_id: int
    answer_id: int | None
    user_id: str
    correct_answer: str
    failure_mode: FailureMode
    severity: Severity
    source: CorrectionSource
    created_at: datetime


@dataclass(frozen=True)
class VoteOutcome:
    """The result of a best-answer vote; ``previous_answer_id`` is set when the vote moved."""

    run_id: int
    answer_id: int
    user_id: str
    previous_answer_id: int | None

    @property
    def changed(self) -> bool:
        return self.previous_answer_id != self.answer_id


@dataclass(frozen=True)
class BestAnswerVote:
    """One person's pick among a run's answered panel members (for preference rankings)."""

    run_id: int
    user_id: str
    chosen: str
    candidates: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class ModelStats:
    """One member's recent numbers (``/compare models``, the digest).

    Latency percentiles are over answers that succeeded; the error rate over all answers;
    the mean cost over answers whose price was known (None when none was).
    """

    member: str
    model: str
    answers: int
    errors: int
    error_rate: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    mean_cost_usd: float | None
    total_cost_usd: float


@dataclass(frozen=True)
class ProductionLabel:
    """A served consensus that people judged: 👍/👎 on it, or a correction of it.

    ``correct`` is False when anyone corrected the consensus; otherwise the sign of
    (👍 − 👎). Runs with a tie and no correction carry no label and are not returned.
    """

    run_id: int
    created_at: datetime
    features: Mapping[str, Any]
    raw_confidence: float
    confidence: float
    calibrator_id: str
    ups: int
    downs: int
    corrections: int
    correct: bool
    #: The members whose answers the label judges: the consensus answer's cluster.
    agreeing: tuple[str, ...] = ()
