"""What the sync and async clients share: headers, answers turned into results or errors, and retries."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx

from interlock.client.calls import Call
from interlock.client.errors import UnreachableError, error_from

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 60.0  # seconds; above the server's send_timeout (30 s), so a slow send gets its 503
RETRIES = 2  # extra attempts of an idempotent call after a connection error
BACKOFF = 0.2  # seconds before the first retry, doubled each time

# errors after which the server cannot have acted on the request: any call may be sent again
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# errors after which it may have: only an idempotent call is sent again
LOST = (httpx.ReadError, httpx.WriteError, httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError)


def base_url(url: str, retries: int) -> str:
    """The server's URL without a trailing ``/``, checked (with the retry count) before anything is sent."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"the server URL must start with http:// or https://, not {url!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a whole number of at least 0, not {retries!r}")
    return url.rstrip("/")


def headers(*, key: str | None, token: str | None) -> dict[str, str]:
    """The headers every request carries; an API key and a bearer token both go in ``Authorization``."""
    if key is not None and token is not None:
        raise ValueError("pass key= (an API key) or token= (a bearer token), not both")
    from interlock import __version__  # here: the package imports the client while it initialises

    out = {"User-Agent": f"interlock-client/{__version__}", "Accept": "application/json"}
    credential = key if key is not None else token
    if credential is not None:
        if not credential or any(c in credential for c in "\r\n"):
            raise ValueError("the API key or token must be a non-empty string on one line")
        out["Authorization"] = f"Bearer {credential}"
    return out


def may_retry(call: Call[Any], exc: Exception, attempt: int, retries: int) -> bool:
    if attempt >= retries:
        return False
    return isinstance(exc, NOT_SENT) or (call.idempotent and isinstance(exc, LOST))


def delay(attempt: int) -> float:
    return float(BACKOFF * 2**attempt)


def unreachable(base_url: str, call: Call[Any], exc: Exception) -> UnreachableError:
    return UnreachableError(f"no answer from {base_url} to {call.method} {call.path}: "
                            f"{type(exc).__name__}: {exc or 'timed out'} (is the server running? see --url)")


def result(call: Call[T], response: httpx.Response) -> T:
    """The call's result from a success answer; the mapped exception from an error answer."""
    body = _json(response)
    if response.status_code >= 400:
        raise error_from(response.status_code, body, retry_after=response.headers.get("Retry-After"))
    return call.read(body)


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
