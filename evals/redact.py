"""PII and secret redaction for anything that becomes an eval case.

The raw production log keeps the original text; only cases are redacted. Redacted spans
become typed placeholders (``<EMAIL_1>``, ``<API_KEY_2>``) and one :class:`Redactor`
gives the same value the same placeholder everywhere it is used, so a case stays
coherent across its question, context, expected answer and recorded answers.

What is found (kind → examples):

* ``EMAIL``: ``ana@example.com``
* ``PHONE``: ``+44 20 7946 0958``, ``(555) 123-4567``, ``555.123.4567``
* ``USER`` / ``CHANNEL`` / ``GROUP``: Slack mentions ``<@U123>``, ``<#C123|general>``,
  ``<!subteam^S123|@oncall>``
* ``URL``: URLs carrying credentials (``https://user:pw@host``), token-like query
  parameters (``?token=``, ``access_token``, ``sig``, ``X-Amz-Signature`` ...) or a
  secret path (Slack/Discord webhooks)
* ``API_KEY``: OpenAI/Anthropic (``sk-…``, ``sk-proj-…``), AWS (``AKIA…``), GitHub
  (``ghp_…``, ``github_pat_…``), GitLab, Google (``AIza…``), Stripe, Hugging Face
* ``SLACK_TOKEN``: ``xoxb-…``, ``xoxp-…``, ``xapp-…`` (``xox[abposr]``)
* ``TOKEN``: ``Bearer …`` credentials and JSON Web Tokens
* ``SECRET``: ``password=…``, ``api_key: …`` and similar assignments
* ``PRIVATE_KEY``: PEM private key blocks
* ``CARD``: card numbers that pass the Luhn check
* ``IBAN``: IBANs that pass the ISO 13616 mod-97 check
* any extra kinds configured as ``name → regex``
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from evals.assertions import TEXT_TYPES
from evals.errors import ConfigError

if TYPE_CHECKING:
    from evals.case_schema import EvalCase

#: A placeholder a redactor writes; never matched by any detector.
PLACEHOLDER_RE = re.compile(r"<([A-Z][A-Z0-9_]*)_(\d+)>")

_MAX_PASSES = 5


@dataclass(frozen=True)
class Finding:
    """One sensitive span: ``text[start:end]`` is of ``kind``."""

    kind: str
    start: int
    end: int
    value: str


Detector = Callable[[str], Iterator[Finding]]


def _regex_detector(kind: str, pattern: re.Pattern[str], group: int = 0) -> Detector:
    def detect(text: str) -> Iterator[Finding]:
        for m in pattern.finditer(text):
            start, end = m.span(group)
            if start < end:
                yield Finding(kind, start, end, m.group(group))

    return detect


# --- Slack mentions -----------------------------------------------------------------------
_USER = re.compile(r"<@[UWB][A-Z0-9]{2,}(?:\|[^<>]*)?>")
_CHANNEL = re.compile(r"<#[CGD][A-Z0-9]{2,}(?:\|[^<>]*)?>")
_GROUP = re.compile(r"<!subteam\^[A-Z0-9]{2,}(?:\|[^<>]*)?>")

# --- keys and tokens ----------------------------------------------------------------------
_NB = r"(?<![A-Za-z0-9_\-])"  # not glued to the end of another word
_NA = r"(?![A-Za-z0-9_\-])"
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_SLACK_TOKEN = re.compile(
    _NB
    + r"(?:xox[abposr]-[A-Za-z0-9\-]{8,}|xapp-\d-[A-Za-z0-9\-]{8,}|xoxe\.xox[bp]-[A-Za-z0-9\-]{8,})"
)
_API_KEYS = re.compile(
    _NB
    + r"(?:"
    + r"sk-(?=[A-Za-z0-9_\-]*\d)[A-Za-z0-9_\-]{16,}"  # OpenAI, Anthropic (sk-ant-), sk-proj-
    + r"|(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}"  # AWS access key ids
    + r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub
    + r"|github_pat_[A-Za-z0-9_]{22,}"
    + r"|glpat-[A-Za-z0-9_\-]{20,}"  # GitLab
    + r"|AIza[0-9A-Za-z_\-]{35}"  # Google
    + r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    + r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    + r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"  # SendGrid
    + r")"
    + _NA
)
_JWT = re.compile(_NB + r"eyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}" + _NA)
_BEARER = re.compile(r"(?i)\b(?:bearer|token)\s+((?!<[A-Z])[A-Za-z0-9\-._~+/]{16,}=*)")
_BASIC = re.compile(r"(?i)\bbasic\s+((?!<[A-Z])[A-Za-z0-9+/]{12,}={0,2})")
_ASSIGNMENT = re.compile(
    r"(?i)\b(?:password|passwd|pwd|passphrase|secret|client[_\-]?secret|api[_\-]?key|apikey"
    r"|access[_\-]?key|secret[_\-]?key|access[_\-]?token|auth[_\-]?token|refresh[_\-]?token"
    r"|private[_\-]?key|token)"
    r"""["']?\s*[:=]\s*["']?((?!<[A-Z])[^\s"'`,;<>]{4,})"""
)

# --- URLs ---------------------------------------------------------------------------------
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s<>\"'`|]+")
_URL_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#@\s]*:[^/?#@\s]*@")
_SECRET_PARAM = re.compile(
    r"(?i)[?&#;](?:[a-z0-9_\-]*(?:token|secret|passw(?:or)?d|pwd|api[_\-]?key|apikey|"
    r"signature|credential|session|auth)[a-z0-9_\-]*|key|sig|code|x-amz-[a-z\-]+|"
    r"awsaccesskeyid|x-goog-[a-z\-]+)="
)
_SECRET_PATH = re.compile(
    r"(?i)^https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)/|"
    r"(?:[a-z0-9\-]+\.)?discord(?:app)?\.com/api/webhooks/|"
    r"[a-z0-9\-]+\.webhook\.office\.com/)"
)


def _detect_urls(text: str) -> Iterator[Finding]:
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?)]}")
        if _URL_USERINFO.match(url) or _SECRET_PARAM.search(url) or _SECRET_PATH.match(url):
            yield Finding("URL", m.start(), m.start() + len(url), url)


# --- emails and phones --------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,}(?![A-Za-z0-9\-])"
)
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .\-]?\(?\d{1,5}\)?){1,7}(?!\w)")
_PHONE_NATIONAL = re.compile(r"(?<![\w(])(?:\(\d{3}\)\s?|\d{3}[ .\-])\d{3}[ .\-]\d{4}(?![\w])")


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _detect_phones(text: str) -> Iterator[Finding]:
    for m in _PHONE_INTL.finditer(text):
        span = m.group(0)
        # Greedy matching may swallow digits that follow; keep the longest prefix of whole
        # groups that is still a plausible number (at most 15 digits, E.164).
        while _digits(span) > 15:
            cut = max(span.rfind(" "), span.rfind("."), span.rfind("-"), span.rfind("("))
            if cut <= 0:
                break
            span = span[:cut].rstrip(" .-(")
        if 7 <= _digits(span) <= 15:
            yield Finding("PHONE", m.start(), m.start() + len(span), span)
    for m in _PHONE_NATIONAL.finditer(text):
        yield Finding("PHONE", m.start(), m.end(), m.group(0))


# --- cards and IBANs (checksums) ----------------------------------------------------------
_DIGIT_RUN = re.compile(r"(?<!\d)\d+(?:[ \-]\d+)*(?!\d)")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _detect_cards(text: str) -> Iterator[Finding]:
    for run in _DIGIT_RUN.finditer(text):
        raw = run.group(0)
        groups = [(g.start(), g.end()) for g in re.finditer(r"\d+", raw)]
        i = 0
        while i < len(groups):
            # The longest span of whole digit groups, starting at group i, that is a
            # valid card number (13 to 19 digits, Luhn).
            found = None
            digits = ""
            for j in range(i, len(groups)):
                digits += raw[groups[j][0] : groups[j][1]]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and luhn_ok(digits):
                    found = j
            if found is None:
                i += 1
                continue
            start, end = run.start() + groups[i][0], run.start() + groups[found][1]
            yield Finding("CARD", start, end, text[start:end])
            i = found + 1


_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}")
_IBAN_CANDIDATE = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")


def iban_ok(compact: str) -> bool:
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _detect_ibans(text: str) -> Iterator[Finding]:
    pos = 0
    for start in _IBAN_START.finditer(text):
        if start.start() < pos:
            continue
        m = _IBAN_CANDIDATE.match(text, start.start())
        if m is None:
            continue
        raw = m.group(0)
        # The candidate may run into following words; find the longest valid prefix that
        # ends on a character boundary.
        positions = [i + 1 for i, ch in enumerate(raw) if ch != " "]
        for end in reversed(positions):
            if end < len(raw) and raw[end].isalnum():
                continue  # would cut a group of characters in the middle
            compact = raw[:end].replace(" ", "")
            if len(compact) >= 15 and iban_ok(compact):
                yield Finding("IBAN", m.start(), m.start() + end, raw[:end])
                pos = m.start() + end
                break


#: The built-in detectors, most specific first (earlier wins when spans tie).
BUILTIN_DETECTORS: tuple[Detector, ...] = (
    _regex_detector("PRIVATE_KEY", _PRIVATE_KEY),
    _regex_detector("USER", _USER),
    _regex_detector("CHANNEL", _CHANNEL),
    _regex_detector("GROUP", _GROUP),
    _detect_urls,
    _regex_detector("SLACK_TOKEN", _SLACK_TOKEN),
    _regex_detector("API_KEY", _API_KEYS),
    _regex_detector("TOKEN", _JWT),
    _regex_detector("TOKEN", _BEARER, 1),
    _regex_detector("TOKEN", _BASIC, 1),
    _regex_detector("SECRET", _ASSIGNMENT, 1),
    _regex_detector("EMAIL", _EMAIL),
    _detect_cards,
    _detect_ibans,
    _detect_phones,
)

_KIND_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def compile_extra_patterns(patterns: Mapping[str, str]) -> tuple[Detector, ...]:
    """Turn configured ``name → regex`` pairs into detectors. The name becomes the
    placeholder kind (upper-cased: ``employee_id`` → ``<EMPLOYEE_ID_1>``)."""
    detectors: list[Detector] = []
    for name, pattern in patterns.items():
        kind = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
        if not _KIND_NAME.match(kind):
            raise ConfigError(
                f"redaction pattern name {name!r} must start with a letter "
                "(letters, digits and _ only)"
            )
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"redaction pattern {name!r} is not a valid regex: {exc}") from None
        if compiled.search(""):
            raise ConfigError(f"redaction pattern {name!r} matches the empty string")
        detectors.append(_regex_detector(kind, compiled))
    return tuple(detectors)


def _inside_placeholder(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in PLACEHOLDER_RE.finditer(text)]


def find_sensitive(text: str, extra: Sequence[Detector] = ()) -> list[Finding]:
    """Every sensitive span in ``text``, non-overlapping, left to right. Placeholders
    written by a redactor are never reported."""
    protected = _inside_placeholder(text)
    candidates: list[tuple[int, int, int, Finding]] = []
    for priority, detect in enumerate((*BUILTIN_DETECTORS, *extra)):
        for f in detect(text):
            if any(s <= f.start and f.end <= e for s, e in protected):
                continue
            candidates.append((f.start, -(f.end - f.start), priority, f))
    candidates.sort(key=lambda c: c[:3])
    chosen: list[Finding] = []
    last_end = -1
    for _, _, _, f in candidates:
        if f.start >= last_end:
            chosen.append(f)
            last_end = f.end
    return chosen


@dataclass
class Redactor:
    """Replaces sensitive spans with typed placeholders, consistently: one redactor gives
    the same value the same placeholder across every text it sees (use one per case)."""

    extra: tuple[Detector, ...] = ()
    _assigned: dict[tuple[str, str], str] = field(default_factory=dict)
    _counters: dict[str, int] = field(default_factory=dict)

    @classmethod
    def with_patterns(cls, patterns: Mapping[str, str] | None = None) -> Redactor:
        return cls(extra=compile_extra_patterns(patterns or {}))

    def reserve(self, texts: Iterable[str]) -> None:
        """Note placeholders already present so new ones never reuse their numbers
        (this is what makes redaction idempotent)."""
        for text in texts:
            for m in PLACEHOLDER_RE.finditer(text):
                kind, number = m.group(1), int(m.group(2))
                self._counters[kind] = max(self._counters.get(kind, 0), number)

    def _placeholder(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self._assigned:
            self._counters[kind] = self._counters.get(kind, 0) + 1
            self._assigned[key] = f"<{kind}_{self._counters[kind]}>"
        return self._assigned[key]

    def redact(self, text: str) -> str:
        self.reserve([text])
        for _ in range(_MAX_PASSES):
            findings = find_sensitive(text, self.extra)
            if not findings:
                return text
            parts: list[str] = []
            pos = 0
            for f in findings:
                parts.append(text[pos : f.start])
                parts.append(self._placeholder(f.kind, f.value))
                pos = f.end
            parts.append(text[pos:])
            text = "".join(parts)
        return text

    @property
    def replacements(self) -> dict[str, int]:
        """How many distinct values of each kind were replaced."""
        counts: dict[str, int] = {}
        for kind, _ in self._assigned:
            counts[kind] = counts.get(kind, 0) + 1
        return counts


def redact_text(text: str, patterns: Mapping[str, str] | None = None) -> str:
    """Redact one text on its own."""
    return Redactor.with_patterns(patterns).redact(text)


def redact_texts(texts: Sequence[str], patterns: Mapping[str, str] | None = None) -> list[str]:
    """Redact several texts with shared placeholders (same value, same placeholder)."""
    redactor = Redactor.with_patterns(patterns)
    redactor.reserve(texts)
    return [redactor.redact(t) for t in texts]


def _case_texts(case: EvalCase) -> list[str]:
    texts = [case.input.question, *(m.content for m in case.input.context)]
    texts.append(case.expected or "")
    texts += [str(a.value) for a in case.assertions if a.type in TEXT_TYPES]
    if case.observed is not None:
        texts += [a.text for a in case.observed.answers]
        texts.append(case.observed.consensus_text or "")
    return texts


def redact_case(case: EvalCase, patterns: Mapping[str, str] | None = None) -> EvalCase:
    """The case with every free-text field redacted, placeholders shared across fields."""
    redactor = Redactor.with_patterns(patterns)
    redactor.reserve(_case_texts(case))
    r = redactor.redact

    def opt(value: str | None) -> str | None:
        return None if value is None else r(value)

    update: dict[str, object] = {
        "input": case.input.model_copy(
            update={
                "question": r(case.input.question),
                "context": [
                    m.model_copy(update={"content": r(m.content)}) for m in case.input.context
                ],
            }
        ),
        "expected": opt(case.expected),
        "assertions": [
            a.model_copy(update={"value": r(str(a.value))}) if a.type in TEXT_TYPES else a
            for a in case.assertions
        ],
    }
    if case.observed is not None:
        update["observed"] = case.observed.model_copy(
            update={
                "answers": [
                    a.model_copy(update={"text": r(a.text)}) for a in case.observed.answers
                ],
                "consensus_text": opt(case.observed.consensus_text),
            }
        )
    return case.model_copy(update=update)
