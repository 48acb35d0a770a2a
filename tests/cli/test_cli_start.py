"""Fast start: commands that call no model, embed nothing and fit nothing import none of
the heavy libraries (issue 13 item 4). A rule on what is imported, read from Python's own
``-X importtime`` report of a real `quorum` process, not a wall-clock assertion."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from storage.db import Database
from tests.cli.quorum_process import run_quorum
from tests.cli.test_eval_cli import Env
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.slow

#: Each costs 0.3-3 s to import (measured with `python -m bench.cli_start`).
HEAVY = ("litellm", "torch", "sentence_transformers", "sklearn", "matplotlib", "alembic", "scipy")

_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$", re.MULTILINE)


def _imports(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    done = run_quorum(tmp_path, *args, python_flags=["-X", "importtime"])
    modules = set(_IMPORTED.findall(done.stderr))
    assert modules, done.stderr[-2000:]  # the report is there: the rule below can fail
    return done, modules


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


#: What only running a command needs: the database layer, numpy, the settings loader,
#: the scheduler, Slack's SDK. Registering the commands for `--help` imports none of it.
RUN_ONLY = ("sqlalchemy", "numpy", "pydantic_settings", "apscheduler", "slack_sdk", "yaml")


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    done, modules = _imports(tmp_path, "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "eval" in done.stdout and "cases" in done.stdout
    assert "bot.cli.eval.commands" in modules  # every command is registered, only lighter
    assert _heavy(modules) == []
    assert sorted(m for m in modules if m.split(".")[0] in RUN_ONLY) == []


def test_cases_list_imports_no_heavy_library(tmp_path: Path) -> None:
    # A database already at the newest schema, as on every start but the first.
    database = Database(f"sqlite:///{tmp_path / 'quorum.db'}")
    database.ensure_schema()
    database.dispose()

    done, modules = _imports(tmp_path, "cases", "list")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "storage.case_repo" in modules  # it did read the cases
    assert _heavy(modules) == []


def test_digest_preview_never_imports_litellm(tmp_path: Path) -> None:
    """One-shot commands get a model client that imports litellm on its first call; the
    digest calls no model (its chart and statistics do need matplotlib and scipy)."""
    (tmp_path / "quorum.yaml").write_text(
        "panel:\n  - model_name: m1\n    litellm_params: {model: openai/m1, api_key: sk-x}\n"
    )
    done, modules = _imports(tmp_path, "digest", "--preview", "--chart", "week.png")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "bot.schedule.jobs" in modules  # it did build the digest
    assert [m for m in modules if m.split(".")[0] == "litellm"] == []


def test_an_eval_runs_report_needs_no_scipy(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    """A run's statistics (Wilson intervals, exact McNemar, percentiles) come from the
    standard library: importing scipy.stats would cost the end of every run a second of
    CPU. Two runs, so the second also compares with the first; members that disagree, so
    the paired test has discordant cases."""
    fake_openai.script("good", reply="Paris")
    fake_openai.script("bad", reply="Berlin")
    env = Env(tmp_path, fake_openai)
    env.write_config(judge=False)
    env.add_cases(12)

    for _ in range(2):
        done, modules = _imports(tmp_path, "eval", "run", "--no-judge", "--json", "--workers", "1")
        assert done.returncode == 0, done.stderr[-2000:]
        assert '"comparisons"' in done.stdout and "evals.stats" in modules
        assert _heavy(modules) == []
