"""`quorum` as a real process, the way a user starts it, against a working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_quorum(
    tmp_path: Path, *args: str, python_flags: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``python [FLAGS] -m bot.cli ARGS`` in ``tmp_path``, with its SQLite database and
    quorum.yaml there and no Slack or Quorum setting inherited from this environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "QUORUM_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'quorum.db'}",
        QUORUM_CONFIG=str(tmp_path / "quorum.yaml"),
        COLUMNS="200",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "bot.cli", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
