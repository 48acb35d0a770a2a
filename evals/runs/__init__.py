"""An eval run: cases × models × samples (:mod:`~evals.runs.runner`), the report it
returns (:mod:`~evals.runs.report`) and the report as Markdown, JSON
(:mod:`~evals.runs.report_render`) or one HTML file (:mod:`~evals.runs.report_html`).
The runner returns a report; the caller decides to store it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evals.lazy_exports import exported

if TYPE_CHECKING:
    from evals.runs.report import EvalReport, RunStatus, SampleResult
    from evals.runs.runner import RunConfig, run_eval

_MODULES = {
    "report": ("EvalReport", "RunStatus", "SampleResult"),
    "runner": ("RunConfig", "run_eval"),
}

__all__ = ["EvalReport", "RunConfig", "RunStatus", "SampleResult", "run_eval"]


def __getattr__(name: str) -> object:
    return exported(__name__, name, _MODULES)
