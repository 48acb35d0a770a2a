"""mypy refuses to store an unredacted case.

Each line marked ``# type: ignore[...]`` is a mistake mypy must reject. The project's
mypy settings warn about unused ignores (``warn_unused_ignores``), so the day one of
these lines type-checks (storage accepting a plain :class:`EvalCase`, or a
:class:`RedactedCase` made without the redaction module's seal), `mypy` fails.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from evals.cases.redaction import RedactedCase, redacted, unredacted_by_request
from evals.cases.schema import EvalCase
from evals.protocols import Embedder
from storage import case_repo
from tests.fakes.slack_requests import TEAM_ID


def unredacted_cases_are_refused(session: Session, case: EvalCase, embedder: Embedder) -> None:
    plain: list[EvalCase] = [case]
    case_repo.add_cases(session, plain, actor=None, workspace=TEAM_ID)  # type: ignore[arg-type]
    case_repo.add_cases(session, [case], actor=None, workspace=TEAM_ID)  # type: ignore[list-item]
    case_repo.propose_case(session, case, embedder, actor=None, workspace=TEAM_ID)  # type: ignore[arg-type]
    RedactedCase(case)  # type: ignore[call-arg]
    RedactedCase(case, seal=object())  # type: ignore[arg-type]
    RedactedCase(case, seal=None)  # type: ignore[arg-type]


def redacted_cases_are_stored(session: Session, case: EvalCase, embedder: Embedder) -> None:
    case_repo.add_cases(
        session, [redacted(case, {"employee_id": r"E-\d{6}"})], actor=None, workspace=TEAM_ID
    )
    case_repo.add_cases(session, [unredacted_by_request(case)], actor=None, workspace=TEAM_ID)
    case_repo.propose_case(session, redacted(case), embedder, actor=None, workspace=TEAM_ID)
