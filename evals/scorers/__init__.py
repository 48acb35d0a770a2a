"""Scoring an answer against a case: one :class:`Scorer` protocol, a registry keyed by
assertion type (:mod:`~evals.scorers.registry`), the rule checks behind each type and the
pass rule (:mod:`~evals.scorers.checks`), and the LLM judge (:mod:`~evals.scorers.judge`),
one scorer among the others. A new scorer: a class in ``registry.py`` and its assertion
type in :mod:`evals.cases.assertions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evals.lazy_exports import exported

if TYPE_CHECKING:
    from evals.scorers.checks import ScorerSettings, case_passes, case_score
    from evals.scorers.judge import Judge, JudgeVerdict
    from evals.scorers.registry import ScoreContext, ScoredAnswer, Scorer, score_answer

_MODULES = {
    "checks": ("ScorerSettings", "case_passes", "case_score"),
    "judge": ("Judge", "JudgeVerdict"),
    "registry": ("ScoreContext", "ScoredAnswer", "Scorer", "score_answer"),
}

__all__ = [
    "Judge",
    "JudgeVerdict",
    "ScoreContext",
    "ScoredAnswer",
    "Scorer",
    "ScorerSettings",
    "case_passes",
    "case_score",
    "score_answer",
]


def __getattr__(name: str) -> object:
    return exported(__name__, name, _MODULES)
