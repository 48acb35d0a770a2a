"""Export and import eval cases: JSONL, YAML, and promptfoo's test format.

* **JSONL**: one case per line, every field (``quorum cases export --format jsonl``).
* **YAML**: one case per YAML document (``---`` between cases).
* **promptfoo**: a list of tests (or a config with ``tests:``) with ``vars``, ``assert``,
  ``threshold`` and ``metadata``. Mapping, both ways, lossless:

  ==================  ==============================================================
  case field          promptfoo
  ==================  ==============================================================
  input.question      ``vars.question`` (``prompt`` / ``input`` / ``query`` / a single
                      var on import)
  input.context       ``vars.context`` (list of ``{role, content}``)
  expected            ``vars.expected`` (on import without it: the first ``similar`` or
                      ``equals`` value)
  assertions          ``assert``: each ``{type, value, threshold?, weight?}`` as is;
                      ``numeric`` (no promptfoo kind) as a ``javascript`` assertion
                      that promptfoo runs, its check kept in ``config``
  threshold           ``threshold``
  everything else     ``metadata`` (id, category, severity, tags, set, status, ...)
  ==================  ==============================================================

  An assertion type Quorum cannot score (``javascript`` other than its own numeric
  check, ``factuality``, ``not-similar``, ``assert-set``, ...) or an assertion option it
  does not keep (``transform``, ``metric``, ``provider``, ...) is refused, naming the
  kind and its line. Files written before assertions were data are read as before
  (``metadata.numeric`` and the other old fields become assertions).

Import validates every case and raises :class:`CaseImportError` listing *all* problems
with their line (JSONL), document (YAML) or test number, so nothing partial is stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from evals.cases.assertions import (
    LEGACY_FIELDS,
    SUPPORTED_TYPES,
    Assertion,
    AssertionType,
    unsupported_message,
)
from evals.cases.schema import CaseSource, EvalCase, oversized_fields
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


def to_promptfoo(case: EvalCase) -> dict[str, Any]:
    """One case as a promptfoo test."""
    variables: dict[str, Any] = {"question": case.input.question}
    if case.input.context:
        variables["context"] = [m.model_dump() for m in case.input.context]
    if case.expected is not None:
        variables["expected"] = case.expected
    test: dict[str, Any] = {
        "description": _describe(case),
        "vars": variables,
        "assert": [assertion_to_promptfoo(a) for a in case.assertions],
    }
    if case.threshold is not None:
        test["threshold"] = case.threshold
    test["metadata"] = case.model_dump(mode="json", exclude=set(_TEST_FIELDS))
    return test


#: A promptfoo ``javascript`` assertion running Quorum's numeric check (the last number in
#: the answer within tolerance of the value), its parameters in ``config``.
NUMERIC_JS = """\
const c = context.config;
const found = String(output).replace(/\u2212/g, '-').match(/[-+]?(?:\\d{1,3}(?:,\\d{3})+|\\d+)?(?:\\.\\d+)?(?:[eE][-+]?\\d+)?/g) || [];
const numbers = found.filter((s) => /\\d/.test(s)).map((s) => parseFloat(s.replace(/,/g, '')));
if (numbers.length === 0) return false;
const got = numbers[numbers.length - 1];
const allowed = c.relative ? Math.abs(c.value) * c.tolerance : c.tolerance;
return Math.abs(got - c.value) <= allowed + 1e-12 * Math.max(1, Math.abs(c.value));
"""
NUMERIC_MARK = "quorum-numeric"


def assertion_to_promptfoo(assertion: Assertion) -> dict[str, Any]:
    """One assertion as promptfoo writes it (defaults left out)."""
    if assertion.type is AssertionType.NUMERIC:
        out: dict[str, Any] = {
            "type": "javascript",
            "value": NUMERIC_JS,
            "config": {"check": NUMERIC_MARK, **assertion.numeric.model_dump()},
        }
    else:
        out = {"type": assertion.type.value}
        if assertion.value is not None:
            out["value"] = assertion.value
    if assertion.threshold is not None:
        out["threshold"] = assertion.threshold
    if assertion.weight != 1.0:
        out["weight"] = assertion.weight
    return out


def _describe(case: EvalCase) -> str:
    question = " ".join(case.input.question.split())
    short = question if len(question) <= 80 else question[:79] + "…"
    return f"{case.id}: {short}"


# --- load ---------------------------------------------------------------------------------


def load_cases(text: str, fmt: CaseFormat, *, source: str = "input") -> list[EvalCase]:
    """Parse and validate every case. Raises :class:`CaseImportError` listing all problems."""
    problems: list[str] = []
    cases: list[tuple[str, EvalCase]] = []
    for where, data, assert_lines in _records(text, fmt, problems):
        if fmt is CaseFormat.PROMPTFOO:
            data = _from_promptfoo(data, where, problems, assert_lines)
            if data is None:
                continue
        if not isinstance(data, dict):
            problems.append(f"{where}: expected a mapping (one case), got {type(data).__name__}")
            continue
        try:
            case = EvalCase.model_validate(data)
        except ValidationError as exc:
            problems += [f"{where}: {p}" for p in _problems(exc)]
            continue
        too_big = oversized_fields(case)
        problems += [f"{where}: {p}" for p in too_big]
        if not too_big:
            cases.append((where, case))
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


_Record = tuple[str, Any, list[int]]  # where, the data, the line of each of its `assert`s


def _records(text: str, fmt: CaseFormat, problems: list[str]) -> list[_Record]:
    if fmt is CaseFormat.JSONL:
        out: list[_Record] = []
        for number, raw in enumerate(jsonl_lines(text), start=1):
            if not raw.strip():
                continue
            try:
                out.append((f"line {number}", json.loads(raw), []))
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
                    (f"document {index}, item {i} (line {item_line})", item, asserts)
                    for i, (item_line, item, asserts) in enumerate(
                        _items_with_lines(text, line, doc), 1
                    )
                ]
            else:
                out.append((f"document {index} (line {line})", doc, []))
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
            (f"test {i} (line {item_line})", item, asserts)
            for i, (item_line, item, asserts) in enumerate(_items_with_lines(text, line, tests), 1)
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


def _assert_lines(item: yaml.Node) -> list[int]:
    """The line each entry of a test's ``assert`` list starts on."""
    if isinstance(item, yaml.MappingNode):
        for key, value in item.value:
            if (
                isinstance(key, yaml.ScalarNode)
                and key.value == "assert"
                and isinstance(value, yaml.SequenceNode)
            ):
                return [a.start_mark.line + 1 for a in value.value]
    return []


def _items_with_lines(
    text: str, doc_line: int, items: list[Any]
) -> list[tuple[int, Any, list[int]]]:
    """Pair list items with the line they start on and the lines of their ``assert``
    entries (best effort: the document's sequence node marks; falls back to the document
    line)."""
    lines = [doc_line] * len(items)
    asserts: list[list[int]] = [[] for _ in items]
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
                    asserts[i] = _assert_lines(item)
    except yaml.YAMLError:
        pass
    return list(zip(lines, items, asserts, strict=True))


#: Case fields a promptfoo test carries outside ``metadata``.
_TEST_FIELDS = frozenset({"input", "expected", "assertions", "threshold"})
#: What ``metadata`` may bring back: our other fields, and the fixed check fields of files
#: written before assertions were data (read as assertions).
_METADATA_FIELDS = (frozenset(EvalCase.model_fields) - _TEST_FIELDS) | frozenset(LEGACY_FIELDS)
_QUESTION_VARS = ("question", "prompt", "input", "query")
_ASSERT_KEYS = frozenset({"type", "value", "threshold", "weight"})


def _assertion_from_promptfoo(check: Any, at: str, problems: list[str]) -> dict[str, Any] | None:
    """One promptfoo assertion as a Quorum assertion (validated), or a problem."""
    if not isinstance(check, dict) or not isinstance(check.get("type"), str):
        problems.append(f"{at}: expected a mapping with a `type`")
        return None
    kind = check["type"]
    config = check.get("config")
    if kind == "javascript" and isinstance(config, dict) and config.get("check") == NUMERIC_MARK:
        extra = sorted(set(check) - _ASSERT_KEYS - {"config"})
        data: dict[str, Any] = {
            "type": AssertionType.NUMERIC.value,
            "value": {k: v for k, v in config.items() if k != "check"},
            **{k: check[k] for k in ("threshold", "weight") if k in check},
        }
    else:
        if kind not in SUPPORTED_TYPES:
            problems.append(f"{at}: {unsupported_message(kind)}")
            return None
        extra = sorted(set(check) - _ASSERT_KEYS)
        data = {k: check[k] for k in _ASSERT_KEYS if k in check}
    if extra:
        problems.append(
            f"{at}: {kind} has {', '.join(f'`{k}`' for k in extra)}, which Quorum does not "
            "keep; remove it or keep this test in promptfoo only"
        )
        return None
    try:
        return Assertion.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        problems += [f"{at}: {kind}: {p.split(': ', 1)[-1]}" for p in _problems(exc)]
        return None


def _from_promptfoo(
    test: Any, where: str, problems: list[str], assert_lines: Sequence[int] = ()
) -> dict[str, Any] | None:
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
        strings = [
            v
            for k, v in variables.items()
            if k not in ("context", "expected") and isinstance(v, str)
        ]
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
    if "expected" in variables:
        data["expected"] = variables["expected"]
    if "threshold" in test:
        data["threshold"] = test["threshold"]
    asserts = test.get("assert") or []
    if not isinstance(asserts, list):
        problems.append(f"{where}: `assert` must be a list")
        asserts = []
    imported: list[dict[str, Any]] = []
    for n, check in enumerate(asserts, start=1):
        line = assert_lines[n - 1] if n <= len(assert_lines) else None
        at = f"{where}: assert {n}" + (f" (line {line})" if line else "")
        converted = _assertion_from_promptfoo(check, at, problems)
        if converted is not None:
            imported.append(converted)
    data["assertions"] = [*data.get("assertions", []), *imported]
    if "expected" not in data:
        data["expected"] = next(
            (
                a["value"]
                for a in imported
                if a["type"] in ("similar", "equals") and isinstance(a.get("value"), str)
            ),
            None,
        )
    if len(problems) > start:
        return None
    if "id" not in data:
        digest = hashlib.sha256(
            json.dumps(test, sort_keys=True, default=str).encode("utf-8")
        ).hexdigest()
        data["id"] = "pf-" + digest[:12]
    return data
