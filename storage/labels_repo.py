"""What people's 👍, 👎 and corrections say about answers: one rule, two uses.

The rule (:attr:`Verdict.correct`): an answer anyone corrected is wrong; otherwise the
sign of 👍 − 👎 decides; a tie is no label. Flags are never labels (they mean "look at
this"), and retracted signals do not count. A signal or correction on the result
message, or on the consensus member's own thread reply, judges the served consensus.

- :func:`production_labels`: the served consensus of each judged run, with the features
  the confidence was computed from (to refit and check the calibrator).
- :func:`labelled_answers`: every judged answer as question/answer/label (to check the
  LLM judge against people, `quorum judge calibrate`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from evals.records import ConsensusStatus
from evals.scorers.judge import LabelledAnswer
from storage.records import AnswerRole, ProductionLabel, SignalKind
from storage.tables.panel_runs import AnswerRow, CorrectionRow, PanelRunRow, SignalRow


@dataclass
class Verdict:
    """People's verdict on one answer: the consensus (``answer_id`` None) or one member's."""

    run_id: int
    answer_id: int | None
    ups: int = 0
    downs: int = 0
    corrections: int = 0
    expected: str | None = None  # the latest correction's answer

    @property
    def correct(self) -> bool | None:
        if self.corrections:
            return False
        if self.ups == self.downs:
            return None
        return self.ups > self.downs


def verdicts(
    session: Session, runs: Collection[int] | None = None, *, workspace: str
) -> list[Verdict]:
    """Every answer people of ``workspace`` judged (of ``runs``, or all), by run then
    answer; ties included (their ``correct`` is None)."""
    signals = select(SignalRow.run_id, SignalRow.answer_id, SignalRow.kind).where(
        SignalRow.workspace_id == workspace,
        SignalRow.retracted_at.is_(None),
        SignalRow.kind.in_([SignalKind.UP.value, SignalKind.DOWN.value]),
    )
    corrections = (
        select(CorrectionRow.run_id, CorrectionRow.answer_id, CorrectionRow.correct_answer)
        .where(CorrectionRow.workspace_id == workspace)
        .order_by(CorrectionRow.id)
    )
    if runs is not None:
        signals = signals.where(SignalRow.run_id.in_(runs))
        corrections = corrections.where(CorrectionRow.run_id.in_(runs))
    signal_rows = session.execute(signals).all()
    correction_rows = session.execute(corrections).all()
    judged_runs = {r.run_id for r in signal_rows} | {r.run_id for r in correction_rows}
    if not judged_runs:
        return []
    consensus_member = dict(
        session.execute(
            select(PanelRunRow.id, PanelRunRow.consensus_member).where(
                PanelRunRow.workspace_id == workspace, PanelRunRow.id.in_(judged_runs)
            )
        ).all()
    )
    consensus_answer: dict[int, int] = {}
    for member_answer, member_run, member in session.execute(
        select(AnswerRow.id, AnswerRow.run_id, AnswerRow.member).where(
            AnswerRow.workspace_id == workspace,
            AnswerRow.run_id.in_(judged_runs),
            AnswerRow.role == AnswerRole.PANEL.value,
        )
    ):
        if member == consensus_member.get(member_run):
            consensus_answer[member_run] = member_answer

    found: dict[tuple[int, int | None], Verdict] = {}

    def verdict(run_id: int, answer_id: int | None) -> Verdict:
        on_consensus = answer_id is None or consensus_answer.get(run_id) == answer_id
        key = (run_id, None if on_consensus else answer_id)
        if key not in found:
            found[key] = Verdict(*key)
        return found[key]

    for run_id, answer_id, kind in signal_rows:
        v = verdict(run_id, answer_id)
        if kind == SignalKind.UP.value:
            v.ups += 1
        else:
            v.downs += 1
    for run_id, answer_id, text in correction_rows:
        v = verdict(run_id, answer_id)
        v.corrections += 1
        v.expected = text
    return [found[k] for k in sorted(found, key=lambda k: (k[0], k[1] or 0))]


def production_labels(
    session: Session,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    workspace: str,
) -> list[ProductionLabel]:
    """``workspace``'s served consensus answers people judged (runs created in
    ``[since, until)``), by run."""
    query = select(PanelRunRow).where(
        PanelRunRow.workspace_id == workspace,
        PanelRunRow.status.in_([ConsensusStatus.OK.value, ConsensusStatus.SINGLE.value]),
        PanelRunRow.consensus_member.is_not(None),
    )
    for bound in (since, until):
        if bound is not None and bound.tzinfo is None:
            raise ValueError("naive datetime; use timezone-aware UTC")
    if since is not None:
        query = query.where(PanelRunRow.created_at >= since)
    if until is not None:
        query = query.where(PanelRunRow.created_at < until)
    runs = {r.id: r for r in session.scalars(query)}
    labels = []
    for v in verdicts(session, runs, workspace=workspace) if runs else []:
        correct = v.correct
        if v.answer_id is not None or correct is None:
            continue
        run = runs[v.run_id]
        labels.append(
            ProductionLabel(
                run_id=run.id,
                created_at=run.created_at,
                features=dict(run.features),
                raw_confidence=run.raw_confidence,
                confidence=run.confidence,
                calibrator_id=run.calibrator_id,
                ups=v.ups,
                downs=v.downs,
                corrections=v.corrections,
                correct=correct,
                agreeing=next(
                    (tuple(c) for c in run.clusters or [] if run.consensus_member in c),
                    (run.consensus_member,) if run.consensus_member else (),
                ),
            )
        )
    return labels


def labelled_answers(
    session: Session, *, workspace: str, limit: int = 1000
) -> list[LabelledAnswer]:
    """Every answer people of ``workspace`` judged, newest run first, as the judge's
    calibration data: a corrected answer is a fail with the correction as the expected
    answer."""
    judged = [v for v in verdicts(session, workspace=workspace) if v.correct is not None]
    judged.sort(key=lambda v: (-v.run_id, v.answer_id or 0))
    judged = judged[:limit]
    if not judged:
        return []
    runs = {
        r.id: r
        for r in session.scalars(
            select(PanelRunRow).where(
                PanelRunRow.workspace_id == workspace,
                PanelRunRow.id.in_({v.run_id for v in judged}),
            )
        )
    }
    texts = dict(
        session.execute(
            select(AnswerRow.id, AnswerRow.text).where(
                AnswerRow.workspace_id == workspace,
                AnswerRow.id.in_({v.answer_id for v in judged if v.answer_id is not None}),
            )
        ).all()
    )
    out: list[LabelledAnswer] = []
    for v in judged:
        run = runs.get(v.run_id)
        if v.answer_id is None:
            text = run.consensus_text if run else None
        else:
            text = texts.get(v.answer_id)
        if run is None or not text or v.correct is None:
            continue
        source = f"production run {v.run_id}" + (f" answer {v.answer_id}" if v.answer_id else "")
        expected = v.expected if v.corrections else None
        out.append(LabelledAnswer(run.question, text, v.correct, expected, None, source))
    return out
