"""Eval case checks become typed assertions (promptfoo's vocabulary), plus a case threshold.

The fixed check fields (``checks`` JSON: must_include, must_not_include, regex,
json_schema, numeric; and ``rubric``) become a list of assertions that check exactly the
same things. Nothing is lost: each old check has an assertion with the same meaning.

==================  ==================================================================
old                 assertion
==================  ==================================================================
must_include        ``icontains`` per term (the old match ignored case)
must_not_include    ``not-icontains`` per term
regex               ``regex``
json_schema         ``contains-json`` (the old check found JSON in prose and fences too);
                    ``{}`` (any JSON) becomes no schema
numeric             ``numeric`` ({value, tolerance, relative})
rubric              ``llm-rubric`` (the judge's notes)
==================  ==================================================================

The downgrade turns them back and refuses (changing nothing) when a case holds what the
old columns cannot: another assertion type, a weight, a threshold, two regexes, ...

Revision ID: 0006_case_assertions
Revises: 0005_run_prompts
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006_case_assertions"
down_revision = "0005_run_prompts"
branch_labels = None
depends_on = None

_cases = sa.table(
    "cases",
    sa.column("id", sa.String),
    sa.column("checks", sa.JSON),
    sa.column("rubric", sa.Text),
    sa.column("assertions", sa.JSON),
    sa.column("threshold", sa.Float),
)


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def to_assertions(checks: dict[str, Any] | None, rubric: str | None) -> list[dict[str, Any]]:
    """The assertions testing what the old fields tested (weight 1, no threshold)."""
    checks = checks or {}
    out: list[dict[str, Any]] = []

    def add(kind: str, value: Any) -> None:
        out.append({"type": kind, "value": value, "threshold": None, "weight": 1.0})

    for term in checks.get("must_include") or []:
        add("icontains", term)
    for term in checks.get("must_not_include") or []:
        add("not-icontains", term)
    if checks.get("regex") is not None:
        add("regex", checks["regex"])
    if checks.get("json_schema") is not None:
        add("contains-json", checks["json_schema"] or None)
    if checks.get("numeric") is not None:
        numeric = dict(checks["numeric"])
        add(
            "numeric",
            {
                "value": float(numeric["value"]),
                "tolerance": float(numeric.get("tolerance", 0.0)),
                "relative": bool(numeric.get("relative", False)),
            },
        )
    if rubric is not None:
        add("llm-rubric", rubric)
    return out


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("assertions", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("threshold", sa.Float(), nullable=True))
    conn = op.get_bind()
    for case_id, checks, rubric in conn.execute(
        sa.select(_cases.c.id, _cases.c.checks, _cases.c.rubric)
    ).all():
        conn.execute(
            _cases.update()
            .where(_cases.c.id == case_id)
            .values(assertions=to_assertions(_loaded(checks), rubric))
        )
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("assertions", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("checks")
        batch.drop_column("rubric")


class _NotRepresentable(Exception):
    pass


def from_assertions(
    assertions: list[dict[str, Any]], threshold: float | None
) -> tuple[dict[str, Any], str | None]:
    """The old ``checks`` and ``rubric`` for a case, or :class:`_NotRepresentable`."""
    if threshold is not None:
        raise _NotRepresentable("a case threshold")
    checks: dict[str, Any] = {
        "must_include": [],
        "must_not_include": [],
        "regex": None,
        "json_schema": None,
        "numeric": None,
    }
    rubric: str | None = None
    for a in assertions:
        kind, value = a["type"], a.get("value")
        if float(a.get("weight", 1.0)) != 1.0 or a.get("threshold") is not None:
            raise _NotRepresentable(f"a weight or threshold on {kind}")
        if kind == "icontains":
            checks["must_include"].append(value)
        elif kind == "not-icontains":
            checks["must_not_include"].append(value)
        elif kind == "regex" and checks["regex"] is None:
            checks["regex"] = value
        elif kind == "contains-json" and checks["json_schema"] is None:
            checks["json_schema"] = value or {}
        elif kind == "numeric" and checks["numeric"] is None:
            checks["numeric"] = value
        elif kind == "llm-rubric" and rubric is None:
            rubric = value
        else:
            raise _NotRepresentable(f"a {kind} assertion")
    return checks, rubric


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_cases.c.id, _cases.c.assertions, _cases.c.threshold).order_by(_cases.c.id)
    ).all()
    old: dict[str, tuple[dict[str, Any], str | None]] = {}
    problems: list[str] = []
    for case_id, assertions, threshold in rows:
        try:
            old[case_id] = from_assertions(_loaded(assertions) or [], threshold)
        except _NotRepresentable as exc:
            problems.append(f"{case_id} ({exc})")
    if problems:
        raise RuntimeError(
            "cannot downgrade below 0006_case_assertions without losing checks: the old "
            "schema cannot hold " + "; ".join(problems) + ". Export the cases first "
            "(quorum cases export), or edit those cases."
        )
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("checks", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("rubric", sa.Text(), nullable=True))
    for case_id, (checks, rubric) in old.items():
        conn.execute(
            _cases.update().where(_cases.c.id == case_id).values(checks=checks, rubric=rubric)
        )
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("checks", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("threshold")
        batch.drop_column("assertions")
