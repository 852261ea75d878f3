"""Checking that a webhook request comes from who the hook says: HMAC-SHA256 signatures over the raw body.

Two styles, as the senders write them::

    github   X-Hub-Signature-256: sha256=<hex of HMAC(secret, body)>
    stripe   Stripe-Signature: t=<unix time>,v1=<hex of HMAC(secret, "<t>.<body>")>[,v1=...]

Secrets are the server's, named by the hook (``secret: payments``) and read from the environment
(``INTERLOCK_WEBHOOK_SECRET_PAYMENTS``); a document never holds one, and a hook cannot name any other
variable. Digests are compared in constant time. Every refusal is an :class:`UnauthenticatedError` whose
``reason`` says which check failed (signature.missing, signature.malformed, signature.invalid,
signature.expired).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from interlock.errors import UnauthenticatedError
from interlock.frontends.webhooks import Verify

SECRET_PREFIX = "INTERLOCK_WEBHOOK_SECRET_"
GITHUB_HEADER = "x-hub-signature-256"
STRIPE_HEADER = "stripe-signature"
MAX_HEADER = 4096  # characters of a signature header read, at most
MAX_SIGNATURES = 8  # v1= entries of a Stripe-style header compared, at most


class SecretMissing(Exception):
    """The server has no value for a secret a hook names (a configuration error of the server)."""


def secret_value(name: str, env: Mapping[str, str] | None = None) -> bytes:
    """The secret ``name`` from ``INTERLOCK_WEBHOOK_SECRET_<NAME>``."""
    variable = SECRET_PREFIX + name.upper()
    value = (os.environ if env is None else env).get(variable)
    if not value:
        raise SecretMissing(f"the server has no webhook secret {name!r}: set {variable}")
    return value.encode()


def sign(secret: bytes, payload: bytes) -> str:
    """The hex HMAC-SHA256 of ``payload``, as both styles write it."""
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def check_github(headers: Mapping[str, str], body: bytes, secret: bytes) -> None:
    header = _header(headers, GITHUB_HEADER, "X-Hub-Signature-256: sha256=HEX")
    if not header.startswith("sha256="):
        raise _refused("signature.malformed", "X-Hub-Signature-256 must be sha256=<hex digest>")
    if not hmac.compare_digest(header.removeprefix("sha256=").encode(), sign(secret, body).encode()):
        raise _refused("signature.invalid", "the X-Hub-Signature-256 signature does not match the body")


def check_stripe(headers: Mapping[str, str], body: bytes, secret: bytes, *, now: float, tolerance: int) -> None:
    header = _header(headers, STRIPE_HEADER, "Stripe-Signature: t=TIME,v1=HEX")
    timestamp, signatures = _stripe_parts(header)
    if abs(now - timestamp) > tolerance:
        raise _refused("signature.expired", f"the Stripe-Signature timestamp is more than {tolerance} s from the "
                       "server's clock (a replayed or delayed request)")
    expected = sign(secret, f"{timestamp}.".encode() + body).encode()
    # every candidate is compared, so the time taken does not say which one (or whether one) matched
    matched = [hmac.compare_digest(candidate.encode(), expected) for candidate in signatures]
    if not any(matched):
        raise _refused("signature.invalid", "no v1 signature of the Stripe-Signature header matches the body")


def check(verify: Verify, headers: Mapping[str, str], body: bytes, *, now: float,
          env: Mapping[str, str] | None = None) -> None:
    """Refuse the request unless it is signed as ``verify`` (a signature style) says."""
    secret = secret_value(verify.secret or "", env)
    if verify.style == "github":
        check_github(headers, body, secret)
    elif verify.style == "stripe":
        check_stripe(headers, body, secret, now=now, tolerance=verify.tolerance)
    else:
        raise ValueError(f"{verify.style!r} is not a signature style")


def _header(headers: Mapping[str, str], name: str, shape: str) -> str:
    value = headers.get(name)
    if not value:
        raise _refused("signature.missing", f"this webhook needs a signed request: send {shape}")
    if len(value) > MAX_HEADER:
        raise _refused("signature.malformed", f"the {name} header is longer than {MAX_HEADER} characters")
    return value.strip()


def _stripe_parts(header: str) -> tuple[int, list[str]]:
    timestamp, signatures = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:  # not '²' (isdigit)
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise _refused("signature.malformed", "Stripe-Signature must hold t=<unix time> and v1=<hex digest>")
    return timestamp, signatures[:MAX_SIGNATURES]


def _refused(reason: str, message: str) -> UnauthenticatedError:
    return UnauthenticatedError(message, reason=reason)
