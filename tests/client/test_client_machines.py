"""Machines and versions through the client: upload, read back, conflicts and every problem of a bad one."""

from __future__ import annotations

import pytest

from interlock import ConflictError, DefinitionError, NotFoundError
from interlock.client import Client, Machine, Version
from tests.server.support import Server

LAMP = """\
id: lamp
initial: "off"
states:
  "off": {on: {FLIP: "on"}}
  "on": {on: {FLIP: "off"}}
"""


def test_upload_a_version_and_run_it(server: Server) -> None:
    with Client(server.url) as client:
        uploaded = client.put_version("lamp", "1", LAMP)
        assert isinstance(uploaded, Version)
        assert (uploaded.name, uploaded.version, uploaded.format, uploaded.source) == ("lamp", "1", "yaml", "upload")
        assert uploaded.definition == LAMP and "stateDiagram" in uploaded.mermaid
        assert client.put_version("lamp", "1", LAMP).version == "1"  # the same again: accepted
        lamp = client.machine("lamp")
        assert isinstance(lamp, Machine) and (lamp.versions, lamp.latest) == (("1",), "1")
        assert {m.name for m in client.machines()} == {"door", "payment", "lamp"}
        assert client.version("lamp", "1").definition == LAMP
        client.create("lamp", "l1")
        assert client.send("lamp", "l1", "FLIP").instance.state == ("lamp.on",)


def test_a_changed_version_conflicts_and_a_bad_one_lists_every_problem(server: Server) -> None:
    with Client(server.url) as client:
        client.put_version("lamp", "1", LAMP)
        with pytest.raises(ConflictError):
            client.put_version("lamp", "1", LAMP.replace("FLIP", "TOGGLE"))
        broken = LAMP.replace('FLIP: "on"', 'FLIP: "of"').replace("initial: \"off\"", "initial: nowhere")
        with pytest.raises(DefinitionError) as info:
            client.put_version("lamp", "2", broken)
        paths = {p.path for p in info.value.problems}
        assert len(paths) == 2 and any("initial" in p for p in paths)
        with pytest.raises(NotFoundError):
            client.version("lamp", "9")
        with pytest.raises(ValueError, match="unknown definition format"):
            client.put_version("lamp", "3", LAMP, format="toml")


def test_json_and_scxml_uploads(server: Server) -> None:
    scxml = ('<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" name="bell" initial="quiet" '
             'datamodel="null"><state id="quiet"><transition event="RING" target="ringing"/></state>'
             '<state id="ringing"/></scxml>')
    with Client(server.url) as client:
        assert client.put_version("bell", "1", scxml, format="scxml").format == "scxml"
        doc = '{"id": "tick", "initial": "a", "states": {"a": {"on": {"T": "b"}}, "b": {}}}'
        assert client.put_version("tick", "1", doc, format="json").format == "json"


def test_admin_reads(server: Server) -> None:
    with Client(server.url) as client:
        client.create("door", "d1")
        assert client.admin("door", "d1", "context") == {"opened": 0, "_secret": "hidden"}
        assert client.admin("door", "d1", "timers") == []
        assert client.admin("door", "d1", "children") == []
        with pytest.raises(ValueError, match="unknown admin read"):
            client.admin("door", "d1", "secrets")
