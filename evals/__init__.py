"""Quorum's domain: panel fan-out, consensus, calibration, cases, scoring and statistics.

Pure Python over small Protocols (see :mod:`evals.ports`). Imports neither ``bot`` nor
``storage``; only the model clients (:mod:`evals.litellm_client`,
:mod:`evals.openai_compatible`) and :mod:`evals.embedder` touch vendors.
"""

__version__ = "0.1.0"
