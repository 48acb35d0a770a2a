"""The consensus over a panel's answers, and a confidence that is a probability.

Reading order: :mod:`~evals.consensus.final_answer` reads the final answer an answer
commits to; :mod:`~evals.consensus.wording` what its words say (non-answers, hedges,
key facts); :mod:`~evals.consensus.agreement` clusters the panel once;
:mod:`~evals.consensus.features` turns that clustering into the calibrator's features and
the pick; :mod:`~evals.consensus.calibrator` maps features to "probability this answer is
right"; :mod:`~evals.consensus.decision` puts it together (:func:`build_consensus`).
Fitting and judging the calibrator: :mod:`~evals.consensus.calibrator_fit`,
:mod:`~evals.consensus.quality_metrics`, :mod:`~evals.consensus.refit`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evals.lazy_exports import exported

if TYPE_CHECKING:
    from evals.consensus.agreement import PanelAnalysis, analyse_panel
    from evals.consensus.calibrator import Calibrator, default_calibrator, load_calibrator
    from evals.consensus.calibrator_fit import FitReport, LabelledPanel, fit_calibrator
    from evals.consensus.decision import build_consensus, prepare_answer
    from evals.consensus.final_answer import FinalAnswer, extract_final
    from evals.consensus.quality_metrics import QualityMetrics, summarise
    from evals.consensus.recorded_panels import consensus_record, parse_recorded_line
    from evals.consensus.refit import RefitResult, refit_calibrator

_MODULES = {
    "agreement": ("PanelAnalysis", "analyse_panel"),
    "calibrator": ("Calibrator", "default_calibrator", "load_calibrator"),
    "calibrator_fit": ("FitReport", "LabelledPanel", "fit_calibrator"),
    "decision": ("build_consensus", "prepare_answer"),
    "final_answer": ("FinalAnswer", "extract_final"),
    "quality_metrics": ("QualityMetrics", "summarise"),
    "recorded_panels": ("consensus_record", "parse_recorded_line"),
    "refit": ("RefitResult", "refit_calibrator"),
}

__all__ = [
    "Calibrator",
    "FinalAnswer",
    "FitReport",
    "LabelledPanel",
    "PanelAnalysis",
    "QualityMetrics",
    "RefitResult",
    "analyse_panel",
    "build_consensus",
    "consensus_record",
    "default_calibrator",
    "extract_final",
    "fit_calibrator",
    "load_calibrator",
    "parse_recorded_line",
    "prepare_answer",
    "refit_calibrator",
    "summarise",
]


def __getattr__(name: str) -> object:
    return exported(__name__, name, _MODULES)
