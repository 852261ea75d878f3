"""Property tests: on random charts and random events, configurations stay legal and steps deterministic."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlock.core.chart import Chart, build_chart
from interlock.core.snapshot import Snapshot
from interlock.core.spec import ChartSpec, StateSpec, TransitionSpec
from interlock.core.step import start, step
from interlock.errors import StepLimitError

EVENTS = ["a", "b", "c"]


@st.composite
def specs(draw: st.DrawFn) -> ChartSpec:
    counter = iter(range(10_000))
    ids: list[str] = []

    def node(depth: int) -> StateSpec:
        sid = f"s{next(counter)}"
        ids.append(sid)
        kind = draw(st.sampled_from(["state", "state", "parallel", "final"] if depth < 3 else ["state", "final"]))
        spec = StateSpec(sid, kind=kind)
        if kind != "final" and depth < 3 and draw(st.booleans()):
            spec.children = [node(depth + 1) for _ in range(draw(st.integers(1, 3)))]
            if kind == "state" and draw(st.booleans()):
                hid = f"h{next(counter)}"
                spec.children.append(StateSpec(hid, kind="history",
                                               history=draw(st.sampled_from(["shallow", "deep"]))))
                ids.append(hid)
        return spec

    root = StateSpec("root", children=[node(1) for _ in range(draw(st.integers(1, 3)))])
    specs: dict[str, StateSpec] = {}

    def index(s: StateSpec) -> None:
        specs[s.id] = s
        for c in s.children:
            index(c)

    index(root)
    for sid in ids:
        spec = specs[sid]
        if spec.kind == "history":
            parent = next(p for p in specs.values() if spec in p.children)
            first = next(c for c in parent.children if c.kind != "history")
            spec.transitions = [TransitionSpec(targets=[first.id])]
        elif spec.kind != "final":
            histories = [i for i in ids if i.startswith("h")]
            for _ in range(draw(st.integers(0, 3))):
                # history targets are weighted up: restoring recorded history is where bugs hide
                target = draw(st.sampled_from(ids + histories * 3))
                spec.transitions.append(TransitionSpec(events=[draw(st.sampled_from(EVENTS))], targets=[target],
                                                       type=draw(st.sampled_from(["external", "internal"]))))
    return ChartSpec(root)


def assert_legal(chart: Chart, snap: Snapshot) -> None:
    active = set(snap.configuration)
    assert "root" in active
    for sid in active:
        node = chart.states[sid]
        assert node.kind != "history"
        if node.parent is not None:
            assert node.parent.id in active, f"{sid} active without its parent"
        kids = [c.id for c in node.children if c.id in active]
        if node.kind == "compound":
            assert len(kids) == 1, f"compound {sid} has active children {kids}"
        if node.kind == "parallel":
            assert len(kids) == len(node.children), f"parallel {sid} has active children {kids}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(), st.lists(st.sampled_from(EVENTS), max_size=16))
def test_configurations_stay_legal_and_memoized_steps_match_fresh_ones(spec: ChartSpec,
                                                                       events: list[str]) -> None:
    chart = build_chart(spec)
    try:
        snap = start(chart).snapshot
    except StepLimitError:
        return
    assert_legal(chart, snap)
    for ev in events * 2:  # the second round runs on warm memo tables
        warm = step(chart, snap, ev)
        cold = step(build_chart(spec), snap, ev)  # a fresh chart has empty memo tables
        assert warm.snapshot == cold.snapshot
        assert [t.order for t in warm.transitions] == [t.order for t in cold.transitions]
        assert warm.effects == cold.effects
        snap = warm.snapshot
        assert_legal(chart, snap)
        assert Snapshot.from_json(snap.to_json()) == snap
