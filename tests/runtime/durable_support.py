"""Charts and helpers shared by the durable runtime tests (SCXML front end, Python datamodel)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from interlock.app import Interlock
from interlock.core.chart import Chart, build_chart
from interlock.frontends.scxml import parse_scxml
from interlock.runtime.clock import VirtualClock

NS = 'xmlns="http://www.w3.org/2005/07/scxml" datamodel="python"'


def scxml(body: str, *, name: str, initial: str, version: str = "1") -> Chart:
    spec = parse_scxml(f'<scxml {NS} name="{name}" initial="{initial}">{body}</scxml>')
    spec.version = version
    return build_chart(spec)


ORDER = """
<datamodel><data id="n" expr="0"/><data id="seen" expr="[]"/></datamodel>
<state id="placed">
  <transition event="ACCEPT" target="accepted"><assign location="n" expr="n + 1"/></transition>
  <transition event="NOTE"><assign location="seen" expr="seen + [_event.data['i']]"/></transition>
  <transition event="CHAIN"><send event="NOTE"><param name="i" expr="'chained'"/></send></transition>
  <transition event="BREAK"><assign location="n" expr="{1, 2}"/></transition>
</state>
<state id="accepted">
  <onentry><send id="expiry" event="EXPIRE" delay="5s"/></onentry>
  <transition event="SHIP" target="shipped"/>
  <transition event="EXPIRE" target="expired"/>
  <transition event="KEEP"><cancel sendid="expiry"/></transition>
</state>
<state id="expired"/>
<final id="shipped"><donedata><param name="n" expr="n"/></donedata></final>
"""


def order_chart(version: str = "1") -> Chart:
    return scxml(ORDER, name="order", initial="placed", version=version)


def tagged_chart() -> Chart:
    """The order chart with tags on two states (SCXML has no tags; set them on the spec)."""
    spec = parse_scxml(f'<scxml {NS} name="order" initial="placed">{ORDER}</scxml>')
    for state in spec.root.children:
        if state.id == "placed":
            state.tags = ("open",)
        if state.id == "accepted":
            state.tags = ("open", "billable")
    return build_chart(spec)


PAYMENT = """
<datamodel><data id="result" expr="None"/><data id="error" expr="None"/></datamodel>
<state id="paying">
  <invoke id="pay" src="service:charge"><param name="amount" expr="10"/></invoke>
  <transition event="done.invoke.pay" target="paid"><assign location="result" expr="_event.data"/></transition>
  <transition event="error.invoke.pay" target="failed"><assign location="error" expr="_event.data"/></transition>
  <transition event="ABORT" target="aborted"/>
</state>
<state id="paid"/><state id="failed"/><state id="aborted"/>
"""


def payment_chart() -> Chart:
    return scxml(PAYMENT, name="payment", initial="paying")


CHILD = """
<datamodel><data id="amount" expr="0"/></datamodel>
<state id="working">
  <onentry><send event="STARTED" target="#_parent"><param name="amount" expr="amount"/></send></onentry>
  <transition event="FINISH" target="end"/>
</state>
<final id="end"><donedata><param name="total" expr="amount * 2"/></donedata></final>
"""

PARENT = """
<datamodel><data id="started" expr="None"/><data id="total" expr="None"/></datamodel>
<state id="waiting">
  <invoke id="job" src="child"><param name="amount" expr="21"/></invoke>
  <transition event="STARTED"><assign location="started" expr="_event.data['amount']"/></transition>
  <transition event="PUSH"><send event="FINISH" target="#_job"/></transition>
  <transition event="done.invoke.job" target="finished"><assign location="total" expr="_event.data['total']"/></transition>
  <transition event="STOP" target="stopped"/>
</state>
<state id="finished"/><state id="stopped"/>
"""


def child_chart() -> Chart:
    return scxml(CHILD, name="child", initial="working")


def parent_chart() -> Chart:
    return scxml(PARENT, name="parent", initial="waiting")


# Sends COUNT events to another instance in one step; the receiver records their order.
SENDER = """
<datamodel><data id="to" expr="''"/></datamodel>
<state id="idle">
  <transition event="BURST">
    <foreach array="list(range(_event.data['count']))" item="i">
      <send event="NUM" targetexpr="'instance:receiver/' + _event.data['to']"><param name="i" expr="i"/></send>
    </foreach>
  </transition>
  <transition event="LOST"><send event="NUM" target="instance:receiver/nobody"/></transition>
  <transition event="error.communication" target="lonely"/>
</state>
<state id="lonely"/>
"""

RECEIVER = """
<datamodel><data id="got" expr="[]"/></datamodel>
<state id="open"><transition event="NUM"><assign location="got" expr="got + [_event.data['i']]"/></transition></state>
"""


def sender_chart() -> Chart:
    return scxml(SENDER, name="sender", initial="idle")


def receiver_chart() -> Chart:
    return scxml(RECEIVER, name="receiver", initial="open")


POSTGRES_URL: str | None = None  # set by tests/runtime/conftest.py while a test runs on PostgreSQL


def store_url(path: Path) -> str:
    """The store of the current run: the SQLite file at ``path``, or the run's PostgreSQL database."""
    return POSTGRES_URL if POSTGRES_URL is not None else f"sqlite:///{path}"


def query_store(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of a portable SQL query, read straight from the current run's database (not through the app)."""
    if POSTGRES_URL is not None:
        import psycopg

        with psycopg.connect(POSTGRES_URL) as conn:
            return list(conn.execute(sql.encode()).fetchall())
    import sqlite3

    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql).fetchall())


@contextmanager
def open_app(path: Path, clock: VirtualClock, *charts: Chart, **options: object) -> Iterator[Interlock]:
    app = Interlock(store_url(path), clock=clock, **options)  # type: ignore[arg-type]
    try:
        for chart in charts:
            app.register(chart)
        yield app
    finally:
        app.close()
