"""How a result reads in words: costs, times, gists, each failure's reason and the verdict
("3 of 4 models agree · 82% likely right"), shared by Slack messages and the CLI.
Model output is untrusted: it goes through :mod:`bot.slack.mrkdwn` first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.slack.mrkdwn import escape, truncate
from evals.money import usd
from evals.records import Consensus, ConsensusStatus, ErrorKind, ModelAnswer

# -- text helpers------------------------------------------------------------------


def seconds(ms: int) -> str:
    return f"{ms / 1000:.1f} s"


def dollars(cost: float | None) -> str:
    """A cost as people read it: "$0.0012", "$1.25", "<$0.0001" (never "$0.0000")."""
    return usd(cost, unknown="cost unknown")


def question_quote(question: str, limit: int = 600) -> str:
    """The asker's question as a quote (escaped: people can paste ``<!channel>`` too)."""
    flat = escape(truncate(" ".join(question.split()), limit))
    return "> " + flat


_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def gist(text: str, limit: int = 160) -> str:
    """The first sentence (or line) of an answer, shortened, as plain text."""
    first = text.strip().split("\n", 1)[0]
    first = _SENTENCE_END.split(first, 1)[0]
    first = re.sub(r"^\s*(?:#+|>+)\s*|[*_`~]+", "", first).strip()
    return shorten_words(first, limit) if first else "(empty)"


def shorten_words(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut between words (never mid-word) and marked "…"."""
    if len(text) <= limit:
        return text
    head = text[: max(limit - 1, 1)]
    space = head.rfind(" ")
    if space >= limit // 2:
        head = head[:space]
    return truncate(head.rstrip(" ,;:"), limit - 1) + "…"


#: Short words for each failure, followed by the provider's own reason.
_FAILURE_VERB: Mapping[ErrorKind, str] = {
    ErrorKind.TIMEOUT: "timed out",
    ErrorKind.RATE_LIMITED: "was rate limited",
    ErrorKind.AUTH: "rejected our credentials (check its API key)",
    ErrorKind.BAD_REQUEST: "refused the request",
    ErrorKind.PROVIDER_ERROR: "had a provider error",
    ErrorKind.EMPTY: "returned an empty answer",
}
#: The transport's head of an error detail, not the provider's reason: "HTTP 500
#: InternalServerError: " (litellm), "HTTP 401 Unauthorized: " (the direct client),
#: "APIConnectionError: ".
_DETAIL_HEAD = re.compile(r"^(?:HTTP \d{3}(?: [A-Za-z]+)*|[A-Za-z]*(?:Error|Exception)?):\s*")


def provider_reason(answer: ModelAnswer) -> str:
    """The provider's own reason for a failure (already scrubbed of secrets), or ""."""
    detail = (answer.error_detail or "").strip()
    if not detail:
        return ""
    reason = _DETAIL_HEAD.sub("", detail, count=1).strip()
    return reason if reason else detail


def failure_line(answer: ModelAnswer) -> str:
    """ "⚠️ *gpt* refused the request: maximum context length is 8192 tokens · ref `Q-…`"."""
    assert answer.error is not None
    line = f"⚠️ *{escape(answer.member)}* {_FAILURE_VERB[answer.error]}"
    reason = provider_reason(answer)
    if reason:
        line += f": {escape(truncate(reason, 200))}"
    if answer.reference:
        line += f" · ref `{escape(answer.reference)}`"
    return line


def percent(confidence: float) -> str:
    """A probability as a whole percent, never claiming 0% or 100%."""
    value = round(confidence * 100)
    return f"{min(max(value, 1), 99)}%"


def agreeing_members(consensus: Consensus) -> tuple[str, ...]:
    """The members in the consensus answer's cluster (the picked one first)."""
    for cluster in consensus.clusters:
        if consensus.model in cluster:
            return (consensus.model, *[m for m in cluster if m != consensus.model])
    return (consensus.model,) if consensus.model else ()


_BADGE = {"high": "🟢", "medium": "🟡", "low": "🔴", "single answer": "🔴", "none": "⚪"}


def verdict_line(consensus: Consensus, usable: int, asked: int | None = None) -> str:
    """The verdict, first thing in the message: "🟢 *3 of 4 models agree · 82% likely right*"."""
    status = consensus.status
    asked = usable if asked is None else asked
    if status is ConsensusStatus.NONE:
        if usable == 0:
            return f"⚪ *No answer* — none of the {asked} models could answer"
        reason = consensus.reason or "no usable answers"
        return f"⚪ *No consensus* — {escape(reason)}"
    likely = f"{percent(consensus.confidence)} likely right"
    badge = _BADGE.get(consensus.label, "🔴")
    if status is ConsensusStatus.SINGLE:
        return f"{badge} *Only 1 of {asked} models answered · {likely}*"
    agree = consensus.support
    # "N of M" counts every model asked, so a failed model is never hidden by the verdict.
    if rival := consensus.outvoted_by:
        # The answer shown stands against a bigger cluster (the why line says why).
        return f"{badge} *Models disagree: {rival} of {asked} agree on another answer · {likely}*"
    if agree <= 1:
        return f"{badge} *Models disagree: no two of {asked} agree · {likely}*"
    if agree < usable and consensus.label == "low":
        return f"{badge} *Models disagree: {agree} of {asked} agree · {likely}*"
    return f"{badge} *{agree} of {asked} models agree · {likely}*"


def why_line(consensus: Consensus, usable: int, asked: int) -> str:
    """The line under the verdict that explains it, label included: "Why this answer: …"
    when the answer shown stands against a bigger cluster, "Why not higher: …" when the
    confidence is low although models agree; empty when there is nothing to explain.
    Plain text: the caller escapes it for Slack."""
    reason = consensus.caveat
    if not reason and consensus.status is ConsensusStatus.SINGLE:
        reason = "One answer alone: there was nothing to compare it with."
    if not reason:
        return ""
    return f"{'Why this answer' if consensus.outvoted_by else 'Why not higher'}: {reason}"


def confidence_badge(consensus: Consensus, usable: int) -> str:
    """The verdict line (kept for callers that only have the consensus)."""
    return verdict_line(consensus, usable)
