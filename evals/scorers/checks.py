"""The check functions behind each assertion type, and the pass rule.

Each check is a pure function ``(answer, ...) -> CheckResult`` with a score in [0, 1];
:mod:`evals.scorers.registry` maps assertion types to them through the ``Scorer`` registry.

The pass rule (promptfoo's, documented in docs/eval-runs.md), :func:`case_passes`:

* every assertion gives a score in [0, 1] and a pass; one with ``weight`` 0 is reported
  but always passes;
* the case's score is the weighted mean of its assertions' scores;
* without a case ``threshold`` the case passes when every assertion passes; with one, it
  passes when its score reaches the threshold;
* a case with nothing to score it is *unscored* (``None``), never a silent pass.

The LLM judge's verdict passes (:func:`judge_passes`) when the judge itself says
``pass: true``, its 1–5 score is at least ``ScorerSettings.judge_min_score`` (default 4)
and its failure mode is not one of ``ScorerSettings.blocking_failure_modes`` (default:
``unsafe``). The judge's ``pass`` wins over its score: ``{"score": 4, "pass": false}``
is a fail, and a verdict whose score and ``pass`` disagree never passes.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from evals.cases.schema import FailureMode
from evals.protocols import Embedder

ExpectedCheck = Literal["similarity", "exact", "none"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one answer. ``score`` is in [0, 1] where it means
    something (similarity, share of terms found); ``detail`` says why, in plain words."""

    name: str
    passed: bool
    score: float | None = None
    detail: str = ""
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            name=str(data["name"]),
            passed=bool(data["passed"]),
            score=None if data.get("score") is None else float(data["score"]),
            detail=str(data.get("detail", "")),
            weight=float(data.get("weight", 1.0)),
        )


@dataclass(frozen=True)
class ScorerSettings:
    """How answers are scored; recorded with every run for reproducibility."""

    #: How ``case.expected`` is checked when the case has no ``similar``/``equals``
    #: assertion of its own: a default ``similar`` (needs an embedder), a default
    #: ``equals``, or ``none`` (left to the judge).
    expected_check: ExpectedCheck = "similarity"
    similarity_threshold: float = 0.75
    judge_min_score: int = 4
    blocking_failure_modes: tuple[FailureMode, ...] = (FailureMode.UNSAFE,)

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
        )


_PUNCT_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_SPACES = re.compile(r"\s+")


def normalize(text: str, *, case_sensitive: bool = False) -> str:
    """Unicode NFKC, collapsed whitespace, trimmed punctuation at both ends, casefolded."""
    text = unicodedata.normalize("NFKC", text)
    text = _SPACES.sub(" ", text).strip()
    text = _PUNCT_EDGES.sub("", text)
    return text if case_sensitive else text.casefold()


def equals(answer: str, expected: str) -> CheckResult:
    """Passes when the answer is exactly ``expected`` (promptfoo's ``equals``)."""
    ok = answer == expected
    detail = "equals the expected text" if ok else f"differs from the expected {expected!r}"
    return CheckResult("equals", ok, 1.0 if ok else 0.0, detail)


def contains(answer: str, term: str, *, ignore_case: bool = False) -> CheckResult:
    """Passes when ``term`` is in the answer: verbatim (``contains``), or with case,
    Unicode forms and spacing normalized (``icontains``)."""
    ok = normalize(term) in normalize(answer) if ignore_case else term in answer
    name = "icontains" if ignore_case else "contains"
    return CheckResult(name, ok, 1.0 if ok else 0.0, ("has " if ok else "missing: ") + repr(term))


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


def json_check(answer: str, schema: dict[str, Any] | None, *, whole: bool) -> CheckResult:
    """``is-json`` (``whole``: the answer, trimmed, is JSON) or ``contains-json`` (JSON
    anywhere: whole, fenced or inside prose); valid against ``schema`` when given."""
    name = "is-json" if whole else "contains-json"
    try:
        value = json.loads(answer.strip()) if whole else extract_json(answer)
    except ValueError:
        where = "the answer is not JSON" if whole else "no valid JSON in the answer"
        return CheckResult(name, False, 0.0, where)
    if schema is None:
        return CheckResult(name, True, 1.0, "valid JSON")
    # Lazy: jsonschema takes ~0.1 s to import; only a JSON-schema check needs it.
    import jsonschema

    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
        error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(value))
    except jsonschema.exceptions.SchemaError as exc:
        return CheckResult(name, False, 0.0, f"the case's schema is invalid: {exc.message}")
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return CheckResult(name, False, 0.0, f"at {where}: {error.message}")
    return CheckResult(name, True, 1.0, "valid JSON matching the schema")


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


def inverted(result: CheckResult, name: str) -> CheckResult:
    """The ``not-`` form of a check: passes when the check fails (score 1 - score)."""
    score = None if result.score is None else 1.0 - result.score
    detail = ("not: " if result.passed else "as required, not: ") + result.detail
    return CheckResult(name, not result.passed, score, detail, result.weight)


def judge_passes(
    score: int, failure_mode: FailureMode | None, settings: ScorerSettings, *, passed: bool
) -> bool:
    """Whether a judge verdict passes: the judge's own ``passed`` is true, the score is
    high enough and there is no blocking failure mode. The judge's ``pass`` wins over its
    score (``{"score": 4, "pass": false}`` fails), so a verdict whose score and ``pass``
    disagree never passes."""
    return (
        passed
        and score >= settings.judge_min_score
        and failure_mode not in settings.blocking_failure_modes
    )


def case_score(checks: Sequence[CheckResult]) -> float:
    """The weighted mean of the checks' scores (0 when the weights sum to 0)."""
    total = sum(c.weight for c in checks)
    if total <= 0:
        return 0.0
    return sum((c.score or 0.0) * c.weight for c in checks) / total


def case_passes(checks: Sequence[CheckResult], threshold: float | None = None) -> bool | None:
    """The pass rule (module docstring). ``None`` means unscored."""
    if not checks:
        return None
    if threshold is not None:
        return case_score(checks) >= threshold
    return all(c.passed for c in checks)
