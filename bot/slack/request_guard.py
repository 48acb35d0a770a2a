"""Check a Slack HTTP request before Bolt parses it: 401 for a bad signature, 400 for a
body that is not what Slack sends.

Bolt parses the body while it builds its request object, before it verifies the
signature, so a JSON array, ``null``, truncated JSON, a non-UTF-8 body or a
non-numeric ``X-Slack-Request-Timestamp`` used to raise inside the server and answer
500 with a traceback in the log. Here the signature is verified on the raw bytes first,
then the body is parsed exactly the way Bolt will parse it, and anything Bolt could not
handle is refused with a short log line and no traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

#: Requests signed more than five minutes ago are refused (Slack's and Bolt's rule).
MAX_AGE_S = 5 * 60


@dataclass(frozen=True)
class RejectedRequest:
    """An HTTP request answered before Bolt sees it: its status and the logged reason."""

    status: int
    reason: str


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def check_signature(secret: str, body: bytes, headers: Mapping[str, str]) -> RejectedRequest | None:
    """None when ``body`` carries a valid, fresh Slack signature."""
    timestamp = _header(headers, "x-slack-request-timestamp")
    signature = _header(headers, "x-slack-signature")
    if not timestamp or not signature:
        return RejectedRequest(401, "unsigned request")
    if not timestamp.strip().isascii() or not timestamp.strip().isdigit():
        return RejectedRequest(401, "malformed X-Slack-Request-Timestamp")
    if not signature.isascii():
        return RejectedRequest(401, "malformed X-Slack-Signature")
    verifier = SignatureVerifier(secret)
    try:
        valid = verifier.is_valid(body.decode("utf-8"), timestamp.strip(), signature)
    except UnicodeDecodeError:
        # Slack only sends UTF-8, and the verifier decodes the body before signing it, so
        # for a body that is not UTF-8 the same HMAC is taken over the raw bytes: a signed
        # one is then refused as malformed (400), a forged one as unsigned (401).
        valid = abs(verifier.clock.now() - int(timestamp)) <= MAX_AGE_S and hmac.compare_digest(
            signature, _raw_signature(secret, timestamp.strip(), body)
        )
    if not valid:
        return RejectedRequest(401, "invalid or stale signature")
    return None


def _raw_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def check_body(body: bytes, content_type: str | None) -> RejectedRequest | None:
    """None when Bolt can parse ``body`` into a request it understands (an object)."""
    if not body:
        return RejectedRequest(400, "empty body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return RejectedRequest(400, "body is not UTF-8")
    # The same decision Bolt makes (slack_bolt.request.internals.parse_body).
    if content_type == "application/json" or text.startswith("{"):
        return _json_object(text, "JSON body")
    if "payload" in text:
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        if payload is None:
            return None
        refusal = _json_object(payload, "payload field")
        if refusal is None and not isinstance(json.loads(payload).get("type"), str):
            return RejectedRequest(400, "payload field has no type")
        return refusal
    return None


def _json_object(text: str, what: str) -> RejectedRequest | None:
    try:
        value = json.loads(text)
    except ValueError:
        return RejectedRequest(400, f"{what} is not valid JSON")
    if not isinstance(value, dict):
        return RejectedRequest(400, f"{what} is JSON {type(value).__name__}, not an object")
    return None


def check_request(
    secret: str | None, body: bytes, headers: Mapping[str, str]
) -> RejectedRequest | None:
    """The refusal for a request Bolt must not see, or None to hand it to Bolt."""
    if secret:
        refusal = check_signature(secret, body, headers)
        if refusal is not None:
            return refusal
    return check_body(body, _header(headers, "content-type"))


def log_rejection(refusal: RejectedRequest, remote: str | None) -> None:
    log.warning(
        "refused a request from %s with %d: %s", remote or "?", refusal.status, refusal.reason
    )
