"""Bad input never gets a traceback from the CLI (issue 10, item 7).

Each probe is what an outside tester ran against `quorum`: files in the wrong encoding,
a folder where a file belongs, a config that is not UTF-8, paths that cannot be written,
an unreachable or foreign database, oversized input. Every one must end in one friendly
sentence and exit 2 ("bad input or configuration: nothing was done"), with no stack in
the output or the log. A few run as real subprocesses to prove the same for the
installed command, whose log handler writes to the terminal.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from bot.cli import app
from evals.errors import InputError
from evals.user_files import MAX_ANSWER_CHARS, MAX_CASE_TEXT_CHARS, decode_utf8, write_text
from storage.db import Database

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "panels.jsonl"
USAGE = 2


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'quorum.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("FAKE_PROVIDER_KEY", "sk-test-not-a-real-key-123456")
    monkeypatch.delenv("QUORUM_CALIBRATOR", raising=False)
    config = {
        "panel": [
            {
                "model_name": name,
                "litellm_params": {
                    "model": f"openai/{name}",
                    "api_base": "http://127.0.0.1:9",
                    "api_key": "os.environ/FAKE_PROVIDER_KEY",
                },
            }
            for name in ("m1", "m2")
        ]
    }
    (tmp_path / "quorum.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("QUORUM_CONFIG", str(tmp_path / "quorum.yaml"))
    return tmp_path


@pytest.fixture
def no_stack_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No log record of the command carries a stack trace."""
    with caplog.at_level(logging.INFO):
        yield
    stacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not stacks, f"logged with a traceback: {stacks}"


def quorum(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


def said(result: Result) -> str:
    return " ".join((result.stdout + result.stderr).split())


def assert_refused(result: Result, *fragments: str, code: int = USAGE) -> None:
    text = said(result)
    assert result.exit_code == code, text
    assert isinstance(result.exception, SystemExit | type(None)), result.exception
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, text


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    line = json.dumps(
        {"question": "café?", "answers": [{"model": "a", "text": "é", "correct": True}]},
        ensure_ascii=False,
    )
    utf16 = tmp_path / "utf16.jsonl"
    utf16.write_bytes(line.encode("utf-16"))
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(line.encode("latin-1"))
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(bytes(range(256)) * 20)
    folder = tmp_path / "a-folder.jsonl"
    folder.mkdir()
    return {
        "utf16": (utf16, "the file is UTF-16 text; Quorum reads UTF-8"),
        "latin1": (latin1, "not UTF-8 text (byte 0xe9 on line 1"),
        "binary": (binary, "this is a binary file"),
        "folder": (folder, "is a folder; name a file"),
        "missing": (tmp_path / "nope.jsonl", "no such file"),
    }


KINDS = ["utf16", "latin1", "binary", "folder", "missing"]


@pytest.mark.usefixtures("no_stack_in_logs")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "command",
    [["consensus"], ["calibrate"], ["judge", "calibrate"], ["cases", "import"]],
    ids=["consensus", "calibrate", "judge-calibrate", "cases-import"],
)
def test_unreadable_input_files_are_named_with_the_fix(
    workdir: Path, command: list[str], kind: str
) -> None:
    path, message = bad_files(workdir)[kind]
    assert_refused(quorum(*command, str(path)), str(path.name), message)
    assert not (workdir / "calibrator.json").exists()


@pytest.mark.usefixtures("no_stack_in_logs")
def test_utf16_on_stdin_is_refused(workdir: Path) -> None:
    line = json.dumps({"id": 1, "question": "q", "answers": [{"model": "a", "text": "x"}]})
    assert_refused(quorum("consensus", "-", stdin=line.encode("utf-16")), "UTF-16")


@pytest.mark.usefixtures("no_stack_in_logs")
def test_a_file_over_the_size_limit_is_refused_before_reading(workdir: Path) -> None:
    big = workdir / "big.jsonl"
    with big.open("wb") as handle:  # sparse: 300 MB on paper, nothing on disk
        handle.truncate(300 * 1024 * 1024)
    assert_refused(quorum("consensus", str(big)), "big.jsonl is 300.0 MB; the limit is 256.0 MB")


@pytest.mark.usefixtures("no_stack_in_logs")
def test_a_quorum_yaml_that_is_not_utf8_is_a_configuration_problem(workdir: Path) -> None:
    config = workdir / "quorum.yaml"
    config.write_bytes(config.read_text().replace("m1", "modèle").encode("latin-1"))
    result = quorum("digest", "--preview")
    assert_refused(result, "Configuration problem:", "quorum.yaml: not UTF-8 text", "iconv")


@pytest.mark.usefixtures("no_stack_in_logs")
def test_quorum_yaml_problems_are_listed_under_one_heading(workdir: Path) -> None:
    config = workdir / "quorum.yaml"
    good = config.read_text()
    config.write_text(good + "colour: blue\n")
    result = quorum("digest", "--preview")
    assert_refused(result, "Configuration problem: ", "quorum.yaml: unknown key `colour`")
    assert said(result).count("quorum.yaml") == 1
    assert "source" not in said(result)  # set by Quorum itself, never a key to write
    config.write_text(good + "colour: blue\nshape: round\n")
    result = quorum("digest", "--preview")
    assert_refused(result, "Configuration problem: 2 problems:", "`colour`", "`shape`")
    assert "Invalid configuration" not in said(result)


@pytest.mark.usefixtures("no_stack_in_logs")
def test_cases_export_to_a_path_that_cannot_be_written(workdir: Path) -> None:
    (workdir / "plain-file").write_text("x")
    result = quorum("cases", "export", str(workdir / "plain-file" / "cases.jsonl"))
    assert_refused(result, "plain-file is a file, not a folder")
    (workdir / "out.jsonl").mkdir()
    result = quorum("cases", "export", str(workdir / "out.jsonl"))
    assert_refused(result, "out.jsonl is a folder; name a file to write")


@pytest.mark.usefixtures("no_stack_in_logs")
def test_outputs_go_into_new_folders_and_a_failed_write_keeps_the_old_file(
    workdir: Path,
) -> None:
    result = quorum("cases", "export", str(workdir / "new" / "deeper" / "cases.jsonl"))
    assert result.exit_code == 0, said(result)
    assert (workdir / "new" / "deeper" / "cases.jsonl").exists()

    existing = workdir / "keep.json"
    existing.write_text("precious")
    with pytest.raises(InputError):
        write_text(existing / "child", "new")  # cannot: keep.json is a file
    assert existing.read_text() == "precious"
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".keep")] == []


@pytest.mark.usefixtures("no_stack_in_logs")
def test_digest_chart_into_a_missing_folder_is_written(workdir: Path) -> None:
    chart = workdir / "charts" / "week.png"
    result = quorum("digest", "--preview", "--chart", str(chart))
    assert result.exit_code == 0, said(result)
    assert chart.read_bytes().startswith(b"\x89PNG")


@pytest.mark.usefixtures("no_stack_in_logs")
@pytest.mark.parametrize(
    "args", [["digest", "--preview"], ["cases", "list"], ["eval", "list"], ["db", "current"]]
)
def test_commands_on_a_fresh_sqlite_file_migrate_it(workdir: Path, args: list[str]) -> None:
    """The embedded default needs no `quorum db upgrade`: every command brings it up to
    date (`digest --preview` used to fail on "no such table: calibrators")."""
    result = quorum(*args)
    assert result.exit_code == 0, said(result)
    tables = sqlite3.connect(workdir / "quorum.db").execute(
        "SELECT name FROM sqlite_master WHERE type='table'"
    )
    if args != ["db", "current"]:  # `db current` only reports, it never migrates
        assert {"calibrators", "cases", "eval_runs"} <= {t for (t,) in tables}


@pytest.mark.usefixtures("no_stack_in_logs")
@pytest.mark.parametrize("args", [["cases", "list"], ["db", "current"], ["digest", "--preview"]])
def test_a_text_file_as_database_is_named(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    (workdir / "notes.db").write_text("hello, these are my notes\n" * 100)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{workdir / 'notes.db'}")
    assert_refused(
        quorum(*args), "cannot read the database", "file is not a database", "DATABASE_URL"
    )
    assert (workdir / "notes.db").read_text().startswith("hello")  # left as it was


@pytest.mark.usefixtures("no_stack_in_logs")
@pytest.mark.parametrize("args", [["cases", "list"], ["db", "current"], ["db", "upgrade"]])
def test_an_unreachable_postgres_says_what_to_check_without_the_password(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://quorum:hunter2-secret@127.0.0.1:1/quorum")
    result = quorum(*args)
    assert_refused(result, "cannot reach the database", "127.0.0.1:1", "server is running")
    assert "hunter2" not in said(result)


@pytest.mark.postgres
@pytest.mark.usefixtures("no_stack_in_logs")
def test_postgres_behind_the_code_says_run_db_upgrade_and_changes_nothing(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, empty_postgres_url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_postgres_url)
    assert_refused(quorum("cases", "list"), "empty (no Quorum tables)", "quorum db upgrade")
    database = Database(empty_postgres_url)
    try:
        assert database.current_revision() is None  # a shared server is never migrated
        database.upgrade("0005_run_prompts")
        assert_refused(
            quorum("digest", "--preview"), "at schema revision 0005_run_prompts", "db upgrade"
        )
        result = quorum("db", "upgrade")
        assert result.exit_code == 0, said(result)
        assert quorum("cases", "list").exit_code == 0
    finally:
        database.dispose()


@pytest.mark.usefixtures("no_stack_in_logs")
@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), ("{", "is not valid JSON"), ("[1, 2]", "The calibrator file")],
    ids=["missing", "truncated", "not-a-calibrator"],
)
def test_a_missing_or_corrupt_calibrator_exits_2(
    workdir: Path, content: str | None, message: str
) -> None:
    calibrator = workdir / "cal.json"
    if content is not None:
        calibrator.write_text(content)
    result = quorum("consensus", str(EXAMPLES), "--calibrator", str(calibrator))
    assert_refused(result, "Calibrator problem:", message)


@pytest.mark.usefixtures("no_stack_in_logs")
def test_an_oversized_answer_is_a_bad_line_and_the_rest_is_scored(workdir: Path) -> None:
    good = EXAMPLES.read_text().splitlines()[0]
    huge = json.loads(good)
    huge["id"] = "huge"
    huge["answers"][0]["text"] = "x" * 8_000_000
    panels = workdir / "panels.jsonl"
    panels.write_text(json.dumps(huge) + "\n" + good + "\n")
    result = quorum("consensus", str(panels))
    text = said(result)
    assert result.exit_code == 1, text  # a bad line: the documented exit code
    assert f"line 1: answer 1 ('{huge['answers'][0]['model']}') is 8,000,000 characters" in text
    assert f"the limit is {MAX_ANSWER_CHARS:,}" in text
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["id"] for r in records] == [json.loads(good)["id"]]


@pytest.mark.usefixtures("no_stack_in_logs")
def test_an_oversized_case_is_refused_on_import_and_edit_and_nothing_is_stored(
    workdir: Path,
) -> None:
    cases = workdir / "cases.jsonl"
    too_long = "q" * (MAX_CASE_TEXT_CHARS + 1)
    rows = [
        {"id": "ok", "input": {"question": "What port does Redis use?"}, "expected": "6379"},
        {"id": "big", "input": {"question": too_long}, "expected": "a"},
    ]
    cases.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = quorum("cases", "import", str(cases))
    assert_refused(result, "line 2: input.question is 20,001 characters long; the limit is 20,000")
    assert quorum("cases", "show", "ok").exit_code != 0  # all or nothing

    cases.write_text(json.dumps(rows[0]) + "\n")
    assert quorum("cases", "import", str(cases)).exit_code == 0
    result = quorum("cases", "edit", "ok", "--expected", "x" * (MAX_CASE_TEXT_CHARS + 5))
    assert_refused(result, "expected is 20,005 characters long")
    assert "6379" in said(quorum("cases", "show", "ok"))


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_say_why(data: bytes) -> None:
    """The rule behind every read: text comes back, or one InputError sentence; never
    another exception."""
    try:
        text = decode_utf8(data, "input.jsonl")
    except InputError as exc:
        assert exc.user_message.startswith("input.jsonl")
    else:
        assert text == data.decode("utf-8-sig")


# ---------------------------------------------------------------- the installed command


def _subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "QUORUM_", "DATABASE_URL"))
    }
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'quorum.db'}", COLUMNS="200")
    env.update(extra)
    return env


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (
            ["cases", "list"],
            {"DATABASE_URL": "postgresql://u:pw-not-shown@127.0.0.1:1/x"},
            "cannot reach the database",
        ),
        (["consensus", "."], {}, "is a folder; name a file"),
    ],
    ids=["unreachable-postgres", "consensus-on-a-folder"],
)
def test_the_installed_command_prints_one_line_and_no_traceback(
    tmp_path: Path, args: list[str], extra: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=tmp_path,
        env=_subprocess_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == USAGE, output
    assert "Traceback" not in output
    assert message in output
    assert "pw-not-shown" not in output
    assert len(output.strip().splitlines()) <= 2, output
