"""How long `quorum` takes to start, per command (target: `--help` and `cases list` < 1 s).

Each command runs ``--runs`` times as a fresh process (``python -m bot.cli ...``) against a
SQLite database already at the newest schema; the table shows the median and best wall
time, the median CPU time (user + sys: less sensitive to a busy machine), the peak RSS, and which heavy libraries the command imported (from Python's
``-X importtime`` report of one extra run). A bare ``python -c pass`` is the floor.

Run from the repository root::

    python -m bench.cli_start [--runs 5] [--code OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

TARGET_S = 1.0
ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("litellm", "torch", "sentence_transformers", "sklearn", "matplotlib", "alembic", "scipy")
_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)\s*$", re.MULTILINE)

#: (label, arguments after `python`, held to the target)
COMMANDS: list[tuple[str, list[str], bool]] = [
    ("python -c pass (floor)", ["-c", "pass"], False),
    ("quorum --help", ["-m", "bot.cli", "--help"], True),
    ("quorum cases list", ["-m", "bot.cli", "cases", "list"], True),
    ("quorum db current", ["-m", "bot.cli", "db", "current"], False),
    ("import litellm (for scale)", ["-c", "import litellm"], False),
]


def _env(tmp: Path, code: Path) -> dict[str, str]:
    # An installed Quorum has its bytecode compiled (pip does it); a checkout run with
    # PYTHONDONTWRITEBYTECODE would recompile every module on every start.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "QUORUM_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp / 'quorum.db'}",
        QUORUM_CONFIG=str(tmp / "quorum.yaml"),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONPATH=str(code),
    )
    return env


def _timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + sys) and peak RSS (MB) of one run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"python {' '.join(args)} exited with {process.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _heavy_imports(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    cumulative: dict[str, int] = {}
    for micros, name in _IMPORTED.findall(done.stderr):
        top = name.split(".")[0]
        if top in HEAVY:
            cumulative[top] = max(cumulative.get(top, 0), int(micros))
    return ", ".join(f"{k} {v / 1e6:.2f}s" for k, v in cumulative.items()) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--code", type=Path, default=ROOT, help="the checkout whose CLI runs (before/after)"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="quorum-cli-start-") as tmp_name:
        tmp = Path(tmp_name)
        env = _env(tmp, args.code.resolve())
        # Migrate once, as `quorum run` or `quorum db upgrade` would have (this also
        # writes the bytecode of every module a command imports).
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "db", "upgrade"],
            env=env,
            check=True,
            cwd=tmp,
            capture_output=True,
        )
        title = f"CLI start, {args.runs} runs each (target: < {TARGET_S:.0f} s)"
        if args.code.resolve() != ROOT:
            title += f", code: {args.code}"
        table = Table(title=title)
        for head in (
            "command",
            "median s",
            "best s",
            "CPU s",
            "peak RSS MB",
            "heavy imports",
            "target",
        ):
            table.add_column(
                head, justify="left" if head in ("command", "heavy imports") else "right"
            )
        for label, command, held in COMMANDS:
            runs = [_timed(command, env, tmp) for _ in range(args.runs)]
            walls = [w for w, _, _ in runs]
            median = statistics.median(walls)
            verdict = ""
            if held:
                verdict = "[green]ok[/]" if median < TARGET_S else "[red]over[/]"
            table.add_row(
                label,
                f"{median:.2f}",
                f"{min(walls):.2f}",
                f"{statistics.median(c for _, c, _ in runs):.2f}",
                f"{max(r for _, _, r in runs):.0f}",
                _heavy_imports(command, env, tmp),
                verdict,
            )
    console = Console(width=140)
    console.print(table)
    console.print(
        f"{os.cpu_count()} CPU cores; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after."
    )


if __name__ == "__main__":
    main()
