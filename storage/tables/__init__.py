"""Every table, one module per concept, and the one ``metadata`` Alembic and tests read.

Importing this package imports every table module, so ``Base.metadata`` is complete.
Add one import line per new table module.
"""

from storage.tables import (
    cases,
    demand,
    eval_runs,
    jobs,
    panel_runs,
    slack_installations,
    workspaces,
)
from storage.tables.base import Base

metadata = Base.metadata

__all__ = [
    "Base",
    "cases",
    "demand",
    "eval_runs",
    "jobs",
    "metadata",
    "panel_runs",
    "slack_installations",
    "workspaces",
]
