"""The minimal cases of issue #11, with what XState v5 does (checked against xstate 5.33.3).

Each case: a config, a script (events and waits, as the differential test runs them) and the expected
observations after the start and after every script item: (status, sorted active state ids).
``xstate_bug`` cases are where Interlock follows XState's documentation instead (KNOWN_DIFFERENCES in
test_differential.py): their expectation is Interlock's, and XState differs.
"""

from __future__ import annotations

from typing import Any

A = "active"

CASES: dict[str, dict[str, Any]] = {
    "1 a descriptor does not match a longer name": {
        "config": {"id": "m", "initial": "a", "states": {"a": {"on": {"X": "b"}}, "b": {}}},
        "script": [{"send": "X.y"}, {"send": "X"}],
        "expect": [(A, ["m", "m.a"]), (A, ["m", "m.a"]), (A, ["m", "m.b"])],
    },
    "1 the exact name before a wildcard": {
        "config": {"id": "m", "initial": "a", "states": {"a": {"on": {"X.*": "b", "X.y": "c"}}, "b": {}, "c": {}}},
        "script": [{"send": "X.y"}],
        "expect": [(A, ["m", "m.a"]), (A, ["m", "m.c"])],
    },
    "1 a wildcard matches its own prefix and longer names": {
        "config": {"id": "m", "initial": "a", "states": {"a": {"on": {"X.*": "b"}}, "b": {"on": {"X.*": "a"}}}},
        "script": [{"send": "X"}, {"send": "X.y.z"}, {"send": "Xy"}],
        "expect": [(A, ["m", "m.a"]), (A, ["m", "m.b"]), (A, ["m", "m.a"]), (A, ["m", "m.a"])],
    },
    "1 event names with spaces are one name": {
        "config": {"id": "m", "initial": "a", "states": {"a": {"on": {"leave home": "b"}}, "b": {}}},
        "script": [{"send": "leave"}, {"send": "leave home"}],
        "expect": [(A, ["m", "m.a"]), (A, ["m", "m.a"]), (A, ["m", "m.b"])],
    },
    "2 a final region does not finish its parallel state alone": {
        "config": {"id": "m", "initial": "p", "states": {
            "p": {"type": "parallel", "onDone": "done", "states": {
                "a": {"type": "final"},
                "b": {"initial": "b1", "states": {"b1": {"on": {"E": "b2"}}, "b2": {"type": "final"}}}}},
            "done": {}}},
        "script": [{"send": "E"}],
        "expect": [(A, ["m", "m.p", "m.p.a", "m.p.b", "m.p.b.b1"]), (A, ["m", "m.done"])],
    },
    "3 a transition between regions of a parallel root keeps every region active": {
        "config": {"id": "m", "type": "parallel", "states": {
            "a": {"initial": "a1", "states": {"a1": {"on": {"E": "#m.b.b2"}}, "a2": {}}},
            "b": {"initial": "b1", "states": {"b1": {}, "b2": {}}}}},
        "script": [{"send": "E"}],
        "expect": [(A, ["m", "m.a", "m.a.a1", "m.b", "m.b.b1"]), (A, ["m", "m.a", "m.a.a1", "m.b", "m.b.b2"])],
    },
    "3 a parallel root finishes when every region is final": {
        "config": {"id": "m", "type": "parallel", "states": {
            "a": {"initial": "a1", "states": {"a1": {"on": {"E": "a2"}}, "a2": {"type": "final"}}},
            "b": {"type": "final"}}},
        "script": [{"send": "E"}],
        "expect": [(A, ["m", "m.a", "m.a.a1", "m.b"]), ("done", ["m", "m.a", "m.a.a2", "m.b"])],
    },
    "3 a parallel root with one final region is not done at start": {
        "config": {"id": "m", "type": "parallel", "states": {"a": {}, "b": {"type": "final"}}},
        "script": [{"send": "E"}],
        "expect": [(A, ["m", "m.a", "m.b"]), (A, ["m", "m.a", "m.b"])],
    },
    "4 a parallel state's own transition only when no region has one": {
        "config": {"id": "m", "initial": "p", "states": {
            "p": {"type": "parallel", "on": {"E": "x"}, "states": {"a": {"on": {"E": {}}}, "b": {}}},
            "x": {}}},
        "script": [{"send": "E"}],
        "expect": [(A, ["m", "m.p", "m.p.a", "m.p.b"]), (A, ["m", "m.p", "m.p.a", "m.p.b"])],
    },
    "4 a transition between regions of a nested parallel state keeps it (its timer runs on)": {
        "config": {"id": "m", "initial": "p", "states": {
            "p": {"type": "parallel", "after": {"100": "x"}, "states": {
                "a": {"initial": "a1", "states": {"a1": {"on": {"E": "#m.p.b.b2"}}, "a2": {}}},
                "b": {"initial": "b1", "states": {"b1": {}, "b2": {}}}}},
            "x": {}}},
        "script": [{"wait": 50}, {"send": "E"}, {"wait": 60}],
        "expect": [(A, ["m", "m.p", "m.p.a", "m.p.a.a1", "m.p.b", "m.p.b.b1"]),
                   (A, ["m", "m.p", "m.p.a", "m.p.a.a1", "m.p.b", "m.p.b.b1"]),
                   (A, ["m", "m.p", "m.p.a", "m.p.a.a1", "m.p.b", "m.p.b.b2"]),
                   (A, ["m", "m.x"])],
    },
    "5 a parallel state targeting its descendant is not re-entered": {
        "config": {"id": "m", "initial": "p", "states": {
            "p": {"type": "parallel", "after": {"100": "x"}, "on": {"E": ".a.a2"}, "states": {
                "a": {"initial": "a1", "states": {"a1": {}, "a2": {}}}, "b": {}}},
            "x": {}}},
        "script": [{"wait": 50}, {"send": "E"}, {"wait": 60}],
        "expect": [(A, ["m", "m.p", "m.p.a", "m.p.a.a1", "m.p.b"]), (A, ["m", "m.p", "m.p.a", "m.p.a.a1", "m.p.b"]),
                   (A, ["m", "m.p", "m.p.a", "m.p.a.a2", "m.p.b"]), (A, ["m", "m.x"])],
    },
    "5 targeting the root does not exit it (its history is not recorded)": {
        "config": {"id": "m", "initial": "a", "on": {"H": ".hist"}, "states": {
            "hist": {"type": "history", "history": "deep"},
            "a": {"on": {"GO": "b"}},
            "b": {"initial": "b1", "on": {"ROOT": "#m"}, "states": {"b1": {"on": {"N": "b2"}}, "b2": {}}}}},
        "script": [{"send": "GO"}, {"send": "N"}, {"send": "ROOT"}, {"send": "H"}],
        "expect": [(A, ["m", "m.a"]), (A, ["m", "m.b", "m.b.b1"]), (A, ["m", "m.b", "m.b.b2"]),
                   (A, ["m", "m.a"]), (A, ["m", "m.a"])],
    },
    "6 a targetless always settles": {
        "config": {"id": "m", "initial": "a", "states": {"a": {"always": {}, "on": {"E": "b"}}, "b": {}}},
        "script": [{"send": "E"}],
        "expect": [(A, ["m", "m.a"]), (A, ["m", "m.b"])],
    },
    "6 an always to the state itself settles": {
        "config": {"id": "m", "initial": "a", "states": {"a": {"always": {"target": "a", "reenter": True}}}},
        "script": [{"send": "E"}],
        "expect": [(A, ["m", "m.a"]), (A, ["m", "m.a"])],
    },
    "7 what XState accepts loads": {
        "config": {"id": "m", "initial": {"target": "s 1"}, "schemas": {"context": {}}, "output": {"n": 1},
                   "states": {
                       "s 1": {"on": {"E": {"target": ""}, "F": "p"}},
                       "p": {"type": "parallel", "initial": "a", "states": {
                           "a": {"type": "final", "on": {"G": "#m.s 1"}}, "b": {"on": {"H": "#m.end"}}}},
                       "end": {"type": "final"}}},
        "script": [{"send": "E"}, {"send": "F"}, {"send": "G"}, {"send": "F"}, {"send": "H"}],
        "expect": [(A, ["m", "m.s 1"]), (A, ["m", "m.s 1"]), (A, ["m", "m.p", "m.p.a", "m.p.b"]),
                   (A, ["m", "m.s 1"]), (A, ["m", "m.p", "m.p.a", "m.p.b"]), ("done", ["m", "m.end"])],
    },
    "8 a parallel state whose only child is a history state": {
        "config": {"id": "m", "initial": "a", "states": {
            "a": {"on": {"E": "p"}}, "p": {"type": "parallel", "states": {"h": {"type": "history"}}}}},
        "script": [{"send": "E"}],
        "expect": [(A, ["m", "m.a"]), (A, ["m", "m.p"])],
    },
    "bug: target strings in an after list": {
        "xstate_bug": "after-target-list",
        "config": {"id": "m", "initial": "a", "states": {"a": {"after": {"100": ["b"]}}, "b": {}}},
        "script": [{"wait": 150}],
        "expect": [(A, ["m", "m.a"]), (A, ["m", "m.b"])],
    },
    "bug: an initial history state without a default": {
        "xstate_bug": "initial-history",
        "config": {"id": "m", "initial": "h", "states": {"h": {"type": "history"}, "a": {}, "b": {}}},
        "script": [],
        "expect": [(A, ["m", "m.a"])],
    },
    "bug: a history state without a default in a parallel state, targeted from inside": {
        "xstate_bug": "history-parallel-parent",
        "config": {"id": "m", "initial": "p", "states": {"p": {"type": "parallel", "states": {
            "h": {"type": "history"},
            "a": {"initial": "a1", "states": {"a1": {"on": {"E": "a2"}}, "a2": {"on": {"B": "#m.p.h"}}}},
            "b": {}}}}},
        "script": [{"send": "E"}, {"send": "B"}],
        "expect": [(A, ["m", "m.p", "m.p.a", "m.p.a.a1", "m.p.b"]), (A, ["m", "m.p", "m.p.a", "m.p.a.a2", "m.p.b"]),
                   (A, ["m", "m.p", "m.p.a", "m.p.a.a1", "m.p.b"])],
    },
    "bug: a state targeting the history state that stands for itself": {
        "xstate_bug": "reentry-while-active",
        "config": {"id": "m", "initial": "h", "states": {
            "b": {"type": "history", "target": "h"},
            "h": {"on": {"E": "#m.b", "F": "y"}, "after": {"100": "x"}},
            "x": {}, "y": {"on": {"*": "z"}}, "z": {}}},
        "script": [{"wait": 50}, {"send": "E"}, {"send": "F"}, {"wait": 60}],
        "expect": [(A, ["m", "m.h"]), (A, ["m", "m.h"]), (A, ["m", "m.h"]), (A, ["m", "m.y"]), (A, ["m", "m.y"])],
    },
}
