"""The machines and services the durable benchmarks run (SCXML, Python datamodel)."""

from __future__ import annotations

from bench.core_documents import COUNTER as COUNTER_DOCUMENT
from interlock.core.chart import Chart, build_chart
from interlock.core.events import Event
from interlock.frontends.loader import load_machine
from interlock.frontends.scxml import parse_scxml
from interlock.runtime.tasks import Task

# The realistic counter of the engine benchmark (bench/core_documents.py): INC {by} guarded by
# ``count < limit and event.by > 0`` assigns ``count + event.by`` and ``n + 1``; every 7th has by 0.
COUNTER_EVENTS = [Event("INC", {"by": by}) for by in (1, 2, 3, 1, 2, 3, 0)]

NS = 'xmlns="http://www.w3.org/2005/07/scxml" datamodel="python"'

WORKFLOW = """
<state id="s1"><invoke id="a" src="service:step"><param name="n" expr="1"/></invoke>
  <transition event="done.invoke.a" target="s2"/></state>
<state id="s2"><invoke id="b" src="service:step"><param name="n" expr="2"/></invoke>
  <transition event="done.invoke.b" target="s3"/></state>
<state id="s3"><invoke id="c" src="service:step"><param name="n" expr="3"/></invoke>
  <transition event="done.invoke.c" target="end"/></state>
<final id="end"/>
"""

# A two-state switch: the kind of event most instances receive (no expression, no effect).
SWITCH = """
<state id="off"><transition event="FLIP" target="on"/></state>
<state id="on"><transition event="FLIP" target="off"/></state>
"""

# On ARM, schedules data.count timers: timer k is due after data.first + k * data.gap milliseconds.
ALARM = """
<state id="armed">
  <transition event="ARM">
    <foreach array="list(range(_event.data['count']))" item="k">
      <send event="TICK" delayexpr="_event.data['first'] + k * _event.data['gap']"/>
    </foreach>
  </transition>
  <transition event="TICK"/>
</state>
"""


def chart(body: str, name: str, initial: str) -> Chart:
    return build_chart(parse_scxml(f'<scxml {NS} name="{name}" initial="{initial}">{body}</scxml>'))


def workflow() -> Chart:
    return chart(WORKFLOW, "workflow", "s1")


def switch() -> Chart:
    return chart(SWITCH, "switch", "off")


def counter() -> Chart:
    return load_machine(COUNTER_DOCUMENT, format="yaml")


def alarm() -> Chart:
    return chart(ALARM, "alarm", "armed")


def step(task: Task) -> int:
    """One workflow step: its result is made durable before the next step starts."""
    return int(task.input["n"])
