"""Terminal renderings of a panel run and its consensus (rich), and its JSON form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import unescape
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.messages import result_text
from evals import money
from evals.records import Consensus, ConsensusStatus, ModelAnswer, PanelRun


def fmt_latency(ms: int | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.1f} s"


def fmt_cost(usd: float | None) -> str:
    return money.usd(usd, unknown="—")


def progress_table(names: Sequence[str], arrived: Mapping[str, ModelAnswer]) -> Table:
    table = Table.grid(padding=(0, 1))
    for name in names:
        answer = arrived.get(name)
        if answer is None:
            table.add_row("⏳", escape(name), "[dim]waiting…[/dim]")
        elif answer.ok:
            table.add_row("✅", escape(name), fmt_latency(answer.latency_ms))
        else:
            kind = answer.error.value if answer.error else "error"
            table.add_row("❌", escape(name), f"[red]{kind}[/red]")
    return table


def consensus_panel(run: PanelRun, consensus: Consensus) -> Panel:
    """The verdict as the panel's title, what the number means, then the answer."""
    usable, asked = len(run.usable), len(run.answers)
    verdict = _plain(result_text.verdict_line(consensus, usable, asked))
    if consensus.status is ConsensusStatus.NONE:
        body: list[Any] = []
        for answer in run.answers:
            if not answer.ok:
                body.append(Text("• " + _plain(result_text.failure_line(answer)).lstrip("⚠️ ")))
        return Panel(
            Group(*body) if body else Text(""),
            title=Text(verdict, style="bold"),
            title_align="left",
            border_style="red",
        )
    style = {"high": "green", "medium": "yellow"}.get(consensus.label, "red")
    body = []
    meaning = consensus.meaning
    if meaning:
        body.append(Text(meaning, style="dim"))
    why = result_text.why_line(consensus, usable, asked)
    if why:
        body.append(Text(why, style="dim"))
    if body:
        body.append(Text(""))
    body.append(Text(consensus.text or ""))
    agreeing = result_text.agreeing_members(consensus)
    if agreeing:
        who = f"Answer from {agreeing[0]}"
        if len(agreeing) > 1:
            who += ", agreed by " + ", ".join(agreeing[1:])
        body += [Text(""), Text(who, style="dim")]
    return Panel(
        Group(*body),
        title=Text(verdict, style=f"bold {style}"),
        title_align="left",
        border_style=style,
    )


def _plain(mrkdwn: str) -> str:
    """A one-line Slack mrkdwn string from :mod:`bot.messages.compare_result` as terminal text."""
    return unescape(mrkdwn.replace("*", "").replace("`", ""))


def gist_lines(run: PanelRun, consensus: Consensus, width: int = 80) -> Text:
    """Each model's gist: one line (of ``width`` columns) with what it answered, or why
    it did not."""
    agreeing = set(result_text.agreeing_members(consensus))
    lines = Text()
    for a in run.answers:
        if a.ok:
            mark = "=" if a.member in agreeing else "≠"
            head = f"{mark} {a.member}: "
            lines.append(head, style="bold")
            lines.append(result_text.gist(a.text, max(20, width - len(head) - 1)) + "\n")
        else:
            head = f"✗ {a.member}: "
            lines.append(head, style="bold red")
            reason = _plain(result_text.failure_line(a)).split(" ", 2)[-1]
            lines.append(result_text.shorten_words(reason, max(20, width - len(head) - 1)) + "\n")
    legend = "(= agrees with the answer above, ≠ differs, ✗ failed)"
    lines.append(legend, style="dim")
    return lines


def answers_table(run: PanelRun, consensus: Consensus) -> Table:
    table = Table(title="Panel", show_lines=False)
    for column in ("model", "status", "agreement", "latency", "tokens in/out", "cost"):
        table.add_column(column, justify="left" if column in ("model", "status") else "right")
    for a in run.answers:
        status = "ok" if a.ok else f"[red]{a.error.value if a.error else 'error'}[/red]"
        if a.member == consensus.model:
            status = "[green]consensus[/green]"
        agreement = consensus.agreement.get(a.member)
        table.add_row(
            escape(a.member),
            status,
            "—" if agreement is None else f"{agreement:.2f}",
            fmt_latency(a.latency_ms),
            f"{a.prompt_tokens or 0}/{a.completion_tokens or 0}",
            fmt_cost(a.cost_usd),
        )
    table.caption = f"total {fmt_latency(run.latency_ms)} · {fmt_cost(run.cost_usd)}"
    return table


#: The consensus fields `quorum ask --json` prints, and those it rounds to 4 places.
_CONSENSUS_FIELDS = (
    "status",
    "model",
    "text",
    "confidence",
    "raw_confidence",
    "label",
    "clusters",
    "agreement",
    "dissenters",
    "calibrator",
    "reason",
)
#: The answer fields it prints.
_ANSWER_FIELDS = (
    "member",
    "model",
    "resolved_model",
    "text",
    "error",
    "error_detail",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "finish_reason",
)


def ask_output(run: PanelRun, consensus: Consensus, run_id: int | None) -> dict[str, Any]:
    """What `quorum ask --json` prints: a view over the records' own JSON
    (:meth:`PanelRun.to_dict`, :meth:`Consensus.to_dict`), rounded for people."""
    full = consensus.to_dict() | {"label": consensus.label}
    summary = {key: full[key] for key in _CONSENSUS_FIELDS}
    summary["confidence"] = round(consensus.confidence, 4)
    summary["raw_confidence"] = round(consensus.raw_confidence, 4)
    summary["agreement"] = {k: round(v, 4) for k, v in consensus.agreement.items()}
    answers = [
        {key: answer.to_dict()[key] for key in _ANSWER_FIELDS}
        | {"agreement": consensus.agreement.get(answer.member)}
        for answer in run.answers
    ]
    return {
        "run_id": run_id,
        "question": run.question,
        "quorum_met": run.quorum_met,
        "latency_ms": run.latency_ms,
        "cost_usd": run.cost_usd,
        "consensus": summary,
        "answers": answers,
    }
