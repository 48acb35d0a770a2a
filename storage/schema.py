"""Every table module, imported so ``Base.metadata`` is complete (Alembic, tests).

Add one import line per new table module.
"""

from storage import case_tables as case_tables
from storage import eval_tables as eval_tables
from storage import job_tables as job_tables
from storage import tables as tables
from storage.base import Base

metadata = Base.metadata

__all__ = ["metadata"]
