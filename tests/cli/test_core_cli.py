"""`quorum ask`, `consensus`, `run`, `db` and `doctor` as a user runs them: real
subprocesses, the real litellm path against the fake OpenAI-compatible server, a real
SQLite file, the bundled embedding model."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fakes.openai_server import Failure, FakeOpenAIServer

pytestmark = pytest.mark.slow


def _config(tmp_path: Path, server: FakeOpenAIServer, names: list[str]) -> Path:
    panel = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name}",
                "api_base": server.base_url,
                "api_key": "os.environ/FAKE_PROVIDER_KEY",
            },
            "timeout": 5,
            "max_retries": 1,
        }
        for name in names
    ]
    path = tmp_path / "quorum.yaml"
    path.write_text(yaml.safe_dump({"panel": panel}))
    return path


def _env(tmp_path: Path, config: Path | None = None, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "QUORUM_", "DATABASE_URL", "OPENAI", "ANTHROPIC", "GEMINI"))
    }
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        DATABASE_URL=f"sqlite:///{tmp_path / 'quorum.db'}",
        FAKE_PROVIDER_KEY="sk-test-not-a-real-key-123456",
        COLUMNS="200",
    )
    if config is not None:
        env["QUORUM_CONFIG"] = str(config)
    env.update(extra)
    return env


def quorum(
    *args: str, env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_ask_prints_and_stores_a_calibrated_consensus(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(
        "alpha", reply="Paris is the capital of France.", resolved_model="alpha-2024-07-18"
    )
    fake_openai.script("beta", reply="The capital of France is Paris.")
    fake_openai.script("gamma", reply="Berlin is the capital of France.")
    fake_openai.fail("beta", Failure.rate_limited(retry_after=0.01))  # retried, then answers
    config = _config(tmp_path, fake_openai, ["alpha", "beta", "gamma"])
    env = _env(tmp_path, config)

    result = quorum("ask", "What is the capital of France?", "--json", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    consensus = data["consensus"]
    assert consensus["status"] == "ok"
    assert consensus["model"] in {"alpha", "beta"}
    assert "Paris" in consensus["text"]
    assert 0.0 <= consensus["confidence"] <= 1.0
    assert "gamma" in consensus["dissenters"]
    by_member = {a["member"]: a for a in data["answers"]}
    assert by_member["alpha"]["resolved_model"] == "alpha-2024-07-18"
    assert by_member["beta"]["error"] is None and fake_openai.calls("beta") == 2
    assert all(a["latency_ms"] >= 0 and a["prompt_tokens"] for a in data["answers"])

    rows = (
        sqlite3.connect(tmp_path / "quorum.db")
        .execute("select question, consensus_member, confidence, origin from panel_runs")
        .fetchall()
    )
    assert rows == [
        (
            "What is the capital of France?",
            consensus["model"],
            pytest.approx(consensus["confidence"], abs=1e-3),
            "cli",
        )
    ]
    (answers,) = (
        sqlite3.connect(tmp_path / "quorum.db").execute("select count(*) from answers").fetchone()
    )
    assert answers == 3
    assert "sk-test-not-a-real-key" not in result.stdout + result.stderr


def test_ask_for_people_shows_the_consensus_and_a_per_model_table(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    for name in ("alpha", "beta"):
        fake_openai.script(
            name, reply="Use exponential backoff with jitter and honour Retry-After."
        )
    config = _config(tmp_path, fake_openai, ["alpha", "beta"])
    data = yaml.safe_load(config.read_text())
    for member in data["panel"]:  # priced, but far too cheap to show in four decimals
        member["litellm_params"]["input_cost_per_token"] = 1e-12
        member["litellm_params"]["output_cost_per_token"] = 1e-12
    config.write_text(yaml.safe_dump(data))
    env = _env(tmp_path, config)

    result = quorum("ask", "How should a client handle HTTP 429?", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "likely right" in result.stdout and "2 of 2 models agree" in result.stdout
    assert "alpha" in result.stdout and "beta" in result.stdout and "latency" in result.stdout
    # each tiny cost, and their total, print as "<$0.0001", never "$0.0000"
    assert result.stdout.count("<$0.0001") == 3, result.stdout
    assert "$0.0000" not in result.stdout


def test_ask_fits_80_columns_says_what_it_is_doing_and_gives_each_models_gist(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    long = (
        "Back off exponentially with random jitter: wait one second, then two, then four, "
        "and always honour Retry-After when the server sends it. Give up after five tries."
    )
    fake_openai.script("alpha", reply=long)
    fake_openai.script("beta", reply=long)
    fake_openai.script("gamma", reply="Retry at once, as fast as you can. Servers like that.")
    env = _env(tmp_path, _config(tmp_path, fake_openai, ["alpha", "beta", "gamma"]), COLUMNS="80")

    result = quorum("ask", "How should a client handle HTTP 429?", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    # the verdict is the panel's title; the answer is wrapped between words, not cut
    assert re.search(r"╭─ .*\d of 3 models agree · \d+% likely right", lines[0]), lines[0]
    flat = " ".join(line.strip("│ ").strip() for line in lines)
    assert "always honour Retry-After when the server sends it. Give up after five tries." in (
        " ".join(flat.split())
    )
    # one line per model: what it said
    gists = [line for line in lines if line.startswith(("= ", "≠ ", "✗ "))]
    assert len(gists) == 3
    assert any(g[2:].startswith("gamma: Retry at once, as fast as you can.") for g in gists)
    assert "(= agrees with the answer above, ≠ differs, ✗ failed)" in lines
    assert all(not g.rstrip("…").endswith("-") for g in gists)
    # the wait for the embedding model is announced, not a blank screen
    assert "Loading the embedding model" in result.stderr


def test_ask_when_every_model_fails_says_so_stores_the_run_and_exits_1(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.fail("alpha", Failure.auth())
    fake_openai.fail("beta", Failure.bad_request())
    env = _env(tmp_path, _config(tmp_path, fake_openai, ["alpha", "beta"]))

    result = quorum("ask", "Anything?", env=env, cwd=tmp_path)

    assert result.returncode == 1
    assert "No answer" in result.stdout and "none of the 2 models could answer" in result.stdout
    assert "rejected our credentials" in result.stdout
    assert re.search(r"ref Q-[0-9A-F]{8}", result.stdout)
    assert "Traceback" not in result.stderr
    (count,) = (
        sqlite3.connect(tmp_path / "quorum.db")
        .execute("select count(*) from panel_runs")
        .fetchone()
    )
    assert count == 1


def test_ask_names_a_missing_provider_key_and_calls_no_model(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    env = _env(tmp_path, _config(tmp_path, fake_openai, ["alpha", "beta"]))
    del env["FAKE_PROVIDER_KEY"]

    result = quorum("ask", "Anything?", env=env, cwd=tmp_path)

    assert result.returncode == 2
    assert "FAKE_PROVIDER_KEY" in result.stderr
    assert fake_openai.calls() == 0


def test_consensus_scores_recorded_panels_and_reports_bad_lines(tmp_path: Path) -> None:
    good = {
        "id": "q1",
        "question": "Capital of France?",
        "answers": [
            {"model": "m1", "text": "Paris.", "correct": True},
            {"model": "m2", "text": "It is Paris.", "correct": True},
            {"model": "m3", "text": "I have no comment.", "correct": False},
        ],
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"id": 2, "question": "x"}),
        json.dumps({**good, "id": "q2"}),
    ]
    infile = tmp_path / "in.jsonl"
    infile.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"

    result = quorum("consensus", str(infile), "-o", str(out), env=_env(tmp_path), cwd=tmp_path)

    assert result.returncode == 1  # some lines were bad; the rest were still scored
    assert "line 2:" in result.stderr and "not valid JSON" in result.stderr
    assert "line 3:" in result.stderr and "answers" in result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["q1", "q2"]
    for record in records:
        assert {
            "id",
            "consensus_model",
            "consensus_text",
            "confidence",
            "clusters",
            "agreement",
        } <= set(record)
        assert record["consensus_model"] in {"m1", "m2"}
        assert 0.0 <= record["confidence"] <= 1.0
        assert set(record["agreement"]) == {"m1", "m2", "m3"}
    assert "pick accuracy" in result.stderr  # labelled input: the quality table is printed


def test_consensus_reads_stdin_and_writes_stdout(tmp_path: Path) -> None:
    line = json.dumps(
        {
            "id": 7,
            "question": "2+2?",
            "answers": [{"model": "a", "text": "4"}, {"model": "b", "text": "4"}],
        }
    )
    result = quorum("consensus", "-", env=_env(tmp_path), cwd=tmp_path, stdin=line + "\n")
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert record["id"] == 7 and record["clusters"] == [["a", "b"]]


def test_run_without_credentials_names_exactly_what_to_set(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    env = _env(tmp_path, _config(tmp_path, fake_openai, ["alpha"]))
    del env["FAKE_PROVIDER_KEY"]

    result = quorum("run", env=env, cwd=tmp_path)

    assert result.returncode == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "FAKE_PROVIDER_KEY"):
        assert name in result.stderr
    assert "SLACK_APP_TOKEN" not in result.stderr  # HTTP mode does not need it


def test_db_upgrade_then_current(tmp_path: Path) -> None:
    env = _env(tmp_path)
    first = quorum("db", "upgrade", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "upgraded from empty" in first.stdout
    again = quorum("db", "upgrade", env=env, cwd=tmp_path)
    assert "already at the latest revision" in again.stdout
    current = quorum("db", "current", env=env, cwd=tmp_path)
    assert current.returncode == 0 and current.stdout.strip()


def test_doctor_checks_each_model_the_database_and_the_embedder(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.fail("beta", Failure.auth())
    env = _env(tmp_path, _config(tmp_path, fake_openai, ["alpha", "beta"]))

    result = quorum("doctor", env=env, cwd=tmp_path)

    assert result.returncode == 1  # beta's key is rejected
    assert "model alpha" in result.stdout and "answered" in result.stdout
    assert "model beta" in result.stdout and "credentials" in result.stdout
    assert "database" in result.stdout and "embedder" in result.stdout
    assert "SLACK_BOT_TOKEN" in result.stdout  # a warning, not a failure


def _labelled_file(path: Path, source: str, panels: int, offset: int) -> Path:
    lines = []
    for k in range(panels):
        right, wrong = 100 + k, 900 + k
        answers = [
            {"model": "a", "text": f"There are {right} of them.", "correct": True},
            {"model": "b", "text": f"I count {right}.", "correct": True},
            {"model": "c", "text": f"Exactly {wrong}.", "correct": k % 3 == 0},
        ]
        if k % 3 == 0:  # some panels where the majority is wrong, so both outcomes occur
            answers = [
                {"model": "a", "text": f"There are {wrong} of them.", "correct": False},
                {"model": "b", "text": f"I count {wrong}.", "correct": False},
                {"model": "c", "text": f"Exactly {right}.", "correct": True},
            ]
        question = f"How many items are in box {offset + k}?"
        lines.append(
            json.dumps({"id": k, "question": question, "answers": answers, "source": source})
        )
    # A raw U+2028 inside a JSON string is valid JSON Lines and must not split the record.
    lines[0] = lines[0].replace("items", "items\u2028")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_calibrate_fits_on_several_files_and_reports_each_source(tmp_path: Path) -> None:
    first = _labelled_file(tmp_path / "one.jsonl", "source-one", 24, 0)
    second = _labelled_file(tmp_path / "two.jsonl", "source-two", 24, 100)
    out = tmp_path / "cal.json"

    result = quorum(
        "calibrate",
        str(first),
        str(second),
        "-o",
        str(out),
        "--folds",
        "3",
        "--label",
        "our labelled panels",
        env=_env(tmp_path),
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert "Held-out quality per source" in result.stdout
    assert "source-one" in result.stdout and "source-two" in result.stdout
    saved = json.loads(out.read_text())
    assert [d["file"] for d in saved["provenance"]["data"]] == ["one.jsonl", "two.jsonl"]
    assert saved["provenance"]["data_label"] == "our labelled panels"
    assert set(saved["members"]) == {"a", "b", "c"}
    assert set(saved["provenance"]["cross_validation"]["per_source"]) == {
        "source-one",
        "source-two",
    }

    missing = quorum("calibrate", str(tmp_path / "nope.jsonl"), env=_env(tmp_path), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_doctor_counts_a_missing_key_once_however_many_models_use_it(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    env = _env(tmp_path, _config(tmp_path, fake_openai, ["alpha", "beta", "gamma"]))
    del env["FAKE_PROVIDER_KEY"]

    result = quorum("doctor", env=env, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stdout.count("FAKE_PROVIDER_KEY") >= 1
    assert "1 check(s) failed." in result.stdout  # the key, not the key and three models
    assert result.stdout.count("not tried: FAKE_PROVIDER_KEY is not set") == 3
    assert fake_openai.calls() == 0
