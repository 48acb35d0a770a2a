"""The README's configuration reference must match what the code reads."""

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.runtime.config import QuorumConfig
from bot.runtime.settings import Settings
from evals.consensus.recorded_panels import parse_recorded_line

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n### ", start + len(title))
    end2 = README.find("\n## ", start + len(title))
    ends = [e for e in (end, end2) if e != -1]
    return README[start : min(ends) if ends else None]


def _first_column(section: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))


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


def test_every_environment_variable_is_documented_and_nothing_else() -> None:
    documented = _first_column(_section("### Environment variables"))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_every_quorum_yaml_key_is_documented_and_nothing_else() -> None:
    documented = _first_column(_section("### quorum.yaml"))
    assert documented == _yaml_keys(QuorumConfig)


def test_every_reliability_promise_names_tests_that_exist() -> None:
    section = _section("## Reliability")
    root = Path(__file__).resolve().parents[1]
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", section)
    assert len(named) >= 10
    missing = []
    for file, test in named:
        path = root / file
        source = path.read_text(encoding="utf-8") if path.exists() else ""
        if not re.search(rf"^(?:async )?def {test}\(", source, flags=re.MULTILINE):
            missing.append(f"{file}::{test}")
    assert missing == []


def test_the_quick_starts_example_files_are_in_a_fresh_clone() -> None:
    """Every file a README command reads is in the repository (not `../shared`)."""

    root = Path(__file__).resolve().parents[1]
    commands = "\n".join(re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL))
    assert "../" not in commands
    assert "quorum consensus examples/panels.jsonl" in commands
    lines = (root / "examples" / "panels.jsonl").read_text(encoding="utf-8").splitlines()
    assert 10 <= len(lines) <= 50
    for line in lines:
        _, question, answers = parse_recorded_line(line)
        assert question and len(answers) >= 2
    # labelled, so the command prints pick accuracy, AUROC and ECE as the README says
    assert all('"correct": ' in line for line in lines)
