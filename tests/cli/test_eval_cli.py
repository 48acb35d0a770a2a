"""`quorum eval ...` end to end: real litellm calls to the fake OpenAI-compatible server,
a real SQLite database, the output a user sees and the exit codes CI relies on."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import bot.cli.eval.commands  # noqa: F401  (registers the commands)
import bot.cli.eval.commands as eval_cli
from bot.cli import app
from bot.cli.edge import load_settings_and_config, out
from bot.cli.eval.output import limits_text
from bot.runtime.services import command_services
from bot.schedule import jobs
from evals.cases.redaction import redacted
from evals.cases.schema import CaseInput, CaseSet, CaseStatus, EvalCase
from evals.models.litellm_client import LiteLLMClient
from evals.records import ChatMessage, ModelAnswer, PanelMember
from evals.runs.runner import LimitWait, Progress
from storage import case_repo, eval_repo
from storage.db import Database
from storage.tables.jobs import JobStatus
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.slack_requests import TEAM_ID

PASS = '{"score": 5, "pass": true, "reason": "correct", "failure_mode": null}'
FAIL = '{"score": 1, "pass": false, "reason": "wrong city", "failure_mode": "wrong_fact"}'


def judge_reply(messages: list[dict[str, Any]]) -> str:
    graded = str(messages[-1]["content"])
    return PASS if "\nParis\n" in graded else FAIL


def flat(text: str) -> str:
    """Output with the console's line wrapping undone."""
    return " ".join(text.split())


class Env:
    def __init__(self, tmp_path: Path, server: FakeOpenAIServer) -> None:
        self.tmp = tmp_path
        self.server = server
        self.url = f"sqlite:///{tmp_path}/quorum.db"
        self.runner = CliRunner()

    def model(self, name: str, cost: float = 0.001) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name}",
                "api_base": self.server.base_url,
                "api_key": "sk-test",
                "input_cost_per_token": cost,
                "output_cost_per_token": cost,
            },
            "max_retries": 0,
        }

    def write_config(self, *, judge: bool = True, shadow: bool = False) -> None:
        config: dict[str, Any] = {"panel": [self.model("good"), self.model("bad")]}
        if shadow:
            config["shadow"] = [self.model("candidate")]
        if judge:
            config["judge"] = {
                "model_name": "judge",
                "litellm_params": {
                    "model": "openai/judge",
                    "api_base": self.server.base_url,
                    "api_key": "sk-test",
                },
            }
        (self.tmp / "quorum.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    def add_cases(self, n: int = 4) -> None:
        cases = [
            redacted(
                EvalCase(
                    id=f"case-{i}",
                    input=CaseInput(question=f"What is the capital of France? ({i})"),
                    must_include=["Paris"],
                    category="geo",
                    set=CaseSet.GOLDEN,
                    status=CaseStatus.ACTIVE,
                )
            )
            for i in range(n)
        ]
        db = Database(self.url)
        try:
            db.ensure_schema()
            with db.session() as s:
                case_repo.add_cases(s, cases, actor="test", workspace=TEAM_ID)
        finally:
            db.dispose()

    def invoke(self, *args: str) -> Any:
        return self.runner.invoke(app, list(args), catch_exceptions=False)

    def report(self, run_id: int) -> Any:
        db = Database(self.url)
        try:
            with db.session() as s:
                return eval_repo.load_report(s, run_id, workspace=TEAM_ID)
        finally:
            db.dispose()


@pytest.fixture
def env(
    tmp_path: Path, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Env]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUORUM_CONFIG", str(tmp_path / "quorum.yaml"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/quorum.db")
    fake_openai.script("good", reply="Paris")
    fake_openai.script("bad", reply="Berlin")
    fake_openai.script("candidate", reply="Paris")
    fake_openai.script("judge", reply=judge_reply)
    e = Env(tmp_path, fake_openai)
    e.write_config()
    e.add_cases()
    yield e


def test_a_run_scores_stores_and_says_which_difference_is_real(env: Env) -> None:
    result = env.invoke("eval", "run", "--no-judge", "--samples", "2", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    rates = {m["model"]: m["pass_rate"] for m in summary["models"]}
    assert rates == {"good": 1.0, "bad": 0.0}
    assert summary["status"] == "complete" and summary["run_id"] == 1
    assert summary["comparisons"][0]["verdict"].startswith("difference within noise (n = 4")
    assert env.server.calls("good") == env.server.calls("bad") == 8
    assert env.server.calls("judge") == 0

    stored = env.report(1)
    assert len(stored.results) == 16
    rec = stored.record
    assert rec.case_set == "golden" and rec.case_count == 4 and rec.samples == 2
    assert [(m.name, m.model, m.resolved) for m in rec.models] == [
        ("good", "openai/good", "good"),
        ("bad", "openai/bad", "bad"),
    ]
    assert rec.system_prompt and rec.total_cost_usd > 0 and rec.finished_at is not None

    html_file = env.tmp / "report.html"
    shown = env.invoke("eval", "report", "1", "--format", "html", "-o", str(html_file))
    assert shown.exit_code == 0
    page = html_file.read_text(encoding="utf-8")
    assert "<svg" in page and 'class="sortable"' in page and "Reproducibility record" in page
    md = env.invoke("eval", "report", "latest")
    assert md.exit_code == 0 and "# Eval run 1: golden set, COMPLETE" in md.stdout


@pytest.mark.parametrize("width", [80, 200])
def test_the_outcome_shows_every_model_and_figure_uncropped_at_any_width(
    env: Env, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    """At 80 columns rich squeezed the table's model column to nothing and cut p95 off; a
    table that does not fit is now a line per model."""
    long_name = "anthropic-claude-sonnet-4-5-20250929-on-bedrock"
    config = {"panel": [env.model("good"), env.model(long_name)]}
    (env.tmp / "quorum.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setattr(out, "width", width)
    result = env.invoke("eval", "run", "--no-judge", "--samples", "1")
    assert result.exit_code == 0, result.output
    shown = result.stdout
    assert "…" not in shown, shown
    for text in ("good", long_name, "100% (4/4)", "0% (0/4)", "95% CI", "p95", "pass^1"):
        assert text in shown, (text, shown)
    table = "─" * 10 in shown
    assert table is (width == 200), shown
    if table:
        assert all(len(line) <= width for line in shown.splitlines()[:5]), shown


def test_the_judge_grades_blind_with_structured_output(env: Env) -> None:
    result = env.invoke("eval", "run", "--samples", "1")
    assert result.exit_code == 0, result.output
    assert "Eval run 1: complete" in result.stdout
    assert "good" in result.stdout and "100% (4/4)" in result.stdout
    judge_requests = [r for r in env.server.requests if r.model == "judge"]
    assert len(judge_requests) == 8
    assert judge_requests[0].body.get("response_format") == {"type": "json_object"}
    assert all("openai/good" not in json.dumps(r.messages) for r in judge_requests)
    stored = env.report(1)
    bad = next(r for r in stored.results if r.model == "bad")
    assert bad.verdict is not None and bad.verdict.failure_mode == "wrong_fact"
    assert stored.record.judge_model == "openai/judge" and stored.record.judge_prompt_hash


def test_a_budget_stop_gives_a_partial_run_and_resume_asks_nothing_twice(env: Env) -> None:
    stopped = env.invoke(
        "eval", "run", "--no-judge", "--samples", "2", "--concurrency", "1", "--max-cost", "0.1"
    )
    assert stopped.exit_code == 3, stopped.output
    assert "PARTIAL" in stopped.stdout and "budget" in stopped.stdout
    assert "quorum eval run --resume 1" in stopped.stdout
    first = env.server.calls()
    assert 0 < first < 16
    report = env.invoke("eval", "report", "1")
    assert "PARTIAL RUN" in report.stdout

    resumed = env.invoke("eval", "run", "--resume", "1", "--max-cost", "100")
    assert resumed.exit_code == 0, resumed.output
    # Every (case, model, sample) was asked exactly once across both parts.
    assert env.server.calls("good") == env.server.calls("bad") == 8
    asked = [(r.model, r.messages[-1]["content"]) for r in env.server.requests]
    assert len(asked) == 16
    stored = env.report(1)
    assert stored.status.value == "complete" and len(stored.results) == 16

    done = env.invoke("eval", "run", "--resume", "1")
    assert done.exit_code == 2 and "only a running (interrupted) or partial run" in flat(
        done.output
    )


def test_regressions_are_found_and_fail_ci_when_asked(env: Env) -> None:
    env.server.script("bad", reply="Paris")
    first = env.invoke("eval", "run", "--no-judge", "--samples", "1")
    assert first.exit_code == 0, first.output
    env.server.script("bad", reply="Berlin")
    second = env.invoke("eval", "run", "--no-judge", "--samples", "1", "--fail-on-regression")
    assert second.exit_code == 1, second.output
    assert "Regressions vs run 1: 4" in second.stdout
    assert "case-0 · bad" in second.stdout
    assert "Cases regressed since the previous run" in flat(second.output)

    compare = env.invoke("eval", "compare", "1", "2")
    assert compare.exit_code == 0
    assert "# Run 2 vs run 1" in compare.stdout and "## Regressions (4)" in compare.stdout
    md = env.invoke("eval", "report", "2")
    assert "## Regressions vs run 1 (4)" in md.stdout


def test_fail_under_gates_every_model(env: Env) -> None:
    low = env.invoke("eval", "run", "--no-judge", "--samples", "1", "--fail-under", "0.8")
    assert low.exit_code == 1 and "bad passes 0%, under --fail-under 80%" in flat(low.output)
    only_good = env.invoke(
        "eval", "run", "--no-judge", "--samples", "1", "--models", "good", "--fail-under", "80%"
    )
    assert only_good.exit_code == 0, only_good.output


def test_shadow_members_and_litellm_strings_join_the_run(env: Env) -> None:
    env.write_config(judge=False, shadow=True)
    result = env.invoke("eval", "run", "--samples", "1", "--json")
    assert result.exit_code == 0, result.output
    models = [m["model"] for m in json.loads(result.stdout)["models"]]
    assert models == ["good", "bad", "candidate"]
    # the HTML report marks the shadow candidate
    html_file = env.tmp / "shadow.html"
    shown = env.invoke("eval", "report", "latest", "--format", "html", "-o", str(html_file))
    assert shown.exit_code == 0, shown.output
    page = html_file.read_text(encoding="utf-8")
    assert page.count('<tr class="shadow">') == 1
    assert 'candidate<span class="tag">shadow</span>' in page
    unknown = env.invoke("eval", "run", "--models", "nope")
    assert unknown.exit_code == 2 and "unknown model 'nope'" in flat(unknown.output)


def test_eval_list_fits_80_columns_without_cutting_words(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_names = ("openai-gpt-4.1-mini-2025-04-14", "anthropic-claude-sonnet-4-20250514")
    for name in long_names:
        env.server.script(name, reply="Paris")
    config = yaml.safe_load((env.tmp / "quorum.yaml").read_text(encoding="utf-8"))
    config["panel"] += [env.model(name) for name in long_names]
    (env.tmp / "quorum.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    for _ in range(2):
        ran = env.invoke("eval", "run", "--no-judge", "--samples", "3", "--json")
        assert ran.exit_code == 0, ran.output
    monkeypatch.setenv("COLUMNS", "80")
    listed = env.invoke("eval", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, listed.stdout
    assert "…" not in listed.stdout and not any(line.endswith(" ") for line in lines)
    head = next(line for line in lines if line.lstrip().startswith("run"))
    assert head.split() == [
        "run",
        "started",
        "(UTC)",
        "set",
        "dataset",
        "status",
        "samples",
        "cost",
    ]
    rows = [line.split() for line in lines if line.lstrip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["2", "1"]  # latest first
    for row in rows:
        assert len(row[1]) == 10 and len(row[2]) == 5  # 2026-11-22 14:14: the date whole
        assert row[3:7] == ["golden", row[4], "complete", "48/48"] and len(row[4]) == 12
        assert row[7].startswith("$")
    # every model name whole on one line, under its run
    for name in ("good", "bad", *long_names):
        assert sum(name in line for line in lines) == 2, listed.stdout
    assert sum(line.strip().startswith("models: good, bad,") for line in lines) == 2

    empty = Env(env.tmp / "empty", env.server)
    (env.tmp / "empty").mkdir()
    monkeypatch.setenv("DATABASE_URL", empty.url)
    none = env.invoke("eval", "list")
    assert none.exit_code == 0 and "No eval runs yet" in none.stdout


def test_bad_usage_is_a_friendly_error(env: Env) -> None:
    none = env.invoke("eval", "run", "--set", "rotating")
    assert none.exit_code == 2 and "No active cases in the rotating set" in flat(none.output)
    bad_rate = env.invoke("eval", "run", "--fail-under", "lots")
    assert bad_rate.exit_code == 2 and "is not a rate" in flat(bad_rate.output)
    missing = env.invoke("eval", "report", "42")
    assert missing.exit_code == 2 and "There is no eval run 42" in flat(missing.output)


def test_judge_calibration_against_a_labelled_file(env: Env) -> None:
    def line(answer: str, label: object) -> dict[str, object]:
        return {"question": "Capital of France?", "answer": answer, "label": label}

    lines = [line("Paris", "pass")] * 12 + [line("Berlin", "fail")] * 10
    # People disagree with the judge on three answers (labels may be booleans too).
    lines += [line("Berlin", True)] * 3
    path = env.tmp / "labels.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    result = env.invoke("judge", "calibrate", str(path), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["labels"] == 25 and data["agreement"] == pytest.approx(22 / 25)
    assert data["kappa"] == pytest.approx(0.7619, abs=1e-3) and data["warnings"] == []

    few = env.tmp / "few.jsonl"
    few.write_text("\n".join(json.dumps(x) for x in lines[:5] + lines[-3:]), encoding="utf-8")
    warned = env.invoke("judge", "calibrate", str(few))
    assert warned.exit_code == 0
    assert "only 8 labels" in flat(warned.output) and "below 0.6" in warned.output

    broken = env.tmp / "broken.jsonl"
    broken.write_text('{"question": "q", "answer": "a"}\n', encoding="utf-8")
    bad = env.invoke("judge", "calibrate", str(broken))
    assert bad.exit_code == 2 and "broken.jsonl:1: missing label" in flat(bad.output)


def test_calibration_without_production_labels_says_what_to_do(env: Env) -> None:
    result = env.invoke("judge", "calibrate")
    assert result.exit_code == 2
    assert "No labelled answers in production thumbs and corrections" in flat(result.output)


def test_an_interrupted_run_keeps_what_finished_and_resumes(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:

    class InterruptedClient(LiteLLMClient):
        """The user presses Ctrl-C (a real SIGINT) while the sixth call is on its way."""

        calls = 0

        async def complete(
            self, member: PanelMember, messages: Sequence[ChatMessage]
        ) -> ModelAnswer:
            InterruptedClient.calls += 1
            if InterruptedClient.calls == 6:
                signal.raise_signal(signal.SIGINT)
                await asyncio.sleep(5)  # cancelled at once by asyncio's Ctrl-C handling
            return await super().complete(member, messages)

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("Ctrl-C is handled by the test runner here; cannot simulate it safely")
    monkeypatch.setattr(eval_cli, "client_factory", InterruptedClient)
    stopped = env.invoke("eval", "run", "--no-judge", "--samples", "2", "--concurrency", "1")
    assert stopped.exit_code == 130
    assert "quorum eval run --resume 1" in flat(stopped.output)
    asked_before = env.server.calls()
    assert asked_before == 5
    assert env.report(1).status.value == "running" and len(env.report(1).results) == 5

    monkeypatch.setattr(eval_cli, "client_factory", None)
    resumed = env.invoke("eval", "run", "--resume", "1")
    assert resumed.exit_code == 0, resumed.output
    assert env.server.calls() == 16  # the 5 stored samples were not asked again
    assert env.report(1).status.value == "complete"


def _comparable(report: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """What a run stored, less what differs between any two runs (times, wall time)."""
    results = [{k: v for k, v in r.to_dict().items() if k != "latency_ms"} for r in report.results]
    record = {
        k: v
        for k, v in report.record.to_dict().items()
        if k not in {"started_at", "finished_at", "total_latency_ms"}
    }
    return results, record


def test_the_scheduled_benchmark_and_eval_run_share_one_code_path(env: Env) -> None:
    """`quorum eval run --set all` and the weekly job, on the same cases and the same
    (fake) providers, store the same run: same samples, scores, verdicts and record."""
    env.write_config(judge=True, shadow=True)
    cli = env.invoke("eval", "run", "--set", "all", "--json")
    assert cli.exit_code == 0, cli.output

    settings, config = load_settings_and_config()
    services = command_services(settings, config)
    try:
        outcome = asyncio.run(jobs.run_job(services, "benchmark", workspace=TEAM_ID))
    finally:
        services.close()
    assert outcome.status is JobStatus.DONE, outcome.detail
    assert outcome.detail.startswith("eval run 2 ")

    by_cli, by_job = env.report(1), env.report(2)
    assert by_cli.status == by_job.status
    assert len(by_job.results) == 4 * 3 * 3  # cases x (panel + shadow) x samples
    assert {r.model for r in by_job.results} == {"good", "bad", "candidate"}
    assert any(r.verdict is not None for r in by_job.results)
    assert _comparable(by_job) == _comparable(by_cli)


@pytest.mark.parametrize(
    ("args", "queue", "said"),
    [
        ([], None, "--queue needs QUORUM_TASK_QUEUE"),
        ([], "postgresql://q@127.0.0.1/q", "--queue needs DATABASE_URL on PostgreSQL"),
        (["--workers", "2"], "postgresql://q@127.0.0.1/q", "--workers and --queue don't go"),
        (["--concurrency", "4"], "postgresql://q@127.0.0.1/q", "its own --concurrency"),
        (["--per-model", "2"], "postgresql://q@127.0.0.1/q", "its own --concurrency"),
        (["--max-cost", "1"], "postgresql://q@127.0.0.1/q", "--max-cost needs the run in one"),
    ],
)
def test_queue_refuses_what_it_cannot_honour_before_anything_runs(
    env: Env, monkeypatch: pytest.MonkeyPatch, args: list[str], queue: str | None, said: str
) -> None:
    if queue is None:
        monkeypatch.delenv("QUORUM_TASK_QUEUE", raising=False)
    else:
        monkeypatch.setenv("QUORUM_TASK_QUEUE", queue)
    result = env.invoke("eval", "run", "--queue", "--no-judge", *args)
    assert result.exit_code == 2, result.output
    assert said in flat(result.output)
    assert "Traceback" not in result.output
    assert env.server.calls() == 0
    db = Database(env.url)
    try:
        with db.session() as s:
            assert eval_repo.list_runs(s, workspace=TEAM_ID) == []
    finally:
        db.dispose()


def test_a_rate_limited_provider_loses_no_sample_and_the_json_says_what_it_cost(
    env: Env,
) -> None:
    env.server.rate_limit(rpm=1200, burst_s=0.1)  # 20 a second per model; Quorum not told
    result = env.invoke("eval", "run", "--no-judge", "--samples", "2", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "complete"
    models = {m["model"]: m for m in summary["models"]}
    assert {m: s["errors"] for m, s in models.items()} == {"good": 0, "bad": 0}
    assert env.server.refused() > 0
    for name in ("good", "bad"):
        assert models[name]["throttled"] == env.server.refused(name)
        assert models[name]["error_kinds"] == {}
    assert sum(m["throttle_wait_s"] for m in models.values()) > 0
    stored = env.report(1)  # what limits cost is stored with each sample
    assert sum(r.throttled for r in stored.results) == env.server.refused()
    md = env.invoke("eval", "report", "1")
    assert "## Rate limits and errors" in md.stdout
    page = env.tmp / "limits.html"
    env.invoke("eval", "report", "1", "--format", "html", "-o", str(page))
    html = page.read_text(encoding="utf-8")
    assert "<h2>Rate limits and errors</h2>" in html
    assert f'<td data-v="{models["good"]["throttled"]}">' in html


def test_the_deadline_ends_the_wait_and_the_report_says_which_kind_of_error(
    env: Env,
) -> None:
    env.server.rate_limit("good", rpm=1, burst_s=0)  # one answer, then a minute's wait
    result = env.invoke("eval", "run", "--no-judge", "--samples", "1", "--deadline", "1s", "--json")
    assert result.exit_code == 3, result.output  # not complete: CI must not pass it
    summary = json.loads(result.stdout)
    models = {m["model"]: m for m in summary["models"]}
    assert models["bad"]["errors"] == 0
    assert models["good"]["error_kinds"] == {"deadline": models["good"]["errors"]}
    assert models["good"]["errors"] >= 1
    assert models["good"]["throttled"] >= 1
    bad = env.invoke("eval", "run", "--deadline", "soon")
    assert bad.exit_code == 2 and "--deadline: 'soon' is not a duration" in flat(bad.output)


def test_the_progress_line_names_each_throttled_model() -> None:
    quiet = Progress(3, 10, 0, 0.0, 1.0, 2.0)
    assert limits_text(quiet) == ""
    busy = Progress(3, 10, 0, 0.0, 1.0, 2.0, {"alpha": LimitWait(12, 34.2), "beta": LimitWait(0)})
    assert limits_text(busy) == "rate limited: alpha 12× 34s"
