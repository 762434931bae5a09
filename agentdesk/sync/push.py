"""Push: drain the outbox to the backend, exactly once, never overwriting a colleague.

Per conversation, mutations go in the order they were made; conversations go in parallel and
one failing conversation never blocks another. Before each write the server's current state
is read and the mutation's field compared with its base: if a colleague changed *that field*
meanwhile, the mutation stops in `conflict` for the agent to decide. Transient failures back
off and retry; permanent ones fail the mutation, revert it, and keep the agent's text.
A reply whose response was lost is looked for (`find_sent`) before it is sent again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from agentdesk.connectors.base import (
    AuthError,
    ConflictError,
    Connector,
    ConnectorError,
    NotFound,
    PermissionDenied,
    RateLimited,
    SetsPresence,
)
from agentdesk.connectors.http import Unreachable
from agentdesk.model import MutationRequest, RemoteState
from agentdesk.store import Mutation, Store
from agentdesk.store.outbox import LIVE_STATES
from agentdesk.syncapi import SyncEvent
from agentdesk.timeutil import from_iso, utcnow

log = logging.getLogger(__name__)

MAX_STALE_RETRIES = 3
MAX_BACKOFF_SECONDS = 300
"""The longest a queued change waits before its next attempt, whatever a server asks."""
SERVER_AUTHORITATIVE = {"status": "status", "priority": "priority"}
T = TypeVar("T")
DbCall = Callable[..., Awaitable[Any]]
"""Runs a store method: `await db(store.mark_applied, id)`. The sync engine passes its own,
which serialises store access with the pull (one SQLite connection, several tasks)."""


async def _direct(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    return fn(*args, **kwargs)


def network_words(exc: BaseException) -> str:
    """A network failure below the HTTP client (a timeout, a socket error) in an agent's words."""
    if isinstance(exc, TimeoutError):
        return "network error: no answer in time"
    if isinstance(exc, ConnectionError):
        return "network error: the connection was refused or broken"
    return "network error: the network could not be used"


@dataclass(slots=True)
class PushResult:
    applied: int = 0
    conflicts: int = 0
    failed: int = 0
    retrying: int = 0
    errors: list[str] = field(default_factory=list)
    offline: bool = False
    """A send failed because the backend could not be reached (network, timeout, 5xx)."""
    auth_failed: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "sent": self.applied,
            "conflicts": self.conflicts,
            "failed": self.failed,
            "retrying": self.retrying,
        }


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _request(mutation: Mutation) -> MutationRequest:
    return MutationRequest(
        id=mutation.id,
        action=mutation.action,
        conversation_external_id=mutation.conversation_external_id,
        payload=mutation.payload,
        base_version=mutation.base_version,
        attempt=mutation.attempts,
        created_at=mutation.created_at,
    )


def _conflict(mutation: Mutation, current: RemoteState) -> dict[str, object] | None:
    """The server's side of a per-field conflict, or None when the field is free to write."""
    action, base, payload = mutation.action, mutation.base, mutation.payload
    if action in SERVER_AUTHORITATIVE:
        name = SERVER_AUTHORITATIVE[action]
        theirs = getattr(current, name)
        if theirs != base.get(name) and theirs != payload.get(name):
            return {name: theirs}
    elif action == "assign":
        if "agent_external_id" in payload or payload.get("unassign"):
            theirs = current.assignee_external_id
            wanted = None if payload.get("unassign") else payload.get("agent_external_id")
            if theirs != base.get("assignee_external_id") and theirs != wanted:
                return {"assignee": theirs}
        else:
            theirs = current.team_external_id
            if theirs != base.get("team_external_id") and theirs != payload.get("team_external_id"):
                return {"team": theirs}
    elif action == "snooze":
        theirs = current.snoozed_until
        base_value = base.get("snoozed_until")
        if theirs is not None and (base_value is None or from_iso(str(base_value)) != theirs):
            return {"snoozed_until": theirs.isoformat()}
    return None


def _already_done(mutation: Mutation, current: RemoteState) -> bool:
    action, payload = mutation.action, mutation.payload
    if action in SERVER_AUTHORITATIVE:
        return getattr(current, SERVER_AUTHORITATIVE[action]) == payload.get(action)
    if action == "assign":
        if payload.get("unassign"):
            return current.assignee_external_id is None
        if "agent_external_id" in payload:
            return current.assignee_external_id == payload["agent_external_id"]
        return current.team_external_id == payload.get("team_external_id")
    if action == "tags":
        tags = set(current.tags)
        return set(payload.get("add", [])) <= tags and not (set(payload.get("remove", [])) & tags)
    return False


class PushEngine:
    def __init__(
        self,
        store: Store,
        connectors: Mapping[str, Connector],
        on_event: Callable[[SyncEvent], None] | None = None,
        *,
        concurrency: int = 4,
        now: Callable[[], datetime] = utcnow,
        db: DbCall = _direct,
    ) -> None:
        self.store = store
        self.connectors = connectors
        self.on_event = on_event or (lambda event: None)
        self.concurrency = concurrency
        self.now = now
        self.db = db

    async def push_all(self) -> dict[str, PushResult]:
        names = list(self.connectors)
        results = await asyncio.gather(*(self.push_account(n) for n in names))
        return dict(zip(names, results))

    async def push_account(self, account: str) -> PushResult:
        connector = self.connectors[account]
        result = PushResult()
        if not await self._push_presence(account, connector, result):
            return result
        now = self.now()
        chains: dict[int, list[Mutation]] = defaultdict(list)
        live = await self.db(self.store.mutations, account=account, states=LIVE_STATES)
        for mutation in live:
            chains[mutation.conversation_id].append(mutation)
        # A chain waits while its first mutation is backing off: order within a conversation.
        due = {
            cid: chain
            for cid, chain in chains.items()
            if chain[0].next_attempt_at is None or chain[0].next_attempt_at <= now
        }
        if not due:
            return result
        gate = asyncio.Semaphore(self.concurrency)
        stop_account = asyncio.Event()

        async def drain(chain: list[Mutation]) -> None:
            async with gate:
                for mutation in chain:
                    if stop_account.is_set():
                        return
                    keep_going = await self._push_one(connector, mutation, result, stop_account)
                    if not keep_going:
                        return  # keep this conversation's order: later ones wait

        await asyncio.gather(*(drain(chain) for chain in due.values()))
        if result.applied or result.conflicts or result.failed:
            self.on_event(
                SyncEvent(
                    kind="page",
                    account=account,
                    message=f"sent {result.applied}, conflicts {result.conflicts}, "
                    f"failed {result.failed}",
                    records=result.applied,
                    at=self.now(),
                )
            )
        return result

    async def _push_presence(self, account: str, connector: Connector, result: PushResult) -> bool:
        """Send the agent's own presence set here, before anything else (and before the pull
        that would otherwise show the server's old value). Last write wins: a value picked
        while this one was in flight stays pending. False: the account cannot be reached or
        its token is refused, so nothing else is tried this round."""
        capabilities = getattr(connector, "capabilities", None)
        if not getattr(capabilities, "can_set_presence", False):
            return True
        if not isinstance(connector, SetsPresence):
            return True
        wanted = await self.db(self.store.presence_to_send, account)
        if wanted is None:
            return True
        try:
            reported = await connector.set_presence(wanted)
        except AuthError as exc:
            if not isinstance(exc, PermissionDenied):
                result.errors.append(str(exc))
                result.auth_failed = True
                return False
            refusal: ConnectorError = exc
        except ConnectorError as exc:
            if exc.transient:  # stays pending: sent at the next round
                if isinstance(exc, Unreachable) and not exc.sent:
                    result.offline = True
                    result.errors.append(str(exc))
                    return False
                return True
            refusal = exc
        except (TimeoutError, OSError) as exc:
            result.offline = True
            result.errors.append(network_words(exc))
            return False
        else:
            await self.db(self.store.presence_sent, account, wanted, reported)
            return True
        await self.db(self.store.presence_refused, account, wanted)
        self.on_event(
            SyncEvent(
                kind="error",
                account=account,
                message=f"{account}: your presence {wanted} was refused: {refusal}",
                at=self.now(),
            )
        )
        return True

    async def _push_one(
        self,
        connector: Connector,
        mutation: Mutation,
        result: PushResult,
        stop_account: asyncio.Event,
    ) -> bool:
        store, db = self.store, self.db
        await db(store.mark_sending, mutation.id)
        mutation = await db(store.mutation, mutation.id) or mutation
        capabilities = getattr(connector, "capabilities", None)
        try:
            if mutation.action == "snooze" and not getattr(capabilities, "can_snooze", False):
                await db(store.mark_applied, mutation.id)  # local snooze: the vendor has none
                result.applied += 1
                return True
            if mutation.action in ("reply", "note") and mutation.attempts > 1:
                # A previous attempt may have landed with its response lost: look first.
                found = await connector.find_sent(_request(mutation))
                if found is not None:
                    await db(store.mark_applied, mutation.id, message_external_id=found)
                    result.applied += 1
                    return True
            for _ in range(MAX_STALE_RETRIES):
                current = await connector.fetch_state(mutation.conversation_external_id)
                if mutation.action not in ("reply", "note"):
                    theirs = _conflict(mutation, current)
                    if theirs is not None:
                        theirs |= {"by": current.updated_by, "at": current.updated_at}
                        await db(
                            store.mark_conflict,
                            mutation.id,
                            theirs,
                            "changed on the server since you made this change",
                        )
                        result.conflicts += 1
                        return True
                    if _already_done(mutation, current):
                        await db(store.mark_applied, mutation.id, version=current.version)
                        result.applied += 1
                        return True
                try:
                    written = await connector.apply(_request(mutation), current)
                except ConflictError:
                    continue  # the whole write was stale; our field may still be free: re-read
                await db(
                    store.mark_applied,
                    mutation.id,
                    message_external_id=written.message_external_id,
                    version=written.version,
                )
                if written.side_effects:
                    await db(store.rebase_after, mutation, written.side_effects)
                result.applied += 1
                return True
            raise _Transient("the conversation kept changing on the server while sending")
        except NotFound:
            await db(
                store.mark_failed, mutation.id, "the conversation no longer exists on the server"
            )
            result.failed += 1
            return True
        except PermissionDenied as exc:
            await db(store.mark_failed, mutation.id, str(exc))
            result.failed += 1
            return True
        except AuthError as exc:
            # The account's token is wrong: nothing can be sent; keep every mutation queued.
            await self._retry_later(mutation, str(exc), None)
            result.errors.append(str(exc))
            result.auth_failed = True
            stop_account.set()
            return False
        except RateLimited as exc:
            await self._retry_later(mutation, str(exc), exc.retry_after)
            result.retrying += 1
            return False
        except _Transient as exc:
            await self._retry_later(mutation, str(exc), exc.retry_after)
            result.retrying += 1
            return False
        except ConnectorError as exc:
            if exc.transient:
                await self._retry_later(mutation, str(exc), None)
                result.retrying += 1
                if isinstance(exc, Unreachable) and not exc.sent:
                    # No connection at all: the rest waits for the next round. (A lost
                    # answer is not that: the other conversations go on.)
                    result.offline = True
                    result.errors.append(str(exc))
                    stop_account.set()  # unreachable: the rest waits for the next round
                return False
            await db(store.mark_failed, mutation.id, str(exc))
            result.failed += 1
            return True
        except (TimeoutError, OSError) as exc:
            await self._retry_later(mutation, network_words(exc), None)
            result.retrying += 1
            result.offline = True
            return False
        except Exception as exc:  # noqa: BLE001 - never leave a change in `sending`
            log.exception("sending %s %s failed unexpectedly", mutation.action, mutation.id)
            await self._retry_later(
                mutation,
                f"sending failed unexpectedly ({type(exc).__name__}); the details are in the "
                "log file — agentdesk will try again",
                None,
            )
            result.retrying += 1
            return False

    async def _retry_later(
        self, mutation: Mutation, reason: str, retry_after: float | None
    ) -> None:
        """Back off; a server asking for longer than the cap (even `inf`) gets the cap, so a
        queued reply is never parked beyond it."""
        backoff = min(MAX_BACKOFF_SECONDS, 2 ** max(0, mutation.attempts - 1))
        if retry_after is None or math.isnan(retry_after):
            delay = backoff * (0.5 + random.random())
        else:
            delay = min(MAX_BACKOFF_SECONDS, max(0.0, retry_after))
        await self.db(
            self.store.mark_retry, mutation.id, reason, self.now() + timedelta(seconds=delay)
        )
