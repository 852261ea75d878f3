"""The ``webhooks:`` section of a machine document: how an HTTP request from another system becomes an
event for one of the machine's instances, and how the instance's state becomes the answer.

::

    webhooks:
      payment:                                   # POST /v1/hooks/order/payment
        verify: {signature: stripe, secret: stripe}
        instance: body.data.object.metadata.order
        event: "'PAID' if body.type == 'payment_intent.succeeded' else 'PAYMENT_FAILED'"
        data: {amount: body.data.object.amount}
        idempotency_key: body.id
        response:
          status: "200 if outcome == 'applied' else 202"
          body: {state: "instance.state", paid: "outcome == 'applied'"}

``instance``, ``event``, ``data`` and ``idempotency_key`` are expressions in the safe language over the
request (``body``, ``body_digest``, ``headers`` with lower-case names, ``query``, ``hook``); ``response`` expressions see
``outcome``, ``step``, ``duplicate`` and ``instance`` (its public JSON view). ``verify`` says how the
caller is checked: ``{signature: github|stripe, secret: NAME}`` (an HMAC-SHA256 of the raw body with the
server's secret NAME, never a value in the document) or ``key`` (an API key or token with events:write).
In a Python config the expressions may be trusted callables ``fn(values) -> value`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from interlock.core.datamodel import Budget, Scope, evaluate_on
from interlock.errors import Problem
from interlock.frontends.document_values import join
from interlock.frontends.expressions import ExpressionError, compile_expression

__all__ = ["Values", "Verify", "Webhook", "load_webhooks"]

HOOK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SECRET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_WEBHOOKS = 32
MAX_TOLERANCE = 3600  # seconds a Stripe-style signature's timestamp may be off, at most
DEFAULT_TOLERANCE = 300
KEYS = frozenset({"verify", "instance", "event", "data", "idempotency_key", "create", "response"})
VERIFY_KEYS = frozenset({"signature", "secret", "tolerance", "key"})
RESPONSE_KEYS = frozenset({"status", "body"})

Evaluate = Callable[[Mapping[str, Any]], Any]


class Values(dict[str, Any]):
    """What a hook's expressions read for one request (``body``, ``headers``...; for the response,
    ``outcome``...), and the expression work budget they all share: one per request, as the expressions of
    one step share one. A hook's ``data`` and ``response.body`` may map any number of expressions (only the
    document's size bounds them), so a budget for each was minutes of CPU for one request."""

    __slots__ = ("work",)

    def __init__(self, values: Mapping[str, Any], work: Budget) -> None:
        super().__init__(values)
        self.work = work


@dataclass(frozen=True, slots=True)
class Verify:
    """How a hook's caller proves itself: ``github`` / ``stripe`` (an HMAC-SHA256 signature with the server's
    secret ``secret``) or ``key`` (the ``Authorization`` header, with the events:write scope)."""

    style: Literal["github", "stripe", "key"]
    secret: str | None = None
    tolerance: int = DEFAULT_TOLERANCE

    def __repr__(self) -> str:
        return f"<Verify {self.style}{f' secret={self.secret}' if self.secret else ''}>"


@dataclass(frozen=True, slots=True)
class Webhook:
    """One declared hook, its values compiled (``fn(values) -> value``)."""

    name: str
    verify: Verify
    instance: Evaluate
    event: Evaluate
    data: Evaluate | None
    idempotency_key: Evaluate | None
    create: bool
    status: Evaluate | None
    body: Evaluate | None

    def __repr__(self) -> str:
        return f"<Webhook {self.name} {self.verify!r}>"


def load_webhooks(section: Any, problems: list[Problem]) -> dict[str, Webhook]:
    """The ``webhooks:`` mapping compiled; each problem (with its path) is added to ``problems``."""
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        problems.append(Problem("webhooks", "webhooks must be a mapping of hook name: mapping",
                                "write webhooks: {payment: {verify: ..., instance: ..., event: ...}}"))
        return {}
    if len(section) > MAX_WEBHOOKS:
        problems.append(Problem("webhooks", f"{len(section)} webhooks; the limit is {MAX_WEBHOOKS}"))
        return {}
    hooks = {}
    for name, config in section.items():
        hook = _Hook(str(name), problems).load(config)
        if hook is not None:
            hooks[hook.name] = hook
    return hooks


class _Hook:
    def __init__(self, name: str, problems: list[Problem]) -> None:
        self.name, self.path, self.problems = name, join("webhooks", name), problems
        self.count = len(problems)

    def error(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, message, hint))

    def load(self, config: Any) -> Webhook | None:
        if not HOOK_NAME.match(self.name):
            self.error(self.path, f"a webhook name is 1 to 64 letters, digits, '_', '.' or '-', not {self.name!r}",
                       "it is part of the URL: /v1/hooks/MACHINE/NAME")
        if not isinstance(config, Mapping):
            self.error(self.path, "a webhook is a mapping with verify:, instance: and event:")
            return None
        for key in config:
            if key not in KEYS:
                self.error(join(self.path, key), f"unknown key {key!r} in a webhook", f"use {', '.join(sorted(KEYS))}")
        verify = self._verify(config.get("verify"))
        instance = self._value(config, "instance", required=True)
        event = self._value(config, "event", required=True)
        data = self._value(config, "data")
        key = self._value(config, "idempotency_key")
        status, body = self._response(config.get("response"))
        create = config.get("create", False)
        if not isinstance(create, bool):
            self.error(join(self.path, "create"), "create must be true or false",
                       "create: true starts the instance (without input) when it does not exist yet")
        if len(self.problems) > self.count or verify is None or instance is None or event is None:
            return None
        return Webhook(self.name, verify, instance, event, data, key, bool(create), status, body)

    def _verify(self, value: Any) -> Verify | None:
        path = join(self.path, "verify")
        if value == "key":
            return Verify("key")
        if not isinstance(value, Mapping):
            self.error(path, "every webhook says how its caller is verified",
                       "write verify: {signature: github, secret: NAME}, {signature: stripe, secret: NAME} "
                       "or verify: key")
            return None
        for key in value:
            if key not in VERIFY_KEYS - {"key"}:
                self.error(join(path, key), f"unknown key {key!r} in verify", "use signature, secret and tolerance")
        style, secret = value.get("signature"), value.get("secret")
        if style not in ("github", "stripe"):
            self.error(join(path, "signature"), f"signature must be github or stripe, not {style!r}",
                       "github: X-Hub-Signature-256: sha256=HEX; stripe: Stripe-Signature: t=TIME,v1=HEX")
            return None
        if not isinstance(secret, str) or not SECRET_NAME.match(secret):
            self.error(join(path, "secret"), f"secret must name a server secret (letters, digits, '_'), not "
                       f"{secret!r}", "the value never goes in the document: the server reads it from "
                       "INTERLOCK_WEBHOOK_SECRET_<NAME>")
            return None
        tolerance = value.get("tolerance", DEFAULT_TOLERANCE)
        if style == "github" and "tolerance" in value:
            self.error(join(path, "tolerance"), "a github signature carries no timestamp, so no tolerance")
        if isinstance(tolerance, bool) or not isinstance(tolerance, int) or not 1 <= tolerance <= MAX_TOLERANCE:
            self.error(join(path, "tolerance"), f"tolerance is whole seconds from 1 to {MAX_TOLERANCE}, not "
                       f"{tolerance!r}")
            return None
        return Verify(style, secret, tolerance)

    def _value(self, config: Mapping[str, Any], key: str, *, required: bool = False,
               base: str | None = None) -> Evaluate | None:
        value, path = config.get(key), join(base or self.path, key)
        if value is None:
            if required:
                self.error(path, f"a webhook needs {key}:", _HINTS.get(key, ""))
            return None
        if callable(value):  # a Python config's trusted code
            return value  # type: ignore[no-any-return]
        if isinstance(value, Mapping):
            parts = {str(k): self._value(value, k, required=True, base=path) for k in value}
            return None if None in parts.values() else _record(parts)  # type: ignore[arg-type]
        if isinstance(value, str):
            try:
                expr = compile_expression(value)
            except ExpressionError as exc:
                self.error(path, exc.message, exc.hint)
                return None
            return lambda values: _run(expr, values)
        if isinstance(value, (bool, int, float)):
            return lambda values: value
        self.error(path, f"{key} must be an expression, a mapping of expressions or a number, not "
                   f"{type(value).__name__}", "write a literal string as an expression: \"'text'\"")
        return None

    def _response(self, value: Any) -> tuple[Evaluate | None, Evaluate | None]:
        path = join(self.path, "response")
        if value is None:
            return None, None
        if not isinstance(value, Mapping):
            self.error(path, "response must be a mapping with status: and body:")
            return None, None
        for key in value:
            if key not in RESPONSE_KEYS:
                self.error(join(path, key), f"unknown key {key!r} in response", "use status and body")
        return self._value(value, "status", base=path), self._value(value, "body", base=path)


_HINTS = {
    "instance": "an expression naming the instance from the request, as in body.order_id",
    "event": "an expression giving the event type, as in body.action or \"'PAID'\"",
}


def _record(parts: Mapping[str, Evaluate]) -> Evaluate:
    return lambda values: {name: fn(values) for name, fn in parts.items()}


def _run(expr: Callable[[Scope], Any], values: Mapping[str, Any]) -> Any:
    """``expr`` over the request's values, which stand in for a context (the expressions read them as bare
    names), charged to the request's budget (:class:`Values`; a plain mapping: a whole budget of its own)."""
    scope = Scope(dict(values), (), {}, "", "webhook", 0.0)
    return evaluate_on(expr, scope, values.work if isinstance(values, Values) else None)
