"""The eval case schema: what one private eval case is.

Documented in docs/cases.md. Cases are built from flagged production
conversations (always redacted first), written by hand, or imported.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evals.cases.assertions import LEGACY_FIELDS, Assertion, AssertionType, legacy_assertions
from evals.user_files import MAX_CASE_CONTEXT_CHARS, MAX_CASE_TEXT_CHARS


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


class ObservedAnswer(BaseModel):
    """What one panel member answered when the case was captured from production."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    text: str = ""
    error: str | None = None


class ObservedOptions(BaseModel):
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
    options: dict[str, ObservedOptions] = Field(default_factory=dict)
    consensus_model: str | None = None
    consensus_text: str | None = None
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    #: The members whose answers people flagged (👎, 🚩 or a correction): the one whose
    #: thread reply it was, or the consensus model for the result message.
    flagged: list[str] = Field(default_factory=list)


class EvalCase(BaseModel):
    """One eval case. ``id`` is stable; a new version of a golden case gets a new id
    and points back with ``previous_id``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="Stable id; a new golden version gets a new one.")
    input: CaseInput = Field(description="The question, with earlier thread messages as context.")
    expected: str | None = Field(default=None, description="The reference answer, if known.")
    assertions: list[Assertion] = Field(
        default_factory=list,
        description="What a passing answer does, as typed assertions (promptfoo's vocabulary).",
    )
    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Pass when the weighted assertion score reaches this (promptfoo's test "
        "threshold); without it every assertion must pass.",
    )
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

    @model_validator(mode="before")
    @classmethod
    def _legacy_checks(cls, data: Any) -> Any:
        """Cases written before assertions were data (must_include, regex, rubric, ...)
        are read as the assertions that check the same things."""
        if not isinstance(data, dict) or not any(k in data for k in LEGACY_FIELDS):
            return data
        data = dict(data)
        legacy = {k: data.pop(k) for k in LEGACY_FIELDS if k in data}
        data["assertions"] = [*legacy_assertions(legacy), *(data.get("assertions") or [])]
        return data

    @property
    def rubric_notes(self) -> str | None:
        """The judge's notes for this case: the first ``llm-rubric`` value, if any."""
        return next(
            (
                str(a.value)
                for a in self.assertions
                if a.type is AssertionType.LLM_RUBRIC and str(a.value).strip()
            ),
            None,
        )

    @field_validator("created_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must include a time zone (UTC), e.g. 2026-01-31T12:00:00Z")
        return value.astimezone(UTC)


def oversized_fields(case: EvalCase) -> list[str]:
    """What in ``case`` is over the size limits, one phrase each (empty: nothing).

    Checked where text enters a case (import, edits) rather than on the model, so a case
    stored before the limits existed can still be read, exported and retired.
    """
    problems = []
    for name, text in (("input.question", case.input.question), ("expected", case.expected)):
        if text is not None and len(text) > MAX_CASE_TEXT_CHARS:
            problems.append(
                f"{name} is {len(text):,} characters long; the limit is {MAX_CASE_TEXT_CHARS:,}"
            )
    context = sum(len(m.content) for m in case.input.context)
    if context > MAX_CASE_CONTEXT_CHARS:
        problems.append(
            f"input.context is {context:,} characters long; the limit is {MAX_CASE_CONTEXT_CHARS:,}"
        )
    return problems
