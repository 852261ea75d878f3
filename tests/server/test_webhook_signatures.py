"""Webhook signatures, as GitHub and Stripe make them: accepted when right, refused with a reason otherwise."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from interlock.errors import UnauthenticatedError
from interlock.frontends.webhooks import Verify
from interlock.server.webhook_signatures import SecretMissing, check, secret_value

ENV = {"INTERLOCK_WEBHOOK_SECRET_HUB": "s3cret", "INTERLOCK_WEBHOOK_SECRET_PAY": "whsec_1"}
BODY = b'{"action": "opened"}'
NOW = 1_700_000_000


def github(body: bytes, secret: bytes = b"s3cret") -> dict[str, str]:
    return {"x-hub-signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()}


def stripe(body: bytes, t: int = NOW, secret: bytes = b"whsec_1") -> dict[str, str]:
    digest = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={t},v1={digest}"}


def reason(verify: Verify, headers: dict[str, str], body: bytes = BODY) -> str:
    with pytest.raises(UnauthenticatedError) as info:
        check(verify, headers, body, now=NOW, env=ENV)
    return info.value.reason


HUB = Verify("github", "hub")
PAY = Verify("stripe", "pay", 300)


def test_a_github_signature_over_the_body_is_accepted() -> None:
    check(HUB, github(BODY), BODY, now=NOW, env=ENV)


def test_github_refusals_say_why() -> None:
    assert reason(HUB, {}) == "signature.missing"
    assert reason(HUB, {"x-hub-signature-256": "md5=abc"}) == "signature.malformed"
    assert reason(HUB, github(BODY, b"wrong")) == "signature.invalid"
    assert reason(HUB, github(BODY + b" ")) == "signature.invalid"  # the body was changed


def test_a_stripe_signature_within_tolerance_is_accepted() -> None:
    check(PAY, stripe(BODY, NOW - 299), BODY, now=NOW, env=ENV)
    digest = stripe(BODY)["stripe-signature"].split("v1=")[1]
    # a rolled secret: the sender signs with both, one matching is enough
    check(PAY, {"stripe-signature": f"t={NOW},v1={'0' * 64},v1={digest}"}, BODY, now=NOW, env=ENV)


def test_stripe_refusals_say_why() -> None:
    assert reason(PAY, {}) == "signature.missing"
    assert reason(PAY, {"stripe-signature": "v1=abc"}) == "signature.malformed"
    assert reason(PAY, {"stripe-signature": "t=\u00b2,v1=abc"}) == "signature.malformed"  # was a ValueError: 400
    assert reason(PAY, stripe(BODY, NOW - 301)) == "signature.expired"
    assert reason(PAY, stripe(BODY, NOW + 301)) == "signature.expired"
    assert reason(PAY, stripe(BODY, secret=b"other")) == "signature.invalid"
    # a signature for another timestamp: the timestamp is part of what is signed
    forged = stripe(BODY, NOW - 10)["stripe-signature"].replace(f"t={NOW - 10}", f"t={NOW}")
    assert reason(PAY, {"stripe-signature": forged}) == "signature.invalid"


def test_secrets_come_only_from_their_prefixed_variables() -> None:
    assert secret_value("hub", ENV) == b"s3cret"
    with pytest.raises(SecretMissing, match="INTERLOCK_WEBHOOK_SECRET_PATH"):
        secret_value("PATH", {"PATH": "/usr/bin"})  # a hook cannot name another variable
