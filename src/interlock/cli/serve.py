"""``interlock serve``: the HTTP API (docs/server.md) on uvicorn.

Settings come from flags, then ``INTERLOCK_*`` variables, then the ``[server]`` section of ``--config``
(or ``INTERLOCK_CONFIG``). ``--app MODULE`` is trusted code, as for ``interlock worker``: its
``setup(app)`` registers machines and services. ``--load PATH`` serves YAML/JSON machine files (a folder:
each ``*.yaml``, ``*.yml`` and ``*.json`` in it). SIGINT (Ctrl-C) and SIGTERM stop the server: it stops
accepting connections, lets requests in flight finish, then closes the store (leases released).
"""

from __future__ import annotations

import gc
import logging
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote_plus

import typer

from interlock.errors import InterlockError

GC_YOUNGEST = 50_000  # allocations between collections of the youngest generation (run_server)
START_RETRIES = (1.0, 2.0)  # seconds a server process of --processes waits before building its app again
SWITCH_INTERVAL = 0.001  # seconds a thread may hold the GIL while another waits (run_server)


def serve(
    db: Annotated[str | None, typer.Option(help="Store URL: sqlite:///path.db or postgresql://... "
                                           "[env INTERLOCK_DB; default sqlite:///interlock.db]")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on [default 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default 8000].")] = None,
    dev: Annotated[bool | None, typer.Option("--dev", help="Development mode: requests without "
                                             "credentials act as an admin; loopback addresses only.")] = None,
    app_module: Annotated[str | None, typer.Option("--app", help="MODULE[:function] or FILE.py[:function]: "
                                                   "its setup(app) registers machines and services.")] = None,
    load: Annotated[list[str] | None, typer.Option(help="A YAML/JSON machine file, or a folder of them, "
                                                   "to serve (repeatable).")] = None,
    config: Annotated[Path | None, typer.Option(help="A TOML file; its [server] section holds settings.")] = None,
    processes: Annotated[int | None, typer.Option(help="Server processes sharing the port and the store, "
                                                  "to use several cores (like uvicorn's --workers) "
                                                  "[default 1].")] = None,
) -> None:
    """Serve the HTTP API until stopped (Ctrl-C or SIGTERM)."""
    from interlock.server.config import load_config

    flags = {"db": db, "host": host, "port": port, "dev": dev, "app": app_module,
             "load": tuple(load or ()), "config": config, "processes": processes}
    try:
        settings = load_config(flags, os.environ)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        run_server(settings)
    except (InterlockError, ImportError, AttributeError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def run_server(settings: Any, *, authenticator: Any = None) -> None:
    """Build the Interlock and the app of ``settings`` (a ServerConfig) and serve until a signal: in this
    process, or in ``settings.processes`` processes sharing one listening socket and the store."""
    import uvicorn

    build = ServerApp(settings, authenticator)
    if settings.processes == 1:
        app = build.build()  # before uvicorn starts: a bad store, app module or machine file is an error
        server = uvicorn.Server(_uvicorn_config(app, settings))
        _prepare_process()  # after uvicorn.Config configured its logging
        _announce(settings)
        server.run()  # uvicorn raises the signal that stopped it again once it is done (exit status -N)
        return
    _serve_processes(build, settings)


class ServerApp:
    """Builds one server process's app: the Interlock over the store, the API, the trusted machines.

    uvicorn starts the processes of ``--processes N`` with ``multiprocessing``'s spawn and calls this in
    each (its app factory), so it is a plain picklable value holding the settings."""

    def __init__(self, settings: Any, authenticator: Any = None) -> None:
        self.settings = settings
        self.authenticator = authenticator

    def build(self) -> Any:
        from interlock.app import Interlock
        from interlock.server.app import create_app
        from interlock.server.trusted import load_trusted

        settings = self.settings
        interlock = Interlock(settings.db, http_sends=settings.http_sends(), max_queued=settings.max_queued)
        try:
            app = create_app(interlock, settings, authenticator=self.authenticator)
            load_trusted(app.state.catalog, settings)
        except BaseException:
            interlock.close()
            raise
        return app

    def __call__(self) -> Any:
        """In a process of ``--processes N``: the app, built again after START_RETRIES seconds if it
        failed, or exit with uvicorn's STARTUP_FAILURE status, which makes the supervisor stop every
        process instead of starting this one again and again (uvicorn itself gives that status only to a
        factory's TypeError)."""
        import time

        from uvicorn.config import STARTUP_FAILURE

        for wait in (*START_RETRIES, None):
            try:
                app = self.build()
                break
            except Exception:
                log = logging.getLogger("uvicorn.error")
                if wait is None:
                    log.exception("this server process could not start")
                    sys.exit(STARTUP_FAILURE)
                log.warning("this server process could not start; it tries again in %g s", wait, exc_info=True)
                time.sleep(wait)  # a store down for a moment while the supervisor replaced a process
        _prepare_process()
        return app


def _serve_processes(build: ServerApp, settings: Any) -> None:
    """``--processes N``: uvicorn's supervisor binds the socket once and starts N processes on it, each
    with its own Interlock over the one store (docs/server.md, "Running it"); it restarts one that dies
    and stops them all on SIGINT or SIGTERM."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    interlock = build.build().state.interlock  # once here first: the store migrated once, and a bad
    interlock.close()  # setting an error before any process starts; nothing of it is kept
    del interlock
    config = _uvicorn_config(build, settings, factory=True, workers=settings.processes)
    socket = config.bind_socket()
    _announce(settings)
    supervisor = Multiprocess(config, sockets=[socket])
    try:
        supervisor.run()
    finally:
        socket.close()
    failed = [p.pid for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    if failed:
        raise OSError(f"server process(es) {failed} failed to start; their errors are in the log above")


def _uvicorn_config(app: Any, settings: Any, **extra: Any) -> Any:
    import uvicorn

    return uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info",
                          http=_http_protocol(settings.write_timeout),
                          ws=_ws_protocol(settings.write_timeout),
                          access_log=settings.access_log,
                          ws_per_message_deflate=settings.live_compression,
                          timeout_graceful_shutdown=int(settings.graceful_timeout),
                          lifespan="on", **extra)


def _announce(settings: Any) -> None:
    base = f"http://{_url_host(settings.host)}:{settings.port}"
    mode = (" (development mode: no credentials needed)" if settings.dev else
            " (credentials: API keys from `interlock keys create --admin --db URL`"
            + (", or end users' JWTs" if settings.jwt_secret or settings.jwt_jwks_url else "") + ")")
    processes = f", {settings.processes} processes" if settings.processes > 1 else ""
    typer.echo(f"Interlock API on {base}{mode}; docs at {base}/docs, store {settings.db.split('@')[-1]}"
               f"{processes}")


def _prepare_process() -> None:
    """What a serving process sets up once its app is built: Interlock's log lines beside uvicorn's,
    tokens kept out of uvicorn's log, the garbage collector and the GIL's switch interval tuned."""
    _log_to_stderr()
    _redact_logs()
    _tune_runtime()


def _tune_runtime() -> None:
    """The garbage collector and the GIL's switch interval, tuned for a server process."""
    # The cyclic garbage collector, tuned for a server (docs/benchmarks.md, "Server"): what is built by
    # now (modules, the app, the charts) lives as long as the process, so it is frozen out of the
    # collector's sight and a full collection no longer walks it (25-70 ms each, every half second
    # under load: the p99 of a send); and the youngest generation is collected every 50,000
    # allocations instead of 700, as a request's objects are nearly all freed by reference counting
    # before then (the collector's time under load went from ~1 s in 8 s to ~0.1 s at 10,000; at 256
    # requests in flight 10,000 still meant ~20 collections a second of ~5 ms each, both threads stopped:
    # 50,000 measured +12% events/s there, 3 alternated pairs, and no worse at 64).
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST, 10, 10)
    # Two threads share the GIL under load: the event loop (HTTP) and the writer (steps, commits). A
    # thread that waits for it waits up to the switch interval; 1 ms instead of 5 ms, alternated 3 times:
    # 1,044-1,096 vs 952-1,008 sends/s at 1 in flight, 4,378-4,850 vs 3,717-4,447 at 64 (p99 23.5-28.4
    # vs 28.7-33.8 ms). 0.5 ms was no better.
    sys.setswitchinterval(SWITCH_INTERVAL)


def _http_protocol(write_timeout: float) -> Any:
    """One socket write per response, and connections whose client stopped reading dropped after
    ``write_timeout`` seconds (server/protocol.py), where httptools is installed; else uvicorn's own choice."""
    try:
        from interlock.server.protocol import with_write_timeout
    except ImportError:
        return "auto"
    return with_write_timeout(write_timeout)


def _ws_protocol(write_timeout: float) -> Any:
    """WebSockets whose client stopped reading dropped after ``write_timeout`` seconds too
    (server/ws_protocol.py), with the uvicorn that has websockets' sans-I/O protocol; else its own."""
    try:
        from interlock.server.ws_protocol import ws_with_write_timeout
    except ImportError:
        return "auto"
    return ws_with_write_timeout(write_timeout)


def _log_to_stderr() -> None:
    """Interlock's own messages (startup, shutdown, failed requests) beside uvicorn's."""
    logger = logging.getLogger("interlock")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _redact_logs() -> None:
    """uvicorn's loggers (.error logs WebSocket handshakes' URLs) pass their records through
    :func:`_redact_tokens` (once each, after uvicorn configured its logging)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if _redact_tokens not in logger.filters:
            logger.addFilter(_redact_tokens)


_QUERY_PARAMETER = re.compile(r"([?&;][^=&;\s]*=)([^&;\s]*)")


def _redact_tokens(record: logging.LogRecord) -> bool:
    """Keep ``?access_token=`` (a browser's credentials for a live stream) out of uvicorn's log: the
    parameter whose name decodes to ``access_token``, as the server decodes it (``access%5Ftoken=``)."""
    if isinstance(record.args, tuple):
        record.args = tuple(_QUERY_PARAMETER.sub(_redacted, a) if isinstance(a, str) else a
                            for a in record.args)
    return True


def _redacted(parameter: re.Match[str]) -> str:
    name = parameter.group(1)
    return f"{name}[redacted]" if unquote_plus(name[1:-1]) == "access_token" else parameter.group(0)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
