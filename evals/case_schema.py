"""The eval case schema: what one private eval case is.

Documented in the README ("Eval cases"). Cases are built from flagged production
conversations (always redacted first), written by hand, or imported.
"""

from __future__ import annotations

import re
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


class SentOptions(BaseModel):
    """The sampling options a panel member was sent (None: the provider's default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = None
    max_tokens: int | None = None


class ObservedRun(BaseModel):
    """The panel's answers and consensus at the time a production case was flagged, with
    the system prompt and each member's options they were sent. Provenance only: not
    part of the dataset version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answers: list[ObservedAnswer] = Field(default_factory=list)
    system_prompt: str | None = None
    options: dict[str, SentOptions] = Field(default_factory=dict)
    consensus_model: str | None = None
    consensus_text: str | None = None
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)


class EvalCase(BaseModel):
    """One eval case. ``id`` is stable; a new version of a golden case gets a new id
    and points back with ``previous_id``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="Stable id; a new golden version gets a new one.")
    input: CaseInput = Field(description="The question, with earlier thread messages as context.")
    expected: str | None = Field(default=None, description="The reference answer, if known.")
    must_include: list[str] = Field(
        default_factory=list, description="Phrases a passing answer contains (each)."
    )
    must_not_include: list[str] = Field(
        default_factory=list, description="Phrases a passing answer never contains."
    )
    regex: str | None = Field(default=None, description="A regular expression the answer matches.")
    json_schema: dict[str, object] | None = Field(
        default=None, description="The answer is JSON valid against this schema ({} = any JSON)."
    )
    numeric: NumericCheck | None = Field(
        default=None, description="The answer's number equals value within tolerance."
    )
    rubric: str | None = Field(default=None, description="Notes for the LLM judge.")
    category: str | None = Field(
        default=None,
        description="What kind of failure it tests (a FailureMode value or free text).",
    )
    severity: Severity = Field(default=Severity.MEDIUM, description="How bad a failure is.")
    tags: list[str] = Field(default_factory=list, description="Free labels for filtering.")
    source: CaseSource = Field(
        default=CaseSource.MANUAL, description="production, manual or import."
    )
    source_link: str | None = Field(
        default=None, description="Link to the Slack message (or elsewhere) it came from."
    )
    set: CaseSet = Field(
        default=CaseSet.ROTATING, description="golden (frozen) or rotating (refreshed)."
    )
    status: CaseStatus = Field(
        default=CaseStatus.PROPOSED, description="proposed, active, rejected or retired."
    )
    previous_id: str | None = Field(
        default=None, description="The version this one replaced (golden edits)."
    )
    observed: ObservedRun | None = Field(
        default=None, description="What the panel answered when it was flagged (provenance)."
    )
    merged_count: int = Field(
        default=0, ge=0, description="How many near-duplicate reports were merged into it."
    )
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @field_validator("created_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must include a time zone (UTC), e.g. 2026-01-31T12:00:00Z")
        return value.astimezone(UTC)
