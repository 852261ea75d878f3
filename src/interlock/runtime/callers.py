"""Instances of uploaded machines as callers of other machines (docs/auth.md, "Machines as callers").

A machine uploaded over the API (server/uploads.py marks its chart ``uploaded``) was written by a caller
with ``machines:write``, not by the trusted app: what its instances send to other instances, and the
children they invoke, meet the target machine's authorize rules with the sending instance as the caller
(:func:`instance_caller`), as a caller's own request would. Events to itself and to its parent (which
chose to invoke it: its done event, its ``#_parent`` sends) are no request, and are trusted as before.
Events to the children it invoked are requests like any other: a child's machine keeps its own rules
whoever created it, as an instance a caller created does (creating an expense claim does not let its
creator approve it). Machines of the trusted app (and of the embedded API) are trusted code: their
instances send and invoke with no caller, as before.
"""

from __future__ import annotations

from typing import Any

from interlock.runtime.unit import Unit
from interlock.storage.store import InstanceRow

INSTANCE_KIND = "instance"  # ``caller.kind`` of an instance (keys are ``key``, end users ``token``)


def instance_caller(unit: Unit, row: InstanceRow) -> dict[str, Any] | None:
    """The caller an instance of an uploaded machine is to other machines' rules; None for a trusted
    machine's instance.

    ``order/7`` of uploaded machine ``order`` at version ``2`` -> ``{"kind": "instance", "sub":
    "instance:order/7", "machine": "order", "version": "2", "instance": "7", "scopes": []}``"""
    if not uploaded(unit, row.machine, row.version):
        return None
    return {"kind": INSTANCE_KIND, "sub": f"instance:{row.machine}/{row.id}", "machine": row.machine,
            "version": row.version, "instance": row.id, "scopes": []}


def uploaded(unit: Unit, machine: str, version: str) -> bool:
    """Did ``machine`` come over the API? Its chart says so (``Chart.uploaded``); a process that does not
    have the version (a worker firing its timer) asks the store, which keeps every uploaded machine's
    definitions (an inline child, ``<machine>#inline-...``, is its parent's)."""
    if unit.registry.has_version(machine, version):
        return bool(unit.registry.chart(machine, version).uploaded)
    return unit.tx.newest_definition(machine.partition("#")[0]) is not None


def caller_toward(unit: Unit, sender: InstanceRow, target: InstanceRow) -> dict[str, Any] | None:
    """The caller an event from ``sender`` to ``target`` carries: None (trusted) when the sender's machine
    is trusted, or the target is the sender itself or its parent."""
    if target.machine == sender.machine and target.id == sender.id:
        return None
    if (target.machine, target.id) == (sender.parent_machine, sender.parent_id):
        return None
    return instance_caller(unit, sender)


def invoke_refusal(unit: Unit, machine: str, version: str | None,
                   input: dict[str, Any] | None, caller: dict[str, Any]) -> str | None:
    """Why an instance of an uploaded machine may not start a child of ``machine`` whatever its create
    rule says (None: the create decides), as for a caller's create over the API: private context (``_``
    keys) in the input of a machine with rules. The version is the create's to decide, as for a caller's
    (runtime/rule_versions.py): of an uploaded machine, only one with the newest version's authorize
    section (its newest is the store's: one uploaded through another process and not loaded in this one
    refuses the others until this process loads it, as an API create or a webhook of the machine does)."""
    registry = unit.registry
    if not (registry.has_version(machine, version) if version else registry.has_chart(machine)):
        return None  # not registered here: the create says so
    chart = registry.chart(machine, version or None)
    if chart.policy is None:
        return None  # a version without rules: the create decides whether the caller may choose it
    private = sorted(key for key in input or () if key.startswith("_"))
    if private:
        return (f"{caller['sub']!r} may not create {machine} instances with private context keys in the input "
                f"({', '.join(map(repr, private[:5]))}): keys starting with '_' are the machine's own")
    return None
