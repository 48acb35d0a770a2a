"""No secret or personal data from the corpus reaches any output of `quorum cases`.

Every item of ``tests/evals/cases/redaction_corpus.py`` goes in through `cases import` and
through `cases edit`, and none may come out: not in the stored rows (the raw SQLite
file), not in `cases list` / `cases show` (table and JSON), not in any of the three
export formats.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

import bot.cli.cases.review  # noqa: F401  (registers `quorum cases`)
from bot.cli import app
from evals.cases.assertions import Assertion, AssertionType
from evals.cases.file_formats import CaseFormat, dump_cases
from evals.cases.schema import CaseInput, ContextMessage, EvalCase, ObservedAnswer, ObservedRun
from storage import case_repo
from storage.db import Database
from storage.tables.base import UNASSIGNED
from tests.evals.cases.redaction_corpus import LEAKS, Leak

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
CHUNK = 6


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("QUORUM_CONFIG", str(tmp_path / "missing.yaml"))
    monkeypatch.setenv("COLUMNS", "250")
    database = Database(url)
    database.upgrade()
    yield database
    database.dispose()


def quorum(*args: str) -> Result:
    result = CliRunner().invoke(app, ["cases", *args])
    assert result.exit_code == 0, result.output
    return result


def _chunks() -> list[Sequence[Leak]]:
    return [LEAKS[i : i + CHUNK] for i in range(0, len(LEAKS), CHUNK)]


def _case(i: int, leaks: Sequence[Leak]) -> EvalCase:
    texts = [leak.text for leak in leaks]
    texts += [texts[0]] * (CHUNK - len(texts))
    return EvalCase(
        id=f"leaky-{i:02d}",
        input=CaseInput(question=texts[0], context=[ContextMessage(role="user", content=texts[1])]),
        expected=texts[2],
        assertions=[
            Assertion(type=AssertionType.LLM_RUBRIC, value=texts[3]),
            Assertion(type=AssertionType.ICONTAINS, value=texts[4]),
            Assertion(type=AssertionType.NOT_ICONTAINS, value=texts[5]),
        ],
        observed=ObservedRun(
            answers=[ObservedAnswer(model="m", text=" ".join(texts))],
            consensus_model="m",
            consensus_text=texts[0],
        ),
        created_at=T0,
        updated_at=T0,
    )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _is_timestamp(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _leaked(text: str, *, short_numbers: bool = True) -> list[str]:
    """Corpus secrets found in ``text`` (raw, and with JSON/YAML/markup decoding undone
    by the caller). Short all-digit secrets (a PIN) can occur by chance inside
    timestamps of a raw database dump; ``short_numbers=False`` skips those there."""
    return [
        leak.secret
        for leak in LEAKS
        if leak.secret in text
        and (short_numbers or not (leak.secret.isdigit() and len(leak.secret) < 8))
    ]


def _check_outputs(env: Database, tmp_path: Path) -> None:
    # stored rows: parsed, and the raw database file
    with env.session() as s:
        stored = case_repo.all_cases(s, status=None, workspace=UNASSIGNED)
    assert len(stored) >= len(_chunks())
    for case in stored:
        # Timestamps left out: an edit made at 23:47:11 holds a corpus PIN (4711) by chance.
        texts = [t for t in _strings(case.model_dump(mode="json")) if not _is_timestamp(t)]
        assert _leaked("\n".join(texts)) == []
    env.dispose()
    conn = sqlite3.connect(str(tmp_path / "cli.db"))
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert _leaked(dump, short_numbers=False) == []

    # list and show
    assert _leaked(quorum("list", "--per-page", "500").stdout) == []
    listed = quorum("list", "--json", "--per-page", "500").stdout
    assert _leaked(listed) == []
    for line in listed.splitlines():
        assert _leaked("\n".join(_strings(json.loads(line)))) == []
    for case in stored:
        assert _leaked(quorum("show", case.id).stdout) == []
        shown = quorum("show", case.id, "--json").stdout
        assert _leaked(shown) == [] and _leaked("\n".join(_strings(json.loads(shown)))) == []

    # the three export formats, to files and to stdout
    for fmt, suffix in (("jsonl", "jsonl"), ("yaml", "yaml"), ("promptfoo", "yaml")):
        path = tmp_path / f"export-{fmt}.{suffix}"
        quorum("export", str(path), "--format", fmt, "--status", "all")
        text = path.read_text(encoding="utf-8")
        assert _leaked(text) == [], fmt
        if fmt == "jsonl":
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            docs = list(yaml.safe_load_all(text))
        assert docs and _leaked("\n".join(_strings(docs))) == [], fmt
        assert _leaked(quorum("export", "-", "--format", fmt, "--status", "all").stdout) == []


def test_imported_and_edited_cases_leak_nothing_anywhere(env: Database, tmp_path: Path) -> None:
    cases = [_case(i, leaks) for i, leaks in enumerate(_chunks())]
    source = tmp_path / "leaky.jsonl"
    source.write_text(dump_cases(cases, CaseFormat.JSONL), encoding="utf-8")
    assert _leaked(source.read_text(encoding="utf-8"))  # the input does hold them

    imported = quorum("import", str(source), "--status", "active", "--set", "rotating")
    assert f"Imported {len(cases)} case(s)" in imported.stdout
    assert f"Redacted personal data or secrets in {len(cases)} case(s)" in imported.stdout
    assert _leaked(imported.output) == []
    _check_outputs(env, tmp_path)

    # every edit path is redacted too: each corpus text through each editable text field
    for i, leaks in enumerate(_chunks()):
        texts = [leak.text for leak in leaks]
        texts += [texts[0]] * (CHUNK - len(texts))
        edited = quorum(
            "edit",
            f"leaky-{i:02d}",
            "--question",
            texts[-1],
            "--expected",
            "\n".join(texts),
            "--assert",
            f"llm-rubric:{texts[0]}",
            "--must-include",
            texts[1],
            "--must-not-include",
            texts[-1],
        )
        assert _leaked(edited.output) == []
    with env.session() as s:
        edited_case = case_repo.require_case(s, "leaky-00", workspace=UNASSIGNED)
    assert edited_case.expected is not None and "<" in edited_case.expected
    _check_outputs(env, tmp_path)


AWS_KEY = "AKIAZ7Q3XK4M2PLR9TWV"
SLACK_TOKEN = "xoxb-20480413-99120443-Qm7Lr2Tx9Kp4Wz8Nc3Hv"
EMAIL = "dana.okafor@corp-mail.example"
CARD = "4539 1488 0343 6467"
HOSTILE = (AWS_KEY, SLACK_TOKEN, EMAIL, CARD)


def _hostile(lead: str) -> str:
    return f"{lead} key {AWS_KEY}, token {SLACK_TOKEN}, mail {EMAIL}, card {CARD}."


def _raw_cases(tmp_path: Path) -> str:
    """The ``cases`` and ``case_events`` tables as the SQLite file holds them."""
    conn = sqlite3.connect(str(tmp_path / "cli.db"))
    try:
        return "\n".join(
            line
            for line in conn.iterdump()
            if line.startswith(("INSERT INTO cases", "INSERT INTO case_events"))
        )
    finally:
        conn.close()


def _kinds(text: str | None) -> list[str]:
    return sorted(set(re.findall(r"<([A-Z_]+)_\d+>", text or "")))


def test_import_and_edit_store_a_hostile_case_redacted(env: Database, tmp_path: Path) -> None:
    """An AWS key, a Slack token, an email and a card number in the question and the
    answers: `cases import` and `cases edit` store placeholders, never the values."""
    case = EvalCase(
        id="hostile",
        input=CaseInput(question=_hostile("Why does the deploy fail?")),
        expected=_hostile("Rotate them:"),
        observed=ObservedRun(
            answers=[ObservedAnswer(model="m", text=_hostile("Never paste"))],
            consensus_model="m",
            consensus_text=_hostile("Never paste"),
        ),
        created_at=T0,
        updated_at=T0,
    )
    source = tmp_path / "hostile.yaml"
    source.write_text(dump_cases([case], CaseFormat.YAML), encoding="utf-8")

    dry = quorum("import", str(source), "--dry-run")
    assert "nothing stored" in dry.stdout and _raw_cases(tmp_path) == ""
    imported = quorum("import", str(source))
    assert "Redacted personal data or secrets in 1 case(s)" in imported.stdout
    with env.session() as s:
        stored = case_repo.require_case(s, "hostile", workspace=UNASSIGNED)
    expected_kinds = ["API_KEY", "CARD", "EMAIL", "SLACK_TOKEN"]
    assert _kinds(stored.input.question) == expected_kinds
    assert _kinds(stored.expected) == expected_kinds
    assert stored.observed is not None
    assert _kinds(stored.observed.answers[0].text) == expected_kinds
    assert _kinds(stored.observed.consensus_text) == expected_kinds
    env.dispose()
    assert [s for s in HOSTILE if s in _raw_cases(tmp_path)] == []

    edited = quorum(
        "edit",
        "hostile",
        "--question",
        _hostile("Edited:"),
        "--expected",
        _hostile("Edited answer:"),
        "--must-include",
        AWS_KEY,
        "--must-not-include",
        CARD,
    )
    assert [s for s in HOSTILE if s in edited.output] == []
    with env.session() as s:
        stored = case_repo.require_case(s, "hostile", workspace=UNASSIGNED)
    assert _kinds(stored.input.question) == expected_kinds
    assert _kinds(stored.expected) == expected_kinds
    assert [_kinds(str(a.value)) for a in stored.assertions] == [["API_KEY"], ["CARD"]]
    env.dispose()
    assert [s for s in HOSTILE if s in _raw_cases(tmp_path)] == []


def test_no_redact_stores_a_hand_written_file_as_written_and_says_so(
    env: Database, tmp_path: Path
) -> None:
    """`--no-redact` is the one way around redaction (a hand-written case about an address
    would otherwise lose its point); the audit trail records that it was used."""
    case = EvalCase(
        id="subnet",
        input=CaseInput(question="Which subnet holds 192.168.10.7 with mask 255.255.255.0?"),
        expected="192.168.10.0/24",
        created_at=T0,
        updated_at=T0,
    )
    source = tmp_path / "subnet.jsonl"
    source.write_text(dump_cases([case], CaseFormat.JSONL), encoding="utf-8")
    imported = quorum("import", str(source), "--no-redact")
    assert "Imported 1 case(s)" in imported.stdout and "Redacted" not in imported.stdout
    with env.session() as s:
        stored = case_repo.require_case(s, "subnet", workspace=UNASSIGNED)
        (event,) = case_repo.case_events(s, "subnet", workspace=UNASSIGNED)
    assert stored.input.question == case.input.question and stored.expected == case.expected
    assert event.action == "imported" and event.detail == {"redaction": "waived"}

    # the same file imported normally is redacted, and its event says nothing more
    quorum("import", str(source), "--skip-existing")  # the id is taken: skipped, not changed
    renamed = tmp_path / "subnet-2.jsonl"
    renamed.write_text(
        dump_cases([case.model_copy(update={"id": "subnet-2"})], CaseFormat.JSONL),
        encoding="utf-8",
    )
    quorum("import", str(renamed))
    with env.session() as s:
        redacted_copy = case_repo.require_case(s, "subnet-2", workspace=UNASSIGNED)
        (event,) = case_repo.case_events(s, "subnet-2", workspace=UNASSIGNED)
        unchanged = case_repo.require_case(s, "subnet", workspace=UNASSIGNED)
    assert redacted_copy.input.question == "Which subnet holds <IP_1> with mask <IP_2>?"
    assert event.detail == {} and unchanged == stored
