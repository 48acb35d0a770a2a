"""Redaction: examples a reviewer would recognise, and properties over generated secrets."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evals.cases.assertions import Assertion, AssertionType
from evals.cases.redaction import (
    OPAQUE_RUNS,
    Redactor,
    find_sensitive,
    iban_ok,
    luhn_ok,
    redact_case,
    redact_text,
    redact_texts,
    scrub,
)
from evals.cases.schema import CaseInput, ContextMessage, EvalCase, ObservedAnswer, ObservedRun
from evals.errors import ConfigError
from tests.evals.cases.redaction_corpus import LEAKS, ORDINARY, Leak

# --- examples --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to ana.lopez+test@mail.example.co.uk today", "write to <EMAIL_1> today"),
        ("call +44 20 7946 0958 now", "call <PHONE_1> now"),
        ("call (555) 123-4567 now", "call <PHONE_1> now"),
        ("call 555.123.4567 now", "call <PHONE_1> now"),
        ("ask <@U024BE7LH> please", "ask <USER_1> please"),
        ("ask <@U024BE7LH|ana> please", "ask <USER_1> please"),
        ("see <#C024BE7LR|general>", "see <CHANNEL_1>"),
        ("ping <!subteam^SAZ94GDB8|@oncall>", "ping <GROUP_1>"),
        ("db at postgres://app:s3cr3t@db.internal:5432/prod ok", "db at <URL_1> ok"),
        ("get https://api.example.com/v1/x?access_token=abc123.", "get <URL_1>."),
        ("hook https://hooks.slack.com/services/T000/B000/XXXX", "hook <URL_1>"),
        ("key sk-proj-Ab3dEf6hIj9kLmNoPqRsTuVw", "key <API_KEY_1>"),
        ("key sk-ant-api03-Ab3dEf6hIj9kLmNoPqRs", "key <API_KEY_1>"),
        ("token xoxb-123456789012-abcdefghijkl", "token <SLACK_TOKEN_1>"),
        ("app xapp-1-A0123456789-abcdef", "app <SLACK_TOKEN_1>"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws <API_KEY_1>"),
        ("gh ghp_0123456789abcdefghijABCDEFGHIJklmnop", "gh <API_KEY_1>"),
        ("Authorization: Bearer abcDEF0123456789xyz", "Authorization: Bearer <TOKEN_1>"),
        ('config {"password": "hunter2!"}', 'config {"password": "<SECRET_1>"}'),
        ("pay with 4111-1111-1111-1111 ok", "pay with <CARD_1> ok"),
        ("iban GB82 WEST 1234 5698 7654 32 please", "iban <IBAN_1> please"),
        ("iban DE89370400440532013000.", "iban <IBAN_1>."),
    ],
)
def test_examples_are_redacted(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Python 3.11.4 was released on 2023-06-06; 12345 users upgraded.",
        "See https://docs.python.org/3/library/re.html?highlight=lookbehind#syntax",
        "The task-management-system-overview page and sk-learn are fine.",
        "Order 4111 1111 1111 1112 fails the Luhn check so it is not a card.",
        "GB00 WEST 1234 5698 7654 32 has a wrong checksum.",
        "Use <!here> and <!channel> sparingly.",
        "A password is required.",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_same_value_same_placeholder_across_texts() -> None:
    out = redact_texts(
        ["mail ana@example.com", "cc bob@example.com and ana@example.com", "<@U0ANA1> hi"]
    )
    assert out == ["mail <EMAIL_1>", "cc <EMAIL_2> and <EMAIL_1>", "<USER_1> hi"]


def test_existing_placeholders_are_not_reused() -> None:
    assert redact_text("<EMAIL_1> wrote to new@example.com") == "<EMAIL_1> wrote to <EMAIL_2>"


def test_extra_patterns_become_their_own_kind() -> None:
    redactor = Redactor.with_patterns({"employee_id": r"\bEMP-\d{5}\b"})
    assert (
        redactor.redact("badge EMP-12345 and EMP-12345")
        == "badge <EMPLOYEE_ID_1> and <EMPLOYEE_ID_1>"
    )
    assert redactor.replacements == {"EMPLOYEE_ID": 1}


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ({"bad": "("}, "not a valid regex"),
        ({"empty": "x*"}, "matches the empty string"),
        ({"1abc": "x"}, "must start with a letter"),
    ],
)
def test_bad_extra_patterns_are_config_errors(patterns: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Redactor.with_patterns(patterns)


def test_checksums() -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
    assert iban_ok("DE89370400440532013000")
    assert not iban_ok("DE88370400440532013000")


def test_redact_case_is_consistent_across_all_fields() -> None:
    case = EvalCase(
        id="c1",
        input=CaseInput(
            question="Why can't ana@example.com log in with sk-proj-Zx9Yw8Vu7Ts6Rq5Po4Nm?",
            context=[ContextMessage(role="user", content="<@U0ANA1> reported it")],
        ),
        expected="Rotate sk-proj-Zx9Yw8Vu7Ts6Rq5Po4Nm and tell ana@example.com",
        assertions=[
            Assertion(type=AssertionType.ICONTAINS, value="ana@example.com"),
            Assertion(type=AssertionType.REGEX, value=r"ana@example\.com"),  # a pattern: kept
        ],
        observed=ObservedRun(
            answers=[ObservedAnswer(model="a", text="Email ana@example.com, call +1 415 555 0100")],
            consensus_model="a",
            consensus_text="Email ana@example.com",
        ),
    )
    red = redact_case(case)
    assert red.input.question == "Why can't <EMAIL_1> log in with <API_KEY_1>?"
    assert red.input.context[0].content == "<USER_1> reported it"
    assert red.expected == "Rotate <API_KEY_1> and tell <EMAIL_1>"
    assert [a.value for a in red.assertions] == ["<EMAIL_1>", r"ana@example\.com"]
    assert red.observed is not None
    assert red.observed.answers[0].text == "Email <EMAIL_1>, call <PHONE_1>"
    assert red.observed.consensus_text == "Email <EMAIL_1>"
    assert redact_case(red) == red


# --- the corpus: realistic secrets and personal data, and ordinary text -------------------


def test_the_corpus_is_large_and_covers_every_kind() -> None:
    assert len(LEAKS) >= 80
    kinds = {leak.kind for leak in LEAKS}
    assert {"SECRET", "API_KEY", "PHONE", "IP", "SSN", "EMAIL", "URL", "CARD", "IBAN"} <= kinds
    assert len(ORDINARY) >= 25


@pytest.mark.parametrize("leak", LEAKS, ids=lambda leak: f"{leak.kind}:{leak.text[:30]}")
def test_no_corpus_secret_survives_redaction_or_scrubbing(leak: Leak) -> None:
    redacted = redact_text(leak.text)
    assert leak.secret not in redacted
    assert find_sensitive(redacted) == []
    assert "<" in redacted  # a typed placeholder took its place
    assert leak.secret not in scrub(leak.text)
    assert leak.secret not in scrub(leak.text, extra=OPAQUE_RUNS)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_corpus_text_is_left_exactly_as_it_is(text: str) -> None:
    assert redact_text(text) == text
    assert scrub(text) == text


def test_all_corpus_secrets_in_one_text_share_consistent_placeholders() -> None:
    text = "\n".join(leak.text for leak in LEAKS)
    out = redact_text(text)
    assert not [leak.secret for leak in LEAKS if leak.secret in out]
    assert redact_text(out) == out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AWS_SECRET_ACCESS_KEY=abc/def+ghi", "AWS_SECRET_ACCESS_KEY=<SECRET_1>"),
        ("DB_PASSWORD=hunter22.", "DB_PASSWORD=<SECRET_1>."),
        ('PASSWORD="two words"', 'PASSWORD="<SECRET_1>"'),
        ("call 030 90182736", "call <PHONE_1>"),
        ("at 203.0.113.9 and 2001:db8::1", "at <IP_1> and <IP_2>"),
        ("version 1.2.3.4 but 1.2.3.4", "version 1.2.3.4 but <IP_1>"),
        ("ssn 123-45-6789", "ssn <SSN_1>"),
        ("my password is hunter2!", "my password is <SECRET_1>"),
        ("the password is required", "the password is required"),
    ],
)
def test_the_issue_10_kinds(text: str, expected: str) -> None:
    assert redact_text(text) == expected


# --- properties ------------------------------------------------------------------------------

ALNUM = string.ascii_letters + string.digits
_alnum = st.text(ALNUM, min_size=1, max_size=12)


def _luhn_complete(body: str) -> str:
    for check in string.digits:
        if luhn_ok(body + check):
            return body + check
    raise AssertionError("unreachable")


def _iban(country: str, bban: str) -> str:
    number = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(number) % 97
    return f"{country}{check:02d}{bban}"


def _with_digit(s: str) -> str:
    return s if any(c.isdigit() for c in s) else s + "7"


emails = st.builds(
    lambda user, host, tld: f"{user}@{host}.{tld}",
    st.text(ALNUM + "._+-", min_size=1, max_size=12).filter(lambda u: u[0].isalnum()),
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10),
    st.sampled_from(["com", "org", "io", "co.uk", "de"]),
)
phones = st.one_of(
    st.builds(
        lambda cc, a, b, c, sep: f"+{cc}{sep}{a}{sep}{b}{sep}{c}",
        st.integers(1, 99),
        st.integers(10, 999),
        st.integers(100, 9999),
        st.integers(1000, 9999),
        st.sampled_from([" ", "-", "."]),
    ),
    st.builds(
        lambda a, b, c, style: style.format(a, b, c),
        st.integers(200, 999),
        st.integers(200, 999),
        st.integers(0, 9999).map(lambda n: f"{n:04d}"),
        st.sampled_from(["({}) {}-{}", "{}-{}-{}", "{}.{}.{}", "{} {} {}"]),
    ),
)
mentions = st.one_of(
    st.builds(
        lambda i, n: f"<@U{i}|{n}>",
        st.text("ABCDEFGHJK0123456789", min_size=4, max_size=10),
        _alnum,
    ),
    st.builds(lambda i: f"<@W{i}>", st.text("ABCDEFGHJK0123456789", min_size=4, max_size=10)),
    st.builds(
        lambda i, n: f"<#C{i}|{n}>",
        st.text("ABCDEFGHJK0123456789", min_size=4, max_size=10),
        _alnum,
    ),
    st.builds(
        lambda i: f"<!subteam^S{i}>", st.text("ABCDEFGHJK0123456789", min_size=4, max_size=10)
    ),
)
keys = st.one_of(
    st.builds(
        lambda p, k: f"sk-{p}{_with_digit(k)}",
        st.sampled_from(["", "proj-", "ant-api03-"]),
        st.text(ALNUM, min_size=20, max_size=48),
    ),
    st.builds(
        lambda k: f"xox{k[0]}-{_with_digit(k[1:])}",
        st.text("abposr", min_size=1, max_size=1).flatmap(
            lambda c: st.text(ALNUM + "-", min_size=10, max_size=40).map(lambda t: c + t)
        ),
    ),
    st.builds(lambda k: f"xapp-1-{k}", st.text(ALNUM, min_size=10, max_size=40)),
    st.builds(
        lambda k: f"AKIA{k}",
        st.text(string.ascii_uppercase + string.digits, min_size=16, max_size=16),
    ),
    st.builds(lambda k: f"ghp_{k}", st.text(ALNUM, min_size=36, max_size=40)),
    st.builds(
        lambda k: f"Bearer {k}",
        st.text(ALNUM + "-._~+/", min_size=16, max_size=40).filter(lambda s: s[0].isalnum()),
    ),
)
urls = st.one_of(
    st.builds(
        lambda u, p, h: f"https://{u}:{p}@{h}.example.com/path",
        _alnum,
        _alnum,
        st.text(string.ascii_lowercase, min_size=1, max_size=8),
    ),
    st.builds(
        lambda name, v: f"https://api.example.com/v1/items?id=3&{name}={v}",
        st.sampled_from(
            ["token", "access_token", "api_key", "sig", "X-Amz-Signature", "client_secret", "key"]
        ),
        _alnum,
    ),
)


def _grouped(digits: str, sep: str) -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


cards = st.builds(
    lambda prefix, body, sep: _grouped(_luhn_complete(prefix + body), sep),
    st.sampled_from(["4", "51", "37", "6011"]),
    st.text(string.digits, min_size=11, max_size=14),
    st.sampled_from(["", " ", "-"]),
)


def _spaced(text: str, spaced: bool) -> str:
    return _grouped(text, " ") if spaced else text


ibans = st.builds(
    lambda country, bban, spaced: _spaced(_iban(country, bban), spaced),
    st.sampled_from(["DE", "GB", "FR", "NL", "ES"]),
    st.text(string.ascii_uppercase[:6] + string.digits, min_size=14, max_size=22),
    st.booleans(),
)
secrets = st.one_of(emails, phones, mentions, keys, urls, cards, ibans)

# Arbitrary surrounding prose: words, numbers, punctuation, non-ASCII.
filler = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=60)


def _sensitive_part(secret: str) -> str:
    return secret.removeprefix("Bearer ")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(before=filler, secret=secrets, after=filler)
def test_no_generated_secret_survives(before: str, secret: str, after: str) -> None:
    assume(_sensitive_part(secret) not in before + after)
    text = f"{before} {secret} {after}"
    out = redact_text(text)
    assert _sensitive_part(secret) not in out
    assert find_sensitive(out) == []


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(filler, secrets), max_size=4), filler)
def test_many_secrets_none_survive_and_placeholders_are_consistent(
    parts: list[tuple[str, str]], tail: str
) -> None:
    text = "".join(f"{prose} {secret} " for prose, secret in parts) + tail
    out = redact_text(text)
    prose = "".join(p for p, _ in parts) + tail
    for _, secret in parts:
        if _sensitive_part(secret) not in prose:
            assert _sensitive_part(secret) not in out
    # the same text redacted twice in one case gets the same placeholders
    assert redact_texts([text, text]) == [out, out]


@settings(max_examples=300)
@given(st.one_of(filler, st.builds(lambda a, s, b: f"{a} {s} {b}", filler, secrets, filler)))
def test_redaction_is_idempotent(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(filler, secrets), min_size=1, max_size=6))
def test_nothing_sensitive_survives_anywhere_in_a_case(parts: list[tuple[str, str]]) -> None:
    texts = [f"{prose} {secret}" for prose, secret in parts]
    texts += ["filler"] * (6 - len(texts))
    case = EvalCase(
        id="c",
        input=CaseInput(question=texts[0], context=[ContextMessage(role="user", content=texts[1])]),
        expected=texts[2],
        assertions=[
            Assertion(type=AssertionType.ICONTAINS, value=texts[3]),
            Assertion(type=AssertionType.LLM_RUBRIC, value=texts[4]),
        ],
        observed=ObservedRun(
            answers=[ObservedAnswer(model="m", text=texts[5])], consensus_text=texts[0]
        ),
    )
    red = redact_case(case)
    assert red.observed is not None
    stored = [
        red.input.question,
        red.input.context[0].content,
        red.expected or "",
        *(str(a.value) for a in red.assertions),
        red.observed.answers[0].text,
        red.observed.consensus_text or "",
    ]
    prose = "".join(p for p, _ in parts)
    for text in stored:
        assert find_sensitive(text) == []
        for _, secret in parts:
            if _sensitive_part(secret) not in prose:
                assert _sensitive_part(secret) not in text
    # the question and the consensus were the same text: same placeholders
    assert red.input.question == red.observed.consensus_text
