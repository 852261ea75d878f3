"""What one process knows how to run: machines (compiled charts, by name and version) and services."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from interlock.core.chart import Chart
from interlock.core.reach import Reach
from interlock.errors import ConflictError, DefinitionError, NotFoundError, Problem
from interlock.runtime.addresses import SESSION_IDS
from interlock.runtime.basichttp import BASICHTTP_SERVICE, HTTPSends, post_event
from interlock.runtime.children import check_no_cycle, invoked_machines
from interlock.runtime.fingerprint import changed_message, changed_parts, fingerprint
from interlock.runtime.machines import shape_of
from interlock.runtime.retry import RetryPolicy


@dataclass(frozen=True, slots=True)
class Service:
    """A Python callable a chart can invoke as a task: ``fn(task) -> result`` (sync or async)."""

    name: str
    fn: Callable[..., Any]
    policy: RetryPolicy
    is_async: bool
    policy_json: dict[str, Any] = field(default_factory=dict)  # ``policy.to_json()``, stored with tasks


class Registry:
    """Machines by ``(name, version)`` (the newest registration is the default version) and services."""

    def __init__(self) -> None:
        self._charts: dict[tuple[str, str], Chart] = {}
        self._latest: dict[str, Chart] = {}
        self.services: dict[str, Service] = {}
        self._tags: dict[tuple[str, str, tuple[str, ...]], tuple[str, ...]] = {}
        self._invokes: dict[str, set[str]] = {}  # machine -> machines its versions invoke by a fixed src
        self.http_sends: HTTPSends | None = None  # where Basic HTTP sends may go; None: nowhere
        self.http_location: str | None = None  # where a server receives Basic HTTP events (+ session id)
        # events an uploaded machine's send may queue behind in another machine's instance (None: no limit;
        # Interlock(max_queued=) sets it, as for a caller's send: runtime/dispatch.py)
        self.max_queued: int | None = None
        self.no_children = Reach(frozenset(), SESSION_IDS)  # what a step without invocations may reach

    def send_http(self, policy: HTTPSends | None) -> None:
        """Let charts' Basic HTTP sends POST within ``policy`` (None: refuse them all)."""
        self.http_sends = policy
        if policy is None:
            self.services.pop(BASICHTTP_SERVICE, None)
            return
        self.add_service(BASICHTTP_SERVICE, functools.partial(post_event, policy), policy.policy())

    def receive_http(self, location: str | None) -> None:
        """A server receives Basic HTTP events at ``location`` + session id: charts see it in
        ``_ioprocessors['basichttp']['location']``."""
        self.http_location = location
        self.no_children = Reach(frozenset(), SESSION_IDS, location)

    def add_chart(self, chart: Chart, *, latest: bool = True) -> Chart:
        """Add ``chart``; it becomes its machine's default version unless ``latest`` is False (an older
        version loaded after a newer one) and the machine has one already."""
        self.check(chart)
        self._charts[(chart.name, chart.version)] = chart
        if latest or chart.name not in self._latest:
            self._latest[chart.name] = chart
        self._invokes.setdefault(chart.name, set()).update(invoked_machines(chart))
        self._tags.clear()
        return chart

    def check(self, chart: Chart) -> None:
        """Raise unless ``chart`` can be added: a compiled chart, an addressable name, and not another
        chart under a (name, version) this process already has."""
        if not isinstance(chart, Chart):
            raise TypeError(f"register() takes a compiled Chart, not {type(chart).__name__}; build one "
                            "with a front end (for example interlock.frontends.scxml.load_scxml)")
        if not chart.name or "/" in chart.name or "#" in chart.name or chart.name != chart.name.strip():
            raise DefinitionError([Problem(
                "name", f"machine name {chart.name!r} cannot be registered",
                "instances are addressed as 'instance:<machine>/<id>' and inline children as "
                "'<machine>#inline-...': give the machine a non-empty name without '/', '#' or surrounding "
                "spaces")])
        known = self._charts.get((chart.name, chart.version))
        if known is not None and known is not chart and shape_of(known) != shape_of(chart):
            raise ConflictError(
                f"machine {chart.name!r} version {chart.version!r} is already registered with other "
                "states or transitions; give the changed chart a new version so existing instances keep "
                "theirs")
        if known is not None and known is not chart:
            parts = changed_parts(fingerprint(known), fingerprint(chart))
            if parts:
                raise ConflictError(changed_message(chart.name, chart.version, parts, where="in this process"))
        check_no_cycle(chart, lambda name: self._invokes.get(name, ()))

    def add_alias(self, name: str, version: str, chart: Chart, *, latest: bool = True) -> None:
        """Run ``chart`` as machine ``name`` (an inline child, named after its parent), under the
        parent's ``version`` and its own (its instances are pinned to its own)."""
        self._charts[(name, version)] = chart
        self._charts[(name, chart.version)] = chart
        if latest or name not in self._latest:
            self._latest[name] = chart
        self._tags.clear()

    def tags(self, name: str, version: str, configuration: tuple[str, ...]) -> tuple[str, ...]:
        """The tags of the states of a configuration (each once), memoized: a chart has few
        configurations and every step that moves the state index asks. ``KeyError``: an unknown state."""
        key = (name, version, configuration)
        found = self._tags.get(key)
        if found is None:
            states = self.chart(name, version).states
            found = tuple(dict.fromkeys(t for s in configuration for t in states[s].tags))
            if len(self._tags) >= 10_000:
                self._tags.clear()
            self._tags[key] = found
        return found

    def chart(self, name: str, version: str | None = None) -> Chart:
        """The chart of ``name`` at ``version`` (default: the newest registered)."""
        chart = self._latest.get(name) if version is None else self._charts.get((name, version))
        if chart is not None:
            return chart
        if name not in self._latest:
            known = ", ".join(sorted(self._latest)) or "none"
            raise NotFoundError(f"unknown machine {name!r} (registered: {known}); call register() first")
        versions = ", ".join(v for (n, v) in self._charts if n == name)
        raise NotFoundError(f"machine {name!r} has no version {version!r} registered in this process "
                            f"(registered: {versions}); register that version to run its instances")

    def charts(self, name: str) -> list[Chart]:
        """Every registered version of machine ``name`` (empty if none is)."""
        return [chart for (n, _), chart in self._charts.items() if n == name]

    def state_ids(self, name: str) -> set[str]:
        """Every state id of every registered version of machine ``name`` (empty if none is)."""
        return {s for (n, _), chart in self._charts.items() if n == name for s in chart.states}

    def versions(self) -> list[tuple[str, str]]:
        """Every (machine, version) this process can run."""
        return list(self._charts)

    def has_version(self, name: str, version: str) -> bool:
        return (name, version) in self._charts

    def has_chart(self, name: str) -> bool:
        return name in self._latest

    def add_service(self, name: str, fn: Callable[..., Any], policy: RetryPolicy) -> Service:
        if not name or not isinstance(name, str):
            raise ValueError(f"a service needs a non-empty name, not {name!r}")
        if not callable(fn):
            raise TypeError(f"service {name!r} must be callable, not {type(fn).__name__}")
        service = Service(name, fn, policy, inspect.iscoroutinefunction(fn), policy.to_json())
        self.services[name] = service
        return service
