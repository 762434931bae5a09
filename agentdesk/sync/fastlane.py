"""The fast lane: what changed in the last seconds, beside the complete pull.

The complete lane (`sync.engine`: incremental export, cursors, backlog, histories) stays
the source of truth. The fast lane only brings freshness: per account, either the vendor's
own real-time feed (`StreamsLive`, e.g. Chatwoot's ActionCable websocket) or a short poll of
what changed (`PollsRecent`) that spends at most `share` of the vendor's documented rate
limit. Its pages go through the same `Store.apply_page` upserts, so when the complete lane
later brings the same records nothing changes; losing the fast lane costs freshness only.

The lane slows down when the app says nobody is looking (`attention`), and never holds the
store for long: a page is one short transaction, so the agent's own pushes are not delayed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

from agentdesk.connectors.base import (
    AuthError,
    Connector,
    ConnectorError,
    FastLane,
    PermissionDenied,
    PollsRecent,
    StreamsLive,
    Typing,
)
from agentdesk.model import Page
from agentdesk.store import PageStats, Store
from agentdesk.syncapi import SyncEvent
from agentdesk.timeutil import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")
Db = Callable[..., Awaitable[object]]
Attention = Literal["active", "elsewhere", "idle"]

FAST_LANE = "fast_lane"
"""The sync_state resource the fast lane's pages are stored under (its cursor is unused:
the complete lane's cursors are never moved by it)."""
FAST_LANE_ACCOUNT: ContextVar[str | None] = ContextVar("agentdesk_fast_lane", default=None)
"""Set to the account's name in its fast lane's task and every task it starts: a transport
or a log filter can tell the lane's requests from the complete lane's (the bench counts them)."""
DEFAULT_SHARE = 0.2
SLOWER: dict[str, float] = {"active": 1.0, "elsewhere": 3.0, "idle": 10.0}
"""How much longer the lane waits between polls when the agent is on another screen, or
has not touched a key for a while."""
RECONNECT_FIRST, RECONNECT_MAX = 1.0, 30.0


@dataclass(frozen=True, slots=True)
class LaneState:
    """What the footer shows per account: live (websocket), polling every N s, or offline."""

    mode: Literal["live", "polling", "offline", "off"]
    every: float = 0.0


class PollBudget:
    """A token bucket over the lane's share of the vendor's rate limit.

    In any 60 seconds the lane spends at most `share` × the limit: a quarter of that may go
    at once (a poll that had to read several conversations' messages), the rest refills
    evenly. Polls come every `min_interval` seconds while the bucket allows, later when it
    does not, and later still when nobody is looking."""

    def __init__(
        self, lane: FastLane, share: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        per_minute = max(1e-6, share * lane.rate_limit_per_minute)
        self.capacity = per_minute / 4
        self.refill = (per_minute - self.capacity) / 60  # requests a second
        self.min_interval = lane.min_interval
        self._clock = clock
        self._tokens = self.capacity
        self._at = clock()

    def spend(self, requests: int) -> None:
        self._top_up()
        self._tokens -= requests

    def wait(self, attention: Attention = "active") -> float:
        """Seconds until the next poll may start."""
        self._top_up()
        short = max(0.0, (1 - self._tokens) / self.refill)
        return max(self.min_interval, short) * SLOWER[attention]

    def _top_up(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.refill)
        self._at = now


class FastLaneRunner:
    """Runs one fast lane per account until `stop` is set.

    `db(fn, *args)` runs a store call off the loop, serialised with the complete lane's
    (both share one SQLite connection). `on_event` receives `lane`, `typing` and `page`
    events; `catch_up(account)` asks for a complete round (after a websocket reconnect).
    """

    def __init__(
        self,
        store: Store,
        connectors: Mapping[str, Connector],
        db: Db,
        on_event: Callable[[SyncEvent], None],
        *,
        catch_up: Callable[[str], None],
        share: float = DEFAULT_SHARE,
        attention: Callable[[], Attention] = lambda: "active",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.connectors = dict(connectors)
        self._db = db
        self._on_event = on_event
        self._catch_up = catch_up
        self.share = max(0.0, min(1.0, share))
        self._attention = attention
        self._sleep = sleep
        self.requests: dict[str, int] = {}
        """Requests each account's lane has spent (the bench and tests read it)."""

    async def run(self, stop: asyncio.Event) -> None:
        lanes = [
            asyncio.create_task(self._lane(name, connector, stop), name=f"fast lane {name}")
            for name, connector in self.connectors.items()
        ]
        if not lanes:
            return
        try:
            await stop.wait()  # lanes check it between polls; a socket waits in recv()
        finally:
            for task in lanes:
                task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)

    # ------------------------------------------------------------ one account
    async def _lane(self, name: str, connector: Connector, stop: asyncio.Event) -> None:
        FAST_LANE_ACCOUNT.set(name)  # this task's own context: the complete lane's is untouched
        lane: FastLane | None = getattr(type(connector), "fast_lane", None)
        if lane is None or self.share <= 0:
            self._state(name, LaneState("off"))
            return
        try:
            if lane.mode == "websocket" and isinstance(connector, StreamsLive):
                await self._live(name, connector, stop)
            elif lane.mode == "poll" and isinstance(connector, PollsRecent):
                await self._poll(name, connector, lane, stop)
            else:
                self._state(name, LaneState("off"))
        except asyncio.CancelledError:
            raise
        except Exception:  # a broken lane must never take the complete lane with it
            log.exception("the fast lane of %s stopped", name)
            self._state(name, LaneState("off"))

    async def _poll(
        self, name: str, connector: PollsRecent, lane: FastLane, stop: asyncio.Event
    ) -> None:
        since: datetime | None = None
        backoff = RECONNECT_FIRST
        budget = PollBudget(lane, self.share)
        while not stop.is_set():
            try:
                recent = await connector.recent(since)
            except ConnectorError as exc:
                if isinstance(exc, AuthError) and not isinstance(exc, PermissionDenied):
                    self._state(name, LaneState("offline"))
                    return  # the complete lane says why, once
                self._state(name, LaneState("offline"))
                log.info("fast lane of %s: %s", name, exc)
                await self._wait(backoff, stop)
                backoff = min(RECONNECT_MAX, backoff * 2)
                continue
            backoff = RECONNECT_FIRST
            self.requests[name] = self.requests.get(name, 0) + recent.requests
            budget.spend(recent.requests)
            since = recent.since
            await self._apply(name, recent.page)
            interval = budget.wait(self._attention())
            self._state(name, LaneState("polling", interval))
            await self._wait(interval, stop)

    async def _live(self, name: str, connector: StreamsLive, stop: asyncio.Event) -> None:
        backoff = RECONNECT_FIRST
        connected_before = False
        while not stop.is_set():
            stream = connector.live()
            try:
                first = True
                async for item in stream:
                    if first:
                        first = False
                        backoff = RECONNECT_FIRST
                        self._state(name, LaneState("live"))
                        if connected_before:
                            # What happened while the socket was down: the complete lane.
                            self._catch_up(name)
                        connected_before = True
                    if isinstance(item, Typing):
                        self._emit(SyncEvent(
                            "typing", name, f"{item.who} is typing", at=utcnow(),
                            extra={"conversation": item.conversation_external_id,
                                   "who": item.who, "typing": item.typing},
                        ))  # fmt: skip
                    elif isinstance(item, Page):
                        await self._apply(name, item)
            except ConnectorError as exc:
                if isinstance(exc, AuthError) and not isinstance(exc, PermissionDenied):
                    self._state(name, LaneState("offline"))
                    return
                log.info("fast lane of %s dropped: %s", name, exc)
            finally:
                await stream.aclose()
            if stop.is_set():
                return
            self._state(name, LaneState("offline"))
            await self._wait(backoff * random.uniform(0.8, 1.2), stop)
            backoff = min(RECONNECT_MAX, backoff * 2)

    # ------------------------------------------------------------ plumbing
    async def _apply(self, name: str, page: Page) -> None:
        if not (page.conversations or page.contacts or page.deleted_conversation_ids):
            return
        fast = Page(
            FAST_LANE, None, False, conversations=page.conversations, contacts=page.contacts,
            deleted_conversation_ids=page.deleted_conversation_ids,
        )  # fmt: skip
        stats = await self._db(self.store.apply_page, name, fast)
        assert isinstance(stats, PageStats)
        self._emit(SyncEvent(
            "page", name, f"{name}: {stats.conversations} conversations just changed",
            records=stats.conversations, at=utcnow(),
            extra={"resource": FAST_LANE, "conversations": stats.conversations,
                   "messages": stats.messages, "fast": True},
        ))  # fmt: skip

    def _state(self, name: str, state: LaneState) -> None:
        self._emit(SyncEvent(
            "lane", name, state.mode, at=utcnow(),
            extra={"mode": state.mode, "every": round(state.every, 1)},
        ))  # fmt: skip

    def _emit(self, event: SyncEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # a broken listener must not break sync
            log.exception("sync event listener failed")

    async def _wait(self, seconds: float, stop: asyncio.Event) -> None:
        """Sleep `seconds` or until `stop`, whichever comes first."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await self._sleep(min(left, 0.1))
