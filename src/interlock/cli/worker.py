"""``interlock worker URL --app MODULE``: fire timers, run tasks and apply queued events; no HTTP.

MODULE is an importable module (``myapp.flows``) or a ``.py`` file with a function
``setup(app: Interlock) -> None`` that registers the machines and services this worker runs
(``MODULE:function`` names another function). Any number of workers and embedded apps share a database:
claims are leased and atomic, so each timer fires once and each task result is applied once.
SIGTERM or SIGINT stops the worker after the work in hand (a task running then is retried elsewhere once
its lease runs out).
"""

from __future__ import annotations

import importlib
import importlib.util
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from interlock.errors import InterlockError


def worker(
    url: Annotated[str, typer.Argument(help="postgresql://user@host:5432/database or sqlite:///path.db")],
    app_module: Annotated[str, typer.Option("--app", help="MODULE[:function] or FILE.py[:function]: "
                                            "its setup(app) registers machines and services.")],
    concurrency: Annotated[int, typer.Option(help="Tasks run at once.", min=1)] = 8,
    poll: Annotated[float, typer.Option(help="Seconds between polls for new work.", min=0.01)] = 1.0,
) -> None:
    """Run timers, tasks and queued events of a database until stopped (SIGTERM/SIGINT)."""
    from interlock.app import Interlock

    try:
        setup = _load_setup(app_module)
    except (ImportError, AttributeError, OSError) as exc:
        typer.echo(f"error: --app {app_module!r}: {exc}", err=True)
        raise typer.Exit(2) from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        app = Interlock(url, worker=False, concurrency=concurrency, poll=poll)
    except InterlockError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    try:
        setup(app)
        app.start()
        typer.echo(f"interlock worker {app.runtime.worker.owner} running on {url.split('@')[-1]}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        app.close()


def _load_setup(spec: str) -> Callable[[Any], None]:
    where, _, name = spec.partition(":")
    if where.endswith(".py"):
        path = Path(where)
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load {where}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    setup = getattr(module, name or "setup", None)
    if not callable(setup):
        raise AttributeError(f"{where} has no function {name or 'setup'}(app) to register machines and "
                             "services with")
    return setup  # type: ignore[no-any-return]
