"""The server benchmark's default load generator: ``wrk`` (C, one thread, an epoll loop over N keep-alive
connections; Debian's package ``wrk``, installed by ``make bench``), driven by a Lua script that builds
each POST as the aiohttp generator does (:class:`~bench.server_load.LoadRequest`: a random key, ``by``
1-3, ``at`` now) and counts what it sent to each key, so that the side's recorded state can be checked.

wrk times each request from its write to its answer; its percentiles are of the answered requests.
Durations are whole seconds (wrk takes no fractions); the warm-up is a run of its own, not timed but
counted for the check.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.server_load import LoadRequest, Outcome, Tally

SCRIPT = """
local count, path, prefix, headers = %(count)d, %(path)s, %(prefix)s, %(headers)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  math.randomseed(%(seed)d)
  sent, by = {}, {}
end
function request()
  local key = "c" .. math.random(0, count - 1)
  local n = math.random(1, 3)
  sent[key] = (sent[key] or 0) + 1
  by[key] = (by[key] or 0) + n
  local body = prefix .. '"by": ' .. n .. ', "at": ' .. os.time() .. '}'
  return wrk.format("POST", string.gsub(path, "{key}", key), headers, body)
end
function done(summary, latency, requests)
  local tallies = {}
  for _, thread in ipairs(threads) do
    local s, b = thread:get("sent"), thread:get("by")
    for key, n in pairs(s) do
      local t = tallies[key] or {0, 0}
      tallies[key] = {t[1] + n, t[2] + b[key]}
    end
  end
  local parts = {}
  for key, t in pairs(tallies) do table.insert(parts, string.format('"%%s": [%%d, %%d]', key, t[1], t[2])) end
  local e = summary.errors
  io.write(string.format('WRK-RESULT {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, "p99_us": %%d, "tallies": {%%s}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), table.concat(parts, ", ")))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def drive(base: str, request: LoadRequest, *, clients: int, seconds: float, seed: int = 0,
          warmup: float = 0.0, headers: dict[str, str] | None = None) -> Outcome:
    """``clients`` closed loops against ``base`` for ``seconds`` (rounded up to whole seconds), after a
    warm-up run of ``warmup`` seconds (not timed); every request carries ``headers``."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    script = SCRIPT % {"count": request.count, "path": _lua(request.path), "prefix": _lua(request.body_prefix()),
                       "headers": "{" + ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in all_headers.items()) + "}",
                       "seed": seed}
    with tempfile.TemporaryDirectory(prefix="interlock-wrk-") as tmp:
        path = Path(tmp) / "load.lua"
        path.write_text(script)
        warm = _run(base, path, clients, warmup) if warmup > 0 else None
        timed = _run(base, path, clients, seconds)
    tallies: dict[str, Tally] = {}
    unanswered = 0
    errors: dict[str, int] = {}
    for result in (warm, timed):
        if result is None:
            continue
        for key, (sent, by) in result["tallies"].items():
            tally = tallies.setdefault(key, Tally())
            tally.sent += sent
            tally.by += by
        failed = {kind: result[kind] for kind in ("connect", "read", "write", "status", "timeout") if result[kind]}
        for kind, n in failed.items():
            errors[kind] = errors.get(kind, 0) + n
        # in flight when wrk stopped: at most one per connection; and every failed request
        unanswered += clients + sum(failed.values())
    answered = timed["requests"] - timed["status"]
    return Outcome(clients, timed["duration_us"] / 1e6, answered, timed["p50_us"] / 1e6, timed["p99_us"] / 1e6,
                   errors, tallies, unanswered)


def _run(base: str, script: Path, clients: int, seconds: float) -> dict:
    whole = max(1, round(seconds))
    command = ["wrk", "-t1", f"-c{clients}", f"-d{whole}s", "--timeout", "60s", "-s", str(script), base]
    done = subprocess.run(command, capture_output=True, text=True, timeout=whole + 120)
    for line in done.stdout.splitlines():
        if line.startswith("WRK-RESULT "):
            result: dict = json.loads(line.removeprefix("WRK-RESULT "))
            return result
    raise RuntimeError(f"wrk exited with {done.returncode} without a result: {(done.stdout + done.stderr)[-1500:]}")


def _lua(text: str) -> str:
    """A Lua string literal of printable ASCII text (paths, header names and values, JSON)."""
    if not (text.isascii() and text.isprintable()):
        raise ValueError(f"wrk's script takes printable ASCII only, not {text!r}")
    return json.dumps(text)  # in printable ASCII, JSON escapes only the quote and the backslash, as Lua does
