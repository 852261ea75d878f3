"""The Restate peer's handler: a virtual object keyed by instance, doing the counter's durable keyed
update (guard ``by > 0``; count, n and the sender's timestamp kept in Restate's state), served with
``hypercorn bench.server_restate_service:app`` (HTTP/2, as Restate calls its deployments)."""

from __future__ import annotations

from typing import Any

import restate

counter = restate.VirtualObject("Counter")


@counter.handler()
async def inc(ctx: restate.ObjectContext, event: dict[str, Any]) -> dict[str, Any]:
    by = event.get("by", 0)
    count: int = await ctx.get("count") or 0
    n: int = await ctx.get("n") or 0
    if isinstance(by, int) and by > 0:  # the guard: an event with by <= 0 changes nothing
        count, n = count + by, n + 1
        ctx.set("count", count)
        ctx.set("n", n)
        ctx.set("at", event.get("at", 0))
    return {"count": count, "n": n}


@counter.handler(kind="shared")
async def get(ctx: restate.ObjectSharedContext) -> dict[str, Any]:
    return {"count": await ctx.get("count") or 0, "n": await ctx.get("n") or 0}


app = restate.app(services=[counter])
