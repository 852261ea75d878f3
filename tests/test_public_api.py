"""The public API is what ``interlock/__init__.py`` exports: pinned, so a change to it is deliberate."""

from __future__ import annotations

import interlock

PUBLIC = {
    "AsyncClient", "AsyncInterlock", "Change", "Chart", "Client", "Clock", "ConflictError", "DefinitionError",
    "Event", "EventRejectedError", "ForbiddenError", "InstanceBusyError", "Principal", "HTTPSends", "HistoryEntry", "Instance", "Interlock", "InterlockError",
    "LogRecord", "MemoryRunner", "NotFoundError", "Page", "Problem", "Reach", "RetryPolicy", "SendResult",
    "ServerConfig", "Session", "Snapshot", "StepLimitError", "StepResult", "StorageError", "SystemClock", "Task",
    "TaskLostError", "VirtualClock", "__version__", "create_app", "load_document",
    "load_machine", "load_scxml", "machine", "provide", "start", "step", "stop",
}


def test_public_names_are_pinned() -> None:
    assert set(interlock.__all__) == PUBLIC
    for name in interlock.__all__:
        assert getattr(interlock, name) is not None


def test_every_error_derives_from_the_root() -> None:
    errors = [interlock.DefinitionError, interlock.NotFoundError, interlock.ConflictError,
              interlock.EventRejectedError, interlock.StepLimitError, interlock.StorageError,
              interlock.TaskLostError, interlock.ForbiddenError, interlock.InstanceBusyError]
    assert all(issubclass(e, interlock.InterlockError) for e in errors)


def test_a_machine_defined_in_python_runs_through_the_top_level_api() -> None:
    light = interlock.machine({
        "id": "light", "initial": "green", "context": {"cycles": 0},
        "states": {
            "green": {"on": {"TIMER": "yellow"}},
            "yellow": {"on": {"TIMER": "red"}},
            "red": {"on": {"TIMER": {"target": "green", "actions": "count"}}},
        },
    }, actions={"count": lambda ctx, ev: {"cycles": ctx["cycles"] + 1}})
    snap = interlock.start(light).snapshot
    for _ in range(3):
        snap = interlock.step(light, snap, interlock.Event("TIMER")).snapshot
    assert snap.configuration[-1].endswith("green")
    assert snap.context == {"cycles": 1}
