"""A server on a loopback port for one conformance run, so a test document's instance is reachable over
HTTP: the Basic HTTP Event I/O Processor's tests (SCXML C.2) post to ``_ioprocessors['basichttp']``.

The server is the production app (server/app.py) in development mode, run by uvicorn on a thread
without its lifespan: the runner keeps driving the Interlock (its virtual clock, ``run_until_idle``) and
closes it itself.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from interlock.app import Interlock

START_TIMEOUT = 30.0  # seconds


@contextmanager
def loopback_server(app: Interlock) -> Iterator[str]:
    """Serve ``app`` on a free loopback port while the block runs; yields the server's URL."""
    import uvicorn

    from interlock.server.app import create_app
    from interlock.server.config import ServerConfig

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = ServerConfig(dev=True, port=port, rate=0)
    server = uvicorn.Server(uvicorn.Config(create_app(app, config), lifespan="off", log_level="critical"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="interlock-loopback",
                              daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the loopback server did not start")
            time.sleep(0.01)
        url = config.url()
        app.receive_http_events(f"{url}/v1/basichttp/")
        yield url
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)
        sock.close()
