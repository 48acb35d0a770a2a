"""The only form in which storage takes a case: :class:`RedactedCase`.

mypy refuses a plain :class:`EvalCase` where storage wants one (proved by
``tests/type_checks/unredacted_cases.py``, which the project's mypy run checks); these
tests prove the run-time half: only :mod:`evals.cases.redaction` makes one, and what it
holds cannot change afterwards.
"""

from __future__ import annotations

import copy

import pytest

from evals.cases import redaction
from evals.cases.redaction import RedactedCase, redacted, unredacted_by_request
from evals.cases.schema import CaseInput, EvalCase

QUESTION = "Why is AKIAZ7Q3XK4M2PLR9TWV refused? Ask ana@example.com"


def _case() -> EvalCase:
    return EvalCase(
        id="c1", input=CaseInput(question=QUESTION), expected="Card 4539 1488 0343 6467"
    )


def test_redacted_redacts_with_the_configured_patterns() -> None:
    case = _case().model_copy(update={"tags": ["E-123456"]})
    stored = redacted(
        case.model_copy(update={"expected": "Employee E-123456 owns it"}),
        {"employee_id": r"E-\d{6}"},
    )
    assert stored.id == "c1" and not stored.waived
    assert stored.case.input.question == "Why is <API_KEY_1> refused? Ask <EMAIL_1>"
    assert stored.case.expected == "Employee <EMPLOYEE_ID_1> owns it"
    assert stored.case.tags == ["E-123456"]  # labels are not free text: kept


def test_only_the_redaction_module_makes_one() -> None:
    case = _case()
    with pytest.raises(TypeError, match="comes only from"):
        RedactedCase(case, seal=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RedactedCase(case)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="cannot be subclassed"):

        class Sneaky(RedactedCase):  # type: ignore[misc]
            pass

    # the seal is private to the module (ruff's TID251 refuses to import it elsewhere)
    assert isinstance(RedactedCase(case, seal=redaction._SEAL), RedactedCase)  # noqa: TID251


def test_what_it_holds_cannot_be_changed_after_redaction() -> None:
    original = _case()
    stored = redacted(original)
    original.tags.append("added later")
    leaked = stored.case
    leaked.expected = "AKIAZ7Q3XK4M2PLR9TWV"
    leaked.tags.append("changed")
    assert stored.case.expected == "Card <CARD_1>" and stored.case.tags == []
    with pytest.raises(AttributeError, match="cannot be changed"):
        stored._case = original
    with pytest.raises(AttributeError, match="cannot be changed"):
        del stored._case
    assert copy.copy(stored) is stored and copy.deepcopy([stored])[0] is stored


def test_unredacted_by_request_keeps_the_text_and_says_so() -> None:
    case = _case()
    kept = unredacted_by_request(case)
    assert kept.waived and kept.case == case
    assert kept != redacted(case) and redacted(case) == redacted(case)
