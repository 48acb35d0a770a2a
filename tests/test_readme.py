"""The README and docs/ must say what the code does: the configuration reference matches
what the code reads, every command, option, path, test and link they name exists, the
README's quick start prints what it says, and the README stays short."""

from __future__ import annotations

import importlib
import itertools
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import BaseModel

from bot.cli import app as cli_app
from bot.runtime.config import QuorumConfig, load_config
from bot.runtime.settings import Settings
from evals.consensus.recorded_panels import parse_recorded_line

ROOT = Path(__file__).resolve().parents[1]
README_PATH = ROOT / "README.md"
README = README_PATH.read_text(encoding="utf-8")
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README_PATH, *DOCS]

#: The README is the front page; everything else lives in docs/.
MAX_README_LINES = 300


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _section(text: str, title: str) -> str:
    """From the heading ``title`` to the next heading of the same or a higher level."""
    start = text.index(title)
    body = start + len(title)
    level = len(title) - len(title.lstrip("#"))
    end = re.compile(rf"^#{{1,{level}}} ", flags=re.MULTILINE).search(text, body)
    return text[start : end.start() if end else None]


def _first_column(section: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))


def _table(section: str) -> list[dict[str, str]]:
    """The first Markdown table of ``section`` as rows keyed by header."""
    lines = list(
        itertools.takewhile(
            lambda line: line.startswith("|"),
            itertools.dropwhile(lambda line: not line.startswith("|"), section.splitlines()),
        )
    )
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    header, rows = cells[0], cells[2:]
    return [dict(zip(header, row, strict=True)) for row in rows]


def _without_fences(text: str) -> str:
    """``text`` with its fenced code blocks blanked (line numbers kept)."""
    return re.sub(
        r"^```.*?^```", lambda m: "\n" * m.group().count("\n"), text, flags=re.M | re.DOTALL
    )


def _code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", _without_fences(text))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found:
            return found
    return None


def _yaml_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        if name == "source":
            continue
        key = prefix + name
        sub = _model_of(field.annotation)
        is_list = "list[" in str(field.annotation)
        if sub is not None and is_list:
            keys.add(key)
            if name == "panel":  # `shadow` entries are documented as "same as panel"
                keys |= _yaml_keys(sub, key + "[].")
        elif sub is not None:
            if not field.is_required() and field.default is None:
                keys.add(key)  # an optional section is documented as a whole too
            keys |= _yaml_keys(sub, key + ".")
        else:
            keys.add(key)
    return keys


# -- the configuration reference ----------------------------------------------------------


def test_every_environment_variable_is_documented_and_nothing_else() -> None:
    documented = _first_column(_section(README, "### Environment variables"))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_every_quorum_yaml_key_is_documented_and_nothing_else() -> None:
    documented = _first_column(_section(README, "### quorum.yaml"))
    assert documented == _yaml_keys(QuorumConfig)


# -- the quick start -------------------------------------------------------------------------


def test_the_readme_is_short() -> None:
    lines = len(README.splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail to docs/"


def test_the_two_commands_are_make_run_and_make_check_and_ci_runs_make_check() -> None:
    makefile = _text(ROOT / "Makefile")
    assert re.search(r"^run: .*\n\t\$\(BIN\)/quorum run$", makefile, flags=re.M)
    check = re.search(r"^check: (.*)$", makefile, flags=re.M)
    assert check is not None
    assert check.group(1).split() == ["lint", "typecheck", "contracts", "test"]
    assert "make check" in _text(ROOT / ".ci" / "run").splitlines()
    quick_start = _section(README, "## Quick start")
    assert "make run " in quick_start and "make check " in quick_start


@pytest.mark.slow
def test_make_run_without_credentials_prints_what_the_readme_shows(tmp_path: Path) -> None:
    """`quorum run` (what `make run` starts) with the repository's quorum.yaml and an empty
    environment: the README quotes its output word for word."""
    (tmp_path / "quorum.yaml").write_bytes((ROOT / "quorum.yaml").read_bytes())
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    quoted = re.search(r"```text\n(Quorum can't start yet.*?)```", README, flags=re.DOTALL)
    assert quoted is not None
    assert done.stderr.strip() == quoted.group(1).strip()
    assert not (tmp_path / "quorum.db").exists()  # it did not start half-way


def test_the_quick_starts_example_files_are_in_a_fresh_clone() -> None:
    """Every file a README command reads is in the repository (not `../shared`)."""
    commands = "\n".join(re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL))
    assert "../" not in commands
    named = re.findall(r"\bexamples/[\w.-]+", commands)
    assert "examples/panels.jsonl" in named and "examples/fake-panel.yaml" in named
    assert [n for n in named if not (ROOT / n).is_file()] == []
    lines = (ROOT / "examples" / "panels.jsonl").read_text(encoding="utf-8").splitlines()
    assert 10 <= len(lines) <= 50
    for line in lines:
        _, question, answers = parse_recorded_line(line)
        assert question and len(answers) >= 2
    # labelled, so the command prints pick accuracy, AUROC and ECE as the README says
    assert all('"correct": ' in line for line in lines)


def test_the_fake_panel_talks_to_the_fake_server_the_readme_starts() -> None:
    commands = "\n".join(re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL))
    port = re.search(r"-m tests\.fakes\.openai_server --port (\d+)", commands)
    assert port is not None
    members = load_config(ROOT / "examples" / "fake-panel.yaml").panel_members(env={})
    assert len(members) >= 2  # enough for a consensus under the default quorum
    assert {m.params["api_base"] for m in members} == {f"http://127.0.0.1:{port.group(1)}/v1"}


# -- commands, tests, paths and links the README and docs/ name -----------------------------


#: Typer's command objects (typer 0.29 vendors its own click, so they are no instances
#: of the click package's classes): a group is a command with ``commands``.
Command = Any


def _is_group(command: Command) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def _cli() -> Command:
    command = typer.main.get_command(cli_app)
    assert _is_group(command)
    return command


def _leaves(group: Command, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for name, command in group.commands.items():
        if _is_group(command):
            found |= _leaves(command, (*prefix, name))
        else:
            found.add((*prefix, name))
    return found


def _resolve(span: str) -> tuple[list[tuple[str, ...]], list[Command], str]:
    """The commands a span such as ``quorum cases list|show [--json]`` names, and the rest
    of the span (its arguments and options)."""
    words = span.replace("\\|", "|").split()[1:]
    paths: list[tuple[str, ...]] = [()]
    commands: list[Command] = [_cli()]
    while words and all(_is_group(c) for c in commands):
        names = words[0].split("|")
        groups = commands
        if not all(n in g.commands for n in names for g in groups):
            break
        paths = [(*p, n) for p in paths for n in names]
        commands = [g.commands[n] for g in groups for n in names]
        words = words[1:]
    return paths, commands, " ".join(words)


def _options(command: Command) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}


def _unknown_options(commands: list[Command], rest: str) -> list[str]:
    named = re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", rest)
    return [o for o in named for c in commands if o not in _options(c)]


def test_every_command_in_the_readme_and_docs_exists_with_its_options() -> None:
    problems = []
    for page in PAGES:
        for span in _code_spans(_text(page)):
            if not span.startswith("quorum "):
                continue
            paths, commands, rest = _resolve(span)
            if paths == [()] and not rest.startswith("-"):
                problems.append(f"{page.name}: `{span}` names no command")
            elif bad := _unknown_options(commands, rest):
                problems.append(f"{page.name}: `{span}`: no option {', '.join(sorted(set(bad)))}")
    assert problems == []


def test_the_command_line_table_lists_every_command() -> None:
    listed: set[tuple[str, ...]] = set()
    problems = []
    for row in _table(_section(README, "## Command line")):
        spans = re.findall(r"`([^`]+)`", row["command"])
        commands: list[Command] = []
        for span in spans:
            if span.startswith("quorum "):
                paths, commands, rest = _resolve(span)
                listed |= set(paths)
            else:  # `quorum digest --preview` / `--post [--force]`: options of the last one
                rest = span
            if bad := _unknown_options(commands, rest):
                problems.append(f"`{span}`: no option {', '.join(sorted(set(bad)))}")
    assert problems == []
    assert sorted(_leaves(_cli()) - listed) == []


def test_no_code_span_is_split_across_lines() -> None:
    """The checks below read `code` spans line by line; a span broken over two lines
    would escape them."""
    odd = [
        f"{page.name}:{number}: {line}"
        for page in PAGES
        for number, line in enumerate(_without_fences(_text(page)).splitlines(), 1)
        if line.count("`") % 2
    ]
    assert odd == []


def test_every_test_named_in_the_docs_exists() -> None:
    named = [
        (page.name, file, test)
        for page in PAGES
        for file, test in re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", _text(page))
    ]
    assert len(named) >= 10
    missing = []
    for page, file, test in named:
        path = ROOT / file
        source = path.read_text(encoding="utf-8") if path.exists() else ""
        if not re.search(rf"^(?:async )?def {test}\(", source, flags=re.MULTILINE):
            missing.append(f"{page}: {file}::{test}")
    assert missing == []


def test_every_reliability_promise_names_a_test() -> None:
    rows = _table(_section(_text(ROOT / "docs" / "reliability.md"), "## Promises and their tests"))
    assert len(rows) >= 10
    assert [r["promise"] for r in rows if "::test_" not in r["proved by"]] == []


#: Paths the docs name that are made on demand, not kept in git.
MADE_ON_DEMAND = {"bench/node/"}


def test_every_repository_path_named_in_the_readme_and_docs_exists() -> None:
    roots = r"(?:bot|evals|storage|tests|tools|bench|docs|examples|\.ci)/"
    missing = []
    for page in PAGES:
        for span in _code_spans(_text(page)):
            path = span.split("::")[0]
            named = re.fullmatch(roots + r"[\w./-]*", path) and path not in MADE_ON_DEMAND
            if named and not (ROOT / path).exists():
                missing.append(f"{page.name}: {path}")
    assert missing == []


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for name in parts[end:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def test_every_module_and_name_written_in_dotted_form_exists() -> None:
    dotted = {
        (page.name, span)
        for page in PAGES
        for span in _code_spans(_text(page))
        if re.fullmatch(r"(?:bot|evals|storage|bench|tools)(?:\.\w+)+", span)
    }
    assert len(dotted) >= 5
    assert sorted(f"{page}: {span}" for page, span in dotted if not _resolves(span)) == []


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", _without_fences(_text(page)), flags=re.MULTILINE)
    return {_anchor(h) for h in headings}


def test_every_link_in_the_readme_and_docs_resolves() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", _without_fences(_text(page))):
            if re.match(r"[a-z]+:", target):
                continue  # an external URL
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_the_readme_links_every_page_in_docs() -> None:
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)", README))
    assert {f"docs/{page.name}" for page in DOCS} - linked == set()


# -- what the README summarises ------------------------------------------------------------


def test_the_readmes_quality_table_matches_the_measured_one_in_docs() -> None:
    """The README shows some columns of docs/consensus.md's held-out table: the same numbers."""
    short = _table(_section(README, "## How far to trust the confidence"))
    consensus = _text(ROOT / "docs" / "consensus.md")
    full = {r["source"]: r for r in _table(_section(consensus, "## Measured quality"))}
    assert {r["source"] for r in short} == set(full)
    differ = [(r["source"], k) for r in short for k, v in r.items() if full[r["source"]][k] != v]
    assert differ == []


def test_every_dependency_says_why_it_is_there() -> None:
    project = tomllib.loads(_text(ROOT / "pyproject.toml"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    names = {re.split(r"[\[<>=!~ ]", r, maxsplit=1)[0].lower() for r in requirements}
    rows = _table(_section(README, "## Why these dependencies"))
    listed = {
        word.lower()
        for row in rows
        for word in re.findall(r"[\w.-]+", row["package"])
        if row["why"]
    }
    assert sorted(names - listed) == []
