"""How long a provider asked us to wait, read from its HTTP error.

Every provider says it differently, and says it in the response that refused us:

- ``retry-after-ms`` (OpenAI, Azure): milliseconds;
- ``retry-after`` (the HTTP standard; OpenAI, Anthropic, most gateways): seconds, or an
  HTTP date;
- OpenAI's ``x-ratelimit-reset-requests`` / ``x-ratelimit-reset-tokens``: when that
  quota refills, as a Go duration (``"1s"``, ``"6m0s"``, ``"20ms"``), beside
  ``x-ratelimit-remaining-requests`` / ``-tokens``;
- Anthropic's ``anthropic-ratelimit-requests-reset``, ``-tokens-reset``,
  ``-input-tokens-reset`` and ``-output-tokens-reset``: an RFC 3339 time, beside
  ``anthropic-ratelimit-*-remaining``;
- Gemini (and every Google API): no header, but a ``google.rpc.RetryInfo`` in the error
  body's ``error.details``, whose ``retryDelay`` is a protobuf duration (``"30s"``,
  ``"1.5s"``);
- OpenAI's error message itself: "... Please try again in 1.898s." / "in 6m0s".

:func:`wait_hint` reads all of them, in that order of trust: an explicit "retry after"
wins; else the refill time of the quota that ran out (``remaining`` 0), or, when nobody
says which ran out, the soonest refill; else the body's. It is pure (``now`` is a
parameter), never raises whatever a server sends, and its answer is ``None`` (no hint) or
a number of seconds in ``[0, MAX_HINT_S]``. Only a "come back later" status (408, 429,
5xx, or an unknown one) carries a hint: the same headers on a 400 describe the quota, not
this failure.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: The longest wait a hint can ask for (a day): longer is a server's mistake or a daily
#: quota, and either way the caller's deadline decides.
MAX_HINT_S = 24 * 3600.0

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTAS_OPENAI = ("requests", "tokens")
_QUOTAS_ANTHROPIC = ("requests", "tokens", "input-tokens", "output-tokens")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|μs|ns|m|s)")
_UNIT_S = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,  # micro sign
    "μs": 1e-6,  # Greek mu
    "ns": 1e-9,
}
_TRY_AGAIN = re.compile(r"try again in ((?:\d+(?:\.\d*)?(?:h|ms|us|µs|μs|ns|m|s))+)", re.I)
_MAX_TEXT = 64 * 1024  # a hint sits in the first lines of a body, never megabytes in


def wait_hint(
    status: int | None,
    headers: object = None,
    body: object = None,
    *,
    now: datetime | None = None,
) -> float | None:
    """Seconds the provider asked us to wait before asking again, or ``None``.

    ``headers``: any mapping of header names to values (aiohttp's, httpx's, a dict;
    names in any case). ``body``: the error body as bytes, text or already-parsed JSON.
    ``now``: the time to count an absolute reset time from (default: the clock).
    """
    if status is not None and not _comes_back_later(status):
        return None
    fields = _lower_headers(headers)
    moment = now or datetime.now(UTC)
    for seconds in (
        _retry_after_ms(fields),
        _retry_after(fields, moment),
        _quota_reset(fields, moment),
        _body_hint(body),
    ):
        if seconds is not None:
            return seconds
    return None


def parse_duration(text: str) -> float | None:
    """A Go or protobuf duration (``"6m0s"``, ``"1.5s"``, ``"20ms"``) in seconds, or None."""
    value = text.strip()
    if not value or len(value) > 64:
        return None
    total, at = 0.0, 0
    for part in _DURATION_PART.finditer(value):
        if part.start() != at:
            return None
        total += float(part.group(1)) * _UNIT_S[part.group(2)]
        at = part.end()
    if at != len(value):
        return None
    return _bounded(total)


def _comes_back_later(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _lower_headers(headers: object) -> dict[str, str]:
    if headers is None:
        return {}
    items = getattr(headers, "items", None)
    pairs: Iterable[object] = items() if callable(items) else ()
    fields: dict[str, str] = {}
    for pair in pairs:
        if isinstance(pair, tuple) and len(pair) == 2:
            name, value = pair
            if isinstance(name, str) and isinstance(value, str):
                fields.setdefault(name.strip().lower(), value.strip())
    return fields


def _bounded(seconds: float) -> float | None:
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_HINT_S)


def _number(text: str | None) -> float | None:
    if text is None or len(text) > 64:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return _bounded(value)


def _retry_after_ms(fields: Mapping[str, str]) -> float | None:
    millis = _number(fields.get("retry-after-ms"))
    return None if millis is None else _bounded(millis / 1000)


def _retry_after(fields: Mapping[str, str], now: datetime) -> float | None:
    value = fields.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return _until(when, now)


def _until(when: datetime, now: datetime) -> float | None:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return _bounded((when - now).total_seconds())


def _timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def _quota_reset(fields: Mapping[str, str], now: datetime) -> float | None:
    """The refill of the quota that ran out; the soonest refill when none says so."""
    resets: list[tuple[float, bool]] = []  # (seconds, this quota is exhausted)
    for quota in _QUOTAS_OPENAI:
        raw = fields.get(f"x-ratelimit-reset-{quota}")
        seconds = parse_duration(raw) if raw is not None else None
        if seconds is not None:
            resets.append((seconds, _exhausted(fields.get(f"x-ratelimit-remaining-{quota}"))))
    for quota in _QUOTAS_ANTHROPIC:
        raw = fields.get(f"anthropic-ratelimit-{quota}-reset")
        when = _timestamp(raw) if raw is not None else None
        seconds = _until(when, now) if when is not None else None
        if seconds is not None:
            remaining = fields.get(f"anthropic-ratelimit-{quota}-remaining")
            resets.append((seconds, _exhausted(remaining)))
    if not resets:
        return None
    exhausted = [seconds for seconds, out in resets if out]
    return max(exhausted) if exhausted else min(seconds for seconds, _ in resets)


def _exhausted(remaining: str | None) -> bool:
    value = _number(remaining)
    return value is not None and value <= 0


def _body_hint(body: object) -> float | None:
    data = _json(body)
    if isinstance(data, list) and data:  # Gemini sometimes wraps its error in a list
        data = data[0]
    if not isinstance(data, dict):
        return None
    error = data.get("error", data)  # the OpenAI SDK's ``body`` is the inner object
    if not isinstance(error, dict):
        return None
    details = error.get("details")
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and detail.get("@type") == _RETRY_INFO:
            delay = detail.get("retryDelay")
            seconds = _protobuf_duration(delay)
            if seconds is not None:
                return seconds
    message = error.get("message")
    if isinstance(message, str):
        found = _TRY_AGAIN.search(message[:_MAX_TEXT])
        if found:
            return parse_duration(found.group(1))
    return None


def _protobuf_duration(delay: object) -> float | None:
    if isinstance(delay, str):
        return parse_duration(delay)
    if isinstance(delay, dict):  # the proto form: {"seconds": "30", "nanos": 0}
        try:
            seconds = float(str(delay.get("seconds", 0))[:64])
            nanos = float(str(delay.get("nanos", 0))[:64])
        except ValueError:
            return None
        return _bounded(seconds + nanos / 1e9)
    return None


def _json(body: object) -> object:
    if isinstance(body, bytes | bytearray):
        body = bytes(body[:_MAX_TEXT]).decode("utf-8", errors="replace")
    if not isinstance(body, str):
        return body
    text = body[:_MAX_TEXT]
    start = text.find("{")
    bracket = text.find("[")
    if bracket >= 0 and (start < 0 or bracket < start):
        start = bracket
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    return value
