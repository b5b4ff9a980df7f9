"""GitHub webhook signatures: HMAC-SHA256 of the raw body, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re

_HEADER = re.compile(r"^sha256=([0-9a-fA-F]{64})$")


class SignatureError(ValueError):
    """A missing, malformed or wrong X-Hub-Signature-256."""


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_header(header: str | None) -> str:
    """The signature's hex digits, or why the header is unusable (checked before the body is read)."""
    if not header:
        raise SignatureError("missing X-Hub-Signature-256 header")
    match = _HEADER.match(header.strip())
    if match is None:
        raise SignatureError("malformed X-Hub-Signature-256 header (expected sha256=<64 hex digits>)")
    return match.group(1).lower()


def verify(body: bytes, header: str | None, secret: str) -> None:
    digits = check_header(header)
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digits):
        raise SignatureError("X-Hub-Signature-256 does not match the body")
