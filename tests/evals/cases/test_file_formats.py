"""Export/import round trips (JSONL, YAML, promptfoo) and import errors with locations."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evals.cases.assertions import Assertion, AssertionType, NumericCheck
from evals.cases.file_formats import (
    NUMERIC_JS,
    NUMERIC_MARK,
    CaseFormat,
    CaseImportError,
    dump_cases,
    format_for_path,
    load_cases,
    to_promptfoo,
)
from evals.cases.schema import (
    CaseInput,
    CaseSet,
    CaseSource,
    CaseStatus,
    ContextMessage,
    EvalCase,
    ObservedAnswer,
    ObservedRun,
    Severity,
)
from evals.errors import InputError
from evals.scorers.checks import numeric_match

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
    assertions=[
        Assertion(type=AssertionType.ICONTAINS, value="5432"),
        Assertion(type=AssertionType.NOT_ICONTAINS, value="3306"),
        Assertion(type=AssertionType.NOT_CONTAINS, value="MySQL", weight=2),
        Assertion(type=AssertionType.REGEX, value=r"\b5432\b"),
        Assertion(type=AssertionType.IS_JSON, value={"type": "object", "required": ["port"]}),
        Assertion(type=AssertionType.NUMERIC, value=NumericCheck(value=5432, tolerance=0.5)),
        Assertion(type=AssertionType.SIMILAR, value='{"port": 5432}', threshold=0.8),
        Assertion(type=AssertionType.LLM_RUBRIC, value="Gives the default port, nothing else."),
    ],
    threshold=0.9,
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
        flagged=["fast"],
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
    assert test["vars"]["expected"] == '{"port": 5432}'
    assert test["threshold"] == 0.9
    numeric = test["assert"][5]
    assert numeric["type"] == "javascript" and numeric["config"] == {
        "check": NUMERIC_MARK,
        "value": 5432.0,
        "tolerance": 0.5,
        "relative": False,
    }
    assert test["assert"][:5] + test["assert"][6:] == [
        {"type": "icontains", "value": "5432"},
        {"type": "not-icontains", "value": "3306"},
        {"type": "not-contains", "value": "MySQL", "weight": 2.0},
        {"type": "regex", "value": r"\b5432\b"},
        {"type": "is-json", "value": {"type": "object", "required": ["port"]}},
        {"type": "similar", "value": '{"port": 5432}', "threshold": 0.8},
        {"type": "llm-rubric", "value": "Gives the default port, nothing else."},
    ]
    assert test["metadata"]["id"] == "case-full" and test["metadata"]["severity"] == "high"
    assert not {"assertions", "threshold", "expected", "input"} & set(test["metadata"])
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


def test_promptfoo_import_keeps_each_assert_as_it_is() -> None:
    first, second = load_cases(PROMPTFOO_TESTS, CaseFormat.PROMPTFOO)
    assert first.input.question == "What is 2 + 2?"
    assert first.assertions == [Assertion(type=AssertionType.EQUALS, value="4")]
    assert first.expected == "4"  # the reference answer the judge reads
    assert first.source is CaseSource.IMPORT and first.id.startswith("pf-")
    assert second.input.question == "Capital of France?"
    assert [(a.type.value, a.value) for a in second.assertions] == [
        ("icontains", "paris"),  # not turned into a case-sensitive contains
        ("not-icontains", "lyon"),
        ("is-json", None),
        ("llm-rubric", "Names one city"),
    ]
    assert second.severity is Severity.LOW  # our metadata is read, others' is ignored
    # ids are stable, so importing the same file twice finds the same cases
    assert [c.id for c in load_cases(PROMPTFOO_TESTS, CaseFormat.PROMPTFOO)] == [
        first.id,
        second.id,
    ]


#: One test per kind Quorum supports, with weights and thresholds where they apply.
EVERY_KIND = f"""\
tests:
  - vars:
      question: Which port does PostgreSQL use by default?
      context:
        - {{role: user, content: We are setting up a database.}}
      expected: '5432'
    threshold: 0.7
    assert:
      - {{type: equals, value: '5432'}}
      - {{type: not-equals, value: '3306', weight: 2}}
      - {{type: contains, value: '5432'}}
      - {{type: not-contains, value: MySQL}}
      - {{type: icontains, value: postgres}}
      - {{type: not-icontains, value: mysql, weight: 0}}
      - {{type: regex, value: '\\b5432\\b'}}
      - {{type: not-regex, value: '\\b3306\\b'}}
      - {{type: is-json, value: {{type: object, required: [port]}}}}
      - {{type: contains-json}}
      - {{type: similar, value: It listens on port 5432., threshold: 0.8, weight: 3}}
      - {{type: llm-rubric, value: Names the port and nothing else., threshold: 0.75}}
      - type: javascript
        value: {json.dumps(NUMERIC_JS)}
        config: {{check: {NUMERIC_MARK}, value: 5432, tolerance: 0.5, relative: false}}
    metadata: {{id: pf-port, severity: high, tags: [db]}}
"""


def test_every_supported_kind_survives_import_export_import_unchanged() -> None:
    (first,) = load_cases(EVERY_KIND, CaseFormat.PROMPTFOO)
    assert {a.type for a in first.assertions} == set(AssertionType)  # every kind is here
    exported = dump_cases([first], CaseFormat.PROMPTFOO)
    (again,) = load_cases(exported, CaseFormat.PROMPTFOO)
    assert again == first
    assert dump_cases([again], CaseFormat.PROMPTFOO) == exported
    # and what we wrote is the file we read, assert for assert
    original = yaml.safe_load(EVERY_KIND)["tests"][0]["assert"]
    written = yaml.safe_load(exported)[0]["assert"]
    assert [a["type"] for a in written] == [a["type"] for a in original]
    assert [a.get("weight", 1) for a in written] == [a.get("weight", 1) for a in original]
    assert [a.get("threshold") for a in written] == [a.get("threshold") for a in original]


def test_unsupported_kinds_are_refused_naming_the_kind_and_the_line() -> None:
    text = """\
- vars: {question: ok}
  assert:
    - type: contains
      value: fine
    - type: factuality
      value: Paris is the capital
- vars: {question: also ok}
  assert:
    - type: javascript
      value: output.length > 3
    - type: not-similar
      value: Berlin
    - type: icontains
      value: x
      transform: output.toLowerCase()
"""
    with pytest.raises(CaseImportError) as info:
        load_cases(text, CaseFormat.PROMPTFOO, source="suite.yaml")
    problems = info.value.problems
    assert problems[0].startswith(
        "test 1 (line 1): assert 2 (line 5): assertion type 'factuality' is not supported"
    )
    assert problems[1].startswith("test 2 (line 7): assert 1 (line 9): assertion type 'javascript'")
    assert problems[2].startswith(
        "test 2 (line 7): assert 2 (line 11): assertion type 'not-similar'"
    )
    assert problems[3].startswith("test 2 (line 7): assert 3 (line 13): icontains has `transform`")
    assert "supported: equals, not-equals, contains" in problems[0]
    assert str(info.value).startswith("suite.yaml: 4 problems, nothing imported")


def test_files_written_before_assertions_were_data_still_load() -> None:
    old_promptfoo = """\
- description: "case-old: What is 2 + 2?"
  vars: {question: "What is 2 + 2?"}
  assert:
    - {type: similar, value: '4', threshold: 0.8}
    - {type: contains, value: four}
  metadata:
    id: case-old
    numeric: {value: 4.0, tolerance: 0.0, relative: false}
    severity: high
"""
    (case,) = load_cases(old_promptfoo, CaseFormat.PROMPTFOO)
    assert case.id == "case-old" and case.expected == "4" and case.severity is Severity.HIGH
    assert {(a.type.value, a.threshold) for a in case.assertions} == {
        ("numeric", None),
        ("similar", 0.8),
        ("contains", None),
    }
    old_line = json.dumps(
        {
            "id": "case-jsonl",
            "input": {"question": "q?", "context": []},
            "expected": "x",
            "must_include": ["a"],
            "must_not_include": ["b"],
            "regex": "a+",
            "json_schema": {"type": "object"},
            "numeric": None,
            "rubric": "notes",
        }
    )
    (old,) = load_cases(old_line, CaseFormat.JSONL)
    assert [(a.type.value, a.value) for a in old.assertions] == [
        ("icontains", "a"),
        ("not-icontains", "b"),
        ("regex", "a+"),
        ("contains-json", {"type": "object"}),
        ("llm-rubric", "notes"),
    ]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run promptfoo's JS")
@pytest.mark.parametrize(
    ("answer", "value", "tolerance", "relative"),
    [
        ("2 + 2 = 4", 4, 0, False),
        ("4 or maybe 5", 4, 0, False),
        ("about 101", 100, 1, False),
        ("about 102", 100, 1, False),
        ("about 104", 100, 0.05, True),
        ("It costs 1,234.50 dollars", 1234.5, 0, False),
        ("no idea", 4, 0, False),
        ("−3 degrees", -3, 0, False),
    ],
)
def test_the_exported_numeric_check_agrees_with_ours_in_promptfoo(
    answer: str, value: float, tolerance: float, relative: bool
) -> None:
    """promptfoo runs a multi-line ``javascript`` value as a function body of (output,
    context); run ours the same way and compare with Quorum's own numeric check."""
    config = {"value": value, "tolerance": tolerance, "relative": relative}
    script = (
        f"const f = new Function('output', 'context', {json.dumps(NUMERIC_JS)});\n"
        f"process.stdout.write(String(f({json.dumps(answer)}, {{config: {json.dumps(config)}}})));"
    )
    got = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    ours = numeric_match(answer, value, tolerance=tolerance, relative=relative).passed
    assert got.stdout == str(ours).lower()


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
    assert info.value.problems[0].startswith("document 2 (line 4): assertions.0")
    assert "not a valid regular expression" in info.value.problems[0]
    assert info.value.problems[1].startswith("document 3, item 1 (line 8): expected a mapping")


def test_invalid_yaml_reports_the_line() -> None:
    with pytest.raises(CaseImportError, match=r"line 2, column \d+: not valid YAML"):
        load_cases("id: a\n  input: [\n", CaseFormat.YAML)


def test_promptfoo_errors_name_test_and_assert() -> None:
    text = """\
- vars: {question: ok}
  assert:
    - type: regex
      value: "("
- vars: {a: 1, b: 2}
- vars: {question: fine}
  assert:
    - type: contains
"""
    with pytest.raises(CaseImportError) as info:
        load_cases(text, CaseFormat.PROMPTFOO)
    problems = info.value.problems
    assert problems[0].startswith(
        "test 1 (line 1): assert 1 (line 3): regex: not a valid regular expression"
    )
    assert problems[1].startswith("test 2 (line 5): no question")
    assert (
        problems[2] == "test 3 (line 6): assert 1 (line 8): contains: contains needs a text `value`"
    )


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

_text = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=40).filter(
    str.strip
)
_cases = st.builds(
    lambda i, q, ctx, exp, inc, exc, tags, sev, set_, status, weight: EvalCase(
        id=f"c{i}",
        input=CaseInput(question=q, context=[ContextMessage(role="user", content=c) for c in ctx]),
        expected=exp,
        assertions=[
            *(Assertion(type=AssertionType.ICONTAINS, value=v, weight=weight) for v in inc),
            *(Assertion(type=AssertionType.NOT_CONTAINS, value=v) for v in exc),
        ],
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
    st.sampled_from([0.0, 0.5, 1.0, 3.0]),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_cases, min_size=1, max_size=4, unique_by=lambda c: c.id),
    st.sampled_from(list(CaseFormat)),
)
def test_round_trip_property(cases: list[EvalCase], fmt: CaseFormat) -> None:
    assert load_cases(dump_cases(cases, fmt), fmt) == cases
