"""The benchmark shapes in Interlock as YAML documents: guards and assignments are written in the safe
expression language (``interlock.frontends.loader.load_machine``), nothing in Python. Driven through the
same pure step and runner as the Python-callables build (``bench/core_interlock.py``).
"""

from __future__ import annotations

from bench.core_interlock import InterlockInstance
from bench.core_machines import COUNTER_LIMIT, LIMIT, ORDER_MAX_ITEMS
from interlock.core.chart import Chart
from interlock.frontends.loader import load_machine

NAME = "interlock-documents"

COUNTER = f"""
id: counter
initial: active
context: {{count: 0, n: 0, limit: {COUNTER_LIMIT}}}
states:
  active:
    on:
      INC:
        guard: count < limit and event.by > 0
        actions: {{assign: {{count: count + event.by, n: n + 1}}}}
"""

ORDER = f"""
id: order
initial: cart
context: {{items: [], total: 0, count: 0, max_items: {ORDER_MAX_ITEMS}, amount: 0}}
states:
  cart:
    on:
      ADD:
        guard: event.price > 0 and count < max_items
        actions:
          assign:
            items: items + [event.sku]
            total: total + event.price * event.qty
            count: count + 1
      CHECKOUT: {{target: checkout, guard: total > 0}}
  checkout:
    on:
      PAY: {{target: paid, guard: event.amount >= total, actions: {{assign: {{amount: event.amount}}}}}}
  paid:
    on:
      RESET: {{target: cart, actions: {{assign: {{items: "[]", total: "0", count: "0"}}}}}}
"""

FLAT = """
id: flat
initial: A
states:
  A: {on: {NEXT: B}}
  B: {on: {NEXT: C}}
  C: {on: {NEXT: A}}
"""

HIERARCHY = f"""
id: hierarchy
initial: p
context: {{count: 0}}
states:
  p:
    initial: q
    states:
      q:
        initial: r1
        states:
          r1:
            initial: s1
            on: {{STEP: r2}}
            states:
              s1: {{on: {{STEP: {{target: s2, guard: count < {LIMIT}, actions: {{assign: {{count: count + 1}}}}}}}}}}
              s2: {{on: {{STEP: {{target: s1, guard: count >= {LIMIT}}}}}}}
          r2:
            initial: s3
            on: {{STEP: r1}}
            states:
              s3: {{on: {{STEP: {{target: s4, guard: count < {LIMIT}, actions: {{assign: {{count: count + 1}}}}}}}}}}
              s4: {{}}
"""

PARALLEL = """
id: parallel
initial: P
states:
  P:
    type: parallel
    states:
""" + "".join(f"""      {r}:
        initial: {r}1
        states:
          {r}1: {{on: {{E{r.upper()}: {r}2}}}}
          {r}2: {{on: {{E{r.upper()}: {r}1}}}}
""" for r in "xyz")

DOCUMENTS = {"counter": COUNTER, "order": ORDER, "flat": FLAT, "hierarchy": HIERARCHY,
             "parallel": PARALLEL}


def chart_for(name: str) -> Chart:
    """The chart compiled from one shape's YAML document."""
    return load_machine(DOCUMENTS[name], format="yaml")


def build(name: str) -> InterlockInstance:
    return InterlockInstance(name, chart_for(name))
