"""Assertions: what an eval case checks, as data, in promptfoo's vocabulary.

A case holds a list of typed assertions, each ``{type, value, threshold?, weight?}``.
The types are promptfoo's where promptfoo has the kind, with promptfoo's meaning:

==================  ===========================================================  ==========
type                passes when the answer ...                                   value
==================  ===========================================================  ==========
equals              is exactly the value                                         text
not-equals          is not exactly the value                                     text
contains            contains the value (case-sensitive)                          text
not-contains        does not contain it                                          text
icontains           contains it ignoring case (Unicode- and space-normalized)    text
not-icontains       does not contain it, ignoring case                           text
regex               matches the regular expression anywhere (``re.search``)      pattern
not-regex           does not match it                                            pattern
is-json             is JSON as a whole (valid against the schema when given)     schema?
contains-json       holds JSON: whole, in a code fence or inside prose (schema)  schema?
similar             has embedding cosine similarity >= threshold (0.75 default)  text
llm-rubric          gets a passing verdict from the LLM judge (notes in value)   text
numeric             (Quorum's own) ends with a number within tolerance of value  mapping
==================  ===========================================================  ==========

``weight`` (default 1) weighs the assertion in the case's score, ``threshold`` is the
per-assertion cut-off for ``similar`` (a cosine) and ``llm-rubric`` (the judge's score
on 0–1). How the assertions combine into a pass is :func:`evals.scorers.checks.case_passes`.

Anything else is refused with a message naming the kind: Quorum never silently ignores
a check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evals.errors import InputError


class AssertionType(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not-equals"
    CONTAINS = "contains"
    NOT_CONTAINS = "not-contains"
    ICONTAINS = "icontains"
    NOT_ICONTAINS = "not-icontains"
    REGEX = "regex"
    NOT_REGEX = "not-regex"
    IS_JSON = "is-json"
    CONTAINS_JSON = "contains-json"
    SIMILAR = "similar"
    LLM_RUBRIC = "llm-rubric"
    NUMERIC = "numeric"


SUPPORTED_TYPES: tuple[str, ...] = tuple(t.value for t in AssertionType)

#: Types whose value is text (redacted with the case; compared to the answer).
TEXT_TYPES = frozenset(
    {
        AssertionType.EQUALS,
        AssertionType.NOT_EQUALS,
        AssertionType.CONTAINS,
        AssertionType.NOT_CONTAINS,
        AssertionType.ICONTAINS,
        AssertionType.NOT_ICONTAINS,
        AssertionType.SIMILAR,
        AssertionType.LLM_RUBRIC,
    }
)
REGEX_TYPES = frozenset({AssertionType.REGEX, AssertionType.NOT_REGEX})
JSON_TYPES = frozenset({AssertionType.IS_JSON, AssertionType.CONTAINS_JSON})
#: Types that take a ``threshold`` (and what it is).
THRESHOLD_TYPES: Mapping[AssertionType, str] = {
    AssertionType.SIMILAR: "the cosine similarity needed, in [-1, 1]",
    AssertionType.LLM_RUBRIC: "the judge's score needed, in [0, 1]",
}


class NumericCheck(BaseModel):
    """The value of a ``numeric`` assertion: the answer's last number equals ``value``
    within ``tolerance`` (absolute, or a fraction of ``value`` when ``relative``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    tolerance: float = Field(default=0.0, ge=0.0)
    relative: bool = False


class Assertion(BaseModel):
    """One check on an answer. See the module docstring for the types."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: AssertionType
    value: Any = None
    threshold: float | None = None
    weight: float = Field(default=1.0, ge=0.0)

    @model_validator(mode="before")
    @classmethod
    def _known_type(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            kind = data.get("type")
            if isinstance(kind, str) and kind not in SUPPORTED_TYPES:
                raise ValueError(unsupported_message(kind))
        return data

    @model_validator(mode="after")
    def _value_fits_type(self) -> Assertion:
        kind, value = self.type, self.value
        if kind in TEXT_TYPES:
            if not isinstance(value, str):
                raise ValueError(f"{kind.value} needs a text `value`")
            if not value.strip() and kind is not AssertionType.LLM_RUBRIC:
                raise ValueError(f"{kind.value} needs a non-empty `value`")
        elif kind in REGEX_TYPES:
            if not isinstance(value, str) or not value:
                raise ValueError(f"{kind.value} needs a regular expression as its `value`")
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        elif kind in JSON_TYPES:
            if value is not None:
                if not isinstance(value, dict):
                    raise ValueError(f"{kind.value}'s value must be a JSON schema (a mapping)")
                # Lazy: jsonschema takes ~0.1 s to import; only a JSON-schema check needs it.
                import jsonschema

                try:
                    jsonschema.validators.validator_for(value).check_schema(value)
                except jsonschema.exceptions.SchemaError as exc:
                    raise ValueError(f"{kind.value}'s schema is invalid: {exc.message}") from None
        elif kind is AssertionType.NUMERIC:
            if isinstance(value, NumericCheck):
                value = value.model_dump()
            if not isinstance(value, Mapping):
                raise ValueError("numeric needs a `value` like {value: 42, tolerance: 0.5}")
            check = NumericCheck.model_validate(dict(value))
            object.__setattr__(self, "value", check.model_dump())
        if self.threshold is not None:
            if kind not in THRESHOLD_TYPES:
                takes = " and ".join(t.value for t in THRESHOLD_TYPES)
                raise ValueError(f"{kind.value} takes no `threshold` (only {takes} do)")
            low = -1.0 if kind is AssertionType.SIMILAR else 0.0
            if not low <= self.threshold <= 1.0:
                raise ValueError(f"threshold for {kind.value} is {THRESHOLD_TYPES[kind]}")
        return self

    @property
    def numeric(self) -> NumericCheck:
        return NumericCheck.model_validate(self.value)

    @property
    def schema_value(self) -> dict[str, Any] | None:
        return dict(self.value) if isinstance(self.value, dict) else None

    def describe(self) -> str:
        """One line for people: ``icontains "Canberra"``, ``similar "…" ≥ 0.8 (weight 2)``."""
        if self.type is AssertionType.NUMERIC:
            n = self.numeric
            tol = f"±{n.tolerance:.0%}" if n.relative else f"±{n.tolerance:g}"
            text = f"numeric {n.value:g} {tol}"
        elif self.type in JSON_TYPES:
            text = self.type.value + (" (with a schema)" if self.value else "")
        else:
            shown = str(self.value)
            shown = shown if len(shown) <= 80 else shown[:79] + "…"
            text = f"{self.type.value} {shown!r}" if shown else self.type.value
        if self.threshold is not None:
            text += f" ≥ {self.threshold:g}"
        if self.weight != 1.0:
            text += f" (weight {self.weight:g})"
        return text


def unsupported_message(kind: str) -> str:
    return f"assertion type {kind!r} is not supported by Quorum; supported: " + ", ".join(
        SUPPORTED_TYPES
    )


def parse_assertion(spec: str, *, option: str = "assertion") -> Assertion:
    """``TYPE:VALUE`` (``icontains:Canberra``, ``is-json``, ``numeric:42``) or a JSON
    object ``{"type", "value", "threshold", "weight"}`` as an assertion. Raises
    :class:`InputError` saying what is wrong."""
    text = spec.strip()
    data: object
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{option} {spec!r} is not valid JSON ({exc.msg})") from None
    else:
        kind, sep, value = text.partition(":")
        if not sep and kind not in (t.value for t in JSON_TYPES):
            raise InputError(f"{option} {spec!r}: write TYPE:VALUE, e.g. icontains:Canberra")
        parsed: object = {"value": value} if kind == AssertionType.NUMERIC.value else value
        data = {"type": kind, "value": parsed if sep else None}
    try:
        return Assertion.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise InputError(f"{option} {spec!r}: {problems}") from None


# --- the fixed check fields cases had before assertions ------------------------------------

#: Case fields from before assertions were data (still accepted when reading old files).
LEGACY_FIELDS = ("must_include", "must_not_include", "regex", "json_schema", "numeric", "rubric")


def legacy_assertions(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The assertions that test exactly what the old fixed fields tested: each
    ``must_include`` term → ``icontains`` (the old match ignored case), each
    ``must_not_include`` → ``not-icontains``, ``regex`` → ``regex``, ``json_schema`` →
    ``contains-json`` (the old check found JSON inside prose and code fences too),
    ``numeric`` → ``numeric``, ``rubric`` (notes for the judge) → ``llm-rubric``."""
    out: list[dict[str, Any]] = []
    out += [{"type": "icontains", "value": v} for v in data.get("must_include") or []]
    out += [{"type": "not-icontains", "value": v} for v in data.get("must_not_include") or []]
    if data.get("regex") is not None:
        out.append({"type": "regex", "value": data["regex"]})
    if data.get("json_schema") is not None:
        schema = data["json_schema"]
        out.append({"type": "contains-json", "value": schema or None})
    if data.get("numeric") is not None:
        out.append({"type": "numeric", "value": data["numeric"]})
    if data.get("rubric") is not None:
        out.append({"type": "llm-rubric", "value": data["rubric"]})
    return out
