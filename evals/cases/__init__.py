"""Private eval cases: what one is, the sets they form, the files they travel in.

:mod:`~evals.cases.schema` (an :class:`EvalCase`), :mod:`~evals.cases.assertions` (what a
case checks, in promptfoo's vocabulary), :mod:`~evals.cases.sets` (golden and rotating
sets, versions, duplicates), :mod:`~evals.cases.file_formats` (JSONL, YAML, promptfoo) and
:mod:`~evals.cases.redaction`, the one place secrets and PII are taken out of anything
that becomes a case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evals.lazy_exports import exported

if TYPE_CHECKING:
    from evals.cases.assertions import Assertion, AssertionType
    from evals.cases.file_formats import CaseFormat, dump_cases, load_cases
    from evals.cases.redaction import RedactedCase, Redactor, redact_case, redact_text, redacted
    from evals.cases.schema import CaseInput, CaseSet, CaseSource, CaseStatus, EvalCase
    from evals.cases.sets import CasePolicy, RotationPolicy, dataset_version

_MODULES = {
    "assertions": ("Assertion", "AssertionType"),
    "file_formats": ("CaseFormat", "dump_cases", "load_cases"),
    "redaction": ("RedactedCase", "Redactor", "redact_case", "redact_text", "redacted"),
    "schema": ("CaseInput", "CaseSet", "CaseSource", "CaseStatus", "EvalCase"),
    "sets": ("CasePolicy", "RotationPolicy", "dataset_version"),
}

__all__ = [
    "Assertion",
    "AssertionType",
    "CaseFormat",
    "CaseInput",
    "CasePolicy",
    "CaseSet",
    "CaseSource",
    "CaseStatus",
    "EvalCase",
    "RedactedCase",
    "Redactor",
    "RotationPolicy",
    "dataset_version",
    "dump_cases",
    "load_cases",
    "redact_case",
    "redact_text",
    "redacted",
]


def __getattr__(name: str) -> object:
    return exported(__name__, name, _MODULES)
