"""Sync in the background: what the TUI runs in a thread worker and `agentdesk sync` calls.

A round per account is push (outbox → backend) then pull (backend → store).

`BackgroundSync.run` owns a thread: it opens its own `Store` (SQLite connections stay in the
thread that made them), builds connectors through the registry, and runs an asyncio loop
that syncs every account at once, then again every `interval` seconds until `stop` is set.
When a backend cannot be reached it reports "offline" and retries sooner (backing off up to
the interval), and says so when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from agentdesk.connectors import registry
from agentdesk.connectors.base import AccountSettings, Connector, ConnectorError
from agentdesk.store import Store, StoreError
from agentdesk.store.outbox import LIVE_STATES
from agentdesk.sync.engine import AccountSyncResult, EventSink, SyncEngine
from agentdesk.sync.fastlane import DEFAULT_SHARE, Attention, FastLaneRunner
from agentdesk.syncapi import SyncEvent
from agentdesk.timeutil import utcnow

log = logging.getLogger(__name__)

AccountPair = tuple[AccountSettings, str]
AccountSource = Sequence[AccountPair] | Callable[[], Sequence[AccountPair]]
ConnectorFactory = Callable[[AccountSettings, str], Connector]


def build_connector(settings: AccountSettings, token: str) -> Connector:
    """The registry's connector for `settings.connector`, built with the token."""
    return registry.get(settings.connector)(settings, token)


def _safe_emit(on_event: EventSink | None, event: SyncEvent) -> None:
    if on_event is None:
        return
    try:
        on_event(event)
    except Exception:
        log.exception("sync event listener failed")


class _Session:
    """Connectors for one set of accounts, plus the accounts that could not be built."""

    def __init__(
        self,
        store: Store,
        pairs: Sequence[AccountPair],
        factory: ConnectorFactory,
        on_event: EventSink | None,
    ) -> None:
        self.connectors: dict[str, Connector] = {}
        self.failures: list[AccountSyncResult] = []
        for settings, token in pairs:
            # Records reference the account row: mirror it (the config stays authoritative).
            store.upsert_account(
                settings.name, settings.connector, settings.base_url, settings.user
            )
            try:
                self.connectors[settings.name] = factory(settings, token)
            except ConnectorError as exc:
                message = str(exc)
            except Exception as exc:  # a plugin's constructor must not take sync down
                log.error("building connector for %s failed", settings.name, exc_info=exc)
                message = (
                    f"the {settings.connector} connector could not start for account "
                    f"{settings.name} ({type(exc).__name__}); details are in the log file"
                )
            else:
                continue
            store.record_sync_info(settings.name, error=message)
            self.failures.append(AccountSyncResult(settings.name, ok=False, error=message))
            _safe_emit(on_event, SyncEvent("error", settings.name, message, at=utcnow()))

    async def aclose(self) -> None:
        for name, connector in self.connectors.items():
            try:
                await connector.aclose()
            except Exception:
                log.exception("closing the connector of %s failed", name)


async def sync_once(
    store_path: Path | str,
    accounts: Sequence[AccountPair],
    on_event: EventSink | None = None,
    *,
    connector_factory: ConnectorFactory = build_connector,
) -> dict[str, object]:
    """One sync of every account (for `agentdesk sync --once`); a JSON-able summary.

    `{"ok": bool, "accounts": [AccountSyncResult.as_dict(), ...]}`; never raises for an
    account's failure (a store that cannot be opened is reported the same way).
    """
    try:
        store = Store.open(store_path)
    except StoreError as exc:
        _safe_emit(on_event, SyncEvent("error", None, str(exc), at=utcnow()))
        return {
            "ok": False,
            "accounts": [
                AccountSyncResult(s.name, ok=False, error=str(exc)).as_dict() for s, _ in accounts
            ],
        }
    session = _Session(store, accounts, connector_factory, on_event)
    try:
        engine = SyncEngine(store, session.connectors, on_event)
        results = session.failures + await engine.sync_all()
    finally:
        await session.aclose()
        store.close()
    return {"ok": all(r.ok for r in results), "accounts": [r.as_dict() for r in results]}


class BackgroundSync:
    """A `agentdesk.syncapi.SyncRunner`: syncs all accounts now, then every `interval` s.

    A full round per account is push-then-pull. Between full rounds the runner also drains
    the outbox promptly: at once when the app calls `nudge()` (the agent queued something),
    and whenever a poll every `outbox_poll` s finds a due mutation (queued by `agentdesk do`
    from another process, or whose back-off ran out). Those quick rounds only push.

    `accounts` is a list of `(AccountSettings, token)` or a callable returning one (called
    at each round, so accounts added meanwhile are picked up). `connector_factory` defaults
    to the registry.
    """

    def __init__(
        self,
        store_path: Path | str,
        accounts: AccountSource,
        *,
        interval: float = 30.0,
        offline_retry: float = 2.0,
        outbox_poll: float = 3.0,
        connector_factory: ConnectorFactory = build_connector,
        stop_poll: float = 0.05,
        fast_lane_share: float = DEFAULT_SHARE,
    ) -> None:
        self.store_path = Path(store_path)
        self._accounts = accounts
        self.interval = max(0.0, interval)
        self.offline_retry = offline_retry
        self.outbox_poll = max(stop_poll, outbox_poll)
        self._factory = connector_factory
        self._stop_poll = stop_poll
        self._nudged = threading.Event()
        self._catch_up = threading.Event()
        self.fast_lane_share = fast_lane_share
        self.attention: Attention = "active"
        self.fast_lane: FastLaneRunner | None = None
        self.rounds = 0
        self.push_rounds = 0

    def __repr__(self) -> str:  # the account list carries tokens: never show it
        return f"BackgroundSync(store={str(self.store_path)!r}, interval={self.interval})"

    def _pairs(self) -> Sequence[AccountPair]:
        return self._accounts() if callable(self._accounts) else self._accounts

    # ------------------------------------------------------------ SyncRunner
    def nudge(self) -> None:
        """Send queued mutations now instead of at the next poll (thread-safe, cheap)."""
        self._nudged.set()

    def set_attention(self, attention: str) -> None:
        if attention in ("active", "elsewhere", "idle"):
            self.attention = attention  # type: ignore[assignment]

    def run(self, on_event: Callable[[SyncEvent], None], stop: threading.Event) -> None:
        """Blocking; call from a worker thread. Returns once `stop` is set (promptly)."""
        try:
            asyncio.run(self.run_async(on_event, stop))
        except Exception as exc:  # the last line of defence: an event, never a traceback
            log.error("background sync crashed", exc_info=exc)
            _safe_emit(
                on_event,
                SyncEvent(
                    "error",
                    None,
                    f"background sync stopped after an unexpected {type(exc).__name__}; "
                    "details are in the log file — restart agentdesk to resume syncing",
                    at=utcnow(),
                ),
            )

    async def run_async(self, on_event: Callable[[SyncEvent], None], stop: threading.Event) -> None:
        try:
            store = Store.open(self.store_path)
        except StoreError as exc:
            _safe_emit(on_event, SyncEvent("error", None, str(exc), at=utcnow()))
            return
        session: _Session | None = None
        lane: asyncio.Task[None] | None = None
        lane_stop = asyncio.Event()
        db_lock = asyncio.Lock()

        async def db(fn: Callable[..., object], *args: object) -> object:
            async with db_lock:
                return await asyncio.to_thread(fn, *args)

        built_from: list[tuple[AccountSettings, int]] = []
        offline_delay = self.offline_retry
        was_offline = False
        full = True  # the first round is a full one
        next_full = 0.0
        try:
            while not stop.is_set():
                pairs = list(self._pairs())
                fingerprint = [(s, hash(t)) for s, t in pairs]
                if session is None or fingerprint != built_from:
                    await _stop_lane(lane, lane_stop)
                    if session is not None:
                        await session.aclose()
                    session = _Session(store, pairs, self._factory, on_event)
                    built_from = fingerprint
                    lane_stop = asyncio.Event()
                    self.fast_lane = FastLaneRunner(
                        store, session.connectors, db, lambda e: _safe_emit(on_event, e),
                        catch_up=lambda _name: self._catch_up.set(),
                        share=self.fast_lane_share, attention=lambda: self.attention,
                    )  # fmt: skip
                    lane = asyncio.create_task(self.fast_lane.run(lane_stop))
                engine = SyncEngine(store, session.connectors, on_event, db_lock=db_lock)
                self._nudged.clear()  # whatever was queued until now is sent by this round
                work = engine.sync_all() if full else engine.push_all()
                results = await self._until_stopped(work, stop)
                if results is None:
                    return
                if full:
                    self.rounds += 1
                else:
                    self.push_rounds += 1
                offline = any(r.offline for r in results)
                if offline:
                    delay = min(offline_delay, self.interval) if self.interval else offline_delay
                    offline_delay = min(offline_delay * 2, max(self.interval, self.offline_retry))
                    message = f"offline; retrying in {delay:.0f} s"
                elif full or was_offline:
                    delay = self.interval
                    offline_delay = self.offline_retry
                    message = "back online; up to date" if was_offline else "up to date"
                else:
                    delay = max(0.0, next_full - time.monotonic())
                    message = "changes sent"
                if full or offline or was_offline:
                    next_full = time.monotonic() + delay
                was_offline = offline
                counts = {
                    key: sum(getattr(r, key) for r in results)
                    for key in ("sent", "conflicts", "failed_mutations", "retrying")
                }
                pending = await asyncio.to_thread(_pending_count, store)
                _safe_emit(
                    on_event,
                    SyncEvent(
                        "idle",  # the round is over; `online` says how it went
                        None,
                        message,
                        records=sum(r.conversations for r in results),
                        at=utcnow(),
                        extra={
                            "online": not offline,
                            "next_in": delay,
                            "round": self.rounds,
                            "full": full,
                            "pending": pending,
                            **counts,
                        },
                    ),
                )
                reason = await self._wait_for_work(next_full, stop, store, offline)
                if reason == "stop":
                    return
                full = reason == "timer"
        finally:
            await _stop_lane(lane, lane_stop)
            if session is not None:
                await session.aclose()
            store.close()

    async def _until_stopped(
        self, work: Awaitable[list[AccountSyncResult]], stop: threading.Event
    ) -> list[AccountSyncResult] | None:
        """Run a round, cancelling it as soon as `stop` is set (None when stopped)."""
        task = asyncio.ensure_future(work)
        while not task.done():
            if stop.is_set():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                return None
            await asyncio.wait({task}, timeout=self._stop_poll)
        return task.result()

    async def _wait_for_work(
        self, deadline: float, stop: threading.Event, store: Store, offline: bool
    ) -> str:
        """Until the next full round ("timer"), a nudge ("nudge"), a due mutation in the
        outbox ("outbox") or `stop` ("stop"). Offline, only the timer's back-off counts:
        a nudge then would only fail again, and the mutation stays safely queued."""
        next_poll = time.monotonic() + self.outbox_poll
        while not stop.is_set():
            now = time.monotonic()
            if now >= deadline or self._catch_up.is_set():
                self._catch_up.clear()
                return "timer"
            if not offline:
                if self._nudged.is_set():
                    return "nudge"
                if now >= next_poll:
                    next_poll = now + self.outbox_poll
                    if await asyncio.to_thread(_has_due, store):
                        return "outbox"
            await asyncio.sleep(min(deadline - now, self._stop_poll))
        return "stop"


async def _stop_lane(lane: asyncio.Task[None] | None, stop: asyncio.Event) -> None:
    """End a fast lane (it finishes its current page first)."""
    if lane is None:
        return
    stop.set()
    try:
        await asyncio.wait_for(lane, timeout=5)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        lane.cancel()
    except Exception:  # its failure was logged where it happened
        log.debug("fast lane ended with an error", exc_info=True)


def _has_due(store: Store) -> bool:
    """A live mutation whose back-off (if any) has run out."""
    now = utcnow()
    return any(
        m.next_attempt_at is None or m.next_attempt_at <= now
        for m in store.mutations(states=LIVE_STATES)
    )


def _pending_count(store: Store) -> int:
    return len(store.mutations(states=LIVE_STATES))
