"""Rows of the stores' queries turned into the Store protocol's values: both stores select the same
columns in the same order (storage/sql/*/queries.sql), so one set of decoders serves them."""

from __future__ import annotations

from typing import Any

from interlock.storage.sqlite_errors import stored_json as loads
from interlock.storage.store import (
    DefinitionRow,
    HistoryRow,
    InstanceRow,
    KeyRow,
    QueuedEvent,
    TaskRow,
    TimerRow,
)


def instance_row(r: tuple[Any, ...]) -> InstanceRow:
    return InstanceRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], loads(r[7]), r[8], r[9], r[10],
                       r[11], r[12], r[13], r[7], (r[3], bool(r[4]), r[6]))


def history_row(r: tuple[Any, ...]) -> HistoryRow:
    return HistoryRow(r[0], r[1], r[2], r[3], r[4], None if r[5] is None else loads(r[5]), r[6], r[7],
                      loads(r[8]), loads(r[9]), loads(r[10]), loads(r[11]), r[12])


def queued_event(r: tuple[Any, ...]) -> QueuedEvent:
    return QueuedEvent(r[0], r[1], r[2], loads(r[3]), r[4], r[5], r[6], r[7])


def task_row(r: tuple[Any, ...]) -> TaskRow:
    return TaskRow(r[0], r[1], r[2], r[3], r[4], loads(r[5]), loads(r[6]), r[7], r[8], r[9], r[10],
                   r[11], r[12])


def timer_row(r: tuple[Any, ...]) -> TimerRow:
    return TimerRow(r[0], r[1], r[2], r[3], r[4], loads(r[5]), r[6])


def definition_row(r: tuple[Any, ...]) -> DefinitionRow:
    return DefinitionRow(r[0], r[1], r[2], r[3], r[4])


def key_row(r: tuple[Any, ...]) -> KeyRow:
    return KeyRow(r[0], r[1], tuple(loads(r[2])), r[3], r[4], r[5], r[6])
