"""The eval report as one self-contained HTML file: a chart (inline SVG), a sortable
per-model table (a little inline JS), per-category and per-severity breakdowns, failure
examples side by side and the reproducibility record. Nothing is loaded from elsewhere;
every piece of model output and case text is escaped."""

from __future__ import annotations

import html
from collections.abc import Sequence

from evals.report import EvalReport, ModelSummary, comparisons, find_regressions, summarize
from evals.report_render import (
    failure_examples,
    fmt_ci,
    fmt_ms,
    fmt_pct,
    fmt_usd,
    record_lines,
    report_title,
    result_words,
    status_banner,
    total_cost_text,
)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _svg_chart(summaries: Sequence[ModelSummary]) -> str:
    """Horizontal bars of pass rate with the Wilson interval as a whisker."""
    row, left, width = 28, 160, 420
    height = row * len(summaries) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 60}" '
        f'height="{height}" role="img" aria-label="Pass rate per model with 95% interval">'
    ]
    for i, s in enumerate(summaries):
        y = 10 + i * row
        rate = s.pass_rate.rate or 0.0
        low, high = left + s.pass_rate.low * width, left + s.pass_rate.high * width
        label = f"{_e(s.model)}: {fmt_pct(s.pass_rate.rate)} ({fmt_ci(s.pass_rate)})"
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="12">'
            f"{_e(s.model)}</text>"
            f'<rect x="{left}" y="{y}" width="{rate * width:.1f}" height="18" fill="#4c78a8">'
            f"<title>{label}</title></rect>"
            f'<line x1="{low:.1f}" x2="{high:.1f}" y1="{y + 9}" y2="{y + 9}" '
            'stroke="#222" stroke-width="2"/>'
            f'<text x="{left + width + 6}" y="{y + 15}" font-size="12">'
            f"{fmt_pct(s.pass_rate.rate)}</text>"
        )
    axis_y = 10 + len(summaries) * row
    parts.append(
        f'<line x1="{left}" x2="{left + width}" y1="{axis_y}" y2="{axis_y}" stroke="#999"/>'
        f'<text x="{left}" y="{axis_y + 14}" font-size="10">0%</text>'
        f'<text x="{left + width}" y="{axis_y + 14}" font-size="10" text-anchor="end">100%</text>'
        "</svg>"
    )
    return "".join(parts)


_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var asc = th.getAttribute('data-dir') !== 'asc';
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-dir'); });
    th.setAttribute('data-dir', asc ? 'asc' : 'desc');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute('data-v') || a.cells[col].textContent;
      var y = b.cells[col].getAttribute('data-v') || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var r = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}table.sortable th{cursor:pointer}
th[data-dir=asc]::after{content:" ▲"}th[data-dir=desc]::after{content:" ▼"}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.6rem 1rem;font-weight:bold}
.pass{color:#176317}.fail{color:#a11}.err{color:#8a6d00}pre{white-space:pre-wrap;margin:0;
font-size:12px;max-height:12em;overflow:auto}dl{display:grid;grid-template-columns:16em 1fr}
dt{font-weight:bold}dd{margin:0 0 .3rem 0;word-break:break-word}
"""


def _regressions_html(previous: EvalReport, current: EvalReport) -> list[str]:
    prev = f"run {previous.run_id}" if previous.run_id is not None else "the previous run"
    if previous.record.dataset_version != current.record.dataset_version:
        return [
            f"<h2>Regressions vs {_e(prev)}</h2><p>Not compared: the dataset version changed "
            f"({_e(previous.record.dataset_version)} → {_e(current.record.dataset_version)}).</p>"
        ]
    regs = find_regressions(previous, current)
    out = [f"<h2>Regressions vs {_e(prev)} ({len(regs)})</h2>"]
    if not regs:
        return [*out, "<p>No case that passed before fails now.</p>"]
    out.append("<table><thead><tr><th>Case</th><th>Model</th><th>Before (passed)</th>")
    out.append("<th>Now (fails)</th></tr></thead><tbody>")
    out += [
        f"<tr><td><code>{_e(r.case_id)}</code><br>{_e(r.question)}</td><td>{_e(r.model)}</td>"
        f"<td class='pass'><pre>{_e(r.before)}</pre></td>"
        f"<td class='fail'><pre>{_e(r.now)}</pre></td></tr>"
        for r in regs
    ]
    out.append("</tbody></table>")
    return out


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.6f}"


def to_html(report: EvalReport, previous: EvalReport | None = None) -> str:
    """One self-contained HTML file: no external scripts, styles, fonts or images."""
    summaries = summarize(report)
    k = report.record.samples
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(report_title(report))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(report_title(report))}</h1>",
    ]
    banner = status_banner(report)
    if banner:
        out.append(f"<p class='banner'>{_e(banner)}</p>")
    out.append(
        f"<p>{report.record.case_count} cases × {len(summaries)} models × {k} samples; "
        f"total cost {_e(total_cost_text(report))}.</p>"
    )
    out.append(_svg_chart(summaries))
    heads = [
        "Model",
        "Pass rate",
        "95% CI",
        f"pass@{k}",
        f"pass^{k}",
        "Consistency",
        "Errors",
        "Cost",
        "Cost/case",
        "p50",
        "p95",
        "Tokens in",
        "Tokens out",
    ]
    out.append("<h2>Models</h2><table class='sortable' id='models'><thead><tr>")
    out += [f"<th>{_e(h)}</th>" for h in heads]
    out.append("</tr></thead><tbody>")
    for s in summaries:
        cells = [
            (s.model + ("" if s.valid else " (invalid)"), s.model),
            (
                f"{fmt_pct(s.pass_rate.rate)} ({s.pass_rate.passed}/{s.pass_rate.n})",
                _num(s.pass_rate.rate),
            ),
            (fmt_ci(s.pass_rate), _num(s.pass_rate.low)),
            (fmt_pct(s.pass_at_k), _num(s.pass_at_k)),
            (fmt_pct(s.pass_hat_k), _num(s.pass_hat_k)),
            (fmt_pct(s.consistency), _num(s.consistency)),
            (str(s.errors), str(s.errors)),
            (fmt_usd(s.cost_usd), _num(s.cost_usd)),
            (fmt_usd(s.cost_per_case), _num(s.cost_per_case)),
            (fmt_ms(s.latency_p50_ms), _num(s.latency_p50_ms)),
            (fmt_ms(s.latency_p95_ms), _num(s.latency_p95_ms)),
            (str(s.prompt_tokens), str(s.prompt_tokens)),
            (str(s.completion_tokens), str(s.completion_tokens)),
        ]
        out.append(
            "<tr>" + "".join(f"<td data-v='{_e(v)}'>{_e(t)}</td>" for t, v in cells) + "</tr>"
        )
    out.append("</tbody></table>")
    comps = comparisons(report)
    if comps:
        out.append("<h2>Is the difference real?</h2><ul>")
        out += [
            f"<li><b>{_e(c.a)} vs {_e(c.b)}</b>: {_e(c.verdict)}; difference {c.diff:+.0%} "
            f"(95% CI {c.ci_low:+.0%} to {c.ci_high:+.0%})</li>"
            for c in comps
        ]
        out.append("</ul>")
    if previous is not None:
        out += _regressions_html(previous, report)
    for kind in ("category", "severity"):
        groups = sorted({g for s in summaries for g in getattr(s, f"by_{kind}")})
        if not groups:
            continue
        out.append(f"<h2>By {kind}</h2><table class='sortable'><thead><tr><th>{kind.title()}</th>")
        out += [f"<th>{_e(s.model)}</th>" for s in summaries]
        out.append("</tr></thead><tbody>")
        for g in groups:
            out.append(f"<tr><td>{_e(g)}</td>")
            for s in summaries:
                rate = getattr(s, f"by_{kind}").get(g)
                text = (
                    "–"
                    if rate is None
                    else f"{fmt_pct(rate.rate)} ({rate.passed}/{rate.n}, {fmt_ci(rate)})"
                )
                value = "" if rate is None else _num(rate.rate)
                out.append(f"<td data-v='{value}'>{_e(text)}</td>")
            out.append("</tr>")
        out.append("</tbody></table>")
    examples = failure_examples(report)
    if examples:
        out.append("<h2>Failure examples</h2><table><thead><tr><th>Case</th>")
        out += [f"<th>{_e(m)}</th>" for m in report.model_names]
        out.append("</tr></thead><tbody>")
        for case_id, picked in examples:
            info = report.case(case_id)
            expected = f"<br><i>expected:</i> {_e(info.expected)}" if info and info.expected else ""
            out.append(
                f"<tr><td><code>{_e(case_id)}</code><br>{_e(info.question if info else '')}"
                f"{expected}</td>"
            )
            for m in report.model_names:
                r = picked[m]
                css = "err" if r is None or r.error else "pass" if r.passed else "fail"
                out.append(f"<td class='{css}'><pre>{_e(result_words(r))}</pre></td>")
            out.append("</tr>")
        out.append("</tbody></table>")
    out.append("<h2>Reproducibility record</h2><dl>")
    out += [f"<dt>{_e(key)}</dt><dd>{_e(value)}</dd>" for key, value in record_lines(report)]
    out.append(f"</dl><script>{_SORT_JS}</script></body></html>")
    return "\n".join(out)
