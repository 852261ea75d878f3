"""The Python datamodel at run time: what expressions see, what locations may write, scripts."""

from __future__ import annotations

from typing import Any

from interlock.frontends.scxml import load_scxml
from interlock.runtime.memory import MemoryRunner, Session


def run(body: str, *, datamodel: str = "", strict: bool = True) -> tuple[Session, list[Any]]:
    """Run a document whose first state is ``s`` and report the logged values."""
    text = (f'<scxml name="doc" initial="s"><datamodel>{datamodel}</datamodel>{body}'
            '<final id="end"/></scxml>')
    runner = MemoryRunner(strict=strict)
    session = runner.start(load_scxml(text, strict=strict), sessionid="sid-1")
    assert runner.run_until_idle()
    return session, [(r.label, r.value) for r in runner.logs]


def test_system_variables_are_visible() -> None:
    _, logs = run("""<state id="s"><onentry><log label="in" expr="In('s')"/><raise event="go"/></onentry>
      <transition event="go" target="end">
        <log label="name" expr="_name"/><log label="sid" expr="_sessionid"/>
        <log label="event" expr="(_event.name, _event.type, _event.data)"/>
        <log label="io" expr="_ioprocessors['scxml'].location"/>
        <log label="out" expr="In('s')"/>
      </transition></state>""")
    # transition content runs after the source state was exited
    assert logs == [("in", True), ("name", "doc"), ("sid", "sid-1"), ("event", ("go", "internal", None)),
                    ("io", "#_scxml_sid-1"), ("out", False)]


def test_event_data_allows_attribute_access() -> None:
    _, logs = run("""<state id="s"><onentry><send event="e"><param name="a" expr="{'b': 2}"/></send>
      </onentry><transition event="e" target="end"><log expr="_event.data.a.b + _event.data['a']['b']"/>
      </transition></state>""")
    assert logs == [(None, 4)]


def test_event_is_unbound_before_the_first_event() -> None:
    session, _ = run("""<state id="s"><transition cond="_event is None" target="end"/>
      <transition event="error.execution" target="end"><assign location="msg" expr="_event.data['message']"/>
      </transition></state>""", datamodel='<data id="msg"/>')
    assert "_event" in session.context["msg"]


def test_assign_requires_a_declared_variable_and_system_variables_are_read_only() -> None:
    session, logs = run("""<state id="s"><onentry>
        <assign location="undeclared" expr="1"/><log label="skipped" expr="1"/></onentry>
      <onentry><assign location="_name" expr="'x'"/></onentry>
      <onentry><assign location="box['k']" expr="5"/><assign location="x" expr="x + 1"/></onentry>
      <transition event="error.execution" target="end"/></state>""",
                        datamodel='<data id="x" expr="1"/><data id="box" expr="{}"/>')
    assert "skipped" not in [label for label, _ in logs]
    assert session.context["box"] == {"k": 5} and session.context["x"] == 2
    assert "undeclared" not in session.context


def test_scripts_create_and_change_variables_but_not_system_ones() -> None:
    session, logs = run("""<state id="s"><onentry><script>
        total = sum(values)
        values.append(4)
        def twice(v):
            return 2 * v
      </script><log expr="twice(total)"/></onentry>
      <onentry><script>_sessionid = 'stolen'</script></onentry>
      <transition event="error.execution" target="end"><log expr="_sessionid"/></transition></state>""",
                        datamodel='<data id="values" expr="[1, 2, 3]"/>')
    assert logs == [(None, 12), (None, "sid-1")]
    assert session.context["values"] == [1, 2, 3, 4] and session.context["total"] == 6


def test_foreach_creates_its_item_and_index() -> None:
    session, _ = run("""<state id="s"><onentry>
        <foreach array="[10, 20]" item="item" index="i"><assign location="acc" expr="acc + item * i"/></foreach>
      </onentry><transition target="end"/></state>""", datamodel='<data id="acc" expr="0"/>')
    assert session.context["acc"] == 20 and session.context["item"] == 20 and session.context["i"] == 1


def test_deferred_syntax_error_becomes_error_execution() -> None:
    session, logs = run("""<state id="s"><transition cond="1 = 1" target="s"/>
      <transition event="error.execution" target="end"><log expr="_event.data['error']"/></transition>
      </state>""", strict=False)
    assert session.done and logs == [(None, "DeferredSyntaxError")]


def test_nested_values_changed_in_place_do_not_leak_into_earlier_snapshots() -> None:
    text = """<scxml initial="s"><datamodel><data id="d" expr="{'n': []}"/></datamodel>
      <state id="s"><transition event="add"><script>d['n'].append(1)</script></transition></state></scxml>"""
    runner = MemoryRunner()
    session = runner.start(load_scxml(text))
    before = session.snapshot
    runner.send(session.id, "add")
    runner.run_until_idle()
    assert before is not None and before.context["d"] == {"n": []}
    assert session.context["d"] == {"n": [1]}
