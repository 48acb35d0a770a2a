"""`quorum eval run`'s head start (bot/cli/eval/head_start.py): which raw arguments start the
worker forkserver before the CLI loads, and with litellm preloaded or not; a guess that
never turns a bad command into anything but the command's own friendly error."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cli.eval.head_start import WorkerOptions, forkserver_preload, read_options
from bot.runtime.config import QuorumConfig, parse_config
from tests.cli.quorum_process import run_quorum

SELF_HOSTED = "http://127.0.0.1:9/v1"  # an OpenAI-compatible server: asked without litellm


def _member(name: str, model: str, api_base: str | None = SELF_HOSTED) -> dict[str, Any]:
    params: dict[str, Any] = {"model": model, "api_key": "sk-test"}
    if api_base is not None:
        params["api_base"] = api_base
    return {"model_name": name, "litellm_params": params}


def _config(*, judge: dict[str, Any] | None = None, shadow: bool = False) -> QuorumConfig:
    data: dict[str, Any] = {
        "panel": [_member("local-a", "openai/a"), _member("local-b", "openai/b")]
    }
    if shadow:
        data["shadow"] = [_member("claude", "anthropic/claude-3-5-haiku", api_base=None)]
    if judge is not None:
        data["judge"] = judge
    return parse_config(data)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], WorkerOptions()),
        (["--set", "all", "--samples", "3", "--json"], WorkerOptions()),
        (["--queue"], WorkerOptions(queue=True)),
        (["--workers", "1"], WorkerOptions(workers=1)),
        (["--workers=4", "--no-judge"], WorkerOptions(workers=4, use_judge=False)),
        (["--models", "a, b", "--tag", "x"], WorkerOptions(model_names=("a", "b"))),
        (["--help"], None),
        (["--workers", "many"], None),
        (["--workers"], None),
    ],
)
def test_reads_only_the_options_that_decide_workers(
    args: list[str], expected: WorkerOptions | None
) -> None:
    assert read_options(args) == expected


@given(st.lists(st.text(max_size=12), max_size=8))
def test_any_arguments_are_read_or_refused_never_raise(args: list[str]) -> None:
    assert read_options(args) is None or isinstance(read_options(args), WorkerOptions)


def test_members_on_openai_compatible_servers_need_no_litellm_in_the_forkserver() -> None:
    assert forkserver_preload(_config(), WorkerOptions()) is False
    assert forkserver_preload(_config(), WorkerOptions(workers=2)) is False


def test_a_member_or_judge_asked_through_litellm_is_preloaded() -> None:
    # The shadow member is Anthropic's: litellm asks it.
    assert forkserver_preload(_config(shadow=True), WorkerOptions()) is True
    # ... unless --models leaves it out.
    only_local = WorkerOptions(model_names=("local-a",))
    assert forkserver_preload(_config(shadow=True), only_local) is False

    judge = {"model_name": "judge", "litellm_params": {"model": "openai/gpt-4o-mini"}}
    assert forkserver_preload(_config(judge=judge), WorkerOptions()) is True
    assert forkserver_preload(_config(judge=judge), WorkerOptions(use_judge=False)) is False


def test_no_forkserver_when_the_run_uses_no_worker_process_here() -> None:
    config = _config(shadow=True)
    assert forkserver_preload(config, WorkerOptions(queue=True)) is None
    assert forkserver_preload(config, WorkerOptions(workers=1)) is None
    # An unknown model: the command refuses it with its own message; nothing starts.
    assert forkserver_preload(config, WorkerOptions(model_names=("nope",))) is None


def _quorum(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_quorum(tmp_path, "eval", "run", *args)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("panel: [\n", "quorum.yaml"),  # not YAML
        ("panel:\n  - model_name: x\n", "litellm_params"),  # a member without a model
    ],
)
def test_a_broken_config_is_the_commands_own_friendly_error(
    tmp_path: Path, config: str, says: str
) -> None:
    (tmp_path / "quorum.yaml").write_text(config, encoding="utf-8")
    done = _quorum(tmp_path, "--workers", "2", "--no-judge")
    assert done.returncode == 2, done.stderr[-2000:]
    assert says in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.slow
def test_bad_options_are_typers_error_not_the_head_starts(tmp_path: Path) -> None:
    (tmp_path / "quorum.yaml").write_text(
        "panel:\n  - model_name: m\n    litellm_params: {model: openai/m, api_base: "
        f"'{SELF_HOSTED}'}}\n",
        encoding="utf-8",
    )
    done = _quorum(tmp_path, "--workers", "lots")
    assert done.returncode == 2
    assert "Invalid value for '--workers'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
