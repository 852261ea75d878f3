"""Snapshots: the whole state of one session as plain, versioned JSON data."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from interlock.errors import StorageError

SNAPSHOT_FORMAT = 1

Status = Literal["active", "done", "stopped"]


class Snapshot(NamedTuple):
    """The state of a session between two steps. Immutable; a step returns a new one.

    - ``configuration``: active state ids in document order (the root included).
    - ``context``: the datamodel, a JSON object.
    - ``history``: history state id -> the state ids it recorded.
    - ``invocations``: active invoke id -> (the state that invoked it, the invoke's index in that state).
    - ``pending``: ids of delayed sends that were emitted and neither delivered nor cancelled.
    - ``bound``: states whose late-bound data has been initialized.
    - ``seq``: counter from which the engine derives ids (no randomness).
    - ``status``/``output``: ``done`` with the donedata once a top-level final state is reached;
      ``stopped`` once cancelled from outside (:func:`interlock.core.step.stop`).
    """

    configuration: tuple[str, ...]
    context: dict[str, Any]
    history: dict[str, tuple[str, ...]]
    invocations: dict[str, tuple[str, int]]
    pending: tuple[str, ...]
    bound: tuple[str, ...]
    seq: int
    status: Status
    output: Any
    sessionid: str
    chart: str

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data; :meth:`from_json` gives back an equal snapshot."""
        return {
            "format": SNAPSHOT_FORMAT,
            "chart": self.chart,
            "sessionid": self.sessionid,
            "status": self.status,
            "configuration": list(self.configuration),
            "context": self.context,
            "history": {k: list(v) for k, v in self.history.items()},
            "invocations": {k: list(v) for k, v in self.invocations.items()},
            "pending": list(self.pending),
            "bound": list(self.bound),
            "seq": self.seq,
            "output": self.output,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        """Read a snapshot written by :meth:`to_json`; refuses formats this version does not know."""
        fmt = data.get("format")
        if fmt != SNAPSHOT_FORMAT:
            raise StorageError(
                f"snapshot format {fmt!r} is not supported (this version reads format {SNAPSHOT_FORMAT}); "
                "upgrade Interlock or migrate the snapshot"
            )
        return cls(
            configuration=tuple(data["configuration"]),
            context=dict(data["context"]),
            history={k: tuple(v) for k, v in data["history"].items()},
            invocations={k: (v[0], int(v[1])) for k, v in data["invocations"].items()},
            pending=tuple(data["pending"]),
            bound=tuple(data["bound"]),
            seq=int(data["seq"]),
            status=data["status"],
            output=data.get("output"),
            sessionid=data["sessionid"],
            chart=data["chart"],
        )

    @property
    def done(self) -> bool:
        return self.status == "done"
