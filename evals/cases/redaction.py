"""PII and secret redaction for anything that becomes an eval case.

The raw production log keeps the original text; only cases are redacted. Redacted spans
become typed placeholders (``<EMAIL_1>``, ``<API_KEY_2>``) and one :class:`Redactor`
gives the same value the same placeholder everywhere it is used, so a case stays
coherent across its question, context, expected answer and recorded answers.

What is found (kind → examples):

* ``EMAIL``: ``ana@example.com``
* ``PHONE``: ``+44 20 7946 0958``, ``(555) 123-4567``, ``555.123.4567``, and national
  numbers with a trunk ``0``: ``030 90182736``, ``020 7946 0958``, ``(0)30-9018273``
* ``USER`` / ``CHANNEL`` / ``GROUP``: Slack mentions ``<@U123>``, ``<#C123|general>``,
  ``<!subteam^S123|@oncall>``
* ``URL``: URLs carrying credentials (``https://user:pw@host``), token-like query
  parameters (``?token=``, ``access_token``, ``sig``, ``X-Amz-Signature`` ...) or a
  secret path (Slack/Discord webhooks)
* ``API_KEY``: OpenAI/Anthropic (``sk-…``, ``sk-proj-…``), AWS (``AKIA…``), GitHub
  (``ghp_…``, ``github_pat_…``), GitLab (``glpat-…``), Google (``AIza…``, ``ya29.…``),
  Stripe (``sk_live_…``, ``whsec_…``), Hugging Face (``hf_…``), npm (``npm_…``), PyPI,
  SendGrid, Groq, Replicate, Perplexity, xAI, Shopify, DigitalOcean, Databricks, Linear
* ``SLACK_TOKEN``: ``xoxb-…``, ``xoxp-…``, ``xapp-…`` (``xox[abeposr]``), rotating ``xoxe.xoxb-…`` and refresh ``xoxe-…``
* ``TOKEN``: ``Bearer …`` / ``Basic …`` credentials and JSON Web Tokens
* ``SECRET``: assignments to a secret-sounding name, wherever the name sits inside a
  longer one: ``password=…``, ``DB_PASSWORD=…``, ``AWS_SECRET_ACCESS_KEY=…``,
  ``aws_secret_access_key = …``, ``"client_secret": "…"``, Azure ``AccountKey=…``
  (a quoted value is taken whole, spaces included); and a password in prose: "my
  password is hunter2!" (see :func:`_detect_prose_passwords` for what counts)
* ``PRIVATE_KEY``: PEM private key blocks
* ``CARD``: card numbers that pass the Luhn check
* ``IBAN``: IBANs that pass the ISO 13616 mod-97 check
* ``SSN``: US social security numbers ``123-45-6789`` (valid area/group/serial), and
  nine digits right after "SSN" or "social security number"
* ``IP``: IPv4 and IPv6 addresses (validated with :mod:`ipaddress`), with an optional
  ``/prefix``. Not redacted: loopback and unspecified addresses (``127.0.0.1``,
  ``0.0.0.0``, ``::1``, ``::``), which name no machine; and a dotted quad written as a
  version (``v1.2.3.4``, ``version 1.2.3.4``, ``release 10.0.0.1``). Any other dotted
  quad of four numbers 0–255, such as a bare ``1.2.3.4``, is taken for an address: a
  version number with a part above 255 (``10.0.19045.3803``) or with three parts
  (``3.11.4``) is never one.
* any extra kinds configured as ``name → regex``

Ordinary text is left alone: years, dates, times, prices, version numbers, ordinary
numbers and words (``tests/evals/cases/redaction_corpus.py`` holds a negative corpus).

Why not detect-secrets or presidio (``python -m bench.redaction_libraries``): on the 91
sensitive items and 30 ordinary texts of the corpus, detect-secrets 1.5 (default plugins)
finds 23 of 91 (23 of the 60 secrets, no personal data by design; it reports a PEM key's
header, not its body) with 1 false positive, presidio-analyzer 2.2's pattern recognisers
27 of the 31 personal-data items but 13 of the secrets (40 of 91) with 7 false positives
(dates, loopback and version-like addresses), and the two together 57 of 91 with 8; this
module finds all 91 with none. The corpus was written with this module, so its 100% is
the bar it was built to, yet the libraries' misses are real (``sk-proj-``/``sk-ant-``
keys, Slack app tokens, ``ENCRYPTION_KEY=``, passwords told in prose, Slack
mentions); presidio's NLP recognisers also need a spaCy model downloaded from the network.

The same detectors keep secrets out of logs and provider error messages: :func:`scrub`
replaces every finding with ``[redacted]`` (``bot.runtime.logs`` and ``evals.models.litellm_client``
use it), so all three consumers share one pattern set.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, final

from evals.cases.assertions import TEXT_TYPES
from evals.errors import ConfigError
from evals.word_lists import word_list

if TYPE_CHECKING:
    from evals.cases.schema import EvalCase

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
    + r"(?:xox[abeposr]-[A-Za-z0-9\-]{8,}|xapp-\d-[A-Za-z0-9\-]{8,}|xoxe\.xox[bp]-[A-Za-z0-9\-]{8,})"
)
_API_KEYS = re.compile(
    _NB
    + r"(?:"
    + r"sk-(?:(?=[A-Za-z0-9_\-]*\d)[A-Za-z0-9_\-]{16,}|[A-Za-z0-9]{20,})"  # OpenAI, Anthropic
    + r"|(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}"  # AWS access key ids
    + r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub
    + r"|github_pat_[A-Za-z0-9_]{22,}"
    + r"|glpat-[A-Za-z0-9_\-]{20,}"  # GitLab
    + r"|AIza[0-9A-Za-z_\-]{30,}"  # Google API key
    + r"|ya29\.[0-9A-Za-z_\-]{20,}"  # Google OAuth access token
    + r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    + r"|whsec_[A-Za-z0-9+/=]{20,}"  # Stripe webhook signing secret
    + r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    + r"|npm_[A-Za-z0-9]{30,}"  # npm
    + r"|pypi-[A-Za-z0-9_\-]{50,}"  # PyPI upload token
    + r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"  # SendGrid
    + r"|gsk_[A-Za-z0-9]{40,}"  # Groq
    + r"|r8_[A-Za-z0-9]{30,}"  # Replicate
    + r"|pplx-[A-Za-z0-9]{40,}"  # Perplexity
    + r"|xai-[A-Za-z0-9]{40,}"  # xAI
    + r"|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"  # Shopify
    + r"|do[pro]_v1_[a-f0-9]{64}"  # DigitalOcean
    + r"|dapi[a-f0-9]{32}"  # Databricks
    + r"|lin_api_[A-Za-z0-9]{40}"  # Linear
    + r")"
    + _NA
)
_JWT = re.compile(_NB + r"eyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}" + _NA)
_BEARER = re.compile(r"(?i)\b(?:bearer|token)\s+((?!<[A-Z])[A-Za-z0-9\-._~+/]{16,}=*)")
_BASIC = re.compile(r"(?i)\bbasic\s+((?!<[A-Z])[A-Za-z0-9+/]{12,}={0,2})")
# A secret-sounding name, also inside a longer one (DB_PASSWORD, AWS_SECRET_ACCESS_KEY,
# spring.datasource.password, AccountKey): no word boundary before it, because ``_`` is a
# word character. The name must end right before the ``=`` or ``:``, so ``max_tokens:
# 1024`` or ``secretary: Ana`` are not assignments.
_SECRET_NAME = (
    r"(?:password|passwd|(?<![a-z])pwd|passphrase|secret|token|credentials?"
    r"|api[_\-]?key|apikey|access[_\-]?key|secret[_\-]?key|private[_\-]?key"
    r"|account[_\-]?key|signing[_\-]?key|encryption[_\-]?key|master[_\-]?key)"
)
_ASSIGNMENT = re.compile(
    r"(?i)" + _SECRET_NAME + r"""["']?\s*(?:[:=]|=>)\s*"""
    r"""(?:"((?!<[A-Z])[^"\n]{3,200})"|'((?!<[A-Z])[^'\n]{3,200})'"""
    r"""|((?!<[A-Z])[^\s"'`,;<>]{3,}))"""
)


def _detect_assignments(text: str) -> Iterator[Finding]:
    for m in _ASSIGNMENT.finditer(text):
        group = next(g for g in (1, 2, 3) if m.group(g) is not None)
        start, end = m.span(group)
        value = m.group(group)
        if group == 3:  # unquoted: sentence punctuation after the value is not part of it
            stripped = value.rstrip(".)]}")
            end -= len(value) - len(stripped)
            value = stripped
        if len(value) >= 3 and value.lower() not in _NOT_A_VALUE:
            yield Finding("SECRET", start, end, value)


_NOT_A_VALUE = frozenset({"null", "none", "true", "false", "undefined", "required", "***"})

# "my password is hunter2!", "the wifi passphrase was 'correct horse'", "PIN is 4711".
_PROSE_PASSWORD = re.compile(
    r"(?i)\b(password|passwd|passphrase|passcode|pin(?: code)?)\b"
    r"(?:\s+(?!is\b|was\b)[\w.@\-]+){0,4}?(?:\s*:|\s+(?:is|was|reads))\s+"
    r"""(?:"([^"\n]{1,200})"|'([^'\n]{1,200})'|[“‘]([^”’\n]{1,200})[”’]|(\S+))"""
)
# Words that follow "password is" in ordinary prose ("the password is required"):
# evals/data/prose_not_secret.txt.
_PROSE_NOT_SECRET = word_list("prose_not_secret")


def _detect_prose_passwords(text: str) -> Iterator[Finding]:
    """A password told in a sentence. Quoted values always count; a bare word counts
    when it has a digit or a symbol, or is not an ordinary word that follows "password
    is" in prose (``required``, ``too short``, ``hashed`` …, and words ending in -ed,
    -ing or -ly). A PIN counts only as 4 to 8 digits."""
    for m in _PROSE_PASSWORD.finditer(text):
        group = next(g for g in (2, 3, 4, 5) if m.group(g) is not None)
        start, end = m.span(group)
        value = m.group(group)
        if value.startswith("<") and PLACEHOLDER_RE.match(value):
            continue
        is_pin = m.group(1).lower().startswith("pin")
        if group == 5:
            stripped = value.rstrip(".,;:)]}")
            end -= len(value) - len(stripped)
            value = stripped
            if is_pin:
                if not re.fullmatch(r"\d{4,8}", value):
                    continue
            else:
                word = value.lower()
                plain = word.isalpha()
                if len(value) < 4 or (
                    plain and (word in _PROSE_NOT_SECRET or word.endswith(("ed", "ing", "ly")))
                ):
                    continue
        if value:
            yield Finding("SECRET", start, end, value)


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
# National numbers with a trunk prefix 0 (Germany 030 90182736, UK 020 7946 0958, France
# 01 23 45 67 89, (0)30-9018273): 0, an area code, then groups, 9 to 12 digits in all.
_PHONE_TRUNK = re.compile(
    r"(?<![\w+.,/\-])(?:\(0\d{0,4}\)\s?\d{1,5}|0\d{1,4})(?:[ \-/]\d{2,8}){1,5}"
    r"(?![\w]|[.,/\-]\d)"
)


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
    for m in _PHONE_TRUNK.finditer(text):
        if 9 <= _digits(m.group(0)) <= 12:
            yield Finding("PHONE", m.start(), m.end(), m.group(0))


# --- SSNs and IP addresses ----------------------------------------------------------------
_SSN = re.compile(r"(?<![\w\-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w\-])")
_SSN_NAMED = re.compile(
    r"(?i)\b(?:ssn|social security(?: number| no\.?)?)\b[^\d\n]{0,20}"
    r"(?<!\d)(\d{3}[ \-]?\d{2}[ \-]?\d{4})(?!\d)"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(r"(?<![\w.])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?:/\d{1,2})?(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|"
    + _OCTET
    + r"(?:\."
    + _OCTET
    + r"){3})?(?:%[\w.]+)?(?:/\d{1,3})?(?![\w:])"
)
_VERSION_BEFORE = re.compile(r"(?i)(?:\bversion|\bver\.?|\brelease|\bbuild)\s*$")


def _quiet_address(address: str) -> bool:
    """Loopback and unspecified addresses name no machine."""
    try:
        ip = ipaddress.ip_interface(address).ip
    except ValueError:
        return True  # not an address at all
    return ip.is_loopback or ip.is_unspecified


def _detect_addresses(text: str) -> Iterator[Finding]:
    for m in _IPV4.finditer(text):
        if _VERSION_BEFORE.search(text, max(0, m.start() - 12), m.start()):
            continue
        if not _quiet_address(m.group(0)):
            yield Finding("IP", m.start(), m.end(), m.group(0))
    for m in _IPV6.finditer(text):
        value = m.group(0)
        if not any(ch.isdigit() for ch in value) or value.count(":") < 2:
            continue
        address = value.split("%", 1)[0]
        if not _quiet_address(address):
            yield Finding("IP", m.start(), m.end(), value)


def _detect_ssns(text: str) -> Iterator[Finding]:
    for m in _SSN.finditer(text):
        yield Finding("SSN", m.start(), m.end(), m.group(0))
    for m in _SSN_NAMED.finditer(text):
        yield Finding("SSN", m.start(1), m.end(1), m.group(1))


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
    _detect_assignments,
    _detect_prose_passwords,
    _regex_detector("EMAIL", _EMAIL),
    _detect_cards,
    _detect_ibans,
    _detect_ssns,
    _detect_addresses,
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


#: What :func:`scrub` writes in place of a secret.
SCRUBBED = "[redacted]"

#: Long opaque runs (keys of a shape no detector knows, masked keys ``sk-****abcd``):
#: for provider error text, where nothing that long is worth keeping.
OPAQUE_RUNS: tuple[Detector, ...] = (
    _regex_detector(
        "OPAQUE",
        re.compile(
            r"(?<![A-Za-z0-9_\-])(?:(?:sk|pk|rk|ak)-[A-Za-z0-9_\-*]{4,}|[A-Za-z0-9_\-]{32,})"
        ),
    ),
)


def scrub(text: str, known: Iterable[str] = (), extra: Sequence[Detector] = ()) -> str:
    """``text`` with every known secret value and every finding of the detectors replaced
    by ``[redacted]``: for log lines and error details, where no placeholder is needed.
    ``known`` values shorter than 4 characters are ignored (they would eat ordinary
    words)."""
    for secret in sorted({k for k in known if len(k) >= 4}, key=len, reverse=True):
        text = text.replace(secret, SCRUBBED)
    return _replace(text, find_sensitive(text, extra), lambda _: SCRUBBED)


def _replace(text: str, findings: Sequence[Finding], by: Callable[[Finding], str]) -> str:
    """``text`` with each finding's span (in order, not overlapping) replaced by ``by``."""
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(by(f))
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


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
            text = _replace(text, findings, lambda f: self._placeholder(f.kind, f.value))
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


def _redact_items(redactor: Redactor, items: Sequence[str]) -> list[str]:
    """Redact a list of one-line items (check values) as the lines of one text too, so
    a secret split over several items (a PEM key pasted one line per item) is still
    found: every item it touches becomes that secret's placeholder."""
    out = [redactor.redact(item) for item in items]
    if len(items) < 2 or any("\n" in item for item in items):
        return out
    starts = [0]
    for item in items[:-1]:
        starts.append(starts[-1] + len(item) + 1)
    for f in find_sensitive("\n".join(items), redactor.extra):
        touched = [i for i, st in enumerate(starts) if st < f.end and f.start < st + len(items[i])]
        if len(touched) > 1:
            for i in touched:
                out[i] = redactor._placeholder(f.kind, f.value)
    return out


def _redact_assertions(redactor: Redactor, case: EvalCase) -> list[Any]:
    text_positions = [i for i, a in enumerate(case.assertions) if a.type in TEXT_TYPES]
    values = _redact_items(redactor, [str(case.assertions[i].value) for i in text_positions])
    assertions = list(case.assertions)
    for i, value in zip(text_positions, values, strict=True):
        assertions[i] = assertions[i].model_copy(update={"value": value})
    return assertions


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
        "assertions": _redact_assertions(redactor, case),
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


# --- the only way into storage -------------------------------------------------------------


@final
class _Seal:
    """The proof that a :class:`RedactedCase` was made here: only this module holds the
    one instance (ruff's banned-api rule, TID251, refuses to import it anywhere else)."""

    __slots__ = ()


_SEAL = _Seal()


@final
class RedactedCase:
    """An eval case that went through redaction: the only form in which
    :mod:`storage.case_repo` stores a case's content (``propose_case``, ``add_cases``;
    ``edit_case`` redacts the edit itself).

    Only this module makes one (:func:`redacted`, and :func:`unredacted_by_request` for
    ``quorum cases import --no-redact``): the constructor demands a seal that no other
    module may import, and checks it at run time. So a plain :class:`EvalCase` handed to
    storage is a mypy error (``arg-type``), a hand-made ``RedactedCase`` a ``TypeError``.
    The case inside is copied in and out (:attr:`case`), so it cannot be changed after
    it was redacted."""

    __slots__ = ("_case", "_waived")
    _case: EvalCase
    _waived: bool

    def __init__(self, case: EvalCase, *, seal: _Seal, waived: bool = False) -> None:
        if seal is not _SEAL:
            raise TypeError(
                "a RedactedCase comes only from evals.cases.redaction.redacted(case, patterns)"
            )
        object.__setattr__(self, "_case", case.model_copy(deep=True))
        object.__setattr__(self, "_waived", waived)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a RedactedCase cannot be changed: redact the changed case again")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a RedactedCase cannot be changed: redact the changed case again")

    def __init_subclass__(cls, **kwargs: object) -> None:
        raise TypeError("RedactedCase cannot be subclassed")

    def __copy__(self) -> RedactedCase:
        return self  # it never changes

    def __deepcopy__(self, memo: dict[int, object]) -> RedactedCase:
        return self

    @property
    def case(self) -> EvalCase:
        """A copy of the redacted case (changing it changes nothing stored here)."""
        return self._case.model_copy(deep=True)

    @property
    def id(self) -> str:
        return self._case.id

    @property
    def waived(self) -> bool:
        """True only for a case imported with ``--no-redact``: stored as written."""
        return self._waived

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RedactedCase):
            return NotImplemented
        return (self._case, self._waived) == (other._case, other._waived)

    def __hash__(self) -> int:
        return hash((self._case.id, self._waived))

    def __repr__(self) -> str:
        return f"RedactedCase(id={self._case.id!r}, waived={self._waived})"


def redacted(case: EvalCase, patterns: Mapping[str, str] | None = None) -> RedactedCase:
    """``case`` redacted (:func:`redact_case`, with the configured ``cases.redact_patterns``),
    ready to be stored."""
    return RedactedCase(redact_case(case, patterns), seal=_SEAL)


def unredacted_by_request(case: EvalCase) -> RedactedCase:
    """``case`` as written, for ``quorum cases import --no-redact`` only: the operator vouches
    for a file they wrote by hand (a case about an IP address, say, that redaction would
    turn into ``<IP_1>``). The stored import event records it (``redaction: waived``).
    This is the one way around redaction; nothing that comes from Slack reaches it."""
    return RedactedCase(case, seal=_SEAL, waived=True)
