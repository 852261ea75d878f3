"""Fixtures for the CLI tests: real machine files in tmp_path and a runner for the real command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from interlock.cli.main import app

# An order: a cart, then payment and shipping in parallel (payment times out after 30s), with a deep
# history in shipping, and two final states.
ORDER_SCXML = """\
<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" name="order" initial="cart"
       datamodel="python">
  <datamodel><data id="items" expr="[]"/><data id="total" expr="0"/></datamodel>
  <state id="cart">
    <transition event="ADD" target="cart" type="internal">
      <assign location="items" expr="items + [_event.data['sku']]"/>
      <assign location="total" expr="total + _event.data['price']"/>
    </transition>
    <transition event="CHECKOUT" cond="total &gt; 0" target="checkout"/>
  </state>
  <parallel id="checkout">
    <state id="payment" initial="waiting">
      <state id="waiting">
        <onentry><send event="PAYMENT_TIMEOUT" delay="30s" id="pay_timer"/></onentry>
        <transition event="PAY" target="paid"><cancel sendid="pay_timer"/></transition>
      </state>
      <final id="paid"/>
    </state>
    <state id="shipping">
      <state id="packing"><transition event="PACKED" target="shipped"/></state>
      <final id="shipped"/>
      <history id="ship_hist" type="deep"><transition target="packing"/></history>
    </state>
    <transition event="done.state.checkout" target="complete"/>
    <transition event="PAYMENT_TIMEOUT" target="cancelled">
      <log label="timeout" expr="total"/>
    </transition>
  </parallel>
  <final id="complete"/>
  <final id="cancelled"/>
</scxml>
"""

# Two mistakes: a misspelt target and a duplicate id.
BROKEN_SCXML = """\
<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="green">
  <state id="green"><transition event="TIMER" target="yelow"/></state>
  <state id="yellow"><transition event="TIMER" target="green"/></state>
  <state id="yellow"/>
</scxml>
"""

Invoke = Callable[..., Result]


@pytest.fixture
def order_file(tmp_path: Path) -> Path:
    path = tmp_path / "order.scxml"
    path.write_text(ORDER_SCXML, encoding="utf-8")
    return path


@pytest.fixture
def broken_file(tmp_path: Path) -> Path:
    path = tmp_path / "traffic.scxml"
    path.write_text(BROKEN_SCXML, encoding="utf-8")
    return path


@pytest.fixture
def cli() -> Invoke:
    """Run ``interlock ARGS`` in-process. Exceptions are not swallowed: a traceback fails the test."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)

    return invoke
