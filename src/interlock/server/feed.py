"""The change feed fanned out to a server process's live subscribers.

One follower thread per process reads the feed (``Interlock.changes`` / ``wait_for_changes``: NOTIFY on
PostgreSQL, polling on SQLite) and hands each committed change, with the instance read once for it, to
every subscriber that wants it. A subscriber never reads the database while it is live; it reads only
to catch up from a position it resumes at (``after``), in pages, up to where the follower stood when it
subscribed, then takes the follower's changes from its queue: no gap, no duplicate.

Each subscriber has a bounded queue. One that falls behind by a full queue is dropped with a reason
(:class:`Dropped`) instead of letting the server's memory grow; it may resubscribe from the last
position it received. The follower starts with the first subscriber and stops with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from interlock.app import Interlock
from interlock.errors import InterlockError
from interlock.runtime.model import Instance
from interlock.storage.store import Change

log = logging.getLogger("interlock.server.feed")

QUEUE_SIZE = 1000  # changes a subscriber may be behind before it is dropped
MAX_SUBSCRIBERS = 1000  # per server process
MAX_PER_OWNER = 100  # per caller, of one process: one read key cannot take every subscriber's place
PAGE = 500  # changes read at once, by the follower and by a subscriber catching up
CATCH_UP_PAGES = 20  # pages one catch-up read scans at most before it answers (see Feed.read_page)
POLL = 1.0  # seconds the follower waits for a change before it looks again (SQLite's pace; PostgreSQL wakes)
BACKOFF = 1.0  # seconds the follower waits after the store failed


@dataclass(frozen=True, slots=True)
class Update:
    """A committed change and its instance, read once after the change (it may be at a later step).

    ``encoded`` and ``readable`` are memos its subscribers share (server/live.py): each view of the update
    (admin or not) is built and encoded once, not once per subscriber, and the read rule decides once per
    caller (keyed by the caller as rules see it, as JSON)."""

    change: Change
    instance: Instance | None
    encoded: dict[bool, bytes] = field(default_factory=dict, compare=False, repr=False)
    readable: dict[bytes, bool] = field(default_factory=dict, compare=False, repr=False)


class Dropped(Exception):
    """The subscription ended: ``reason`` says why (too slow, too many subscribers, server closing)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Subscription:
    """One subscriber's view of the feed: iterate with :meth:`next`; ``position`` is the last delivered."""

    def __init__(self, feed: Feed, want: Callable[[Change], bool], *, after: int, head: int,
                 size: int, owner: str | None = None) -> None:
        self._feed = feed
        self.want = want
        self.owner = owner  # who subscribed, counted against Feed.max_per_owner (None: not counted)
        self.position = after
        self._head = head  # the follower's position when this subscribed: the catch-up ends there
        self._scanned = after  # how far the catch-up has read
        self._backlog: list[Update] = []
        self._queue: asyncio.Queue[Update] = asyncio.Queue(size)
        self.dropped: str | None = None

    def offer(self, update: Update) -> None:
        """Called by the feed, on the event loop, for each live change this subscriber wants."""
        if self.dropped is not None:
            return
        try:
            self._queue.put_nowait(update)
        except asyncio.QueueFull:
            self.drop(f"subscriber.too_slow: more than {self._queue.maxsize} changes waited to be sent; "
                      f"resubscribe with after={self.position} to resume")

    def drop(self, reason: str) -> None:
        self.dropped = reason
        self._feed.unsubscribe(self)
        with contextlib.suppress(asyncio.QueueFull):  # wake a waiting next(); a full queue is awake
            self._queue.put_nowait(_STOP)

    async def next(self) -> Update:
        """The next change this subscriber wants, in position order; :class:`Dropped` once dropped."""
        while True:
            if self.dropped is not None:
                raise Dropped(self.dropped)
            if not self._backlog and self._scanned < self._head:
                self._backlog, self._scanned = await asyncio.to_thread(
                    self._feed.read_page, self._scanned, self._head, self.want)
                continue
            update = self._backlog.pop(0) if self._backlog else await self._queue.get()
            if update is _STOP:  # dropped: raised above
                continue
            if update.change.position <= self.position:
                continue  # read while catching up already
            self.position = update.change.position
            return update

    def close(self) -> None:
        self._feed.unsubscribe(self)


_STOP = Update(Change(0, "", "", 0, "", 0.0), None)


class Feed:
    """The process's one follower of the change feed, and its subscribers."""

    def __init__(self, interlock: Interlock, *, queue_size: int = QUEUE_SIZE,
                 max_subscribers: int = MAX_SUBSCRIBERS, max_per_owner: int = MAX_PER_OWNER,
                 poll: float = POLL, page: int = PAGE, catch_up_pages: int = CATCH_UP_PAGES) -> None:
        self.interlock = interlock
        self.page = page
        self.catch_up_pages = catch_up_pages
        self.queue_size = queue_size
        self.max_subscribers = max_subscribers
        self.max_per_owner = max_per_owner
        self._owners: dict[str, int] = {}  # subscribers by owner
        self.poll = poll
        self.position = 0  # the last change handed to subscribers (on the event loop)
        self._subscribers: set[Subscription] = set()
        self._start_lock = asyncio.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def subscribe(self, want: Callable[[Change], bool], *, after: int | None,
                        owner: str | None = None) -> Subscription:
        """Follow the changes ``want`` accepts, from after position ``after`` (None: from now on), for
        ``owner`` (a caller; None: not counted). :class:`Dropped` if the process has ``max_subscribers``
        already, or ``owner`` has ``max_per_owner`` of them."""
        # started first: starting awaits (the feed's position, read in a thread), and subscribers that
        # arrive meanwhile were all let in by checks made before it
        await self._start()
        if len(self._subscribers) >= self.max_subscribers:
            raise Dropped(f"subscribers.full: this server process serves {self.max_subscribers} "
                          "subscribers at most; retry later or on another process")
        if owner is not None and self._owners.get(owner, 0) >= self.max_per_owner:
            raise Dropped(f"subscribers.caller_full: this server process serves {self.max_per_owner} "
                          f"subscribers of one caller at most, and {owner!r} has them; close one first")
        head = self.position  # on the event loop: no change is handed out between this and the add
        sub = Subscription(self, want, after=head if after is None else after, head=head,
                           size=self.queue_size, owner=owner)
        self._subscribers.add(sub)
        if owner is not None:
            self._owners[owner] = self._owners.get(owner, 0) + 1
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub not in self._subscribers:  # dropped, then closed: counted off once
            return
        self._subscribers.discard(sub)
        if sub.owner is not None:
            left = self._owners.pop(sub.owner) - 1
            if left:
                self._owners[sub.owner] = left

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def _start(self) -> None:
        async with self._start_lock:
            if self._thread is not None:
                return
            self._loop = asyncio.get_running_loop()
            self.position = await asyncio.to_thread(self.interlock.last_position)
            self._thread = threading.Thread(target=self._follow, args=(self.position,),
                                            name="interlock-feed", daemon=True)
            self._thread.start()

    async def close(self) -> None:
        """Stop the follower and drop every subscriber (the server is closing); on the event loop."""
        self._stop.set()
        for sub in list(self._subscribers):
            sub.drop("server.closing: the server is shutting down; resubscribe to resume")
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, self.poll + 5.0)

    # -- the follower thread ------------------------------------------------------------------------

    def _follow(self, position: int) -> None:
        while not self._stop.is_set():
            try:
                page = self.interlock.changes(after=position, limit=self.page)
                if not page.items:
                    self.interlock.wait_for_changes(after=position, timeout=self.poll)
                    continue
                # nobody to tell (the last subscriber left): follow the positions only
                updates = self._with_instances(page.items) if self._subscribers else [
                    Update(c, None) for c in page.items]
            except Exception as exc:  # the store is unreachable: carry on from the same position
                log.warning("the change feed follower could not read the store: %s", exc)
                self._stop.wait(BACKOFF)
                continue
            position = page.next
            loop = self._loop
            if loop is None or loop.is_closed():
                return
            try:
                loop.call_soon_threadsafe(self._publish, updates)
            except RuntimeError:  # the loop closed meanwhile
                return

    def _publish(self, updates: list[Update]) -> None:
        """On the event loop: hand each change to the subscribers that want it, in position order."""
        for update in updates:
            self.position = update.change.position
            for sub in list(self._subscribers):
                if sub.want(update.change):
                    sub.offer(update)

    def _with_instances(self, changes: tuple[Change, ...] | list[Change]) -> list[Update]:
        """Each change with its instance, read once per instance of the page."""
        read: dict[tuple[str, str], Instance | None] = {}
        for change in changes:
            key = (change.machine, change.id)
            if key not in read:
                try:
                    read[key] = self.interlock.get(*key)
                except InterlockError:
                    read[key] = None
        return [Update(c, read[(c.machine, c.id)]) for c in changes]

    def read_page(self, after: int, head: int,
                  want: Callable[[Change], bool]) -> tuple[list[Update], int]:
        """A subscriber catching up: ``(the wanted changes after after, up to head; how far it read)``.
        Pages with nothing wanted are read on, up to ``catch_up_pages`` of them: a subscriber to a quiet
        instance resuming from 0 on a long feed reads it all, and one read to the head held a worker thread
        for as long (seconds for millions of changes), scanning on after the client had left (a thread is
        not cancelled). Its next read carries on, once the subscriber is still there."""
        for _ in range(self.catch_up_pages):
            if after >= head:
                break
            page = self.interlock.changes(after=after, limit=self.page)
            if not page.items:
                break
            wanted = [c for c in page.items if c.position <= head and want(c)]
            after = min(page.next, head)
            if wanted:
                return self._with_instances(wanted), after
        else:
            return [], after  # not at the head yet: the subscriber asks again
        return [], head
