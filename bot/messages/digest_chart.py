"""The digest's chart: weekly eval pass rate and 👍 rate per model, as PNG bytes.

matplotlib with the non-interactive Agg backend (no display, thread-safe through the
object API: no pyplot state is touched).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from evals.digest.week_data import HistoryPoint

DPI = 110


def chart_weeks(history: Sequence[HistoryPoint], weeks: Sequence[str] = ()) -> list[str]:
    """The weeks the chart shows: those with some data, in ``weeks``' order (then any
    others from the history)."""
    has_data = {p.week for p in history if p.pass_rate is not None or p.thumbs_rate is not None}
    return [w for w in dict.fromkeys([*weeks, *(p.week for p in history)]) if w in has_data]


def chart_png(
    history: Sequence[HistoryPoint], *, weeks: Sequence[str] = (), title: str = ""
) -> bytes:
    """Two panels sharing the week axis: eval pass rate (top) and 👍 rate (bottom).

    ``weeks`` orders the x axis (oldest first); only weeks with some data are drawn, so
    the axis never starts with empty weeks. Weeks with no data for a model leave a gap in
    its line. Models are drawn side by side with their own markers, so equal values never
    hide each other. An empty history still gives a (labelled) image so the digest never
    fails for want of a chart.
    """
    # Lazy: matplotlib takes ~0.35 s to import and only the digest's chart needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    weeks = chart_weeks(history, weeks)
    models = sorted({p.model for p in history if p.week in weeks})
    figure = Figure(figsize=(8, 5.5), dpi=DPI)
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True)
    index = {w: i for i, w in enumerate(weeks)}
    markers = "osD^vP*X"
    for number, model in enumerate(models):
        points = sorted(
            (p for p in history if p.model == model and p.week in index),
            key=lambda p: index[p.week],
        )
        offset = (number - (len(models) - 1) / 2) * min(0.08, 0.4 / max(len(models), 1))
        xs = [index[p.week] + offset for p in points]
        marker = markers[number % len(markers)]
        evals_ = [p.pass_rate * 100 if p.pass_rate is not None else float("nan") for p in points]
        thumbs = [
            p.thumbs_rate * 100 if p.thumbs_rate is not None else float("nan") for p in points
        ]
        (line,) = top.plot(xs, evals_, marker=marker, markersize=6, alpha=0.85, label=model)
        bottom.plot(
            xs, thumbs, marker=marker, markersize=6, alpha=0.85, color=line.get_color(), label=model
        )
    top.set_ylabel("eval pass rate (%)")
    bottom.set_ylabel("thumbs-up rate (%)")
    for axis in (top, bottom):
        axis.set_ylim(-5, 105)
        axis.set_xlim(-0.5, max(len(weeks), 1) - 0.5)
        axis.grid(True, alpha=0.3)
    bottom.set_xticks(range(len(weeks)), weeks, rotation=30, ha="right", fontsize=8)
    if models:
        top.legend(loc="lower left", fontsize=8, ncols=min(4, len(models)))
    else:
        top.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=top.transAxes)
    figure.suptitle(title or "Weekly pass rate and thumbs-up rate per model")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
