"""The eval case schema: what one private eval case is.

Documented in the README ("Eval cases"). Cases are built from flagged production
conversations (always redacted first), written by hand, or imported.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class CaseSet(StrEnum):
    GOLDEN = "golden"  # frozen: an edit creates a new version
    ROTATING = "rotating"  # refreshed by `quorum cases rotate`


class CaseStatus(StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    REJECTED = "rejected"
    RETIRED = "retired"


class CaseSource(StrEnum):
    PRODUCTION = "production"
    MANUAL = "manual"
    IMPORT = "import"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class FailureMode(StrEnum):
    """The fixed failure taxonomy used by corrections and by the judge."""

    WRONG_FACT = "wrong_fact"
    OUTDATED = "outdated"
    INCOMPLETE = "incomplete"
    MISUNDERSTOOD = "misunderstood_question"
    UNSAFE = "unsafe"
    REFUSED = "refused"
    FORMAT = "format"
    OTHER = "other"


FAILURE_MODE_TEXT: dict[FailureMode, str] = {
    FailureMode.WRONG_FACT: "Wrong fact",
    FailureMode.OUTDATED: "Outdated",
    FailureMode.INCOMPLETE: "Incomplete",
    FailureMode.MISUNDERSTOOD: "Misunderstood the question",
    FailureMode.UNSAFE: "Unsafe",
    FailureMode.REFUSED: "Refused",
    FailureMode.FORMAT: "Format",
    FailureMode.OTHER: "Other",
}


class ContextMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(pattern="^(user|assistant|system)$")
    content: str


class CaseInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=1)
    context: list[ContextMessage] = Field(default_factory=list)


class NumericCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    tolerance: float = Field(default=0.0, ge=0.0)
    relative: bool = False


class ObservedAnswer(BaseModel):
    """What one panel member answered when the case was captured from production."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    text: str = ""
    error: str | None = None


class ObservedRun(BaseModel):
    """The panel's answers and consensus at the time a production case was flagged.
    Provenance only: not part of the dataset version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answers: list[ObservedAnswer] = Field(default_factory=list)
    consensus_model: str | None = None
    consensus_text: str | None = None
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)


class EvalCase(BaseModel):
    """One eval case. ``id`` is stable; a new version of a golden case gets a new id
    and points back with ``previous_id``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    input: CaseInput
    expected: str | None = None
    must_include: list[str] = Field(default_factory=list)
    must_not_include: list[str] = Field(default_factory=list)
    regex: str | None = None
    json_schema: dict[str, object] | None = None
    numeric: NumericCheck | None = None
    rubric: str | None = None
    category: str | None = None
    severity: Severity = Severity.MEDIUM
    tags: list[str] = Field(default_factory=list)
    source: CaseSource = CaseSource.MANUAL
    source_link: str | None = None
    set: CaseSet = CaseSet.ROTATING
    status: CaseStatus = CaseStatus.PROPOSED
    previous_id: str | None = None
    observed: ObservedRun | None = None
    merged_count: int = Field(default=0, ge=0)  # near-duplicates merged into this case
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("created_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must include a time zone (UTC), e.g. 2026-01-31T12:00:00Z")
        return value.astimezone(UTC)
