"""Eval case sets and versions: pure rules over :class:`~evals.cases.schema.EvalCase`.

* **Dataset version**: the SHA-256 of the canonical JSON of a set's active cases (sorted
  by id; content fields only, never timestamps or review metadata). Two databases with
  the same cases have the same version; any change to what is scored changes it.
* **Golden immutability**: editing an active golden case never changes it in place; it
  makes a new version (new id, ``previous_id`` pointing back) and retires the old one.
* **Rotation**: the rotating slice keeps the freshest cases: :func:`cases_to_rotate`
  retires active rotating cases older than ``max_age_days`` or beyond the newest
  ``max_count``.
* **Near-duplicates**: a new question whose embedding is at least ``threshold`` cosine
  similar to an existing case's question is merged into that case and counted.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evals.cases.assertions import Assertion, AssertionType
from evals.cases.redaction import compile_extra_patterns
from evals.cases.schema import CaseSet, CaseStatus, EvalCase, oversized_fields
from evals.errors import ConfigError, InputError
from evals.protocols import Embedder, Vectors

#: The fields that define what a case tests. Timestamps, status, provenance and review
#: metadata are deliberately left out of the dataset version.
CONTENT_FIELDS: tuple[str, ...] = (
    "id",
    "input",
    "expected",
    "assertions",
    "threshold",
    "category",
    "severity",
    "tags",
    "set",
)

#: Fields a reviewer may change with an edit.
EDITABLE_FIELDS: frozenset[str] = frozenset(
    {
        "input",
        "expected",
        "assertions",
        "threshold",
        "category",
        "severity",
        "tags",
    }
)

EMPTY_SET_VERSION = hashlib.sha256(b"[]").hexdigest()


def new_case_id() -> str:
    """A short, unique, URL-safe case id (``case-3f9a1c2b7d01``)."""
    return "case-" + secrets.token_hex(6)


def canonical_case(case: EvalCase) -> dict[str, Any]:
    """The content of a case as plain JSON data (what the dataset version hashes)."""
    data = case.model_dump(mode="json", include=set(CONTENT_FIELDS))
    data["tags"] = sorted(set(data["tags"]))
    return data


def canonical_json(cases: Iterable[EvalCase]) -> str:
    ordered = sorted(cases, key=lambda c: c.id)
    return json.dumps(
        [canonical_case(c) for c in ordered],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def dataset_version(cases: Iterable[EvalCase], case_set: CaseSet | None = None) -> str:
    """SHA-256 (hex) of the canonical JSON of the *active* cases (of ``case_set`` when
    given). Order of the input does not matter."""
    active = [
        c
        for c in cases
        if c.status is CaseStatus.ACTIVE and (case_set is None or c.set is case_set)
    ]
    return hashlib.sha256(canonical_json(active).encode("utf-8")).hexdigest()


def short_version(version: str) -> str:
    """The first 12 hex digits, enough to tell versions apart in a message."""
    return version[:12]


# --- editing and golden immutability -------------------------------------------------------


@dataclass(frozen=True)
class EditResult:
    """``case`` is what the edit produced; ``retired`` is the previous golden version,
    now retired, when the edit had to create a new version."""

    case: EvalCase
    retired: EvalCase | None = None

    @property
    def new_version(self) -> bool:
        return self.retired is not None


def _validated(case: EvalCase, changes: Mapping[str, Any]) -> EvalCase:
    unknown = sorted(set(changes) - EDITABLE_FIELDS)
    if unknown:
        editable = ", ".join(sorted(EDITABLE_FIELDS))
        raise InputError(f"cannot edit {', '.join(unknown)}; editable fields: {editable}")
    data = case.model_dump()
    data.update(changes)
    try:
        edited = EvalCase.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InputError(f"invalid edit: {problems}") from None
    too_big = [p for p in oversized_fields(edited) if p not in oversized_fields(case)]
    if too_big:
        raise InputError(f"invalid edit: {'; '.join(too_big)}")
    return edited


def apply_edit(
    case: EvalCase, changes: Mapping[str, Any], *, now: datetime, new_id: str | None = None
) -> EditResult:
    """Apply a reviewer's changes.

    An *active golden* case is frozen: the result is a new active version (a new id,
    ``previous_id`` = the old id) and the old case comes back retired. Any other case
    that can still be used (proposed, active rotating, rejected) is updated in place.
    Retired cases cannot be edited.
    """
    if case.status is CaseStatus.RETIRED:
        raise InputError(f"case {case.id} is retired; retired cases cannot be edited")
    edited = _validated(case, changes)
    if canonical_case(edited) == canonical_case(case):
        return EditResult(case=case)
    if case.set is CaseSet.GOLDEN and case.status is CaseStatus.ACTIVE:
        version = edited.model_copy(
            update={
                "id": new_id or new_case_id(),
                "previous_id": case.id,
                "created_at": now,
                "updated_at": now,
            }
        )
        retired = case.model_copy(update={"status": CaseStatus.RETIRED, "updated_at": now})
        return EditResult(case=version, retired=retired)
    return EditResult(case=edited.model_copy(update={"updated_at": now}))


def phrases(assertions: Sequence[Assertion], kind: AssertionType) -> list[str]:
    """The values of the ``kind`` assertions (the "must include" phrases of a case)."""
    return [str(a.value) for a in assertions if a.type is kind]


def with_phrases(
    assertions: Sequence[Assertion], *, include: Sequence[str], exclude: Sequence[str]
) -> list[Assertion]:
    """``assertions`` with its ``icontains`` phrases replaced by ``include`` and its
    ``not-icontains`` by ``exclude`` (an unchanged phrase keeps its weight); every other
    assertion is kept as it is, in order."""
    kinds = {AssertionType.ICONTAINS: include, AssertionType.NOT_ICONTAINS: exclude}
    old = {(a.type, str(a.value)): a for a in assertions if a.type in kinds}
    kept = [a for a in assertions if a.type not in kinds]
    for kind, values in kinds.items():
        kept += [old.get((kind, v)) or Assertion(type=kind, value=v) for v in dict.fromkeys(values)]
    return kept


# --- rotation ------------------------------------------------------------------------------


class RotationPolicy(BaseModel):
    """How the rotating slice is refreshed. ``None`` disables a limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_age_days: int | None = Field(default=90, ge=1)
    max_count: int | None = Field(default=200, ge=0)


def cases_to_rotate(
    cases: Iterable[EvalCase], policy: RotationPolicy, *, now: datetime
) -> list[EvalCase]:
    """The active rotating cases the policy retires: those older than ``max_age_days``
    and those beyond the newest ``max_count`` (newest by creation time, then id)."""
    rotating = [c for c in cases if c.set is CaseSet.ROTATING and c.status is CaseStatus.ACTIVE]
    rotating.sort(key=lambda c: (c.created_at, c.id), reverse=True)
    retire: dict[str, EvalCase] = {}
    if policy.max_age_days is not None:
        cutoff = now - timedelta(days=policy.max_age_days)
        for c in rotating:
            if c.created_at < cutoff:
                retire[c.id] = c
    if policy.max_count is not None:
        for c in rotating[policy.max_count :]:
            retire[c.id] = c
    return sorted(retire.values(), key=lambda c: (c.created_at, c.id))


# --- near-duplicates -----------------------------------------------------------------------

DEFAULT_DUPLICATE_THRESHOLD = 0.88


def normalize_question(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold().rstrip("?!. ")


@dataclass(frozen=True)
class DuplicateMatch:
    case_id: str
    similarity: float


def nearest_duplicate(
    query: Vectors, candidate_ids: Sequence[str], candidates: Vectors, *, threshold: float
) -> DuplicateMatch | None:
    """The most similar candidate whose cosine similarity to ``query`` (unit vectors)
    is at least ``threshold``."""
    if not 0.0 < threshold <= 1.0:
        raise InputError(f"duplicate threshold must be in (0, 1], got {threshold}")
    if len(candidate_ids) == 0:
        return None
    sims = np.asarray(candidates, dtype=np.float32) @ np.asarray(query, dtype=np.float32)
    best = int(np.argmax(sims))
    similarity = float(sims[best])
    if similarity >= threshold:
        return DuplicateMatch(candidate_ids[best], min(similarity, 1.0))
    return None


def find_near_duplicate(
    question: str,
    candidates: Sequence[tuple[str, str]],
    embedder: Embedder,
    *,
    threshold: float = DEFAULT_DUPLICATE_THRESHOLD,
) -> DuplicateMatch | None:
    """The existing case (``(case_id, question)`` pairs) that ``question`` repeats, if any.
    An identical question (ignoring case, spacing and the final "?") always matches."""
    norm = normalize_question(question)
    for case_id, other in candidates:
        if normalize_question(other) == norm:
            return DuplicateMatch(case_id, 1.0)
    if not candidates:
        return None
    vectors = embedder.embed([question, *(q for _, q in candidates)])
    return nearest_duplicate(
        vectors[0], [cid for cid, _ in candidates], vectors[1:], threshold=threshold
    )


def merge_duplicate(
    existing: EvalCase, incoming: EvalCase, *, now: datetime, same_run: bool = False
) -> EvalCase:
    """Fold a near-duplicate into an existing case: count it, keep the union of tags, and
    take the incoming expected answer / category / assertions when the existing case has
    none. An active case is only counted: its content (and so its set's version) never
    changes behind a reviewer's back. ``same_run``: both come from the same panel run, so
    the answers flagged in the incoming one are answers the existing case shows too (its
    observed ``flagged`` list takes them; observed is provenance, not content)."""
    update: dict[str, object] = {"merged_count": existing.merged_count + 1, "updated_at": now}
    if same_run and existing.observed is not None and incoming.observed is not None:
        flagged = list(dict.fromkeys([*existing.observed.flagged, *incoming.observed.flagged]))
        update["observed"] = existing.observed.model_copy(update={"flagged": flagged})
    if existing.status is CaseStatus.ACTIVE:
        return existing.model_copy(update=update)
    return existing.model_copy(
        update={
            **update,
            "tags": sorted(set(existing.tags) | set(incoming.tags)),
            "expected": existing.expected or incoming.expected,
            "category": existing.category or incoming.category,
            "assertions": existing.assertions or incoming.assertions,
        }
    )


# --- policy (the `cases:` section of quorum.yaml) -------------------------------------------


class CasePolicy(BaseModel):
    """How production signals become cases and how the sets are kept::

    cases:
      duplicate_threshold: 0.88   # cosine similarity at which questions are merged
      rotation: {max_age_days: 90, max_count: 200}
      redact_patterns:            # extra name → regex, redacted as <EMPLOYEE_ID_1>
        employee_id: "EMP-\\d{5}"
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    duplicate_threshold: float = Field(default=DEFAULT_DUPLICATE_THRESHOLD, gt=0.0, le=1.0)
    rotation: RotationPolicy = Field(default_factory=RotationPolicy)
    redact_patterns: dict[str, str] = Field(default_factory=dict)

    @field_validator("redact_patterns")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        try:
            compile_extra_patterns(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value
