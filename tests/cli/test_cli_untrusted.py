"""``interlock simulate`` with documents that reach for files: a ``machine:`` src names a machine given with
``--machine`` (or the chart itself), never a path; a machine that invokes itself is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Invoke = Callable[..., Result]

KID = """\
id: kid
initial: w
states:
  w: {on: {FINISH: end}}
  end: {type: final}
"""


def parent(src: str) -> str:
    return f"""\
id: parent
initial: w
states:
  w:
    invoke: {{id: job, src: "machine:{src}", onDone: done, onError: failed}}
    on: {{error.execution: failed}}
  done: {{type: final}}
  failed: {{type: final}}
"""


def test_a_document_cannot_make_simulate_run_a_file(cli: Invoke, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.scxml"
    evil.write_text("<scxml xmlns='http://www.w3.org/2005/07/scxml' initial='a'><datamodel><data id='x' "
                    f"expr=\"__import__('pathlib').Path({str(marker)!r}).write_text('ran')\"/></datamodel>"
                    "<state id='a'/></scxml>")
    for src in (str(evil), "evil.scxml"):
        machine = tmp_path / "parent.yaml"
        machine.write_text(parent(src))
        result = cli("simulate", str(machine))
        assert result.exit_code == 0, result.output
        assert "end t=0s, done, in failed" in result.stdout
        assert "no machine is registered as" in result.stdout
    assert not marker.exists()


def test_a_machine_given_with_machine_runs_as_the_child(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "kid.yaml").write_text(KID)
    (tmp_path / "parent.yaml").write_text(parent("kid"))
    result = cli("simulate", str(tmp_path / "parent.yaml"), "--machine", str(tmp_path / "kid.yaml"))
    assert result.exit_code == 0, result.output
    assert "end t=0s, active, in w" in result.stdout  # the child runs: the parent waits for it
    assert "no machine is registered" not in result.stdout


def test_a_machine_that_invokes_itself_is_refused(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "parent.yaml").write_text(parent("parent"))
    result = cli("simulate", str(tmp_path / "parent.yaml"))
    assert result.exit_code == 1
    assert "machine 'parent' invokes itself (parent -> parent)" in " ".join(result.output.split())
