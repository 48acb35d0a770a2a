"""Export/import round trips (JSONL, YAML, promptfoo) and import errors with locations."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evals.case_io import (
    CaseFormat,
    CaseImportError,
    dump_cases,
    format_for_path,
    load_cases,
    to_promptfoo,
)
from evals.case_schema import (
    CaseInput,
    CaseSet,
    CaseSource,
    CaseStatus,
    ContextMessage,
    EvalCase,
    NumericCheck,
    ObservedAnswer,
    ObservedRun,
    Severity,
)
from evals.errors import InputError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

FULL = EvalCase(
    id="case-full",
    input=CaseInput(
        question="Which port does PostgreSQL use by default? Answer in JSON.",
        context=[
            ContextMessage(role="user", content="We're setting up <EMAIL_1>'s database."),
            ContextMessage(role="assistant", content="Sure — what do you need?"),
        ],
    ),
    expected='{"port": 5432}',
    must_include=["5432"],
    must_not_include=["3306", "MySQL"],
    regex=r"\b5432\b",
    json_schema={"type": "object", "required": ["port"]},
    numeric=NumericCheck(value=5432, tolerance=0),
    rubric="Gives the default port, nothing else.",
    category="wrong_fact",
    severity=Severity.HIGH,
    tags=["db", "ops"],
    source=CaseSource.PRODUCTION,
    source_link="https://example.slack.com/archives/C1/p1700000000000100",
    set=CaseSet.GOLDEN,
    status=CaseStatus.ACTIVE,
    previous_id=None,
    observed=ObservedRun(
        answers=[
            ObservedAnswer(model="fast", text="3306"),
            ObservedAnswer(model="big", error="timeout"),
        ],
        consensus_model="fast",
        consensus_text="3306",
        confidence=0.42,
    ),
    merged_count=2,
    created_at=NOW,
    updated_at=NOW,
)
MINIMAL = EvalCase(
    id="case-min", input=CaseInput(question="Ünïcode ✓ question"), created_at=NOW, updated_at=NOW
)


@pytest.mark.parametrize("fmt", list(CaseFormat))
def test_round_trip_keeps_every_field(fmt: CaseFormat) -> None:
    text = dump_cases([FULL, MINIMAL], fmt)
    assert load_cases(text, fmt) == [FULL, MINIMAL]


def test_jsonl_is_one_case_per_line_and_yaml_one_per_document() -> None:
    lines = dump_cases([FULL, MINIMAL], CaseFormat.JSONL).splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["case-full", "case-min"]
    docs = list(yaml.safe_load_all(dump_cases([FULL, MINIMAL], CaseFormat.YAML)))
    assert [d["id"] for d in docs] == ["case-full", "case-min"]


def test_promptfoo_export_uses_vars_and_asserts() -> None:
    test = to_promptfoo(FULL)
    assert test["vars"]["question"] == FULL.input.question
    assert test["vars"]["context"][0] == {
        "role": "user",
        "content": "We're setting up <EMAIL_1>'s database.",
    }
    assert test["assert"] == [
        {"type": "similar", "value": '{"port": 5432}', "threshold": 0.8},
        {"type": "contains", "value": "5432"},
        {"type": "not-contains", "value": "3306"},
        {"type": "not-contains", "value": "MySQL"},
        {"type": "regex", "value": r"\b5432\b"},
        {"type": "is-json", "value": {"type": "object", "required": ["port"]}},
        {"type": "llm-rubric", "value": "Gives the default port, nothing else."},
    ]
    assert test["metadata"]["id"] == "case-full" and test["metadata"]["severity"] == "high"
    assert test["description"].startswith("case-full: Which port")


PROMPTFOO_TESTS = """\
description: from another tool
prompts: ["{{question}}"]
tests:
  - vars:
      question: What is 2 + 2?
    assert:
      - type: equals
        value: "4"
  - description: capital
    vars:
      prompt: Capital of France?
    assert:
      - type: icontains
        value: paris
      - type: not-icontains
        value: lyon
      - type: is-json
      - type: llm-rubric
        value: Names one city
    metadata:
      owner: someone-else
      severity: low
"""


def test_promptfoo_import_maps_every_supported_assert() -> None:
    first, second = load_cases(PROMPTFOO_TESTS, CaseFormat.PROMPTFOO)
    assert first.input.question == "What is 2 + 2?"
    assert first.expected == "4" and first.regex is not None
    assert re.search(first.regex, " 4 ") and not re.search(first.regex, "44")
    assert first.source is CaseSource.IMPORT and first.id.startswith("pf-")
    assert second.input.question == "Capital of France?"
    assert second.must_include == ["paris"] and second.must_not_include == ["lyon"]
    assert second.json_schema == {} and second.rubric == "Names one city"
    assert second.severity is Severity.LOW  # our metadata is read, others' is ignored
    # ids are stable, so importing the same file twice finds the same cases
    assert [c.id for c in load_cases(PROMPTFOO_TESTS, CaseFormat.PROMPTFOO)] == [
        first.id,
        second.id,
    ]


def test_jsonl_errors_name_every_bad_line_and_nothing_is_returned() -> None:
    good = json.dumps(MINIMAL.model_dump(mode="json"))
    text = "\n".join(
        [
            good,
            "{not json",
            json.dumps({"id": "x", "input": {"question": ""}}),
            "",
            json.dumps(
                {"id": "y", "input": {"question": "q"}, "severity": "urgent", "colour": "red"}
            ),
            good,
        ]
    )
    with pytest.raises(CaseImportError) as info:
        load_cases(text, CaseFormat.JSONL, source="cases.jsonl")
    problems = info.value.problems
    assert problems[0].startswith("line 2: not valid JSON")
    assert any(p.startswith("line 3: input.question") for p in problems)
    assert any(p.startswith("line 5: severity") for p in problems)
    assert any(p.startswith("line 5: colour") for p in problems)
    assert problems[-1] == "line 6: duplicate id 'case-min' (first at line 1)"
    assert str(info.value).startswith(f"cases.jsonl: {len(problems)} problems, nothing imported")
    assert isinstance(info.value, InputError)


def test_yaml_errors_name_the_document() -> None:
    text = "id: a\ninput: {question: ok}\n---\nid: b\ninput: {question: ok}\nregex: '('\n---\n- 1\n"
    with pytest.raises(CaseImportError) as info:
        load_cases(text, CaseFormat.YAML)
    assert info.value.problems[0].startswith(
        "document 2 (line 4): regex: not a valid regular expression"
    )
    assert info.value.problems[1].startswith("document 3, item 1 (line 8): expected a mapping")


def test_invalid_yaml_reports_the_line() -> None:
    with pytest.raises(CaseImportError, match=r"line 2, column \d+: not valid YAML"):
        load_cases("id: a\n  input: [\n", CaseFormat.YAML)


def test_promptfoo_errors_name_test_and_assert() -> None:
    text = """\
- vars: {question: ok}
  assert:
    - type: javascript
      value: output.length > 3
- vars: {a: 1, b: 2}
- vars: {question: fine}
  assert:
    - type: contains
"""
    with pytest.raises(CaseImportError) as info:
        load_cases(text, CaseFormat.PROMPTFOO)
    problems = info.value.problems
    assert problems[0].startswith(
        "test 1 (line 1): assert 1: assert type 'javascript' is not supported"
    )
    assert problems[1].startswith("test 2 (line 5): no question")
    assert problems[2] == "test 3 (line 6): assert 1: contains needs a string `value`"


def test_an_empty_file_is_an_error() -> None:
    with pytest.raises(CaseImportError, match="no cases found"):
        load_cases("\n\n", CaseFormat.JSONL)


def test_format_for_path() -> None:
    assert format_for_path(Path("a.jsonl")) is CaseFormat.JSONL
    assert format_for_path(Path("a.YML")) is CaseFormat.YAML
    assert format_for_path(Path("a.yaml"), "promptfoo") is CaseFormat.PROMPTFOO
    with pytest.raises(InputError, match="pass --format"):
        format_for_path(Path("a.txt"))
    with pytest.raises(InputError, match="unknown format 'csv'"):
        format_for_path(Path("a.txt"), "csv")


# --- property: any valid case survives every format -------------------------------------------

_text = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=40)
_cases = st.builds(
    lambda i, q, ctx, exp, inc, exc, tags, sev, set_, status: EvalCase(
        id=f"c{i}",
        input=CaseInput(question=q, context=[ContextMessage(role="user", content=c) for c in ctx]),
        expected=exp,
        must_include=inc,
        must_not_include=exc,
        tags=tags,
        severity=sev,
        set=set_,
        status=status,
        created_at=NOW,
        updated_at=NOW,
    ),
    st.integers(0, 10**6),
    _text,
    st.lists(_text, max_size=2),
    st.none() | _text,
    st.lists(_text, max_size=2),
    st.lists(_text, max_size=2),
    st.lists(st.text("abcxyz-", min_size=1, max_size=6), max_size=3),
    st.sampled_from(list(Severity)),
    st.sampled_from(list(CaseSet)),
    st.sampled_from(list(CaseStatus)),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_cases, min_size=1, max_size=4, unique_by=lambda c: c.id),
    st.sampled_from(list(CaseFormat)),
)
def test_round_trip_property(cases: list[EvalCase], fmt: CaseFormat) -> None:
    assert load_cases(dump_cases(cases, fmt), fmt) == cases
