"""A workspace's data as a whole: what Quorum keeps of one Slack workspace, and deleting
it when the workspace uninstalls Quorum and ``QUORUM_UNINSTALL_DATA=delete``.

Today a workspace's own rows are its panel runs (``panel_runs.team_id``), everything
hanging off them (answers, signals, corrections, votes) and the eval cases proposed from
them (with their history). Imported cases, eval runs and the schedule's bookkeeping
belong to the deployment, not to a workspace, and stay.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.tables.cases import CaseEventRow, CaseRow
from storage.tables.panel_runs import AnswerRow, CorrectionRow, PanelRunRow, SignalRow, VoteRow


def delete_workspace_data(session: Session, workspace_id: str) -> dict[str, int]:
    """Delete every row of workspace ``workspace_id`` (a Slack team id, or an Enterprise
    Grid org id for an org-wide install) in the session's transaction; returns the rows
    deleted per table (tables with none included, as 0). Children go first, so the
    result is the same whether or not the database enforces its foreign keys."""
    if not workspace_id:
        raise ValueError("a workspace id is required")
    runs = select(PanelRunRow.id).where(PanelRunRow.team_id == workspace_id).scalar_subquery()
    cases = select(CaseRow.id).where(CaseRow.source_run_id.in_(runs)).scalar_subquery()
    statements = (
        ("case_events", delete(CaseEventRow).where(CaseEventRow.case_id.in_(cases))),
        ("cases", delete(CaseRow).where(CaseRow.source_run_id.in_(runs))),
        ("votes", delete(VoteRow).where(VoteRow.run_id.in_(runs))),
        ("corrections", delete(CorrectionRow).where(CorrectionRow.run_id.in_(runs))),
        ("signals", delete(SignalRow).where(SignalRow.run_id.in_(runs))),
        ("answers", delete(AnswerRow).where(AnswerRow.run_id.in_(runs))),
        ("panel_runs", delete(PanelRunRow).where(PanelRunRow.team_id == workspace_id)),
    )
    deleted: dict[str, int] = {}
    for table, statement in statements:
        result = session.execute(statement.execution_options(synchronize_session=False))
        deleted[table] = int(getattr(result, "rowcount", 0) or 0)
    return deleted
