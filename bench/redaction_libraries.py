"""Quorum's redactor against detect-secrets and presidio's recognisers, on the redaction corpus.

    .venv/bin/python -m bench.redaction_libraries

The corpus is ``tests/evals/cases/redaction_corpus.py``: 91 sensitive items (a sentence as
pasted into Slack, and the secret or personal value in it) and 30 ordinary texts that
must come out unchanged. For each detector:

* recall: the items whose secret no longer appears once every span the detector reports
  is masked (all 91; then the 60 secrets and the 31 items of personal data apart);
* false positives: the ordinary texts in which it reports anything (so would change).

How each library is run (its documented, offline use):

* detect-secrets: ``SecretsCollection.scan_file`` with its default settings (every
  plugin, default entropy limits and filters) on each text written to a ``.txt`` file,
  the way ``detect-secrets scan`` runs (``.yaml`` catches one more, ``.py`` six fewer).
  Its ad-hoc ``scan_line`` skips the entropy limits and reports every word, so it is not
  a fair stand-in.
* presidio-analyzer: every predefined English recogniser that needs no NLP model, called
  directly (``recognizer.analyze(text, entities, nlp_artifacts=None)``). The
  ``AnalyzerEngine`` needs a spaCy model (``en_core_web_lg``) that is downloaded from the
  network, and none is installed here; without it the names/places recogniser is out and
  no context words raise pattern scores. Rows at presidio's default threshold (0: every
  finding counts) and at 0.5, and one with only the recognisers for the kinds of
  personal data Quorum redacts (presidio also takes every URL, date and MAC address).

A library that is not installed is skipped with a line saying so. Neither is a
dependency of the project; install them to run this (``pip install detect-secrets
presidio-analyzer``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from rich.console import Console
from rich.table import Table

from evals.cases.redaction import redact_text
from tests.evals.cases.redaction_corpus import LEAKS, ORDINARY

#: Corpus kinds that are secrets; the rest (EMAIL, PHONE, CARD, IBAN, SSN, IP, Slack
#: mentions) are personal data.
SECRET_KINDS = frozenset({"SECRET", "API_KEY", "SLACK_TOKEN", "TOKEN", "PRIVATE_KEY", "URL"})

#: A detector: the (start, end) spans it reports in a text.
Spans = Callable[[str], list[tuple[int, int]]]


@dataclass(frozen=True)
class Row:
    name: str
    caught: int
    caught_secrets: int
    caught_personal: int
    false_positives: int
    seconds: float
    missed: tuple[str, ...]


def _masked(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        for i in range(max(start, 0), min(end, len(chars))):
            chars[i] = "\0"
    return "".join(chars)


def measure(name: str, spans: Spans) -> Row:
    started = time.perf_counter()
    caught = {
        i for i, leak in enumerate(LEAKS) if leak.secret not in _masked(leak.text, spans(leak.text))
    }
    false_positives = sum(1 for text in ORDINARY if spans(text))
    seconds = time.perf_counter() - started
    secret_items = {i for i, leak in enumerate(LEAKS) if leak.kind in SECRET_KINDS}
    return Row(
        name=name,
        caught=len(caught),
        caught_secrets=len(caught & secret_items),
        caught_personal=len(caught - secret_items),
        false_positives=false_positives,
        seconds=seconds,
        missed=tuple(sorted({LEAKS[i].kind for i in range(len(LEAKS)) if i not in caught})),
    )


# --- Quorum -----------------------------------------------------------------------------


def quorum_spans(text: str) -> list[tuple[int, int]]:
    """Quorum reports by replacing: compare the redacted text to the original."""
    redacted = redact_text(text)
    return [] if redacted == text else _diff_spans(text, redacted)


def _diff_spans(before: str, after: str) -> list[tuple[int, int]]:
    """The spans of ``before`` that redaction replaced (placeholders never match text)."""
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    return [(i1, i2) for op, i1, i2, _, _ in matcher.get_opcodes() if op != "equal"]


# --- detect-secrets ---------------------------------------------------------------------


def detect_secrets_spans() -> Spans | str:
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:
        return "detect-secrets is not installed (pip install detect-secrets): skipped"
    workdir = Path(tempfile.mkdtemp(prefix="quorum-bench-"))
    counter = iter(range(10**9))

    def spans(text: str) -> list[tuple[int, int]]:
        path = workdir / f"text-{next(counter)}.txt"
        path.write_text(text, encoding="utf-8")
        found = SecretsCollection()
        with default_settings():
            found.scan_file(str(path))
        values = {s.secret_value for _, s in found if s.secret_value}
        return [(i, i + len(v)) for v in values for i in _occurrences(text, v)]

    return spans


def _occurrences(text: str, value: str) -> list[int]:
    found, start = [], text.find(value)
    while start != -1:
        found.append(start)
        start = text.find(value, start + 1)
    return found


# --- presidio -----------------------------------------------------------------------------


#: presidio's entities for the kinds of personal data Quorum redacts (it has no URL with a
#: credential, no Slack mention, and it treats every URL, date and MAC address as PII).
QUORUM_KINDS = frozenset(
    {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN"}
)


def presidio_spans(threshold: float, entities: frozenset[str] | None = None) -> Spans | str:
    try:
        from presidio_analyzer import RecognizerRegistry
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer
    except ImportError:
        return "presidio-analyzer is not installed (pip install presidio-analyzer): skipped"
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"])
    recognizers = [
        r
        for r in registry.recognizers
        if not isinstance(r, SpacyRecognizer)
        and (entities is None or entities & set(r.supported_entities))
    ]

    def spans(text: str) -> list[tuple[int, int]]:
        out = []
        for recognizer in recognizers:
            for result in recognizer.analyze(text, recognizer.supported_entities, None) or []:
                if result.score >= threshold:
                    out.append((result.start, result.end))
        return out

    return spans


def union(*detectors: Spans) -> Spans:
    return lambda text: [span for d in detectors for span in d(text)]


def main(argv: Sequence[str] | None = None) -> None:
    console = Console()
    rows = [measure("Quorum (evals.cases.redaction)", quorum_spans)]
    ds = detect_secrets_spans()
    if isinstance(ds, str):
        console.print(ds)
    else:
        rows.append(measure("detect-secrets (default plugins)", ds))
    presidio = presidio_spans(0.0)
    if isinstance(presidio, str):
        console.print(presidio)
    else:
        rows.append(measure("presidio, pattern recognisers, score >= 0", presidio))
        for name, detector in (
            ("presidio, pattern recognisers, score >= 0.5", presidio_spans(0.5)),
            ("presidio, Quorum's kinds only, score >= 0", presidio_spans(0.0, QUORUM_KINDS)),
        ):
            assert not isinstance(detector, str)
            rows.append(measure(name, detector))
        if not isinstance(ds, str):
            rows.append(measure("detect-secrets + presidio (>= 0)", union(ds, presidio)))

    secrets = sum(1 for leak in LEAKS if leak.kind in SECRET_KINDS)
    table = Table(title=f"Redaction corpus: {len(LEAKS)} sensitive items, {len(ORDINARY)} ordinary")
    table.add_column("detector")
    table.add_column(f"recall (of {len(LEAKS)})", justify="right")
    table.add_column(f"secrets (of {secrets})", justify="right")
    table.add_column(f"personal data (of {len(LEAKS) - secrets})", justify="right")
    table.add_column(f"false positives (of {len(ORDINARY)})", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("kinds with a miss")
    for r in rows:
        table.add_row(
            r.name,
            f"{r.caught} ({r.caught / len(LEAKS):.0%})",
            str(r.caught_secrets),
            str(r.caught_personal),
            str(r.false_positives),
            f"{r.seconds:.2f}",
            ", ".join(r.missed) or "-",
        )
    console.print(table)


if __name__ == "__main__":
    main()
