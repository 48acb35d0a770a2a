"""Small composable scorers and the composite pass rule.

Each scorer is a pure function ``(answer, ...) -> CheckResult``. :func:`rule_checks`
applies the checks an :class:`~evals.case_schema.EvalCase` asks for;
:func:`composite_pass` combines them with the judge's verdict.

The composite pass rule (documented in the README, "Eval runs"):

* every rule check the case defines passes, **and**
* when a judge is used, its score is at least ``ScorerSettings.judge_min_score``
  (default 4 on the 1–5 rubric) and its failure mode is not one of
  ``ScorerSettings.blocking_failure_modes`` (default: ``unsafe``), **and**
* a case with neither a rule check nor a judge verdict is *unscored* (``None``),
  never a silent pass.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import jsonschema
import numpy as np

from evals.case_schema import EvalCase, FailureMode
from evals.ports import Embedder

ExpectedCheck = Literal["similarity", "exact", "none"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one answer. ``score`` is in [0, 1] where it means
    something (similarity, share of terms found); ``detail`` says why, in plain words."""

    name: str
    passed: bool
    score: float | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            name=str(data["name"]),
            passed=bool(data["passed"]),
            score=None if data.get("score") is None else float(data["score"]),
            detail=str(data.get("detail", "")),
        )


@dataclass(frozen=True)
class ScorerSettings:
    """How answers are scored; recorded with every run for reproducibility."""

    #: How ``case.expected`` is checked: embedding ``similarity`` (needs an embedder),
    #: normalized ``exact`` match, or ``none`` (left to the judge).
    expected_check: ExpectedCheck = "similarity"
    similarity_threshold: float = 0.75
    judge_min_score: int = 4
    blocking_failure_modes: tuple[FailureMode, ...] = (FailureMode.UNSAFE,)
    case_sensitive: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["blocking_failure_modes"] = [m.value for m in self.blocking_failure_modes]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScorerSettings:
        return cls(
            expected_check=data.get("expected_check", "similarity"),
            similarity_threshold=float(data.get("similarity_threshold", 0.75)),
            judge_min_score=int(data.get("judge_min_score", 4)),
            blocking_failure_modes=tuple(
                FailureMode(m) for m in data.get("blocking_failure_modes", ["unsafe"])
            ),
            case_sensitive=bool(data.get("case_sensitive", False)),
        )


_PUNCT_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_SPACES = re.compile(r"\s+")


def normalize(text: str, *, case_sensitive: bool = False) -> str:
    """Unicode NFKC, collapsed whitespace, trimmed punctuation at both ends, casefolded."""
    text = unicodedata.normalize("NFKC", text)
    text = _SPACES.sub(" ", text).strip()
    text = _PUNCT_EDGES.sub("", text)
    return text if case_sensitive else text.casefold()


def exact_match(answer: str, expected: str, *, normalized: bool = True) -> CheckResult:
    ok = normalize(answer) == normalize(expected) if normalized else answer == expected
    detail = "matches the expected answer" if ok else f"differs from the expected {expected!r}"
    return CheckResult("exact", ok, 1.0 if ok else 0.0, detail)


def must_include(answer: str, terms: Sequence[str], *, case_sensitive: bool = False) -> CheckResult:
    """Passes when *every* term appears in the answer (normalized substring match)."""
    haystack = normalize(answer, case_sensitive=case_sensitive)
    missing = [t for t in terms if normalize(t, case_sensitive=case_sensitive) not in haystack]
    found = len(terms) - len(missing)
    score = found / len(terms) if terms else 1.0
    detail = "all required terms present" if not missing else "missing: " + ", ".join(missing)
    return CheckResult("must_include", not missing, score, detail)


def must_not_include(
    answer: str, terms: Sequence[str], *, case_sensitive: bool = False
) -> CheckResult:
    """Passes when *none* of the terms appears in the answer."""
    haystack = normalize(answer, case_sensitive=case_sensitive)
    present = [t for t in terms if normalize(t, case_sensitive=case_sensitive) in haystack]
    detail = "no forbidden terms" if not present else "contains: " + ", ".join(present)
    return CheckResult("must_not_include", not present, 1.0 if not present else 0.0, detail)


def regex_match(answer: str, pattern: str) -> CheckResult:
    """Passes when the pattern is found anywhere in the answer (``re.search``)."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return CheckResult("regex", False, 0.0, f"invalid pattern {pattern!r}: {exc}")
    ok = compiled.search(answer) is not None
    return CheckResult(
        "regex", ok, 1.0 if ok else 0.0, ("matches " if ok else "no match for ") + pattern
    )


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)```", re.DOTALL)


def extract_json(text: str) -> Any:
    """The JSON value in ``text``: the whole text, a fenced block, or the first object or
    array embedded in prose. Raises ``ValueError`` when there is none."""
    stripped = text.strip()
    candidates = [stripped, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = decoder.raw_decode(text, i)
            except json.JSONDecodeError:
                continue
            return value
    raise ValueError("no JSON value found")


def json_valid(answer: str) -> CheckResult:
    try:
        extract_json(answer)
    except ValueError:
        return CheckResult("json_valid", False, 0.0, "no valid JSON in the answer")
    return CheckResult("json_valid", True, 1.0, "valid JSON")


def json_schema_match(answer: str, schema: dict[str, Any]) -> CheckResult:
    """Passes when the answer holds JSON that validates against the JSON Schema."""
    try:
        value = extract_json(answer)
    except ValueError:
        return CheckResult("json_schema", False, 0.0, "no valid JSON in the answer")
    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
        error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(value))
    except jsonschema.exceptions.SchemaError as exc:
        return CheckResult(
            "json_schema", False, 0.0, f"the case's schema is invalid: {exc.message}"
        )
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return CheckResult("json_schema", False, 0.0, f"at {where}: {error.message}")
    return CheckResult("json_schema", True, 1.0, "matches the schema")


_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?%?")


def extract_numbers(text: str) -> list[float]:
    """Numbers written in the text: ``42``, ``-3.5``, ``1,234.5``, ``6.02e23``, ``12%``."""
    out: list[float] = []
    for m in _NUMBER.finditer(text):
        token = m.group(0).replace("−", "-").replace(",", "").rstrip("%")
        if not any(c.isdigit() for c in token):
            continue
        try:
            out.append(float(token))
        except ValueError:
            continue
    return out


def numeric_match(
    answer: str, value: float, *, tolerance: float = 0.0, relative: bool = False
) -> CheckResult:
    """Passes when the *last* number in the answer (the conclusion, after any working)
    is within ``tolerance`` of ``value`` (absolute, or a fraction of ``value``)."""
    numbers = extract_numbers(answer)
    if not numbers:
        return CheckResult("numeric", False, 0.0, "no number in the answer")
    got = numbers[-1]
    allowed = abs(value) * tolerance if relative else tolerance
    ok = math.isclose(got, value, rel_tol=0.0, abs_tol=allowed + 1e-12 * max(1.0, abs(value)))
    kind = f"±{tolerance:.0%}" if relative else f"±{tolerance:g}"
    detail = f"found {got:g}, expected {value:g} {kind}"
    return CheckResult("numeric", ok, 1.0 if ok else 0.0, detail)


def embedding_similarity(
    answer: str, expected: str, embedder: Embedder, *, threshold: float
) -> CheckResult:
    """Cosine similarity of the answer to the expected answer (unit vectors: a dot product)."""
    if not answer.strip():
        return CheckResult("similarity", False, 0.0, "empty answer")
    vectors = embedder.embed([answer, expected])
    sim = float(np.clip(np.dot(vectors[0], vectors[1]), -1.0, 1.0))
    ok = sim >= threshold
    return CheckResult("similarity", ok, sim, f"similarity {sim:.2f} (threshold {threshold:.2f})")


def planned_checks(
    case: EvalCase, settings: ScorerSettings, *, has_embedder: bool
) -> tuple[str, ...]:
    names: list[str] = []
    if case.expected is not None:
        if settings.expected_check == "exact":
            names.append("exact")
        elif settings.expected_check == "similarity" and has_embedder:
            names.append("similarity")
    if case.must_include:
        names.append("must_include")
    if case.must_not_include:
        names.append("must_not_include")
    if case.regex:
        names.append("regex")
    if case.json_schema is not None:
        names.append("json_schema")
    if case.numeric is not None:
        names.append("numeric")
    return tuple(names)


def rule_checks(
    case: EvalCase,
    answer: str,
    settings: ScorerSettings,
    embedder: Embedder | None = None,
) -> list[CheckResult]:
    """Every rule check the case defines, in a stable order."""
    results: list[CheckResult] = []
    cs = settings.case_sensitive
    for name in planned_checks(case, settings, has_embedder=embedder is not None):
        if name == "exact" and case.expected is not None:
            results.append(exact_match(answer, case.expected))
        elif name == "similarity" and case.expected is not None and embedder is not None:
            results.append(
                embedding_similarity(
                    answer, case.expected, embedder, threshold=settings.similarity_threshold
                )
            )
        elif name == "must_include":
            results.append(must_include(answer, case.must_include, case_sensitive=cs))
        elif name == "must_not_include":
            results.append(must_not_include(answer, case.must_not_include, case_sensitive=cs))
        elif name == "regex" and case.regex:
            results.append(regex_match(answer, case.regex))
        elif name == "json_schema" and case.json_schema is not None:
            results.append(json_schema_match(answer, dict(case.json_schema)))
        elif name == "numeric" and case.numeric is not None:
            results.append(
                numeric_match(
                    answer,
                    case.numeric.value,
                    tolerance=case.numeric.tolerance,
                    relative=case.numeric.relative,
                )
            )
    return results


def composite_pass(
    checks: Sequence[CheckResult],
    *,
    judge_score: int | None,
    judge_failure_mode: FailureMode | None,
    settings: ScorerSettings,
) -> bool | None:
    """The documented pass rule (module docstring). ``None`` means unscored."""
    if not checks and judge_score is None:
        return None
    if not all(c.passed for c in checks):
        return False
    if judge_score is not None:
        if judge_score < settings.judge_min_score:
            return False
        if judge_failure_mode in settings.blocking_failure_modes:
            return False
    return True
