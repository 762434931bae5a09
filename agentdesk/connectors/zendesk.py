"""Zendesk Support: vendor JSON in, agentdesk records out (read side).

Tickets come from the incremental cursor export (`include=users,groups` sideloads the people
and groups they mention), with each ticket's comments fetched page by page under the shared
HTTP policy's concurrency bound. An agent-role token is refused the export (403); the
connector then falls back to the Search API ordered by `updated_at`, so an ordinary agent
still gets an incremental sync.

A first pull with an admin token reads the comments in bulk instead: the time-based ticket
event export (`incremental/ticket_events` with `include=comment_events`) streams every
comment since the same start time, in time order, beside the ticket export. The two streams
are merged by time: once the event stream has passed a ticket page's last `updated_at`,
every comment of those tickets is in hand (a comment always moves its ticket's
`updated_at`). Tickets created before the window, and every later incremental pull, keep
the per-ticket comments path.

Cursors stored by sync: Zendesk's opaque `after_cursor` for the export, or
`search:<ISO time>` (the last `updated_at` seen) for the search fallback.

Writes (reply, note, status, priority, tags, assign) are ticket updates with `safe_update` +
`updated_stamp`; tags go through the tags endpoints as set operations; snooze is local (Zendesk
has none). See the "writes" section at the bottom for how a lost response is resolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

import httpx

from agentdesk.connectors.base import (
    RECENT_PAGE,
    AccountSettings,
    AuthError,
    Capabilities,
    ConnectorError,
    Delivered,
    FastLane,
    Invalid,
    NotFound,
    PermissionDenied,
    Recent,
    pick_recent,
    reads_on,
)
from agentdesk.connectors.http import (
    DEFAULT_POLICY,
    ApiClient,
    Fields,
    HttpPolicy,
    Params,
    count_requests,
)
from agentdesk.connectors.normalise import html_to_text, normalise_email, normalise_phone
from agentdesk.model import (
    AgentRecord,
    Attachment,
    AttributeValue,
    AuthorKind,
    Channel,
    ContactRecord,
    ConversationRecord,
    Identity,
    MessageRecord,
    MutationRequest,
    Page,
    Priority,
    RemoteState,
    Role,
    Status,
    TeamRecord,
    WhoAmI,
    WriteResult,
)
from agentdesk.timeutil import parse_timestamp, to_iso, utcnow

log = logging.getLogger(__name__)

EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
EVENTS_PATH = "/api/v2/incremental/ticket_events.json"
SEARCH_PATH = "/api/v2/search.json"
# Sideloads on every ticket page: the people and groups tickets mention, and each ticket's
# metric set (solved_at, reopens) for the supervisor's resolution time and reopen rate.
TICKET_INCLUDE = "users,groups,metric_sets"
EVENTS_AHEAD = 3  # event pages read ahead of the ticket pages that need them
SEARCH_PREFIX = "search:"

_STATUS: dict[str, Status] = {
    "new": "new",
    "open": "open",
    "pending": "pending",
    "hold": "on_hold",
    "on-hold": "on_hold",
    "solved": "solved",
    "closed": "closed",
}
_PRIORITY: dict[str, Priority] = {
    "low": "low",
    "normal": "normal",
    "high": "high",
    "urgent": "urgent",
}
# Zendesk's via.channel values (ticket "via" object docs) → agentdesk channels.
_CHANNEL: dict[str, Channel] = {
    "email": "email",
    "mail": "email",
    "web": "web",
    "web_form": "web",
    "web_widget": "web",
    "web_service": "web",
    "help_center": "web",
    "mobile": "web",
    "mobile_sdk": "web",
    "api": "web",  # API-created tickets are almost always forms and integrations
    "chat": "chat",
    "chat_transcript": "chat",
    "native_messaging": "chat",
    "messaging": "chat",
    "sunshine_conversations_api": "chat",
    "sms": "sms",
    "text": "sms",
    "twitter": "social",
    "twitter_dm": "social",
    "facebook": "social",
    "facebook_post": "social",
    "facebook_messenger": "social",
    "instagram": "social",
    "instagram_dm": "social",
    "whatsapp": "social",
    "line": "social",
    "wechat": "social",
    "telegram": "social",
    "any_channel": "social",
    "voice": "voice",
    "phone": "voice",
    "voicemail": "voice",
}


def map_channel(value: str | None) -> Channel:
    if not value:
        return "email"
    return _CHANNEL.get(value.lower(), "email")  # Zendesk's default channel is email


def map_status(value: str) -> Status:
    return _STATUS.get(value.lower(), "open")


def map_priority(value: str | None) -> Priority:
    return _PRIORITY.get((value or "normal").lower(), "normal")


def map_role(value: str | None) -> Role | None:
    """Zendesk's user role → agentdesk's; None for end-users (they are customers)."""
    if value == "admin":
        return "admin"
    if value == "agent":
        return "agent"
    return None


@dataclass(frozen=True, slots=True)
class _User:
    """What the mapping needs to know about a Zendesk user seen in any sideload."""

    id: str
    name: str
    email: str
    role: str
    fields: Fields


@dataclass(frozen=True, slots=True)
class _Batch:
    """The records of one page of tickets, before they become a `Page`."""

    conversations: tuple[ConversationRecord, ...]
    contacts: tuple[ContactRecord, ...]
    agents: tuple[AgentRecord, ...]
    teams: tuple[TeamRecord, ...]
    deleted: tuple[str, ...]

    def page(self, cursor: str | None, more: bool) -> Page:
        return Page(
            "tickets",
            cursor=cursor,
            more=more,
            conversations=self.conversations,
            contacts=self.contacts,
            agents=self.agents,
            teams=self.teams,
            deleted_conversation_ids=self.deleted,
        )


class ZendeskConnector:
    kind: ClassVar[str] = "zendesk"
    label: ClassVar[str] = "Zendesk"
    capabilities: ClassVar[Capabilities] = Capabilities(
        can_snooze=False,
        can_safe_update=True,
        # Zendesk takes Idempotency-Key on ticket create only; comments use check-before-resend.
        has_idempotency_keys=False,
        has_incremental_export=True,
    )
    resources: ClassVar[tuple[str, ...]] = ("groups", "agents", "tickets")
    # Zendesk Suite Team's limit (larger plans allow 400-700 a minute).
    fast_lane: ClassVar[FastLane] = FastLane("poll", rate_limit_per_minute=200)

    def __init__(
        self,
        settings: AccountSettings,
        token: str,
        *,
        per_page: int = 100,
        policy: HttpPolicy = DEFAULT_POLICY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.per_page = per_page
        self.base_url = settings.base_url.rstrip("/")
        # Zendesk API-token auth: Basic base64("{email}/token:{token}"); held by httpx only.
        self._http = ApiClient(
            settings,
            vendor=self.label,
            auth=httpx.BasicAuth(f"{settings.user}/token", token),
            policy=policy,
            transport=transport,
        )
        self._export_forbidden = False
        self._users: dict[str, _User] = {}
        self._me: str | None = None
        # When this process first sent each comment: bounds find_sent's body match.
        self._first_sent: dict[str, datetime] = {}
        self._delivered = Delivered()

    def __repr__(self) -> str:
        return f"ZendeskConnector(account={self.settings.name!r}, url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------ helpers
    def _fields(self, data: object, what: str) -> Fields:
        return Fields(data, what, lambda problem: self._http.malformed(f"read {what}", problem))

    def _time(self, fields: Fields, key: str) -> datetime:
        text = fields.text(key)
        try:
            return parse_timestamp(text)
        except ValueError:
            raise self._http.malformed("read a timestamp", f"{key}={text[:40]!r}") from None

    async def _pages(
        self, path: str, params: Params, *, key: str, action: str
    ) -> AsyncIterator[Fields]:
        """Every page of a list endpoint: cursor pagination (`meta.has_more`, `links.next`,
        `meta.after_cursor`) or offset pagination (`next_page`)."""
        url: str = path
        query: Params | None = params
        seen: set[str] = set()
        while True:
            page = self._fields(await self._http.get_json(url, params=query, action=action), key)
            yield page
            meta = page.obj("meta")
            links = page.obj("links")
            next_url: str | None = None
            if meta is not None and meta.has("has_more"):
                if not meta.flag("has_more"):
                    return
                link = links.opt_text("next") if links is not None else None
                after = meta.opt_text("after_cursor")
                if link:
                    next_url, query = self._http.same_origin(link), None
                elif after:
                    base = list(params.items()) if isinstance(params, Mapping) else list(params)
                    next_url = path
                    query = [(k, str(v)) for k, v in base if v is not None] + [
                        ("page[after]", after)
                    ]
                else:
                    raise self._http.malformed(action, "has_more without a next cursor")
            else:
                link = page.opt_text("next_page")
                if not link:
                    return
                next_url, query = self._http.same_origin(link), None
            marker = f"{next_url}?{query}"
            if marker in seen:  # a server repeating a page must not loop us forever
                raise self._http.malformed(action, "the next page points back at a seen page")
            seen.add(marker)
            url = next_url

    def _remember_users(self, users: Iterable[Fields]) -> list[_User]:
        out: list[_User] = []
        for fields in users:
            user = _User(
                id=fields.id(),
                name=fields.text("name", ""),
                email=fields.text("email", ""),
                role=fields.text("role", "end-user"),
                fields=fields,
            )
            self._users[user.id] = user
            out.append(user)
        return out

    # ------------------------------------------------------------ whoami
    async def whoami(self) -> WhoAmI:
        data = await self._http.get_json("/api/v2/users/me.json", action="check who is signed in")
        user = self._fields(data, "users/me").obj("user")
        if user is None:
            raise self._http.malformed("check who is signed in", "no user object")
        role = map_role(user.opt_text("role"))
        if role is None or not user.has("id"):
            raise AuthError(
                f"the token for {self.settings.user} on account {self.settings.name} signs in "
                "as a Zendesk end-user, not an agent — use the API token of an agent or admin "
                f"(`agentdesk accounts add {self.settings.name}`)"
            )
        self._me = user.id()
        return WhoAmI(
            external_id=self._me,
            name=user.text("name", ""),
            email=user.text("email", self.settings.user),
            role=role,
        )

    # ------------------------------------------------------------ pull
    def pull(self, resource: str, cursor: str | None) -> AsyncIterator[Page]:
        if resource == "groups":
            return self._pull_groups()
        if resource == "agents":
            return self._pull_agents()
        if resource == "tickets":
            return self._pull_tickets(cursor)
        raise ConnectorError(
            f"the Zendesk connector has no resource {resource!r} "
            f"(it has {', '.join(self.resources)})"
        )

    async def _pull_groups(self) -> AsyncIterator[Page]:
        pages = self._pages(
            "/api/v2/groups.json", {"page[size]": 100}, key="groups", action="list groups"
        )
        async for page in pages:
            teams = tuple(
                TeamRecord(g.id(), g.text("name", ""))
                for g in page.objects("groups")
                if not g.flag("deleted")
            )
            yield Page("groups", cursor=None, more=True, teams=teams)
        yield Page("groups", cursor=None, more=False)

    async def _pull_agents(self) -> AsyncIterator[Page]:
        memberships: dict[str, list[str]] = {}
        async for page in self._pages(
            "/api/v2/group_memberships.json",
            {"page[size]": 100},
            key="group_memberships",
            action="list group memberships",
        ):
            for m in page.objects("group_memberships"):
                memberships.setdefault(m.id("user_id"), []).append(m.id("group_id"))
        params: list[tuple[str, str]] = [
            ("role[]", "agent"),
            ("role[]", "admin"),
            ("page[size]", "100"),
        ]
        async for page in self._pages(
            "/api/v2/users.json", params, key="users", action="list agents"
        ):
            agents = tuple(
                self._agent(user, tuple(memberships.get(user.id, ())))
                for user in self._remember_users(page.objects("users"))
                if map_role(user.role) is not None and user.fields.flag("active", True)
            )
            yield Page("agents", cursor=None, more=True, agents=agents)
        yield Page("agents", cursor=None, more=False)

    def _agent(self, user: _User, teams: tuple[str, ...] = ()) -> AgentRecord:
        return AgentRecord(
            external_id=user.id,
            name=user.name,
            email=normalise_email(user.email) or "",
            role=map_role(user.role) or "agent",
            team_external_ids=teams,
        )

    # ------------------------------------------------------------ tickets
    async def _pull_tickets(self, cursor: str | None) -> AsyncIterator[Page]:
        searching = cursor is not None and cursor.startswith(SEARCH_PREFIX)
        if not self._export_forbidden:
            params: dict[str, str | int] = {"per_page": self.per_page, "include": TICKET_INCLUDE}
            if cursor and not searching:
                params["cursor"] = cursor
            else:
                params["start_time"] = int(self._since(cursor).timestamp())
            try:
                first = await self._export_request(params)
            except PermissionDenied:
                # Agent tokens may not use the export; search works for them.
                log.info("%s: incremental export refused, using search", self.settings.name)
                self._export_forbidden = True
            else:
                stream: _CommentStream | None = None
                if cursor is None:  # a first pull: comments in bulk from the same moment
                    stream = _CommentStream(self, int(params["start_time"]))
                try:
                    async for page in self._export_pages(first, None if searching else cursor,
                                                         stream):  # fmt: skip
                        yield page
                finally:
                    if stream is not None:
                        await stream.aclose()
                return
        async for page in self._search_pages(cursor):
            yield page

    def _since(self, cursor: str | None) -> datetime:
        """Where a time-based pull starts: the search cursor, else the cache window."""
        if cursor and cursor.startswith(SEARCH_PREFIX):
            try:
                return parse_timestamp(cursor.removeprefix(SEARCH_PREFIX))
            except ValueError:
                log.warning("%s: unreadable search cursor, starting over", self.settings.name)
        # Zendesk refuses a start_time within the last minute.
        return utcnow() - timedelta(days=max(1, self.settings.cache_days), minutes=1)

    async def _export_request(self, params: Params) -> Fields:
        data = await self._http.get_json(
            EXPORT_PATH, params=params, action="read the incremental ticket export"
        )
        return self._fields(data, "incremental ticket export")

    async def _export_pages(
        self, page: Fields, cursor: str | None, stream: _CommentStream | None = None
    ) -> AsyncIterator[Page]:
        while True:
            after = page.opt_text("after_cursor")
            end = page.flag("end_of_stream", default=after is None)
            # Read the next ticket page while this one's threads are assembled.
            ahead = (
                asyncio.ensure_future(
                    self._export_request(
                        {"cursor": after, "per_page": self.per_page, "include": TICKET_INCLUDE}
                    )
                )
                if after and not end
                else None
            )
            try:
                batch = await self._batch(
                    page.objects("tickets"), page.objects("users"), page.objects("groups"),
                    stream,
                )  # fmt: skip
            except BaseException:
                if ahead is not None:
                    ahead.cancel()
                    with contextlib.suppress(BaseException):
                        await ahead
                raise
            cursor = after or cursor
            yield batch.page(cursor, more=not end)
            if end:
                return
            if ahead is None:
                raise self._http.malformed(
                    "read the incremental ticket export", "more pages but no after_cursor"
                )
            page = await ahead

    async def _search_pages(self, cursor: str | None) -> AsyncIterator[Page]:
        """Tickets updated since the cursor, oldest first, via the Search API.

        Search returns at most 1,000 results per query, so when a query is exhausted with
        results left over it starts again from the last `updated_at` seen.
        """
        since = self._since(cursor)
        while True:
            query_since = since
            # One second of overlap: replays are harmless upserts, a missed ticket is not.
            query = f"type:ticket updated>{to_iso(since - timedelta(seconds=1))}"
            params = {
                "query": query,
                "sort_by": "updated_at",
                "sort_order": "asc",
                "per_page": self.per_page,
                "include": f"tickets({TICKET_INCLUDE})",
            }
            fetched = 0
            total = 0
            pages = self._pages(SEARCH_PATH, params, key="search results", action="search tickets")
            buffered: tuple[_Batch, str] | None = None
            async for page in pages:
                tickets = _ticket_results(page)
                total = page.number("count", 0)
                fetched += len(tickets)
                for ticket in tickets:
                    since = max(since, self._time(ticket, "updated_at"))
                batch = await self._batch(tickets, page.objects("users"), page.objects("groups"))
                # Yield one behind, so the last page of the stream can say more=False.
                if buffered is not None:
                    yield buffered[0].page(buffered[1], more=True)
                buffered = (batch, SEARCH_PREFIX + to_iso(since))
            again = fetched < total and since > query_since
            if buffered is not None:
                yield buffered[0].page(buffered[1], more=again)
            elif not again:
                yield Page("tickets", cursor=SEARCH_PREFIX + to_iso(since), more=False)
            if not again:
                return

    # ------------------------------------------------------------ fast lane
    async def recent(self, since: datetime | None) -> Recent:
        """The most recently updated tickets (List Tickets, `sort=-updated_at`, one small
        page) changed after `since`, with their comments: what the incremental export's
        one-minute hold-back does not show yet. The export confirms them later."""
        with count_requests() as sent:
            listed: list[Fields] = []
            users: list[Fields] = []
            groups: list[Fields] = []
            pages = 0
            async for body in self._pages(
                "/api/v2/tickets.json",
                {"page[size]": RECENT_PAGE, "sort": "-updated_at", "include": TICKET_INCLUDE},
                key="tickets",
                action="list recently updated tickets",
            ):
                pages += 1
                tickets = body.objects("tickets")
                listed += tickets
                users += body.objects("users")
                groups += body.objects("groups")
                times = [self._time(t, "updated_at") for t in tickets]
                if not reads_on(since, times, len(tickets) >= RECENT_PAGE, pages):
                    break
            pick = pick_recent(
                since, listed, self._delivered, version=lambda t: t.text("updated_at"),
                updated=lambda t: self._time(t, "updated_at"),
            )  # fmt: skip
            batch = await self._batch(pick.changed, users, groups)
            return Recent(batch.page(None, more=False), pick.handed_on(), sent())

    # ------------------------------------------------------------ cache policy
    async def open_backlog(self) -> AsyncIterator[Page]:
        """Unsolved tickets last updated before the cache window, with their comments.

        Search API (`status<solved` is new, open, pending and hold), oldest first. A query
        returns at most 1,000 results, so an exhausted query with more left starts again
        after the last `updated_at` seen (one second of overlap: replays are upserts).
        """
        bound = self.settings.backlog_before()
        since: datetime | None = None
        while True:
            query = f"type:ticket status<solved updated<{to_iso(bound)}"
            if since is not None:
                query += f" updated>{to_iso(since - timedelta(seconds=1))}"
            params = {
                "query": query,
                "sort_by": "updated_at",
                "sort_order": "asc",
                "per_page": self.per_page,
                "include": "tickets(users,groups)",
            }
            fetched = total = 0
            query_since = since
            async for page in self._pages(
                SEARCH_PATH, params, key="search results", action="search open tickets"
            ):
                tickets = _ticket_results(page)
                total = page.number("count", 0)
                fetched += len(tickets)
                for ticket in tickets:
                    stamp = self._time(ticket, "updated_at")
                    since = stamp if since is None else max(since, stamp)
                batch = await self._batch(tickets, page.objects("users"), page.objects("groups"))
                yield batch.page(None, more=True)
            if not (fetched < total and since is not None and since != query_since):
                return

    async def contact_history(self, contact_external_id: str) -> AsyncIterator[Page]:
        """Every ticket the user requested, with comments: `/users/{id}/tickets/requested`."""
        user_id = _zendesk_id(contact_external_id)
        async for page in self._pages(
            f"/api/v2/users/{user_id}/tickets/requested.json",
            {"page[size]": self.per_page, "include": "users,groups"},
            key="tickets",
            action=f"read the tickets of customer {contact_external_id}",
        ):
            batch = await self._batch(
                page.objects("tickets"), page.objects("users"), page.objects("groups")
            )
            yield batch.page(None, more=True)

    async def _batch(
        self,
        tickets: list[Fields],
        users: list[Fields],
        groups: list[Fields],
        stream: _CommentStream | None = None,
    ) -> _Batch:
        """Conversations (with their threads), contacts, agents and teams of one page."""
        sideloaded = self._remember_users(users)
        live = [t for t in tickets if t.text("status", "open").lower() != "deleted"]
        deleted = tuple(t.id() for t in tickets if t.text("status", "open").lower() == "deleted")
        requesters = {t.opt_id("requester_id") for t in live} - {None}
        streamed: dict[str, list[Fields]] = {}
        if stream is not None and live:
            for t in live:
                t.id()  # a ticket without an id is malformed before anything else is read
            await stream.advance_past(max(_generated(t, self) for t in live))
            for t in live:
                held = stream.take(t.id())  # taken either way: nothing is held for long
                if stream.covers(self._time(t, "created_at")):
                    streamed[t.id()] = held
            for ticket_id in deleted:
                stream.take(ticket_id)
        authors = {c.opt_id("author_id") for cs in streamed.values() for c in cs}
        wanted = (requesters | authors) - {None, "-1"}
        await self._fill_users({u for u in wanted if u is not None and u not in self._users})

        async def thread(ticket: Fields) -> tuple[MessageRecord, ...] | None:
            comments = streamed.get(ticket.id())
            if comments is None:
                return await self._thread(ticket)
            return self._messages(ticket, comments)

        threads = await asyncio.gather(*(thread(t) for t in live))
        conversations = tuple(
            self._conversation(ticket, messages) for ticket, messages in zip(live, threads)
        )
        seen: set[str] = set()
        contacts: list[ContactRecord] = []
        agents: list[AgentRecord] = []
        for user in sideloaded + [self._users[r] for r in requesters if r in self._users]:
            if user.id in seen:
                continue
            seen.add(user.id)
            if map_role(user.role) is None or user.id in requesters:
                contacts.append(self._contact(user))
            else:
                agents.append(self._agent(user))
        teams = tuple(
            TeamRecord(g.id(), g.text("name", "")) for g in groups if not g.flag("deleted")
        )
        return _Batch(conversations, tuple(contacts), tuple(agents), teams, deleted)

    async def _fill_users(self, ids: set[str]) -> None:
        """Requesters the page did not sideload (search fallback): fetch them in batches."""
        ordered = sorted(ids)
        for start in range(0, len(ordered), 100):
            batch = ordered[start : start + 100]
            try:
                data = await self._http.get_json(
                    "/api/v2/users/show_many.json",
                    params={"ids": ",".join(batch)},
                    action="read customers",
                )
            except (NotFound, PermissionDenied):
                return  # the store keeps a stub customer; their profile fills in later
            self._remember_users(self._fields(data, "users").objects("users"))

    def _contact(self, user: _User) -> ContactRecord:
        fields = user.fields
        locale = fields.opt_text("locale")
        identities: list[Identity] = []
        email = normalise_email(user.email)
        if email:
            identities.append(Identity("email", email))
        for key in ("phone", "shared_phone_number"):
            phone = normalise_phone(fields.opt_text(key), locale)
            if phone and Identity("phone", phone) not in identities:
                identities.append(Identity("phone", phone))
        attributes: dict[str, AttributeValue] = {
            k: v for k, v in fields.scalars("user_fields").items() if v not in (None, "")
        }
        if locale:
            attributes["language"] = locale
        time_zone = fields.opt_text("time_zone")
        if time_zone:
            attributes["time_zone"] = time_zone
        return ContactRecord(
            external_id=user.id,
            name=user.name or email or f"Zendesk user {user.id}",
            identities=tuple(identities),
            attributes=attributes,
            created_at=self._time(fields, "created_at") if fields.has("created_at") else None,
            updated_at=self._time(fields, "updated_at") if fields.has("updated_at") else None,
        )

    def _conversation(
        self, ticket: Fields, messages: tuple[MessageRecord, ...] | None
    ) -> ConversationRecord:
        ticket_id = ticket.id()
        via = ticket.obj("via")
        vendor_status = ticket.text("status", "open")
        subject = ticket.opt_text("subject") or ticket.opt_text("raw_subject") or ""
        if not subject:
            description = (ticket.opt_text("description") or "").strip()
            subject = description.splitlines()[0][:120] if description else ""
        rating = ticket.obj("satisfaction_rating")
        score = rating.opt_text("score") if rating is not None else None
        # Zendesk's own ticket metrics (`include=metric_sets`): when it was last solved and how
        # often it was reopened. Without the sideload the store derives them from what it sees.
        metrics = ticket.obj("metric_set")
        solved_at = None
        if metrics is not None and metrics.opt_text("solved_at"):
            solved_at = self._time(metrics, "solved_at")
        return ConversationRecord(
            external_id=ticket_id,
            channel=map_channel(via.opt_text("channel") if via is not None else None),
            subject=subject,
            status=map_status(vendor_status),
            vendor_status=vendor_status,
            priority=map_priority(ticket.opt_text("priority")),
            created_at=self._time(ticket, "created_at"),
            updated_at=self._time(ticket, "updated_at"),
            # safe_update compares `updated_stamp` with the ticket's updated_at, verbatim.
            version=ticket.text("updated_at"),
            customer_external_id=ticket.opt_id("requester_id"),
            assignee_external_id=ticket.opt_id("assignee_id"),
            team_external_id=ticket.opt_id("group_id"),
            tags=ticket.texts("tags"),
            web_url=f"{self.base_url}/agent/tickets/{ticket_id}",
            satisfaction=score if score not in (None, "", "unoffered") else None,
            messages=messages,
            solved_at=solved_at,
            reopens=metrics.number("reopens") if metrics is not None else None,
        )

    async def _thread(self, ticket: Fields) -> tuple[MessageRecord, ...] | None:
        """Every comment of a ticket, oldest first; None if the ticket vanished meanwhile."""
        ticket_id = ticket.id()
        comments: list[Fields] = []
        try:
            async for page in self._pages(
                f"/api/v2/tickets/{ticket_id}/comments.json",
                {"page[size]": 100, "include": "users"},
                key="comments",
                action=f"read the comments of ticket {ticket_id}",
            ):
                self._remember_users(page.objects("users"))
                comments.extend(page.objects("comments"))
        except NotFound:
            return None
        return self._messages(ticket, comments)

    def _messages(self, ticket: Fields, comments: list[Fields]) -> tuple[MessageRecord, ...]:
        """A ticket's comments as messages, oldest first."""
        via = ticket.obj("via")
        channel = map_channel(via.opt_text("channel") if via is not None else None)
        requester = ticket.opt_id("requester_id")
        messages = [self._message(c, channel, requester) for c in comments]
        messages.sort(key=lambda m: m.created_at)
        return tuple(messages)

    def _message(self, comment: Fields, channel: Channel, requester: str | None) -> MessageRecord:
        author_id = comment.opt_id("author_id")
        author = self._users.get(author_id) if author_id else None
        via = comment.obj("via")
        via_channel = (via.opt_text("channel") if via is not None else None) or ""
        name = author.name if author is not None else ""
        author_kind: AuthorKind
        if author_id is None or author_id == "-1":
            author_kind = "system"
        elif "Bot" in name or "bot" in via_channel.lower():
            author_kind = "bot"
        elif author is not None:
            author_kind = "customer" if map_role(author.role) is None else "agent"
        else:
            author_kind = "customer" if author_id == requester else "agent"
        body = comment.opt_text("body") or comment.opt_text("plain_body")
        if not body:
            html = comment.opt_text("html_body")
            body = html_to_text(html) if html else ""
        files = comment.objects("attachments")
        attachments = (
            tuple(
                Attachment(
                    name=a.text("file_name", "attachment"),
                    size=a.number("size"),
                    content_type=a.text("content_type", "application/octet-stream"),
                    url=a.text("content_url", ""),
                )
                for a in files
            )
            if files
            else ()  # most comments: no generator to build and drain
        )
        return MessageRecord(
            external_id=comment.id(),
            kind="reply" if comment.flag("public", True) else "note",
            author_kind=author_kind,
            author_name=name or ("Zendesk" if author_kind == "system" else f"user {author_id}"),
            body=body.strip(),
            created_at=self._time(comment, "created_at"),
            channel="voice" if comment.opt_text("type") == "VoiceComment" else channel,
            author_external_id=author_id,
            attachments=attachments,
        )

    # ------------------------------------------------------------ writes
    # Every ticket update carries `safe_update: true` + `updated_stamp` (the `updated_at` the
    # per-field check passed on): Zendesk answers 409 when the ticket moved on, which the
    # shared policy turns into ConflictError and the push engine answers by re-reading.
    # Zendesk honours `Idempotency-Key` only when *creating* tickets; a comment is a ticket
    # update, so a comment's idempotency rests on check-before-resend: the mutation id rides
    # along invisibly as the audit's custom metadata (`ticket.metadata`), which Zendesk
    # returns in the comment's `metadata.custom`, and `find_sent` looks for it.

    async def fetch_state(self, external_id: str) -> RemoteState:
        data = await self._http.get_json(
            f"/api/v2/tickets/{external_id}.json",
            action=f"read ticket {external_id} before changing it",
        )
        ticket = self._fields(data, "ticket").obj("ticket")
        if ticket is None:
            raise self._http.malformed(f"read ticket {external_id}", "no ticket object")
        if ticket.text("status", "open").lower() == "deleted":
            raise NotFound(f"Zendesk ticket {external_id} was deleted")
        return RemoteState(
            version=ticket.text("updated_at"),
            status=map_status(ticket.text("status", "open")),
            priority=map_priority(ticket.opt_text("priority")),
            assignee_external_id=ticket.opt_id("assignee_id"),
            team_external_id=ticket.opt_id("group_id"),
            tags=ticket.texts("tags"),
            updated_at=self._time(ticket, "updated_at"),
        )

    async def apply(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        ticket_id = request.conversation_external_id
        payload = request.payload
        action = request.action
        if action in ("reply", "note"):
            return await self._comment(request, current)
        if action == "tags":
            return await self._tags(request, current)
        update: dict[str, object]
        if action == "status":
            update = {"status": vendor_status(str(payload["status"]))}
        elif action == "priority":
            update = {"priority": str(payload["priority"])}
        elif action == "assign":
            if payload.get("unassign"):
                update = {"assignee_id": None}
            elif "agent_external_id" in payload:
                update = {"assignee_id": _zendesk_id(payload["agent_external_id"])}
            else:
                update = {"group_id": _zendesk_id(payload["team_external_id"])}
        else:  # snooze: the capability says local; the push engine never sends it here
            raise Invalid(
                "Zendesk has no snooze: agentdesk snoozes Zendesk tickets locally "
                "(this is a bug in agentdesk, please report it)"
            )
        data = await self._update(ticket_id, update, current, action=f"{action} ticket {ticket_id}")
        return WriteResult(version=self._version_of(data))

    async def find_sent(self, request: MutationRequest) -> str | None:
        ticket_id = request.conversation_external_id
        since = getattr(request, "created_at", None) or self._first_sent.get(request.id)
        me = await self._my_id() if since is not None else None
        body = str(request.payload.get("text", "")).strip()
        public = request.action == "reply"
        pages = self._pages(
            f"/api/v2/tickets/{ticket_id}/comments.json",
            {"page[size]": 100, "sort": "-created_at"},
            key="comments",
            action=f"check whether a comment on ticket {ticket_id} was already sent",
        )
        scanned = 0
        async for page in pages:
            for comment in page.objects("comments"):
                scanned += 1
                metadata = comment.obj("metadata")
                custom = metadata.obj("custom") if metadata is not None else None
                if custom is not None and custom.opt_text(MUTATION_MARKER) == request.id:
                    return comment.id()
                if since is None:
                    continue  # without a time bound, a same-text older reply is no proof
                created = self._time(comment, "created_at")
                if created < since - SENT_CLOCK_SKEW:
                    return None  # newest first: everything further is older than the request
                if (
                    comment.opt_id("author_id") == me
                    and comment.flag("public", True) == public
                    and (comment.opt_text("body") or "").strip() == body
                ):
                    return comment.id()
            if scanned >= FIND_SENT_LIMIT:
                break
        return None

    # ------------------------------------------------------------ write helpers
    async def _my_id(self) -> str:
        if self._me is None:
            self._me = (await self.whoami()).external_id
        return self._me

    async def _update(
        self,
        ticket_id: str,
        fields: Mapping[str, object],
        current: RemoteState,
        *,
        action: str,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Fields:
        body = {"ticket": {**fields, "safe_update": True, "updated_stamp": current.version}}
        data = await self._http.request_json(
            "PUT",
            f"/api/v2/tickets/{ticket_id}.json",
            json_body=body,
            headers=headers,
            action=action,
            idempotent=idempotent,
        )
        return self._fields(data, "ticket update")

    def _version_of(self, data: Fields) -> str | None:
        ticket = data.obj("ticket")
        return ticket.opt_text("updated_at") if ticket is not None else None

    async def _comment(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        ticket_id = request.conversation_external_id
        kind = "reply" if request.action == "reply" else "internal note"
        self._first_sent.setdefault(request.id, utcnow())
        data = await self._update(
            ticket_id,
            {
                "comment": {
                    "body": str(request.payload["text"]),
                    "public": request.action == "reply",
                },
                "metadata": {MUTATION_MARKER: request.id},
            },
            current,
            action=f"add a {kind} to ticket {ticket_id}",
            # Harmless where Zendesk ignores it, and lets a gateway or the simulator dedupe.
            headers={"Idempotency-Key": request.id},
            # Adding a comment twice is not harmless: never blind-retry a lost response;
            # the push engine calls find_sent before trying again.
            idempotent=False,
        )
        message_id: str | None = None
        audit = data.obj("audit")
        if audit is not None:
            for event in audit.objects("events"):
                if event.opt_text("type") in ("Comment", "VoiceComment") and event.has("id"):
                    message_id = event.id()
                    break
        if message_id is None:
            # The response did not say which comment it made: look it up, so the local copy
            # becomes the server's message instead of sitting beside it after the next pull.
            message_id = await self.find_sent(request)
        return WriteResult(version=self._version_of(data), message_external_id=message_id)

    async def _tags(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        """Tags as set operations on the tags endpoints, so a colleague's tags survive."""
        ticket_id = request.conversation_external_id
        have = set(current.tags)
        add = [t for t in _strings(request.payload.get("add")) if t not in have]
        remove = [t for t in _strings(request.payload.get("remove")) if t in have]
        path = f"/api/v2/tickets/{ticket_id}/tags.json"
        if add:
            await self._http.request_json(
                "PUT",
                path,
                json_body={"tags": add, "safe_update": True, "updated_stamp": current.version},
                action=f"add tags to ticket {ticket_id}",
            )
            if remove:  # the add moved updated_at on: the removal needs the new stamp
                current = await self.fetch_state(ticket_id)
        if remove:
            await self._http.request_json(
                "DELETE",
                path,
                json_body={"tags": remove, "safe_update": True, "updated_stamp": current.version},
                action=f"remove tags from ticket {ticket_id}",
            )
        return WriteResult()


def _generated(ticket: Fields, connector: ZendeskConnector) -> int:
    """Where a ticket sits in the export: `generated_timestamp`, else its `updated_at`."""
    if ticket.has("generated_timestamp"):
        return ticket.number("generated_timestamp")
    return int(connector._time(ticket, "updated_at").timestamp())


class _CommentStream:
    """The ticket event export's comments since `start_time`, read ahead, kept by ticket.

    `advance_past(t)` returns once every comment made at or before `t` is held; `take`
    hands a ticket's comments over. Time-based paging repeats the events of the last second
    of each page (`next_page` starts at `end_time`), so events are deduplicated by id.
    """

    def __init__(self, connector: ZendeskConnector, start_time: int) -> None:
        self._connector = connector
        self.start_time = start_time
        self._held: dict[str, list[Fields]] = {}
        self._complete_to = start_time - 1  # every comment at or before this is held
        self._last_second: set[str] = set()
        self._queue: asyncio.Queue[Fields | BaseException | None] = asyncio.Queue(EVENTS_AHEAD)
        self._task: asyncio.Task[None] | None = None
        self.failed = False

    def covers(self, created_at: datetime) -> bool:
        """Whether a ticket created at `created_at` has all its comments in this stream."""
        return not self.failed and created_at.timestamp() >= self.start_time

    def take(self, ticket_id: str) -> list[Fields]:
        return self._held.pop(ticket_id, [])

    async def _read(self) -> None:
        http = self._connector._http
        url: str | None = EVENTS_PATH
        params: Params | None = {
            "start_time": self.start_time, "include": "comment_events"
        }  # fmt: skip
        try:
            while url is not None:
                data = await http.get_json(url, params=params, action="read the ticket events")
                page = self._connector._fields(data, "incremental ticket event export")
                await self._queue.put(page)
                nxt = page.opt_text("next_page")
                if page.flag("end_of_stream", default=True) or not nxt:
                    url = None
                else:
                    url, params = http.same_origin(nxt), None
            await self._queue.put(None)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the reader
            await self._queue.put(exc)

    async def advance_past(self, moment: int) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._read(), name="zendesk ticket events")
        while self._complete_to < moment and not self.failed:
            item = await self._queue.get()
            if item is None:
                self._complete_to = 2**62  # the end of the stream: everything is held
                return
            if isinstance(item, (PermissionDenied, NotFound)):
                # No event export here after all: the per-ticket path reads every thread.
                log.info("%s: no ticket event export, reading threads per ticket",
                         self._connector.settings.name)  # fmt: skip
                self.failed = True
                self._held.clear()
                return
            if isinstance(item, BaseException):
                raise item
            self._add(item)

    def _add(self, page: Fields) -> None:
        # The hot loop of a first pull (one pass over every comment): plain dict reads, with
        # a Fields wrapper only for the comments that become messages.
        end_time = page.number("end_time", self._complete_to + 1)
        end_of_stream = page.flag("end_of_stream", default=True)
        malformed = self._connector._http.malformed
        what = "incremental ticket event export.ticket_events"
        fail = page._fail
        fresh = 0
        last_second: set[str] = set()
        events = page.raw("ticket_events") or []
        if not isinstance(events, list):
            raise malformed("read the ticket events", "ticket_events is not a list")
        for i, event in enumerate(events):
            if not isinstance(event, dict):
                raise malformed("read the ticket events", f"ticket_events[{i}] is not an object")
            event_id, ticket_id = event.get("id"), event.get("ticket_id")
            if not isinstance(event_id, (int, str)) or not isinstance(ticket_id, (int, str)):
                raise malformed("read the ticket events", f"ticket_events[{i}] has no id")
            key = str(event_id)
            if event.get("timestamp") == end_time:
                last_second.add(key)
            if key in self._last_second:
                continue
            fresh += 1
            children = event.get("child_events") or ()
            if not isinstance(children, list):
                continue
            for j, child in enumerate(children):
                if (
                    isinstance(child, dict)
                    and child.get("event_type") == "Comment"
                    and child.get("body") is not None
                ):
                    held = self._held.setdefault(str(ticket_id), [])
                    held.append(Fields(child, f"{what}[{i}].child_events[{j}]", fail))
        if not fresh and not end_of_stream:
            raise malformed("read the ticket events", "a page brought no new events")
        self._last_second = last_second
        # Events of the page's last second may continue on the next page.
        self._complete_to = max(self._complete_to, end_time - 1)
        if end_of_stream:
            self._complete_to = 2**62

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


MUTATION_MARKER = "agentdesk_mutation"
"""Key of the mutation id in a comment's custom metadata (invisible to the customer)."""
FIND_SENT_LIMIT = 300
SENT_CLOCK_SKEW = timedelta(minutes=2)
_VENDOR_STATUS: dict[str, str] = {"on_hold": "hold"}


def vendor_status(status: str) -> str:
    """agentdesk status → Zendesk's (`on_hold` is Zendesk's `hold`)."""
    return _VENDOR_STATUS.get(status, status)


def _zendesk_id(value: object) -> int | str:
    """Zendesk ids are integers in JSON (the OAS says so); keep anything else as given."""
    text = str(value)
    return int(text) if text.isdigit() else text


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


__all__ = [
    "ZendeskConnector",
    "map_channel",
    "map_priority",
    "map_status",
    "vendor_status",
]


def _ticket_results(page: Fields) -> list[Fields]:
    """The tickets of one Search API page (results may hold other types)."""
    return [r for r in page.objects("results") if r.opt_text("result_type") in (None, "ticket")]
