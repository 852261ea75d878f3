"""``interlock diagram``: Mermaid and DOT structure (nesting, regions, pseudo-states), SVG via Graphviz."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Invoke = Callable[..., Result]


def _block(text: str, opening: str) -> str:
    """The text of the brace block that starts at ``opening`` (a line ending in ``{``)."""
    start = text.index(opening)
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0 and text[i] == "}":
            return text[start : i + 1]
    raise AssertionError(f"unbalanced block after {opening!r}")


def test_mermaid_nests_states_and_separates_parallel_regions(cli: Invoke, order_file: Path) -> None:
    result = cli("diagram", str(order_file))  # mermaid is the default
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("stateDiagram-v2\n")
    assert "    [*] --> cart\n" in text
    checkout = _block(text, "state checkout {")
    # the two regions, in document order, split by Mermaid's concurrency divider
    regions = checkout.split("\n        --\n")
    assert len(regions) == 2
    assert "state payment {" in regions[0] and "state shipping {" in regions[1]
    assert "[*] --> waiting" in regions[0] and "paid --> [*]" in regions[0]
    assert 'state "H*" as ship_hist' in regions[1]
    assert "cart --> checkout : CHECKOUT [total > 0]" in text
    assert "checkout --> cancelled : PAYMENT_TIMEOUT" in text
    assert "complete --> [*]" in text


def test_dot_draws_parallel_regions_as_nested_dashed_clusters(cli: Invoke, order_file: Path) -> None:
    result = cli("diagram", str(order_file), "--format", "dot")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith('digraph "order" {') and "compound=true;" in text
    checkout = _block(text, 'subgraph "cluster_checkout" {')
    assert 'label="checkout  (parallel)"' in checkout
    for region in ("payment", "shipping"):
        inner = _block(checkout, f'subgraph "cluster_{region}" {{')
        assert 'style="dashed"' in inner
    assert '"paid" [peripheries="2"];' in checkout
    assert '"ship_hist" [shape=circle, label="H*"' in checkout
    # an edge into the parallel state stops at its cluster border
    assert '"cart" -> "checkout" [label="CHECKOUT [total > 0]", lhead="cluster_checkout"];' in text
    assert '"ship_hist" -> "packing" [style="dashed"];' in text
    assert re.search(r'"__initial__:order" -> "cart";', text)
    assert text.count("{") == text.count("}")


def test_output_file_and_format_from_its_suffix(cli: Invoke, order_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "order.gv"
    result = cli("diagram", str(order_file), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith('digraph "order"')
    assert f"wrote {out}" in result.stderr


def test_svg_without_graphviz_says_how_to_fix_it(cli: Invoke, order_file: Path) -> None:
    result = cli("diagram", str(order_file), "--format", "svg", env={"PATH": ""})
    assert result.exit_code == 1
    assert "needs Graphviz's `dot` program" in result.stderr
    assert "--format dot" in result.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_svg_is_laid_out_by_graphviz(cli: Invoke, order_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "order.svg"
    result = cli("diagram", str(order_file), "-o", str(out))
    assert result.exit_code == 0, result.output
    svg = out.read_text(encoding="utf-8")
    assert "<svg" in svg and "cluster_checkout" in svg and ">PAYMENT_TIMEOUT<" in svg


def test_an_invalid_machine_is_not_drawn(cli: Invoke, broken_file: Path) -> None:
    result = cli("diagram", str(broken_file))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "unknown target state 'yelow'" in result.stderr


def test_an_unknown_format_is_a_usage_error(cli: Invoke, order_file: Path) -> None:
    result = cli("diagram", str(order_file), "--format", "png")
    assert result.exit_code == 2


REGIONS = """\
id: shop
initial: work
states:
  work:
    type: parallel
    states:
      alpha: {initial: a1, states: {a1: {}}}
      beta: {initial: b1, states: {b1: {}}}
      gamma: {initial: c1, states: {c1: {}}}
    onDone: {guard: "context.ok == true", target: done}
  fetch:
    invoke: {src: fetcher, onDone: {guard: "event.data.total > 0", target: done}}
  done: {type: final}
"""


def test_a_guarded_on_done_is_labelled_with_the_guard_as_written(cli: Invoke, tmp_path: Path) -> None:
    machine = tmp_path / "shop.yaml"
    machine.write_text(REGIONS, encoding="utf-8")
    text = cli("diagram", str(machine)).stdout
    assert "    work --> done : done.state.work [context.ok == true]\n" in text
    assert "    fetch --> done : done.invoke.fetch:invocation[0] [event.data.total > 0]\n" in text
    assert "event.name ==" not in text
    assert "event.name ==" not in cli("diagram", str(machine), "--format", "dot").stdout


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_graphviz_draws_parallel_regions_left_to_right_in_document_order(cli: Invoke, tmp_path: Path) -> None:
    import subprocess

    machine = tmp_path / "shop.yaml"
    machine.write_text(REGIONS, encoding="utf-8")
    dot = cli("diagram", str(machine), "--format", "dot").stdout
    plain = subprocess.run(["dot", "-Tplain"], input=dot, capture_output=True, text=True, check=True).stdout
    x = {}
    for line in plain.splitlines():
        match = re.match(r'node "shop\.work\.(alpha|beta|gamma)\.\w1" ([\d.]+)', line)
        if match:
            x[match.group(1)] = float(match.group(2))
    assert sorted(x, key=x.__getitem__) == ["alpha", "beta", "gamma"]
