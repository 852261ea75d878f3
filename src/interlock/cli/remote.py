"""What the commands that talk to a server share: ``--url``, ``--key``, ``--json``, the client, exit codes.

Exit codes (docs/cli.md, "Against a server")::

    0  success
    1  the input is wrong: DATA is not JSON, the server refused the request as malformed (400, 413), an
       invalid definition (422 definition.invalid)
    2  the command line is wrong (unknown option, missing argument: click's own code; a bad --url)
    3  not found: no such machine, version or instance (404)
    4  conflict or rejected: a name taken, an event refused, a step over a limit (409, 422)
    5  not allowed: no or bad credentials (401), a missing scope or a rule's refusal (403)
    6  the server failed or could not be reached (5xx, 429, connection refused, timeout)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from interlock.cli.console import make_console, problem_lines
from interlock.client import Client, HTTPError, RateLimitedError, RequestError, UnreachableError
from interlock.client.transport import DEFAULT_URL
from interlock.errors import (
    AuthorizationError,
    ConflictError,
    DefinitionError,
    EventRejectedError,
    InterlockError,
    NotFoundError,
    StepLimitError,
)

OK, BAD_INPUT, USAGE, NOT_FOUND, CONFLICT, NOT_ALLOWED, SERVER, NOT_ENDED = 0, 1, 2, 3, 4, 5, 6, 7

Url = Annotated[str, typer.Option("--url", envvar="INTERLOCK_URL", help="The server's URL.")]
Key = Annotated[str | None, typer.Option("--key", envvar="INTERLOCK_KEY",
                                         help="An API key (or bearer token) for the server.", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print JSON (one document, or one line per change).")]
DEFAULT = DEFAULT_URL


def exit_code(exc: InterlockError) -> int:
    """The documented exit code for an error the client raised."""
    match exc:
        case NotFoundError():
            return NOT_FOUND
        case DefinitionError() | RequestError():
            return BAD_INPUT
        case ConflictError() | EventRejectedError() | StepLimitError():
            return CONFLICT
        case AuthorizationError():
            return NOT_ALLOWED
        case HTTPError() | UnreachableError():
            return SERVER
    return SERVER


@contextmanager
def connected(url: str, key: str | None) -> Iterator[Client]:
    """A client for the command; an error it raises ends the command with its message and exit code."""
    try:
        client = Client(url, key=key or None, retries=1)
    except ValueError as exc:
        fail(str(exc), USAGE)
    try:
        with client:
            yield client
    except InterlockError as exc:
        report(exc)
    except ValueError as exc:  # an argument the client refuses before sending (an empty name...)
        fail(str(exc), BAD_INPUT)


def report(exc: InterlockError) -> NoReturn:
    """The error on stderr, without a traceback, then exit with its code."""
    err = make_console(stderr=True)
    code = getattr(exc, "code", None)
    label = f" ({code})" if code else ""
    if isinstance(exc, DefinitionError):
        err.print(f"[bold red]error:[/] the definition is invalid{label}")
        for line in problem_lines(exc.problems):
            err.print(line)
    else:
        err.print(f"[bold red]error:[/] {escape(str(exc))}{escape(label)}")
    if isinstance(exc, AuthorizationError):
        err.print("  [dim]hint:[/] pass --key (or set INTERLOCK_KEY) with a key that holds the scope")
    elif isinstance(exc, RateLimitedError) and exc.retry_after is not None:
        err.print(f"  [dim]hint:[/] retry in {exc.retry_after:g} s")
    raise typer.Exit(exit_code(exc))


def fail(message: str, code: int, hint: str = "") -> NoReturn:
    err = make_console(stderr=True)
    err.print(f"[bold red]error:[/] {escape(message)}")
    if hint:
        err.print(f"  [dim]hint:[/] {escape(hint)}")
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    """``value`` (dataclasses, tuples, pages) as JSON on stdout."""
    sys.stdout.write(json.dumps(plain(value), default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def json_argument(text: str | None, what: str) -> Any:
    """A JSON command-line argument, or exit 1 saying what is wrong with it."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what} is not JSON: {exc}", BAD_INPUT, hint="""quote it for the shell: '{"amount": 30}'""")
