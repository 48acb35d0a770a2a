"""Panels people saw in Slack, with the real all-MiniLM-L6-v2 model and the shipped
calibrator: what the result says must match what a reader sees in the answers."""

from __future__ import annotations

import pytest

from evals.consensus.calibrator import default_calibrator
from evals.consensus.decision import build_consensus
from evals.embedding.sentence_embedder import SentenceTransformerEmbedder
from evals.records import ModelAnswer

pytestmark = pytest.mark.slow


def ans(member: str, text: str) -> ModelAnswer:
    return ModelAnswer(member=member, model=member, text=text)


EIFFEL_Q = "In what year was the Eiffel Tower completed?"
EIFFEL = [
    ans("gpt-4o-mini", "The Eiffel Tower was completed in 1889, for the Exposition Universelle."),
    ans("gpt-4.1-mini", "It was completed in March 1889."),
    ans("llama-local", "The Eiffel Tower was completed in 1887."),
    ans("gpt-4o", "Construction finished in 1889, in time for the 1889 World's Fair in Paris."),
]

HTTP_Q = "What does HTTP 429 mean and how should a client back off?"
HTTP = [
    ans(
        "gpt-4o-mini",
        "**HTTP 429 Too Many Requests** means the server is rate-limiting you: you sent too "
        "many requests in a given time.\n\nHow a client should back off:\n1. If the response "
        "has a `Retry-After` header, wait that long.\n2. Otherwise use *exponential backoff "
        "with jitter*: wait `base * 2^attempt` plus a random amount.\n3. Cap the delay (say "
        "60 s) and the number of attempts.\n\n```python\ndelay = min(cap, base * 2 ** "
        "attempt) * random.random()\n```",
    ),
    ans(
        "gpt-4.1-mini",
        "429 is *Too Many Requests*: the client exceeded a rate limit. Respect the "
        "`Retry-After` header when present; otherwise retry with exponential backoff and "
        "full jitter, capped, and give up after a few attempts. See [RFC 6585]"
        "(https://www.rfc-editor.org/rfc/rfc6585#section-4).",
    ),
    ans(
        "llama-local",
        "HTTP 429 means Too Many Requests. The client should slow down: honour Retry-After, "
        "then back off exponentially (1 s, 2 s, 4 s…) with some random jitter.",
    ),
    ans(
        "gpt-4o",
        "A 429 is a server error caused by a bug on the server. Clients should retry "
        "immediately in a tight loop until the request succeeds.",
    ),
]


def test_eiffel_three_say_1889_one_says_1887(real_embedder: SentenceTransformerEmbedder) -> None:
    result = build_consensus(EIFFEL, real_embedder, default_calibrator(), question=EIFFEL_Q)
    assert result.model != "llama-local"
    assert "1889" in (result.text or "")
    assert result.support == 3
    assert result.dissenters == ("llama-local",)
    assert result.confidence > 0.5
    # The 1887 answer agrees least with the consensus.
    assert result.agreement["llama-local"] < min(
        v for m, v in result.agreement.items() if m != "llama-local"
    )


def test_http_429_only_the_tight_loop_dissents(real_embedder: SentenceTransformerEmbedder) -> None:
    result = build_consensus(HTTP, real_embedder, default_calibrator(), question=HTTP_Q)
    assert result.model != "gpt-4o"
    assert result.support == 3
    assert result.dissenters == ("gpt-4o",)
    assert result.agreement["gpt-4o"] < min(v for m, v in result.agreement.items() if m != "gpt-4o")


def test_the_same_panels_from_the_command_line_format(
    real_embedder: SentenceTransformerEmbedder,
) -> None:
    """Order of arrival never matters: reversed panels give the same verdicts."""
    for panel, question in ((EIFFEL, EIFFEL_Q), (HTTP, HTTP_Q)):
        forward = build_consensus(panel, real_embedder, default_calibrator(), question=question)
        backward = build_consensus(
            panel[::-1], real_embedder, default_calibrator(), question=question
        )
        assert forward == backward
