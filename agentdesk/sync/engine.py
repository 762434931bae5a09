"""A sync round per account: push the outbox, then pull (connector pages → the store).

Push first (`sync.push.PushEngine`): what the agent did reaches the backend, conflicts are
found per field. Pull after push reconciles: the server copy replaces the optimistic overlay
of applied mutations, while the store re-applies overlays of mutations still in flight.

Pull: one transaction per page (page + cursor together).

The engine owns no network code and no SQL: it asks a connector for pages from the stored
cursor and hands each page to `Store.apply_page`, which commits the records and the new
cursor atomically. A crash (or a failure) between two pages therefore resumes at the last
committed cursor, and a replayed page is a harmless upsert.

Fetching and committing overlap: a producer task pulls the next page while the previous
one is being written (in a worker thread, so the event loop keeps serving HTTP). Writes are
serialised by one lock because a `Store` is one SQLite connection.

Every failure becomes a `SyncEvent` with the connector's human sentence and is recorded as
the account's last error; nothing propagates to the caller, and one failing account never
stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TypeVar

from agentdesk.connectors.base import (
    AccountSettings,
    AuthError,
    Connector,
    ConnectorError,
    NotFound,
    PermissionDenied,
)
from agentdesk.connectors.http import RateLimitWait, Unreachable, report_waits_to
from agentdesk.model import Page
from agentdesk.store import PageStats, Store, StoreError
from agentdesk.sync.push import PushEngine, PushResult
from agentdesk.syncapi import SyncEvent, SyncEventKind
from agentdesk.timeutil import utcnow

log = logging.getLogger(__name__)

EventSink = Callable[[SyncEvent], None]
T = TypeVar("T")

BACKLOG = "open_backlog"
"""The sync_state resource whose cursor says the account's old open conversations are in."""
BACKLOG_DONE = "done"
HISTORIES = "customer histories"
"""How a history failure is named in the account's warning."""
HISTORY_CONCURRENCY = 4
"""Contacts whose history is fetched at once: a few keep the backend busy, not buried."""


@dataclass(frozen=True, slots=True)
class AccountSyncResult:
    """What one account's sync did; `error` is the human sentence when `ok` is False."""

    account: str
    ok: bool
    pages: int = 0
    conversations: int = 0
    messages: int = 0
    contacts: int = 0
    agents: int = 0
    teams: int = 0
    deleted: int = 0
    role: str | None = None
    error: str | None = None
    offline: bool = False
    """The backend could not be reached (network, timeouts, 5xx): try again later."""
    seconds: float = 0.0
    sent: int = 0
    """Mutations from the outbox applied on the server this round."""
    conflicts: int = 0
    """Mutations stopped in `conflict` this round (a colleague changed the same field)."""
    failed_mutations: int = 0
    """Mutations the server refused for good this round (reverted; text kept as a draft)."""
    retrying: int = 0
    """Mutations that met a transient failure and wait for their back-off."""
    backlog: int = 0
    """Open conversations older than the cache window fetched this round (first sync)."""
    histories: int = 0
    """Customers whose whole history was fetched this round (a bounded batch)."""
    history_conversations: int = 0
    """Conversations those histories brought (not counted in `conversations`)."""
    warning: str | None = None
    """One sentence naming what could not be read this round (agents, teams, histories)
    while conversations and messages still synced; None when everything was read."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class _Totals:
    __slots__ = (
        "agents", "contacts", "conversations", "deleted", "messages", "pages", "push", "teams",
    )  # fmt: skip

    def __init__(self) -> None:
        self.pages = self.conversations = self.messages = 0
        self.contacts = self.agents = self.teams = self.deleted = 0
        self.push = PushResult()

    def push_counts(self) -> dict[str, int]:
        return {
            "sent": self.push.applied,
            "conflicts": self.push.conflicts,
            "failed_mutations": self.push.failed,
            "retrying": self.push.retrying,
        }

    def add(self, stats: PageStats) -> None:
        self.pages += 1
        self.conversations += stats.conversations
        self.messages += stats.messages
        self.contacts += stats.contacts
        self.agents += stats.agents
        self.teams += stats.teams
        self.deleted += stats.deleted


@dataclass(frozen=True, slots=True)
class _Failed:
    error: Exception


_DONE = object()


def is_offline(exc: BaseException) -> bool:
    """A failure that means "the backend is unreachable right now", not "something is wrong".

    A server that answers with a 5xx is reachable: its error is reported as its own."""
    return isinstance(exc, Unreachable)


class SyncEngine:
    """Pulls every resource of every account into `store`.

    `connectors` maps account names (as in the store's `accounts` table) to built connectors;
    the engine does not close them (whoever built them does).
    """

    def __init__(
        self,
        store: Store,
        connectors: Mapping[str, Connector],
        on_event: EventSink | None = None,
        *,
        prefetch: int = 2,
        db_lock: asyncio.Lock | None = None,
    ) -> None:
        self.store = store
        self.connectors = dict(connectors)
        self._on_event = on_event
        self._prefetch = max(1, prefetch)
        # Shared with the fast lane when it runs beside: both use the one SQLite connection.
        self._db_lock = db_lock or asyncio.Lock()
        self.pusher = PushEngine(store, self.connectors, self._emit_event, db=self._db)

    # ------------------------------------------------------------ plumbing
    def _emit_event(self, event: SyncEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a broken listener must not break sync
            log.exception("sync event listener failed")

    def _emit(
        self, kind: SyncEventKind, account: str | None, message: str = "", **kw: object
    ) -> None:
        if self._on_event is None:
            return
        records = kw.pop("records", 0)
        event = SyncEvent(
            kind=kind,
            account=account,
            message=message,
            records=records if isinstance(records, int) else 0,
            at=utcnow(),
            extra=dict(kw),
        )
        try:
            self._on_event(event)
        except Exception:  # a broken listener must not break sync
            log.exception("sync event listener failed")

    async def _db(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run a store call off the event loop, one at a time (one SQLite connection)."""
        async with self._db_lock:
            return await asyncio.to_thread(fn, *args, **kwargs)

    # ------------------------------------------------------------ public API
    async def sync_all(self) -> list[AccountSyncResult]:
        """Sync every account concurrently; never raises for an account's failure."""
        return list(await asyncio.gather(*(self.sync_account(n) for n in self.connectors)))

    async def push_all(self) -> list[AccountSyncResult]:
        """Only drain the outboxes (a quick round after the agent queued something)."""
        return list(await asyncio.gather(*(self.push_account(n) for n in self.connectors)))

    async def push_account(self, name: str) -> AccountSyncResult:
        """Send the account's due mutations; no pull. Never raises for a failure."""
        started = time.monotonic()
        totals = _Totals()
        if name not in self.connectors:
            message = f"no connector was built for account {name}"
            self._emit("error", name, message)
            return AccountSyncResult(name, ok=False, error=message)
        try:
            await self._push(name, totals)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an event
            return await self._failed(name, exc, totals, None, time.monotonic() - started)
        if totals.push.offline or totals.push.auth_failed:
            return await self._push_failed(name, totals, time.monotonic() - started)
        return AccountSyncResult(
            name, ok=True, seconds=time.monotonic() - started, **totals.push_counts()
        )

    async def sync_account(self, name: str) -> AccountSyncResult:
        started = time.monotonic()
        totals = _Totals()
        role: str | None = None
        connector = self.connectors.get(name)
        if connector is None:
            message = f"no connector was built for account {name}"
            self._emit("error", name, message)
            return AccountSyncResult(name, ok=False, error=message)
        self._emit("started", name, f"syncing {name}")
        missing: dict[str, str] = {}  # auxiliary resource -> why it could not be read
        try:
            await self._ensure_account(name, connector)
            me = await connector.whoami()
            role = me.role
            await self._db(
                self.store.record_sync_info,
                name,
                role=me.role,
                user_external_id=me.external_id,
                capabilities=type(connector).capabilities.as_flags(),
            )
            # Push before pull: the pull then brings the server copy of what was just sent.
            await self._push(name, totals)
            if totals.push.offline or totals.push.auth_failed:
                return await self._push_failed(name, totals, time.monotonic() - started, role)
            *auxiliary, conversations = type(connector).resources
            for resource in auxiliary:
                if (reason := await self._pull_auxiliary(name, connector, resource, totals)):
                    missing[resource] = reason
            await self._pull(name, connector, conversations, totals)
            policy = _policy(connector)
            backlog = 0
            if policy.cache_open:
                backlog = await self._open_backlog(name, connector)
            await self._db(self.store.record_sync_info, name, synced_at=utcnow(), clear_error=True)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an event
            return await self._failed(name, exc, totals, role, time.monotonic() - started)
        # Histories come last, bounded per round, and never fail it: the inbox is current
        # already, and what is not fetched now is fetched next round.
        histories, history_conversations = (
            await self._histories(name, connector, policy.history_batch, missing)
            if policy.cache_history
            else (0, 0)
        )
        warning = _missing_sentence(name, missing)
        await self._db(self.store.record_sync_info, name, warning=warning or "")
        if warning:
            self._emit("warning", name, warning, missing=sorted(missing))
        result = AccountSyncResult(
            account=name,
            ok=True,
            pages=totals.pages,
            conversations=totals.conversations,
            messages=totals.messages,
            contacts=totals.contacts,
            agents=totals.agents,
            teams=totals.teams,
            deleted=totals.deleted,
            role=role,
            seconds=time.monotonic() - started,
            backlog=backlog,
            histories=histories,
            history_conversations=history_conversations,
            warning=warning,
            **totals.push_counts(),
        )
        pushed = totals.push
        sent = (
            f"; sent {pushed.applied}, conflicts {pushed.conflicts}, failed {pushed.failed}"
            if pushed.applied or pushed.conflicts or pushed.failed or pushed.retrying
            else ""
        )
        self._emit(
            "account_done",
            name,
            f"{name}: up to date ({totals.conversations} conversations, "
            f"{totals.messages} messages changed{sent})",
            records=totals.conversations,
            result=result.as_dict(),
        )
        return result

    # ------------------------------------------------------------ steps
    async def _push(self, name: str, totals: _Totals) -> None:
        totals.push = await self.pusher.push_account(name)

    async def _push_failed(
        self, name: str, totals: _Totals, seconds: float, role: str | None = None
    ) -> AccountSyncResult:
        """The backend went away (or refused the token) while sending: stop the round."""
        pushed = totals.push
        message = pushed.errors[0] if pushed.errors else f"{name}: could not send changes"
        await self._db(self.store.record_sync_info, name, error=message)
        offline = pushed.offline and not pushed.auth_failed
        self._emit(
            "offline" if offline else "error",
            name,
            message,
            offline=offline,
            **totals.push_counts(),
        )
        return AccountSyncResult(
            name,
            ok=False,
            role=role,
            error=message,
            offline=offline,
            seconds=seconds,
            **totals.push_counts(),
        )

    async def _ensure_account(self, name: str, connector: Connector) -> None:
        """Records reference the account row; make sure it exists (the config is authoritative
        and normally mirrored already — this covers connectors built directly, e.g. in tests)."""
        settings = getattr(connector, "settings", None)
        if not isinstance(settings, AccountSettings):
            return

        def ensure() -> None:
            if not self.store.has_account(name):
                self.store.upsert_account(
                    name, settings.connector, settings.base_url, settings.user
                )

        await self._db(ensure)

    async def _pull(self, name: str, connector: Connector, resource: str, totals: _Totals) -> None:
        cursor = await self._db(self.store.get_cursor, name, resource)
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=self._prefetch)

        def on_wait(wait: RateLimitWait) -> None:
            if wait.reason == "429" or (wait.reason == "budget" and wait.seconds >= 1):
                why = "asked to slow down" if wait.reason == "429" else "near its rate limit"
                self._emit(
                    "page",
                    name,
                    f"{name}: the server {why}; waiting {wait.seconds:.0f} s",
                    rate_limit_wait=wait.seconds,
                    reason=wait.reason,
                    resource=resource,
                )

        async def produce() -> None:
            try:
                async for page in connector.pull(resource, cursor):
                    await queue.put(page)
            except Exception as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
                await queue.put(_Failed(exc))
            else:
                await queue.put(_DONE)

        with report_waits_to(on_wait):  # the producer task inherits this context
            producer = asyncio.create_task(produce(), name=f"pull {name}/{resource}")
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                if not isinstance(item, Page):
                    raise TypeError(f"connector yielded {type(item).__name__}, not a Page")
                page = item if item.resource == resource else _with_resource(item, resource)
                stats = await self._db(self.store.apply_page, name, page)
                totals.add(stats)
                self._emit(
                    "page",
                    name,
                    f"{name}: {resource} +{_count(stats)}",
                    records=_count(stats),
                    resource=resource,
                    conversations=stats.conversations,
                    messages=stats.messages,
                    more=page.more,
                )
        finally:
            if not producer.done():
                producer.cancel()
            # Its failure, if any, was already delivered through the queue.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer

    async def _pull_auxiliary(
        self, name: str, connector: Connector, resource: str, totals: _Totals
    ) -> str | None:
        """Pull a resource the inbox can do without (agents, teams, contacts); why it could
        not be read, or None. Unreachable backends and refused tokens still stop the round:
        the conversations would meet them too."""
        try:
            await self._pull(name, connector, resource, totals)
        except Exception as exc:  # noqa: BLE001 - one resource must not fail the account
            if is_offline(exc) or (isinstance(exc, ConnectorError) and _stops_batch(exc)):
                raise
            if isinstance(exc, ConnectorError):
                log.warning("%s: could not read %s: %s", name, resource, exc)
                return str(exc)
            log.error("%s: reading %s failed unexpectedly", name, resource, exc_info=exc)
            return f"an unexpected {type(exc).__name__}, details in the log file"
        return None

    async def _open_backlog(self, name: str, connector: Connector) -> int:
        """Once per account: every open conversation older than the cache window.

        Pages commit as they come (no cursor: an interrupted backlog starts over, harmless
        upserts); the `done` marker commits after the last. Later rounds skip it: the
        incremental pull sees any change to those conversations like to any other."""
        if await self._db(self.store.get_cursor, name, BACKLOG) == BACKLOG_DONE:
            return 0
        fetch = getattr(connector, "open_backlog", None)
        if fetch is None:  # a plugin without it: its first pull is all it caches
            return 0
        count = 0

        async def commit(page: Page, last: bool) -> None:
            nonlocal count
            cursor = BACKLOG_DONE if last else None
            stats = await self._db(
                self.store.apply_page,
                name,
                replace(page, resource=BACKLOG, cursor=cursor, more=not last),
            )
            count += stats.conversations
            self._emit(
                "page",
                name,
                f"{name}: older open conversations +{stats.conversations}",
                records=stats.conversations,
                resource=BACKLOG,
                conversations=stats.conversations,
                messages=stats.messages,
                more=not last,
            )

        # The last page and the `done` marker commit together.
        async for page, last in _with_last(fetch(), Page(BACKLOG, None, more=False)):
            await commit(page, last)
        return count

    async def _histories(
        self, name: str, connector: Connector, batch: int, missing: dict[str, str]
    ) -> tuple[int, int]:
        """Fetch the whole history of up to `batch` customers not fetched yet.

        Each contact's last page and its "done" mark commit together. A contact that is gone
        (404) or refused for good is marked done so it never blocks the others; a transient
        failure (offline, 429 after retries) leaves it due for the next round and stops
        starting new ones. Returns (contacts done, conversations fetched)."""
        fetch = getattr(connector, "contact_history", None)
        if fetch is None or batch <= 0:
            return 0, 0
        try:
            due = await self._db(self.store.history_due, name, batch)
        except Exception:  # a history batch must never fail the round
            log.exception("could not read the due histories of %s", name)
            return 0, 0
        gate = asyncio.Semaphore(HISTORY_CONCURRENCY)
        stop = asyncio.Event()
        done = 0
        conversations = 0

        async def one(contact: str) -> None:
            nonlocal done, conversations
            async with gate:
                if stop.is_set():
                    return
                empty = Page("history", None, more=False)
                last = empty
                try:
                    async for page, is_last in _with_last(fetch(contact), empty):
                        if is_last:  # the last page carries "done", below
                            last = page
                            continue
                        try:
                            stats = await self._db(
                                self.store.apply_history_page, name, contact, page, done=False
                            )
                        except Exception:  # e.g. disk full: not done, retried next round
                            log.exception("could not store the history of %s/%s", name, contact)
                            stop.set()
                            return
                        conversations += stats.conversations
                except NotFound:
                    last = empty  # deleted meanwhile: nothing to fetch, ever
                except ConnectorError as exc:
                    missing.setdefault(HISTORIES, str(exc))
                    if exc.transient or _stops_batch(exc):
                        stop.set()
                        log.info("history of %s/%s deferred: %s", name, contact, exc)
                        return
                    log.warning("history of %s/%s skipped: %s", name, contact, exc)
                    last = empty
                except Exception as exc:  # noqa: BLE001 - one contact must not stop the others
                    log.exception("history of %s/%s failed unexpectedly", name, contact)
                    missing.setdefault(
                        HISTORIES, f"an unexpected {type(exc).__name__}, details in the log file"
                    )
                    last = empty
                try:
                    stats = await self._db(
                        self.store.apply_history_page, name, contact, last, done=True
                    )
                except Exception:  # e.g. disk full: retried next round
                    log.exception("could not store the history of %s/%s", name, contact)
                    stop.set()
                    return
                conversations += stats.conversations
                done += 1

        await asyncio.gather(*(one(contact) for contact in due))
        if done:
            self._emit(
                "page",
                name,
                f"{name}: history of {done} customers (+{conversations} conversations)",
                records=conversations,
                resource="history",
                conversations=conversations,
                more=False,
            )
        return done, conversations

    async def _failed(
        self, name: str, exc: Exception, totals: _Totals, role: str | None, seconds: float
    ) -> AccountSyncResult:
        offline = is_offline(exc)
        if isinstance(exc, (ConnectorError, StoreError)):
            message = str(exc)
            log.warning("sync of %s failed: %s", name, message)
        else:
            log.error("sync of %s failed unexpectedly", name, exc_info=exc)
            message = (
                f"syncing {name} failed unexpectedly ({type(exc).__name__}); the details are "
                "in the log file — please report it"
            )
        try:
            await self._db(self.store.record_sync_info, name, error=message)
        except Exception:
            log.exception("could not record the sync error of %s", name)
        self._emit("offline" if offline else "error", name, message, offline=offline)
        return AccountSyncResult(
            account=name,
            ok=False,
            pages=totals.pages,
            conversations=totals.conversations,
            messages=totals.messages,
            contacts=totals.contacts,
            agents=totals.agents,
            teams=totals.teams,
            deleted=totals.deleted,
            role=role,
            error=message,
            offline=offline,
            seconds=seconds,
            **totals.push_counts(),
        )


async def _with_last(
    pages: AsyncIterator[Page], empty: Page
) -> AsyncIterator[tuple[Page, bool]]:
    """Each page and whether it is the last, read one page ahead so the last page and a
    `done` mark can commit together; `empty` stands as the last when there are no pages."""
    held: Page | None = None
    async for page in pages:
        if held is not None:
            yield held, False
        held = page
    yield held or empty, True


def _policy(connector: Connector) -> AccountSettings:
    """The account's cache policy; the defaults for a connector built without settings."""
    settings = getattr(connector, "settings", None)
    if isinstance(settings, AccountSettings):
        return settings
    return AccountSettings(name="", connector="", base_url="", user="")


def _missing_sentence(account: str, missing: Mapping[str, str]) -> str | None:
    """One sentence for everything an account's round could not read, or None."""
    if not missing:
        return None
    parts = "; ".join(f"{what}: {why.rstrip('.')}" for what, why in sorted(missing.items()))
    return f"{account}: conversations synced, but some details could not be read ({parts})."


def _stops_batch(exc: ConnectorError) -> bool:
    """A failure that every contact would meet (the token was refused): stop, retry later."""
    return isinstance(exc, AuthError) and not isinstance(exc, PermissionDenied)


def _count(stats: PageStats) -> int:
    return stats.conversations + stats.contacts + stats.agents + stats.teams + stats.deleted


def _with_resource(page: Page, resource: str) -> Page:
    """The cursor is stored under the resource that was pulled, whatever the page says."""
    return Page(
        resource,
        cursor=page.cursor,
        more=page.more,
        conversations=page.conversations,
        contacts=page.contacts,
        agents=page.agents,
        teams=page.teams,
        deleted_conversation_ids=page.deleted_conversation_ids,
    )
