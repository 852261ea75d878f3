"""Which version of a machine a caller its rules restrain may create an instance at (docs/auth.md,
"Versions").

A create without a version takes the newest, so the newest version's authorize section is the machine's
rules for new instances. Older versions stay available (to admins, trusted code, and callers whose rules
they keep), for the instance's whole life; a caller must not leave the newest rules by naming one:

- an uploaded machine: only a version whose authorize section is the newest version's, rule for rule as
  written (no rules if it has none), as an upload by a caller who is not admin must keep it
  (server/catalog.py). An admin who tightened the rules in version 3 closed versions 1 and 2 to callers
  (403 ``auth.create.version``, the message naming the version to use). The newest is the store's (an
  upload through another process may be newer than any version this process loaded; until this process
  loads it, only that version is the caller's: the server's create and webhook routes load it first);
- a machine of the app (trusted code chose its versions' rules): only a version with rules, when the
  newest has rules (``auth.rule.missing``), as before.
"""

from __future__ import annotations

from typing import Any

from interlock.auth.policy import Refusal
from interlock.core.chart import Chart
from interlock.runtime.unit import Unit


def version_refusal(unit: Unit, machine: str, chart: Chart, caller: dict[str, Any]) -> Refusal | None:
    """Why ``caller`` (not admin, not trusted code) may not create an instance of ``machine`` at
    ``chart``'s version; None when it may (the create rule then decides)."""
    if chart.uploaded:
        return _uploaded_refusal(unit, machine, chart, caller)
    newest = unit.registry.chart(machine)
    if chart.policy is None and newest.policy is not None:
        return Refusal("rule.missing", f"{caller['sub']!r} may not create {machine} instances at version "
                       f"{chart.version!r}: it has no authorize rules, and the machine's newest version "
                       f"({newest.version!r}) has; leave 'version' out (only admins may choose such a version)",
                       f"version {chart.version!r} has no rules; version {newest.version!r} has")
    return None


def rules_of(chart: Chart) -> list[tuple[str, str]]:
    """A version's authorize section as written, rule by rule (``[]``: no rules); the part ``authorize``
    of its fingerprint digests the same list."""
    return sorted(chart.policy.sources.items()) if chart.policy is not None else []


def _uploaded_refusal(unit: Unit, machine: str, chart: Chart, caller: dict[str, Any]) -> Refusal | None:
    newest = unit.tx.newest_definition(machine)
    if newest is None or newest == chart.version:
        return None  # an inline child (``m#inline-...``: its parent's), or the newest itself
    who = f"{caller['sub']!r} may not create {machine} instances at version {chart.version!r}"
    use = f"leave 'version' out, or name version {newest!r} (only admins may choose another)"
    if not unit.registry.has_version(machine, newest):
        return Refusal("create.version", f"{who}: the machine's newest version ({newest!r}, uploaded through "
                       f"another process) is not loaded in this one, so its rules are not known here; {use}",
                       f"newest {newest!r} not loaded")
    if rules_of(chart) == rules_of(unit.registry.chart(machine, newest)):
        return None
    return Refusal("create.version", f"{who}: its authorize rules are not those of the machine's newest "
                   f"version ({newest!r}); {use}", f"version {chart.version!r}'s rules differ from {newest!r}'s")
