"""Reading a provider's own wait hint from its HTTP error, in every shape providers use."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from evals.models.retry_hints import MAX_HINT_S, parse_duration, wait_hint

NOW = datetime(2026, 12, 6, 20, 0, 0, tzinfo=UTC)


def rfc3339(seconds: float) -> str:
    return (NOW + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def gemini_body(delay: Any) -> bytes:
    return json.dumps(
        {
            "error": {
                "code": 429,
                "message": "Resource has been exhausted (e.g. check quota).",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [{"quotaMetric": "generate_content_free_tier_requests"}],
                    },
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
                ],
            }
        }
    ).encode()


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),
        # retry-after-ms is the finer of the two OpenAI sends together
        ({"retry-after": "2", "retry-after-ms": "1250"}, 1.25),
        ({"retry-after": "Sun, 06 Dec 2026 20:00:30 GMT"}, 30.0),
        ({"retry-after": "Sun, 06 Dec 2026 19:59:00 GMT"}, 0.0),  # in the past: now
    ],
)
def test_retry_after_in_seconds_milliseconds_or_an_http_date(
    headers: dict[str, str], seconds: float
) -> None:
    assert wait_hint(429, headers, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        # the quota that ran out decides
        (
            {
                "x-ratelimit-limit-requests": "500",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "6m0s",
                "x-ratelimit-remaining-tokens": "149000",
                "x-ratelimit-reset-tokens": "20ms",
            },
            360.0,
        ),
        (
            {
                "x-ratelimit-remaining-requests": "12",
                "x-ratelimit-reset-requests": "1s",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "1m30.5s",
            },
            90.5,
        ),
        # nobody says which ran out: the soonest refill
        ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "120ms"}, 0.12),
        ({"x-ratelimit-reset-tokens": "1h2m3s"}, 3723.0),
    ],
)
def test_openais_quota_reset_durations(headers: dict[str, str], seconds: float) -> None:
    assert wait_hint(429, headers, now=NOW) == pytest.approx(seconds)


def test_anthropics_reset_times_and_its_retry_after() -> None:
    exhausted_output = {
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": rfc3339(1),
        "anthropic-ratelimit-input-tokens-remaining": "30000",
        "anthropic-ratelimit-input-tokens-reset": rfc3339(2),
        "anthropic-ratelimit-output-tokens-remaining": "0",
        "anthropic-ratelimit-output-tokens-reset": rfc3339(42),
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": "2026-12-06T20:00:12+00:00",
    }
    assert wait_hint(429, exhausted_output, now=NOW) == pytest.approx(42.0)
    # Anthropic's 429 also carries retry-after, which wins over the reset times
    assert wait_hint(429, {**exhausted_output, "retry-after": "9"}, now=NOW) == 9.0
    only_resets = {"anthropic-ratelimit-tokens-reset": rfc3339(3.5)}
    assert wait_hint(529, only_resets, now=NOW) == pytest.approx(3.5)


@pytest.mark.parametrize(
    ("delay", "seconds"), [("30s", 30.0), ("1.5s", 1.5), ("0.000001s", 1e-6), ("0s", 0.0)]
)
def test_geminis_retry_info_in_the_error_details(delay: str, seconds: float) -> None:
    assert wait_hint(429, {}, gemini_body(delay)) == pytest.approx(seconds)
    assert wait_hint(429, None, json.loads(gemini_body(delay))) == pytest.approx(seconds)
    # Gemini sometimes answers with a list holding the error
    listed = b"[" + gemini_body(delay) + b"]"
    assert wait_hint(429, None, listed.decode()) == pytest.approx(seconds)


def test_a_proto_style_retry_delay_and_a_litellm_message_carrying_the_body() -> None:
    proto = gemini_body({"seconds": "3", "nanos": 500000000})
    assert wait_hint(429, None, proto) == pytest.approx(3.5)
    message = "litellm.RateLimitError: GeminiException - " + gemini_body("12s").decode()
    assert wait_hint(429, None, message) == pytest.approx(12.0)


def test_openais_try_again_in_the_error_message() -> None:
    body = {
        "error": {
            "message": "Rate limit reached for gpt-4o in organization org-x on tokens per min "
            "(TPM): Limit 30000, Used 29800, Requested 900. Please try again in 1.4s.",
            "type": "tokens",
            "code": "rate_limit_exceeded",
        }
    }
    assert wait_hint(429, None, json.dumps(body)) == pytest.approx(1.4)
    body["error"]["message"] = "Rate limit reached. Please try again in 6m0s. Visit ..."
    assert wait_hint(429, None, body) == 360.0


def test_headers_win_over_the_body_and_any_case_of_names_reads() -> None:
    headers = CIMultiDict({"Retry-After-Ms": "250"})
    assert wait_hint(429, headers, gemini_body("30s")) == 0.25
    assert wait_hint(429, {"RETRY-AFTER": "4"}) == 4.0


@pytest.mark.parametrize("status", [200, 400, 401, 404, 413])
def test_a_status_that_is_not_come_back_later_has_no_hint(status: int) -> None:
    # OpenAI sends x-ratelimit-* on every response: on a 400 they describe the quota,
    # not this failure
    headers = {"retry-after": "5", "x-ratelimit-reset-requests": "1s"}
    assert wait_hint(status, headers, gemini_body("30s")) is None


@pytest.mark.parametrize("status", [None, 408, 429, 500, 503, 529])
def test_come_back_later_statuses_carry_hints(status: int | None) -> None:
    assert wait_hint(status, {"retry-after": "5"}) == 5.0


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (None, None),
        ({}, b""),
        ({"retry-after": "soon"}, b"<html>502 Bad Gateway</html>"),
        ({"retry-after-ms": "nan"}, "not json {"),
        ({"x-ratelimit-reset-requests": "1 second"}, {"error": "quota"}),
        ({"anthropic-ratelimit-requests-reset": "tomorrow"}, [1, 2]),
        ({}, {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo"}]}}),
        ({}, {"error": {"details": "30s", "message": 42}}),
    ],
)
def test_no_or_unreadable_hints_are_none(headers: Any, body: Any) -> None:
    assert wait_hint(429, headers, body, now=NOW) is None


def test_huge_and_negative_hints_are_bounded() -> None:
    assert wait_hint(429, {"retry-after": "1e300"}) == MAX_HINT_S
    assert wait_hint(429, {"retry-after": "inf"}) == MAX_HINT_S
    assert wait_hint(429, {"retry-after": "-3"}) == 0.0
    assert wait_hint(429, {"retry-after-ms": "-3"}) == 0.0
    assert wait_hint(429, {"x-ratelimit-reset-tokens": "99999h"}) == MAX_HINT_S


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("500us", 0.0005),
        ("7ns", 7e-9),
        ("", None),
        ("1", None),
        ("s", None),
        ("1s 2s", None),
        ("-1s", None),
        ("1d", None),
    ],
)
def test_durations(text: str, seconds: float | None) -> None:
    parsed = parse_duration(text)
    assert parsed == (pytest.approx(seconds) if seconds is not None else None)


_HINT_NAMES = st.sampled_from(
    [
        "retry-after",
        "Retry-After",
        "retry-after-ms",
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-remaining-tokens",
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-input-tokens-reset",
        "anthropic-ratelimit-output-tokens-reset",
        "anthropic-ratelimit-tokens-remaining",
    ]
)
_VALUES = st.one_of(
    st.text(max_size=40),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str),
    st.from_regex(r"\A(\d{1,6}(h|m|s|ms|us|ns)){1,3}\Z"),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.text(max_size=20) | st.integers(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
_BODIES = st.one_of(
    st.none(),
    st.binary(max_size=200),
    st.text(max_size=200),
    _JSON,
    st.builds(
        lambda delay, extra: {
            "error": {
                "details": [
                    extra,
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
                ]
            }
        },
        _JSON | _VALUES,
        _JSON,
    ),
)


@given(
    status=st.one_of(st.none(), st.integers(min_value=-1, max_value=1000)),
    headers=st.one_of(
        st.none(),
        st.dictionaries(_HINT_NAMES | st.text(max_size=20), _VALUES, max_size=6),
        st.lists(st.tuples(st.text(max_size=10), st.text(max_size=10)), max_size=4),
        st.integers(),
    ),
    body=_BODIES,
)
def test_any_headers_and_body_give_none_or_a_bounded_wait(
    status: int | None, headers: Any, body: Any
) -> None:
    hint = wait_hint(status, headers, body, now=NOW)
    assert hint is None or 0.0 <= hint <= MAX_HINT_S


@given(seconds=st.floats(min_value=0, max_value=MAX_HINT_S))
def test_a_plain_retry_after_is_read_back_as_sent(seconds: float) -> None:
    assert wait_hint(429, {"retry-after": repr(seconds)}) == seconds
