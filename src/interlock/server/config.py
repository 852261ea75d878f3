"""The server's settings, from (highest first) command-line flags, ``INTERLOCK_*`` environment variables,
the ``[server]`` section of a TOML file, and the defaults below (docs/server.md, "Configuration")."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from interlock.runtime.basichttp import HTTPSends

MiB = 1024 * 1024
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How one server process runs; every field is also a TOML key and an ``INTERLOCK_<FIELD>`` variable."""

    db: str = "sqlite:///interlock.db"  # the store URL
    host: str = "127.0.0.1"
    port: int = 8000
    processes: int = 1  # server processes on one port and one store (their CPUs add up; docs/server.md)
    dev: bool = False  # development mode: requests without credentials act as the developer (admin)
    app: str | None = None  # a trusted Python module with machines (and services) to serve
    load: tuple[str, ...] = ()  # trusted YAML/JSON machine files or folders to serve
    max_body_bytes: int = MiB  # larger request bodies: 413 request.too_large
    rate: float = 50.0  # requests per second per client (0: no limit)
    burst: int = 100  # requests a client may send at once before the rate applies
    page_size: int = 100  # items per page when a request does not say
    max_page_size: int = 1000  # the largest ?limit= accepted
    send_timeout: float = 30.0  # seconds a write waits for its instance to settle (then 503)
    max_queued: int = 10_000  # events a send may queue behind in one instance (then 429 instance.busy)
    graceful_timeout: float = 30.0  # seconds in-flight requests get to finish on shutdown
    # seconds a client may read nothing while a response (a live stream's changes, a long page) waits to be
    # sent to it: then its connection is closed (server/protocol.py)
    write_timeout: float = 60.0
    access_log: bool = True  # a log line per request (uvicorn's access log; ~6% of a busy server's CPU)
    public_url: str | None = None  # where clients reach this server (default http://host:port)
    live_queue_size: int = 1000  # changes a live subscriber may be behind before it is dropped
    live_max_subscribers: int = 1000  # live subscribers (WebSocket and SSE) of one server process
    live_max_per_caller: int = 100  # of them, one caller's (a key, a token's subject); admins: no limit
    # permessage-deflate on live WebSockets: off, as a change's frame is small and compressing it for each
    # of 1,000 subscribers was over a quarter of the server's CPU in the fan-out (docs/benchmarks.md)
    live_compression: bool = False
    # hosts charts' Basic HTTP sends may POST to ("*" any, "*.example.com" a domain; empty: none)
    http_sends_allow: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    key_cache_seconds: float = 10.0  # a verified API key is trusted this long (a revocation's delay)
    # web pages of these origins may call the API from browsers (CORS): "https://app.example.com", or
    # "*" for any; empty: no cross-origin access (credentials are bearer tokens, never cookies)
    cors_origins: tuple[str, ...] = ()
    # end users' JWTs (docs/auth.md): an HS256 secret, or an identity provider's JWKS URL (RS256/ES256)
    jwt_secret: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None  # required iss, when set
    jwt_audience: str | None = None  # required aud, when set
    jwt_algorithms: tuple[str, ...] = ()  # default: HS256 with a secret, RS256 and ES256 with a JWKS URL
    jwt_scopes_claim: str | None = None  # a claim holding scopes (space-separated or a list); default:
    # every token may read and send events

    def __post_init__(self) -> None:
        _check(self)

    def replace(self, **changes: Any) -> ServerConfig:
        return dataclasses.replace(self, **changes)

    def http_sends(self) -> HTTPSends | None:
        """The Interlock's policy for charts' Basic HTTP sends (runtime/basichttp.py)."""
        return HTTPSends(allow=self.http_sends_allow) if self.http_sends_allow else None

    def __repr__(self) -> str:  # never the JWT secret
        shown = {f.name: getattr(self, f.name) for f in fields(self)} | (
            {"jwt_secret": "***"} if self.jwt_secret else {})
        return f"ServerConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def url(self) -> str:
        """Where clients reach this server: ``public_url``, else ``http://host:port``."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def _check(config: ServerConfig) -> None:
    if not 0 <= config.port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, not {config.port}")
    if config.dev and config.host not in LOOPBACK:
        raise ValueError(f"development mode accepts requests without credentials, so it only listens on "
                         f"a loopback address (127.0.0.1, ::1, localhost), not {config.host!r}; drop "
                         "--dev, or use --host 127.0.0.1")
    if config.public_url is not None and not config.public_url.startswith(("http://", "https://")):
        raise ValueError(f"public_url must be an http(s) URL, not {config.public_url!r}")
    for name in ("processes", "max_body_bytes", "burst", "page_size", "max_page_size", "live_queue_size",
                 "live_max_subscribers", "live_max_per_caller", "max_queued"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, not {getattr(config, name)}")
    if config.page_size > config.max_page_size:
        raise ValueError(f"page_size ({config.page_size}) is larger than max_page_size "
                         f"({config.max_page_size})")
    for name in ("rate", "graceful_timeout", "key_cache_seconds"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name} must not be negative, not {getattr(config, name)}")
    if config.jwt_secret is not None and config.jwt_jwks_url is not None:
        raise ValueError("set jwt_secret (HS256) or jwt_jwks_url (an identity provider's keys), not both")
    if config.jwt_jwks_url is not None:
        _check_jwks_url(config.jwt_jwks_url)
    for origin in config.cors_origins:
        if origin != "*" and not _is_origin(origin):
            raise ValueError(f"cors_origins: {origin!r} is not an origin; write scheme://host[:port] as "
                             "browsers send it (lower case, no default port, no path or trailing slash: "
                             "https://app.example.com), or \"*\" for any")
    for name in ("send_timeout", "write_timeout"):
        if getattr(config, name) <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, not {getattr(config, name)}")


def _check_jwks_url(url: str) -> None:
    """The identity provider's keys decide every token: fetched over plain HTTP, anyone on the path could
    serve their own and sign any token (admin scopes included). Plain HTTP is for this machine only."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return
    raise ValueError(f"jwt_jwks_url must be an https:// URL (http:// only to a loopback host: "
                     f"{', '.join(sorted(LOOPBACK))}), not {url!r}: the keys it serves verify every token")


def _is_origin(text: str) -> bool:
    """``scheme://host[:port]`` as a browser sends it in ``Origin`` (which CORS compares as text)."""
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:  # not a port number
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.path
            and not parts.query and not parts.fragment and parts.username is None
            and f"{parts.scheme}://{parts.netloc}" == text == text.lower()
            and port != {"http": 80, "https": 443}[parts.scheme])


def load_config(flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
                file: str | Path | None = None) -> ServerConfig:
    """Merge the sources: ``flags`` (None values are unset) over ``env`` over ``file`` over defaults.

    The file is ``file``, else ``flags["config"]``, else ``INTERLOCK_CONFIG``; its ``[server]`` table.
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None and v != ()}
    env = env or {}
    file = file or flags.pop("config", None) or env.get("INTERLOCK_CONFIG")
    flags.pop("config", None)
    values: dict[str, Any] = {}
    if file:
        values.update(_from_file(Path(file)))
    values.update(_from_env(env))
    values.update(flags)
    unknown = sorted(set(values) - _FIELDS.keys())
    if unknown:
        raise ValueError(f"unknown server setting(s) {', '.join(unknown)}; known: {', '.join(_FIELDS)}")
    return ServerConfig(**{k: _coerce(k, v, "flag") for k, v in values.items()})


_FIELDS = {f.name: f for f in fields(ServerConfig)}


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read the config file {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"the config file {str(path)!r} is not valid TOML: {exc}") from None
    section = data.get("server", {})
    if not isinstance(section, dict):
        raise ValueError(f"{path}: [server] must be a table")
    unknown = sorted(set(section) - _FIELDS.keys())
    if unknown:
        raise ValueError(f"{path}: unknown key(s) in [server]: {', '.join(unknown)}; known: "
                         f"{', '.join(_FIELDS)}")
    return {k: _coerce(k, v, f"{path} [server]") for k, v in section.items()}


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    found = {}
    for name in _FIELDS:
        text = env.get(f"INTERLOCK_{name.upper()}")
        if text is not None and text != "":
            found[name] = _coerce(name, text, f"INTERLOCK_{name.upper()}")
    return found


def _coerce(name: str, value: Any, where: str) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind == "bool":
            return _boolean(value)
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if kind == "tuple[str, ...]":
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {name} must be {_KINDS.get(str(kind), kind)}, not {value!r}") from None


_KINDS = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "text",
          "str | None": "text", "tuple[str, ...]": "a list (comma-separated in a variable)"}


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)
