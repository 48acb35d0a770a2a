"""Export and import eval cases: JSONL, YAML, and promptfoo's test format.

* **JSONL**: one case per line, every field (``quorum cases export --format jsonl``).
* **YAML**: one case per YAML document (``---`` between cases).
* **promptfoo**: a list of tests (or a config with ``tests:``) with ``vars`` and
  ``assert``. Mapping, both ways:

  ==================  ==============================================================
  case field          promptfoo
  ==================  ==============================================================
  input.question      ``vars.question`` (``prompt`` / ``input`` / a single var on import)
  input.context       ``vars.context`` (list of ``{role, content}``)
  expected            ``similar`` (value, threshold); ``equals`` on import also sets an
                      anchored ``regex``
  must_include        ``contains`` (``icontains`` on import)
  must_not_include    ``not-contains`` (``not-icontains`` on import)
  regex               ``regex``
  json_schema         ``is-json`` (its ``value`` is the schema; ``{}`` = any JSON)
  rubric              ``llm-rubric``
  everything else     ``metadata`` (id, category, severity, tags, set, numeric, ...)
  ==================  ==============================================================

Import validates every case and raises :class:`CaseImportError` listing *all* problems
with their line (JSONL), document (YAML) or test number, so nothing partial is stored.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from evals.case_schema import CaseSource, EvalCase
from evals.errors import InputError
from evals.jsonl import jsonl_lines


class CaseFormat(StrEnum):
    JSONL = "jsonl"
    YAML = "yaml"
    PROMPTFOO = "promptfoo"


class CaseImportError(InputError):
    """A file had invalid cases; ``problems`` lists every one with its location."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        noun = "problem" if len(problems) == 1 else "problems"
        message = f"{source}: {len(problems)} {noun}, nothing imported:\n  " + "\n  ".join(problems)
        super().__init__(message)


def format_for_path(path: Path, explicit: str | None = None) -> CaseFormat:
    """The format named explicitly, or the one the file name implies."""
    if explicit:
        try:
            return CaseFormat(explicit.lower())
        except ValueError:
            raise InputError(
                f"unknown format {explicit!r}; use one of: {', '.join(f.value for f in CaseFormat)}"
            ) from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return CaseFormat.JSONL
    if suffix in (".yaml", ".yml"):
        return CaseFormat.YAML
    raise InputError(
        f"cannot tell the format of {path.name}; name it .jsonl/.yaml or pass --format "
        f"({', '.join(f.value for f in CaseFormat)})"
    )


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(case)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        out.append(f"{loc}: {msg}")
    return out


def _case_data(case: EvalCase) -> dict[str, Any]:
    return case.model_dump(mode="json")


# --- dump ---------------------------------------------------------------------------------


def dump_cases(cases: Iterable[EvalCase], fmt: CaseFormat) -> str:
    cases = list(cases)
    if fmt is CaseFormat.JSONL:
        return "".join(
            json.dumps(_case_data(c), ensure_ascii=False, sort_keys=True) + "\n" for c in cases
        )
    if fmt is CaseFormat.YAML:
        return yaml.safe_dump_all(
            (_case_data(c) for c in cases), sort_keys=False, allow_unicode=True, width=100
        )
    return yaml.safe_dump(
        [to_promptfoo(c) for c in cases], sort_keys=False, allow_unicode=True, width=100
    )


DEFAULT_SIMILAR_THRESHOLD = 0.8


def to_promptfoo(case: EvalCase) -> dict[str, Any]:
    """One case as a promptfoo test."""
    variables: dict[str, Any] = {"question": case.input.question}
    if case.input.context:
        variables["context"] = [m.model_dump() for m in case.input.context]
    asserts: list[dict[str, Any]] = []
    if case.expected is not None:
        asserts.append(
            {"type": "similar", "value": case.expected, "threshold": DEFAULT_SIMILAR_THRESHOLD}
        )
    asserts += [{"type": "contains", "value": v} for v in case.must_include]
    asserts += [{"type": "not-contains", "value": v} for v in case.must_not_include]
    if case.regex is not None:
        asserts.append({"type": "regex", "value": case.regex})
    if case.json_schema is not None:
        schema_check: dict[str, Any] = {"type": "is-json"}
        if case.json_schema:
            schema_check["value"] = case.json_schema
        asserts.append(schema_check)
    if case.rubric is not None:
        asserts.append({"type": "llm-rubric", "value": case.rubric})
    metadata = case.model_dump(mode="json", exclude=set(_ASSERT_FIELDS))
    test: dict[str, Any] = {
        "description": _describe(case),
        "vars": variables,
        "assert": asserts,
        "metadata": metadata,
    }
    return test


def _describe(case: EvalCase) -> str:
    question = " ".join(case.input.question.split())
    short = question if len(question) <= 80 else question[:79] + "…"
    return f"{case.id}: {short}"


# --- load ---------------------------------------------------------------------------------


def load_cases(text: str, fmt: CaseFormat, *, source: str = "input") -> list[EvalCase]:
    """Parse and validate every case. Raises :class:`CaseImportError` listing all problems."""
    problems: list[str] = []
    cases: list[tuple[str, EvalCase]] = []
    for where, data in _records(text, fmt, problems):
        if fmt is CaseFormat.PROMPTFOO:
            data = _from_promptfoo(data, where, problems)
            if data is None:
                continue
        if not isinstance(data, dict):
            problems.append(f"{where}: expected a mapping (one case), got {type(data).__name__}")
            continue
        try:
            cases.append((where, EvalCase.model_validate(data)))
        except ValidationError as exc:
            problems += [f"{where}: {p}" for p in _problems(exc)]
    seen: dict[str, str] = {}
    for where, case in cases:
        if case.id in seen:
            problems.append(f"{where}: duplicate id {case.id!r} (first at {seen[case.id]})")
        else:
            seen[case.id] = where
    if problems:
        raise CaseImportError(source, problems)
    if not cases:
        raise CaseImportError(source, ["no cases found"])
    return [case for _, case in cases]


def _records(text: str, fmt: CaseFormat, problems: list[str]) -> list[tuple[str, Any]]:
    if fmt is CaseFormat.JSONL:
        out: list[tuple[str, Any]] = []
        for number, raw in enumerate(jsonl_lines(text), start=1):
            if not raw.strip():
                continue
            try:
                out.append((f"line {number}", json.loads(raw)))
            except json.JSONDecodeError as exc:
                problems.append(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})")
        return out
    documents = _yaml_documents(text, problems)
    if fmt is CaseFormat.YAML:
        out = []
        for index, (line, doc) in enumerate(documents, start=1):
            if doc is None:
                continue
            if isinstance(doc, list):
                out += [
                    (f"document {index}, item {i} (line {item_line})", item)
                    for i, (item_line, item) in enumerate(_items_with_lines(text, line, doc), 1)
                ]
            else:
                out.append((f"document {index} (line {line})", doc))
        return out
    # promptfoo: a list of tests, or a config mapping with `tests:`
    out = []
    for line, doc in documents:
        tests = doc.get("tests") if isinstance(doc, dict) else doc
        if not isinstance(tests, list):
            problems.append(
                f"line {line}: expected a list of promptfoo tests (or a config with `tests:`)"
            )
            continue
        out += [
            (f"test {i} (line {item_line})", item)
            for i, (item_line, item) in enumerate(_items_with_lines(text, line, tests), 1)
        ]
    return out


def _yaml_documents(text: str, problems: list[str]) -> list[tuple[int, Any]]:
    """Each YAML document with the line it starts on."""
    loader = yaml.SafeLoader(text)
    documents: list[tuple[int, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            documents.append((node.start_mark.line + 1, loader.construct_document(node)))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        problems.append(f"{where}: not valid YAML ({problem})")
    finally:
        loader.dispose()
    return documents


def _items_with_lines(text: str, doc_line: int, items: list[Any]) -> list[tuple[int, Any]]:
    """Pair list items with the line they start on (best effort: the document's
    sequence node marks; falls back to the document line)."""
    lines = [doc_line] * len(items)
    try:
        for node in yaml.compose_all(text, Loader=yaml.SafeLoader):
            if node is None or node.start_mark.line + 1 != doc_line:
                continue
            seq = node
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == "tests":
                        seq = value
            if isinstance(seq, yaml.SequenceNode):
                for i, item in enumerate(seq.value[: len(items)]):
                    lines[i] = item.start_mark.line + 1
    except yaml.YAMLError:
        pass
    return list(zip(lines, items, strict=True))


_ASSERT_FIELDS = frozenset(
    {"input", "expected", "must_include", "must_not_include", "regex", "json_schema", "rubric"}
)
_METADATA_FIELDS = frozenset(EvalCase.model_fields) - _ASSERT_FIELDS
_QUESTION_VARS = ("question", "prompt", "input", "query")
_SUPPORTED_ASSERTS = (
    "equals",
    "contains",
    "icontains",
    "not-contains",
    "not-icontains",
    "regex",
    "is-json",
    "similar",
    "llm-rubric",
)


def _from_promptfoo(test: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    if not isinstance(test, dict):
        problems.append(f"{where}: expected a promptfoo test (a mapping with vars and assert)")
        return None
    start = len(problems)
    variables = test.get("vars") or {}
    if not isinstance(variables, dict):
        problems.append(f"{where}: `vars` must be a mapping")
        return None
    question = next((variables[k] for k in _QUESTION_VARS if k in variables), None)
    if question is None:
        strings = [v for k, v in variables.items() if k != "context" and isinstance(v, str)]
        question = strings[0] if len(strings) == 1 else None
    if not isinstance(question, str):
        problems.append(
            f"{where}: no question; set `vars.question` (or prompt/input/query) to a string"
        )
    metadata = test.get("metadata") or {}
    if not isinstance(metadata, dict):
        problems.append(f"{where}: `metadata` must be a mapping")
        metadata = {}
    # Our own fields come back from metadata; other tools' metadata keys are not ours.
    known = {k: v for k, v in metadata.items() if k in _METADATA_FIELDS}
    data: dict[str, Any] = {"source": CaseSource.IMPORT.value, **known}
    data["input"] = {"question": question, "context": variables.get("context") or []}
    data.update(must_include=[], must_not_include=[])
    asserts = test.get("assert") or []
    if not isinstance(asserts, list):
        problems.append(f"{where}: `assert` must be a list")
        asserts = []
    for n, check in enumerate(asserts, start=1):
        at = f"{where}: assert {n}"
        if not isinstance(check, dict) or not isinstance(check.get("type"), str):
            problems.append(f"{at}: expected a mapping with a `type`")
            continue
        kind, value = check["type"], check.get("value")
        if kind not in _SUPPORTED_ASSERTS:
            problems.append(
                f"{at}: assert type {kind!r} is not supported; use one of: "
                + ", ".join(_SUPPORTED_ASSERTS)
            )
            continue
        if kind == "is-json":
            if value is not None and not isinstance(value, dict):
                problems.append(f"{at}: is-json's value must be a JSON schema (a mapping)")
            data["json_schema"] = value or {}
            continue
        if not isinstance(value, str):
            problems.append(f"{at}: {kind} needs a string `value`")
            continue
        if kind in ("contains", "icontains"):
            data["must_include"].append(value)
        elif kind in ("not-contains", "not-icontains"):
            data["must_not_include"].append(value)
        elif kind == "similar":
            data["expected"] = value
        elif kind == "equals":
            data["expected"] = value
            data["regex"] = r"^\s*" + re.escape(value) + r"\s*$"
        elif kind == "regex":
            data["regex"] = value
        else:  # llm-rubric
            data["rubric"] = value
    if len(problems) > start:
        return None
    if "id" not in data:
        digest = hashlib.sha256(
            json.dumps(test, sort_keys=True, default=str).encode("utf-8")
        ).hexdigest()
        data["id"] = "pf-" + digest[:12]
    return data
