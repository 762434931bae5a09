"""The connector protocol: vendor JSON in, agentdesk records out. Pure translation + HTTP.

A connector never touches the store or the screen. It is built with its account settings
and its token (which it never logs), pulls pages of records from a cursor it defines, and
reports what it can do through capability flags that sync records in the store's
`accounts` table, so the screen knows without importing a connector.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

from agentdesk.model import MutationRequest, Page, RemoteState, WhoAmI, WriteResult
from agentdesk.timeutil import utcnow


@dataclass(frozen=True, slots=True)
class Capabilities:
    can_reply: bool = True
    can_note: bool = True
    can_set_status: bool = True
    can_set_priority: bool = True
    can_tag: bool = True
    can_assign_agent: bool = True
    can_assign_team: bool = True
    can_snooze: bool = False
    """False: snooze is local (the conversation hides until its time), the vendor has none."""
    can_safe_update: bool = False
    """Writes carry a version the server checks (Zendesk updated_stamp, RT If-Match)."""
    has_idempotency_keys: bool = False
    has_incremental_export: bool = False
    can_set_presence: bool = False
    """True: the agent's own presence is sent with `set_presence` (Chatwoot availability);
    False: the vendor's API has none, presence is local (config or set in agentdesk)."""

    def as_flags(self) -> dict[str, bool]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """What a connector is built from: the account's config, never its secret."""

    name: str
    connector: str
    base_url: str
    user: str
    ca_bundle: str | None = None
    cache_days: int = 90
    cache_open: bool = True
    """Also cache every open conversation, however old (fetched once, then kept fresh)."""
    cache_history: bool = True
    """Also cache each cached customer's other conversations, in the background."""
    history_batch: int = 50
    """How many customers' histories one sync round fetches at most."""

    def backlog_before(self) -> datetime:
        """Where `open_backlog` looks from: last updated before the cache window, with a day
        of overlap so nothing falls between the window's pull and the backlog."""
        return utcnow() - timedelta(days=max(1, self.cache_days) - 1)


# ---------------------------------------------------------------- typed errors
class ConnectorError(Exception):
    """A failure the user can act on; `str()` is one human sentence, never a token."""

    transient: ClassVar[bool] = False


class AuthError(ConnectorError):
    """The backend rejected the credentials (401) or the user lacks a permission (403)."""


class PermissionDenied(AuthError):
    """403: authenticated, but the role may not do this."""


class NotFound(ConnectorError):
    pass


class ConflictError(ConnectorError):
    """The server's version moved on since the write was based on it (409, 412)."""


class Invalid(ConnectorError):
    """422/400: the backend refused the request as malformed."""


class RateLimited(ConnectorError):
    transient = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BackendError(ConnectorError):
    """5xx, a dropped connection, a timeout, or a body that is not what the vendor documents."""

    transient = True


class MalformedResponse(BackendError):
    """The backend answered, but not in the vendor's documented shape."""

    transient = False


# ---------------------------------------------------------------- the protocol
@runtime_checkable
class Connector(Protocol):
    kind: ClassVar[str]
    label: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    resources: ClassVar[tuple[str, ...]]
    """Pull resources in the order sync must run them (e.g. teams, agents, conversations).
    The last is the conversations resource; those before it are auxiliary: when one cannot
    be read, the round goes on and says so."""

    def __init__(self, settings: AccountSettings, token: str) -> None: ...

    async def whoami(self) -> WhoAmI:
        """The signed-in user and their role; raises AuthError on a bad token."""
        ...

    def pull(self, resource: str, cursor: str | None) -> AsyncIterator[Page]:
        """Pages of records changed since `cursor` (None: from the beginning).

        Each page carries the cursor to store once it is committed; the last page has
        `more=False`. Raises a ConnectorError subclass on failure.
        """
        ...

    async def fetch_state(self, external_id: str) -> RemoteState:
        """The conversation's current server-side fields; NotFound if it was deleted."""
        ...

    async def apply(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        """Send one write, based on `current` (the version the per-field check passed on).

        Must be safe to call again for the same request.id after an ambiguous failure:
        use the vendor's idempotency key where it has one, otherwise the push engine calls
        `find_sent` first for replies and notes. Raises ConflictError when the server
        rejects a stale version (Zendesk 409, RT 412); other failures as typed errors.
        """
        ...

    async def find_sent(self, request: MutationRequest) -> str | None:
        """Check-before-resend for replies and notes: the id of a message this request
        already created (matched by idempotency marker or by author, body and time), or
        None if it never landed."""
        ...

    def open_backlog(self) -> AsyncIterator[Page]:
        """Every conversation that is not solved or closed but was last updated before the
        cache window (`cache_days`), with its messages. Run once per account (the engine
        remembers it); afterwards the incremental pull keeps them fresh."""
        ...

    def contact_history(self, contact_external_id: str) -> AsyncIterator[Page]:
        """All of one contact's conversations, with their messages (their history).

        Pages carry no cursor. Raises NotFound when the contact no longer exists."""
        ...

    async def aclose(self) -> None: ...


# ---------------------------------------------------------------- the fast lane
@dataclass(frozen=True, slots=True)
class FastLane:
    """How a connector brings what changed in the last seconds, beside the complete pull.

    `poll`: the connector implements `PollsRecent`; the sync spends at most a share of
    `rate_limit_per_minute` (the vendor's documented default for the smallest plan it
    serves agents on, or a polite figure where the vendor has none) on it.
    `websocket`: the connector implements `StreamsLive` (the vendor's own real-time feed)."""

    mode: Literal["poll", "websocket"]
    rate_limit_per_minute: int
    min_interval: float = 2.0
    """Seconds between two polls at the least, whatever the budget allows."""


@dataclass(frozen=True, slots=True)
class Recent:
    """What one fast-lane poll brought: changed conversations (with their latest messages)
    as a page, the position to ask from next time, and the requests it cost."""

    page: Page
    since: datetime
    requests: int


@dataclass(frozen=True, slots=True)
class Typing:
    """A colleague started or stopped typing in a conversation (where the vendor says so)."""

    conversation_external_id: str
    who: str
    typing: bool


class Delivered:
    """The version of each conversation the fast lane already handed on.

    Vendors keep update times to the second, so a poll asks again from the newest second it
    saw; this keeps it from handing on (and paying for the messages of) what it already did."""

    def __init__(self, keep: int = 1000) -> None:
        self._seen: dict[str, str] = {}
        self._keep = keep

    def fresh(self, external_id: str, version: str) -> bool:
        return self._seen.get(external_id) != version

    def mark(self, versions: Iterable[tuple[str, str]]) -> None:
        for external_id, version in versions:
            self._seen.pop(external_id, None)
            self._seen[external_id] = version  # newest last: the oldest go first
        while len(self._seen) > self._keep:
            del self._seen[next(iter(self._seen))]


def recent_since(
    since: datetime | None, listed: Iterable[tuple[str, str, datetime]], delivered: Delivered
) -> datetime:
    """Where a fast-lane poll delivers from. On the first poll (`since` None) nothing listed is
    delivered: what changed before the lane started is the complete lane's (its round at
    start-up is running), so the first poll costs one request; it marks what it listed as
    seen and starts from the newest change by the server's clock (no skew to mind).
    `listed`: (external id, version, updated) of each conversation the poll listed."""
    items = list(listed)
    if since is not None:
        return since
    delivered.mark((ident, version) for ident, version, _ in items)
    return max((updated for _, _, updated in items), default=utcnow())


RECENT_PAGE = 10
"""Conversations on one page of a fast-lane poll (a busy minute still fits: polls repeat)."""
RECENT_PAGES = 5
"""Pages one poll reads at most. It reads on while a whole page changed at or after where it
delivers from: vendors keep update times to the second and order equal times their own way,
so the conversation a customer just wrote in may sit behind others changed that same second."""


def reads_on(since: datetime | None, times: Sequence[datetime], full: bool, pages: int) -> bool:
    """Whether a fast-lane poll reads the next page (see `RECENT_PAGES`). The first poll, which
    only takes a baseline, reads one, or on while a whole page changed the same second: what it
    does not list of its newest second the next poll would hand on as new (a bulk action, or a
    world seeded at one moment, changes dozens of conversations in one second)."""
    if not (full and times and pages < RECENT_PAGES):
        return False
    if since is None:
        return min(times) == max(times)
    return min(times) >= since


class _Identified(Protocol):
    def id(self, key: str = ...) -> str: ...


_I = TypeVar("_I", bound=_Identified)


def first_of_each(items: Iterable[_I]) -> list[_I]:
    """Records listed over several pages, each once: its first (newest) copy."""
    kept: dict[str, _I] = {}
    for item in items:
        kept.setdefault(item.id(), item)
    return list(kept.values())


@dataclass(slots=True)
class RecentPick(Generic[_I]):
    """What one fast-lane poll hands on: `changed`, to be read in full; then `handed_on()`."""

    changed: list[_I]
    since: datetime
    _delivered: Delivered
    _version: Callable[[_I], str]
    _updated: Callable[[_I], datetime]

    def handed_on(self) -> datetime:
        """Records `changed` as delivered (call it once their page is built, so a failed read
        is asked again) and returns where the next poll delivers from."""
        self._delivered.mark((c.id(), self._version(c)) for c in self.changed)
        return max((self._updated(c) for c in self.changed), default=self.since)


def pick_recent(
    since: datetime | None,
    listed: Iterable[_I],
    delivered: Delivered,
    *,
    version: Callable[[_I], str],
    updated: Callable[[_I], datetime],
) -> RecentPick[_I]:
    """Of what a poll listed (newest first, maybe over several pages), those changed at or
    after where it delivers from (`recent_since`) in a version not yet handed on."""
    items = first_of_each(listed)
    since = recent_since(since, ((c.id(), version(c), updated(c)) for c in items), delivered)
    changed = [c for c in items if updated(c) >= since and delivered.fresh(c.id(), version(c))]
    return RecentPick(changed, since, delivered, version, updated)


@runtime_checkable
class PollsRecent(Protocol):
    """Connectors whose `fast_lane.mode` is "poll" implement this."""

    async def recent(self, since: datetime | None) -> Recent:
        """Conversations changed at or after `since` (None: only take a baseline, see
        `recent_since`), newest first, one small page of them; raises ConnectorError like
        `pull`."""
        ...


@runtime_checkable
class StreamsLive(Protocol):
    """Connectors whose `fast_lane.mode` is "websocket" implement this."""

    def live(self) -> AsyncIterator[Page | Typing]:
        """Changes as the vendor pushes them, until the connection drops (then it raises
        ConnectorError; the sync reconnects with back-off and catches up by a pull)."""
        ...


PRESENCES = ("online", "busy", "offline")


@runtime_checkable
class SetsPresence(Protocol):
    """Connectors whose `capabilities.can_set_presence` is True also implement this."""

    async def set_presence(self, presence: str) -> str:
        """Set the signed-in agent's own presence (one of PRESENCES); returns the presence the
        backend now reports. PermissionDenied when the backend refuses."""
        ...
