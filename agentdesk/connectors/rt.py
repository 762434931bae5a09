"""Request Tracker 5 over its REST2 API (`/REST/2.0`, `Authorization: token ...`).

RT facts this module is built around (all checked against RT 5.0.3, see tests/rt/):

* Users are addressed by *name* in REST2 (`{"type": "user", "id": "alice"}`; requestors
  created from mail are named by their address), so a user's Name is its external id.
  Transactions that change the owner carry numeric user ids instead; those are resolved.
* TicketSQL reads dates as `'YYYY-MM-DD HH:MM:SS'` in the *requesting user's* time zone.
  ISO 8601 with `T...Z` is silently misread (as midnight of that day) and explicit offsets are
  ignored, so the incremental cursor is formatted in the user's zone (or the server's zone,
  measured once, when the user has none).
* A ticket's ETag is the id of its last transaction. `If-Match` on `PUT /ticket/N` gives 412
  when stale. `/ticket/N/correspond` and `/comment` have no ETag at all, so RT answers 412 to
  *every* `If-Match` there: replies and notes are sent without it (a new message on the
  ticket is not a conflict for a reply anyway).
* A reply/note's 201 carries `Location: /REST/2.0/transaction/N` (the body only says
  "Correspondence added"): that N is the message's id. REST2 keeps nothing else of ours with a
  message (no custom headers), so check-before-resend matches by kind, author, text (RT
  stores it exactly, CRLF becoming LF) and a transaction id above the request's base ETag.
* `PUT /ticket/N` answers 200 even when a change failed (bad status, unknown owner or queue);
  the error is only in the message list. Every update is therefore verified by reading the
  ticket back, and a change that did not take raises `Invalid` with RT's own words.
* RT has no tags (custom fields are not tags) and no snooze.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import ClassVar
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import html2text
import httpx

from agentdesk.connectors.base import (
    RECENT_PAGE,
    RECENT_PAGES,
    AccountSettings,
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
    TokenAuth,
    count_requests,
    decode_json,
)
from agentdesk.model import (
    AgentRecord,
    Attachment,
    AuthorKind,
    ContactRecord,
    ConversationRecord,
    Identity,
    MessageKind,
    MessageRecord,
    MutationRequest,
    Page,
    Priority,
    RemoteState,
    Status,
    TeamRecord,
    WhoAmI,
    WriteResult,
)
from agentdesk.timeutil import parse_timestamp, to_iso, utcnow

log = logging.getLogger(__name__)

REST = "/REST/2.0"
PER_PAGE = 100  # RT caps per_page at 100
NOBODY = "Nobody"
SYSTEM_USERS = frozenset({"RT_System", NOBODY})
RT_SQL_DATE = "%Y-%m-%d %H:%M:%S"
WHOLE_SECOND = 2**62  # cursor id meaning "every ticket of that second is synced"
AGENT_PROBES_PER_ROUND = 1000  # user records read per sync round while looking for agents
AGENT_RESCAN = timedelta(days=1)  # how often every user is read again (promotions)

# The user RT's scrips act as (e.g. "On Correspond Open Inactive Tickets").
RT_SYSTEM = "RT_System"
STATUS_FROM_RT: dict[str, Status] = {
    "new": "new",
    "open": "open",
    "stalled": "on_hold",
    "resolved": "solved",
    "rejected": "closed",
}
# The way back. RT has no "pending" (waiting on the customer); stalled is its closest state.
STATUS_TO_RT: dict[str, str] = {
    "new": "new",
    "open": "open",
    "pending": "stalled",
    "on_hold": "stalled",
    "solved": "resolved",
    "closed": "rejected",
}
# RT 5 shows priorities as Low 0 / Medium 50 / High 100 by default; 0 is also what every
# ticket gets when nobody set one, so 0 reads as "normal" rather than flagging all mail low.
PRIORITY_TO_RT: dict[Priority, int] = {"low": 20, "normal": 50, "high": 80, "urgent": 100}


def priority_from_rt(value: int) -> Priority:
    if value <= 0:
        return "normal"
    if value < 35:
        return "low"
    if value < 70:
        return "normal"
    if value < 100:
        return "high"
    return "urgent"


def rt_sql_date(moment: datetime, zone: tzinfo) -> str:
    """A TicketSQL date literal: local wall time in the zone RT reads it in (never ISO/Z)."""
    return moment.astimezone(zone).strftime(RT_SQL_DATE)


# ---------------------------------------------------------------- cursor
@dataclass(frozen=True, slots=True)
class TicketCursor:
    """Keyset position: every ticket with (LastUpdated, id) <= (updated, ticket_id) is synced.

    RT keeps LastUpdated to the second, so the id breaks ties inside one second: nothing is
    skipped and nothing is fetched twice, however many tickets share a second.
    """

    updated: datetime
    ticket_id: int

    def encode(self) -> str:
        return f"{to_iso(self.updated)}|{self.ticket_id}"

    @classmethod
    def decode(cls, text: str | None) -> TicketCursor | None:
        if not text:
            return None
        stamp, _, ident = text.partition("|")
        try:
            return cls(parse_timestamp(stamp), int(ident or 0))
        except ValueError:
            log.warning("RT cursor %r is not understood; syncing from the start", text)
            return None


@dataclass(frozen=True, slots=True)
class AgentScan:
    """How far the search for agents among RT's users has got: the users list's `page` to
    read next (by id), the highest user id already read, and when the list was last read to
    its end (None while the first pass is under way)."""

    page: int = 1
    top: int = 0
    complete_at: datetime | None = None

    def encode(self) -> str:
        done = to_iso(self.complete_at) if self.complete_at else ""
        return json.dumps({"page": self.page, "top": self.top, "complete_at": done})

    @classmethod
    def decode(cls, text: str | None) -> AgentScan:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            done = data.get("complete_at") or None
            return cls(int(data["page"]), int(data["top"]), parse_timestamp(done) if done else None)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("RT agent scan position %r is not understood; starting over", text)
            return cls()


@dataclass(slots=True)
class _Me:
    name: str
    real_name: str
    email: str
    role: str
    zone: tzinfo | None


class RTConnector:
    kind: ClassVar[str] = "rt"
    label: ClassVar[str] = "Request Tracker"
    capabilities: ClassVar[Capabilities] = Capabilities(
        can_reply=True,
        can_note=True,
        can_set_status=True,
        can_set_priority=True,
        can_tag=False,  # RT has no tags
        can_assign_agent=True,
        can_assign_team=True,  # the queue
        can_snooze=False,
        can_safe_update=True,  # If-Match on the ticket's ETag
        has_idempotency_keys=False,
        has_incremental_export=False,
    )
    resources: ClassVar[tuple[str, ...]] = ("teams", "agents", "tickets")
    # RT has no rate limit; 120 a minute is a polite ceiling for a self-hosted server.
    fast_lane: ClassVar[FastLane] = FastLane("poll", rate_limit_per_minute=120)

    def __init__(
        self,
        settings: AccountSettings,
        token: str,
        *,
        policy: HttpPolicy = DEFAULT_POLICY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # Accept the web root or the REST2 URL: both are what people copy from a browser.
        web = re.sub(r"/REST/2\.0/?$", "", settings.base_url.rstrip("/"))
        self.settings = settings
        self.web_url = web
        self._api = ApiClient(
            AccountSettings(
                settings.name,
                settings.connector,
                web,
                settings.user,
                settings.ca_bundle,
                settings.cache_days,
            ),
            vendor=self.label,
            auth=TokenAuth("token", token),
            policy=policy,
            transport=transport,
        )
        self._me: _Me | None = None
        self._zone: tzinfo | None = None
        self._user_names: dict[str, str] = {}  # numeric id -> Name
        self._queue_names: dict[str, str] = {}
        self._delivered = Delivered()
        self._html = html2text.HTML2Text()
        self._html.body_width = 0

    def __repr__(self) -> str:
        return f"RTConnector(account={self.settings.name!r}, url={self.web_url!r})"

    async def aclose(self) -> None:
        await self._api.aclose()

    # ------------------------------------------------------------ reading helpers
    def _f(self, data: object, what: str) -> Fields:
        return Fields(data, what, lambda problem: self._api.malformed(what, problem))

    async def _get(self, path: str, params: object = None, *, action: str) -> Fields:
        data = await self._api.get_json(REST + path, params=params, action=action)  # type: ignore[arg-type]
        return self._f(data, action)

    async def _collection(
        self, path: str, params: dict[str, str | int], *, action: str
    ) -> AsyncIterator[tuple[list[Fields], bool]]:
        """Pages of a REST2 collection: (items, more)."""
        page = 1
        while True:
            body = await self._get(
                path, {**params, "page": page, "per_page": PER_PAGE}, action=action
            )
            items = body.objects("items")
            pages = body.number("pages", default=page)
            more = page < pages and bool(items)
            yield items, more
            if not more:
                return
            page += 1

    # ------------------------------------------------------------ who am I
    async def whoami(self) -> WhoAmI:
        me = await self._whoami()
        return WhoAmI(me.name, me.real_name or me.name, me.email, me.role)  # type: ignore[arg-type]

    async def _whoami(self) -> _Me:
        if self._me is not None:
            return self._me
        await self._get("/rt", action="check the token")  # 401 -> AuthError, before anything
        if not self.settings.user:
            raise ConnectorError(
                f"account {self.settings.name} has no RT user name — RT's API cannot say whose "
                "token it is; add it with `agentdesk accounts add NAME --connector rt --user USER`"
            )
        user = await self._get(
            f"/user/{quote(self.settings.user, safe='@')}", action="read your RT user"
        )
        # The full record (with Disabled) of another user is shown only with AdminUsers, which
        # root and every SuperUser have: RT's REST2 has no endpoint for one's own rights.
        probe = await self._get("/user/RT_System", action="check your RT rights")
        role = "admin" if probe.has("Disabled") else "agent"
        zone_name = user.opt_text("Timezone") or ""
        zone: tzinfo | None = None
        if zone_name:
            try:
                zone = ZoneInfo(zone_name)
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("RT user time zone %r is unknown here; measuring it", zone_name)
        self._me = _Me(
            name=user.text("Name"),
            real_name=user.opt_text("RealName") or "",
            email=(user.opt_text("EmailAddress") or "").lower(),
            role=role,
            zone=zone,
        )
        self._zone = zone
        return self._me

    async def _sql_zone(self, sample_id: str | None = None) -> tzinfo:
        """The zone RT reads TicketSQL dates in: the user's, else the server's, measured."""
        me = await self._whoami()
        if me.zone is not None:
            return me.zone
        if self._zone is None:
            self._zone = await self._measure_server_zone(sample_id)
        return self._zone

    async def _measure_server_zone(self, sample_id: str | None) -> tzinfo:
        """RT's own Timezone setting is not in REST2; find its UTC offset from one ticket.

        `LastUpdated < 'U + d'` (naive) matches iff the server's offset is below d, so a binary
        search over quarter hours in [-14 h, +14 h] pins it in about seven requests.
        """
        body = await self._get(
            "/tickets",
            {
                "query": f"id = {sample_id}" if sample_id else "id > 0",
                "fields": "LastUpdated",
                "orderby": "LastUpdated",
                "order": "DESC",
                "per_page": 1,
            },
            action="measure the RT server's time zone",
        )
        items = body.objects("items")
        if not items:
            return UTC  # no tickets yet: nothing to misread either
        ident = items[0].id()
        updated = parse_timestamp(items[0].text("LastUpdated"))
        lo, hi = -56, 57  # quarter hours; the offset o satisfies lo <= o < hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            local = (updated + timedelta(minutes=15 * mid)).strftime(RT_SQL_DATE)
            hit = await self._get(
                "/tickets",
                {"query": f"id = {ident} AND LastUpdated < '{local}'", "fields": "id"},
                action="measure the RT server's time zone",
            )
            if hit.objects("items"):  # offset < mid quarter hours
                hi = mid
            else:
                lo = mid
        return timezone(timedelta(minutes=15 * lo))

    # ------------------------------------------------------------ pull
    async def pull(self, resource: str, cursor: str | None) -> AsyncIterator[Page]:  # type: ignore[override]
        if resource == "teams":
            async for page in self._pull_teams():
                yield page
        elif resource == "agents":
            async for page in self._pull_agents(cursor):
                yield page
        elif resource == "tickets":
            async for page in self._pull_tickets(cursor):
                yield page
        else:
            raise ValueError(f"RT has no resource {resource!r}")

    async def _pull_teams(self) -> AsyncIterator[Page]:
        async for items, more in self._collection(
            "/queues/all", {"fields": "Name,Disabled"}, action="list queues"
        ):
            teams = []
            for item in items:
                self._queue_names[item.id()] = item.text("Name", "")
                teams.append(TeamRecord(item.id(), item.text("Name", f"queue {item.id()}")))
            yield Page("teams", None, more, teams=tuple(teams))

    async def _privileged_group(self) -> str | None:
        """The Privileged group's id, where RT still lists it.

        Kept only for RT 5 releases from before the REST2 group fix (upstream's fix, Debian's
        5.0.3+dfsg-3~deb12u7): there one request lists every agent. Patched RT limits
        `/groups` to user-defined groups, so this finds nothing and `_scan_users` is used."""
        try:
            body = await self._get(
                "/groups",
                {
                    "query": '[{"field":"Domain","value":"SystemInternal"},'
                    '{"field":"Name","value":"Privileged"}]',
                    "fields": "Name",
                },
                action="find RT's privileged users",
            )
        except (NotFound, PermissionDenied):
            return None
        items = body.objects("items")
        return items[0].id() if items else None

    async def _pull_agents(self, cursor_text: str | None) -> AsyncIterator[Page]:
        # Agents are RT's privileged users; everyone else is a requestor (a contact), and
        # contacts arrive with their tickets instead of as one huge user list.
        group = await self._privileged_group()
        if group is None:
            async for page in self._scan_users(AgentScan.decode(cursor_text)):
                yield page
            return
        async for items, more in self._collection(
            f"/group/{group}/members", {}, action="list RT's privileged users"
        ):
            users = await asyncio.gather(
                *(self._get(f"/user/{item.id()}", action="read an RT user") for item in items)
            )
            agents = [a for a in (self._agent(user) for user in users) if a is not None]
            yield Page("agents", None, more, agents=tuple(agents))

    def _agent(self, user: Fields) -> AgentRecord | None:
        """An RT user as an agent, or None when it is not one (disabled, unprivileged, RT's own)."""
        name = user.text("Name")
        if user.has("id"):
            self._user_names[str(user.number("id"))] = name
        if name in SYSTEM_USERS or _int(user, "Disabled"):
            return None
        if user.has("Privileged") and not _int(user, "Privileged"):
            return None
        return AgentRecord(
            external_id=name,
            name=user.opt_text("RealName") or name,
            email=(user.opt_text("EmailAddress") or "").lower(),
            role="admin" if name == "root" else "agent",
        )

    async def _scan_users(self, scan: AgentScan) -> AsyncIterator[Page]:
        """Find agents by reading each user's own record, which still says `Privileged`.

        RT's user list does not say who is privileged, so each listed user is read once. The
        list is read by id in pages that stay put (RT never deletes users, new ones come last),
        a bounded number of users a round, so a site with many requestors fills its agents
        over a few rounds without delaying its tickets. Once through, each round reads only
        the users added since; the whole list is read again daily to catch promotions."""
        if scan.complete_at is not None and utcnow() - scan.complete_at > AGENT_RESCAN:
            scan = replace(scan, page=1, top=0, complete_at=None)
        sem = asyncio.Semaphore(4)

        async def read(user_id: str) -> Fields:
            async with sem:
                return await self._get(f"/user/{user_id}", action="read an RT user")

        probed = 0
        while True:
            body = await self._get(
                "/users",
                {"fields": "Name,id", "orderby": "id", "order": "ASC",
                 "page": scan.page, "per_page": PER_PAGE},
                action="list RT's users",
            )  # fmt: skip
            items = body.objects("items")
            fresh = [n for n in (item.number("id") for item in items) if n > scan.top]
            users = await asyncio.gather(*(read(str(n)) for n in fresh))
            probed += len(users)
            agents = [a for a in (self._agent(u) for u in users) if a is not None]
            top = max(fresh, default=scan.top)
            last = body.number("pages", default=scan.page) <= scan.page or len(items) < PER_PAGE
            scan = AgentScan(
                page=scan.page if last else scan.page + 1,
                top=top,
                complete_at=(scan.complete_at or utcnow()) if last else scan.complete_at,
            )
            more = not last and probed < AGENT_PROBES_PER_ROUND
            yield Page("agents", scan.encode(), more, agents=tuple(agents))
            if not more:
                return

    def _ticket_query(self, cursor: TicketCursor | None, zone: tzinfo) -> str:
        if cursor is None:
            since = utcnow() - timedelta(days=self.settings.cache_days)
            return f"LastUpdated >= '{rt_sql_date(since, zone)}'"
        second = rt_sql_date(cursor.updated, zone)
        if cursor.ticket_id >= WHOLE_SECOND:
            return f"LastUpdated > '{second}'"
        return (
            f"(LastUpdated > '{second}' OR (LastUpdated = '{second}' AND id > {cursor.ticket_id}))"
        )

    async def _pull_tickets(self, cursor_text: str | None) -> AsyncIterator[Page]:
        cursor = TicketCursor.decode(cursor_text)
        if cursor is None:
            # The first sync only bounds the cache window (days): the zone cannot matter
            me = await self._whoami()
            zone: tzinfo = me.zone or self._zone or UTC
        else:
            zone = await self._sql_zone(str(cursor.ticket_id))
        # RT serves with a couple of workers: a few tickets in flight keep it busy, not buried
        sem = asyncio.Semaphore(4)
        while True:
            if cursor is not None and zone is UTC and (await self._whoami()).zone is None:
                zone = await self._sql_zone(str(cursor.ticket_id))
            params = {
                "query": self._ticket_query(cursor, zone),
                "fields": "LastUpdated,Requestor",
                "fields[Requestor]": "Name,EmailAddress,RealName",
                "orderby": ["LastUpdated", "id"],
                "order": ["ASC", "ASC"],
                "page": 1,
                "per_page": PER_PAGE,
            }
            response = await self._api.request(
                "GET", REST + "/tickets", params=_flatten(params), action="search tickets"
            )
            body = self._f(decode_json(response), "search tickets")
            items = body.objects("items")
            if not items:
                yield Page("tickets", cursor.encode() if cursor else cursor_text, False)
                return
            fetched = await self._tickets_page(items, sem)
            last = items[-1]
            cursor = TicketCursor(parse_timestamp(last.text("LastUpdated")), int(last.id()))
            more = body.number("pages", 1) > 1
            yield replace(fetched, cursor=_settled(cursor, response.headers.get("date")).encode(),
                          more=more)  # fmt: skip
            if not more:
                return

    async def recent(self, since: datetime | None) -> Recent:
        """Tickets whose LastUpdated is at or after `since` (TicketSQL, newest first, one
        small page), read with their threads; the incremental pull confirms them later."""
        with count_requests() as sent:
            zone = await self._sql_zone()
            query = "id > 0" if since is None else f"LastUpdated >= '{rt_sql_date(since, zone)}'"
            listed: list[Fields] = []
            for number in range(1, RECENT_PAGES + 1):
                body = await self._get(
                    "/tickets",
                    {"query": query,
                     "fields": "LastUpdated,Requestor",
                     "fields[Requestor]": "Name,EmailAddress,RealName",
                     "orderby": "LastUpdated", "order": "DESC", "page": number,
                     "per_page": RECENT_PAGE},
                    action="search recently updated tickets",
                )  # fmt: skip
                items = body.objects("items")
                listed += items
                times = [parse_timestamp(i.text("LastUpdated")) for i in items]
                if not reads_on(since, times, len(items) >= RECENT_PAGE, number):
                    break
            pick = pick_recent(
                since, listed, self._delivered, version=lambda i: i.text("LastUpdated"),
                updated=lambda i: parse_timestamp(i.text("LastUpdated")),
            )  # fmt: skip
            page = await self._tickets_page(pick.changed, asyncio.Semaphore(4))
            return Recent(replace(page, more=False), pick.handed_on(), sent())

    async def _ticket(self, ident: str) -> ConversationRecord | str:
        """One ticket with its thread; a deleted ticket becomes its id (a tombstone)."""
        # The thread may run ahead of the version read here: newer messages are harmless.
        ticket, version = await self._read_ticket(ident)
        vendor_status = ticket.text("Status")
        if vendor_status == "deleted":
            return ident
        requestors = [r.id() for r in ticket.objects("Requestor")]
        owner = ticket.obj("Owner")
        owner_name = owner.id() if owner else NOBODY
        queue = ticket.obj("Queue")
        messages = await self._thread(ident, set(requestors))
        return ConversationRecord(
            external_id=str(ticket.id()),
            channel="email",
            subject=ticket.text("Subject", ""),
            status=STATUS_FROM_RT.get(vendor_status, "open"),
            vendor_status=vendor_status,
            priority=priority_from_rt(_int(ticket, "Priority")),
            created_at=parse_timestamp(ticket.text("Created")),
            updated_at=parse_timestamp(ticket.text("LastUpdated")),
            version=version,
            customer_external_id=requestors[0] if requestors else None,
            assignee_external_id=None if owner_name == NOBODY else owner_name,
            team_external_id=queue.id() if queue else None,
            tags=(),
            web_url=f"{self.web_url}/Ticket/Display.html?id={ident}",
            messages=tuple(messages),
            solved_at=_resolved(ticket),
            reopens=None,  # RT keeps no reopen count: the store counts what it sees
        )

    # ------------------------------------------------------------ thread
    async def _thread(self, ident: str, requestors: set[str]) -> list[MessageRecord]:
        txns: list[Fields] = []
        async for items, _ in self._collection(
            f"/ticket/{ident}/history",
            {
                "fields": "Type,Created,Creator,Field,OldValue,NewValue",
                "fields[Creator]": "Name,RealName,EmailAddress",
            },
            action=f"read the history of ticket {ident}",
        ):
            txns.extend(items)
        messages: list[MessageRecord] = []
        for txn in txns:
            message = await self._message(txn, requestors)
            if message is not None:
                messages.append(message)
        return messages

    async def _message(self, txn: Fields, requestors: set[str]) -> MessageRecord | None:
        kind_rt = txn.text("Type", "")
        creator = txn.obj("Creator")
        author = creator.id() if creator else "RT_System"
        author_name = (creator.opt_text("RealName") if creator else None) or author
        created = parse_timestamp(txn.text("Created"))
        author_kind: AuthorKind = "system" if author in SYSTEM_USERS else "agent"
        kind: MessageKind
        if kind_rt in ("Create", "Correspond", "Comment"):
            body, attachments = await self._content(txn.id())
            if kind_rt == "Comment":
                kind = "note"
            else:
                kind = "reply"
                if author in requestors:
                    author_kind = "customer"
        else:
            body = await self._event_text(txn)
            if body is None:
                return None
            kind, attachments = "event", ()
        return MessageRecord(
            external_id=txn.id(),
            kind=kind,
            author_kind=author_kind,
            author_name=author_name,
            body=body,
            created_at=created,
            channel="email",
            author_external_id=author,
            attachments=attachments,
        )

    async def _content(self, txn_id: str) -> tuple[str, tuple[Attachment, ...]]:
        plain: list[str] = []
        html: list[str] = []
        files: list[Attachment] = []
        async for items, _ in self._collection(
            f"/transaction/{txn_id}/attachments",
            {"fields": "ContentType,Content,Filename,ContentLength"},
            action=f"read the message of transaction {txn_id}",
        ):
            for part in items:
                ctype = (part.opt_text("ContentType") or "").lower()
                name = part.opt_text("Filename") or ""
                if name:
                    files.append(
                        Attachment(
                            name=name,
                            size=_int(part, "ContentLength"),
                            content_type=ctype,
                            url=self._api.same_origin(part.text("_url", "")),
                        )
                    )
                elif ctype == "text/plain":
                    plain.append(part.opt_text("Content") or "")
                elif ctype == "text/html":
                    html.append(part.opt_text("Content") or "")
        if plain:
            body = "\n\n".join(plain)
        else:
            body = "\n\n".join(self._html.handle(h).strip() for h in html)
        return body.strip(), tuple(files)

    async def _event_text(self, txn: Fields) -> str | None:
        kind = txn.text("Type", "")
        field = txn.opt_text("Field") or ""
        old, new = txn.opt_text("OldValue") or "", txn.opt_text("NewValue") or ""
        if kind == "Status" or (kind == "Set" and field == "Status"):
            return f"Status changed from {old} to {new}"
        if field == "Owner" and kind in ("Set", "Give", "Take", "Steal", "Untake"):
            return f"Owner changed from {await self._user(old)} to {await self._user(new)}"
        if kind == "Set" and field == "Queue":
            return f"Queue changed from {await self._queue(old)} to {await self._queue(new)}"
        if kind == "Set" and field in ("Priority", "Subject"):
            return f"{field} changed from {old or '(none)'} to {new or '(none)'}"
        return None  # mail records, watcher and link bookkeeping: not part of the thread

    async def _user(self, numeric: str) -> str:
        if not numeric or numeric == "0":
            return NOBODY
        if numeric not in self._user_names:
            try:
                user = await self._get(f"/user/{numeric}", action="read an RT user")
                self._user_names[numeric] = user.text("Name")
            except NotFound:
                self._user_names[numeric] = f"user {numeric}"
        return self._user_names[numeric]

    async def _queue(self, ident: str) -> str:
        if ident not in self._queue_names:
            try:
                queue = await self._get(f"/queue/{ident}", action="read an RT queue")
                self._queue_names[ident] = queue.text("Name")
            except NotFound:
                self._queue_names[ident] = f"queue {ident}"
        return self._queue_names[ident]

    # ------------------------------------------------------------ cache policy
    async def open_backlog(self) -> AsyncIterator[Page]:
        """Active tickets (RT's `__Active__`: new, open, stalled and any custom active
        status) last updated before the cache window, with their threads."""
        me = await self._whoami()
        bound = self.settings.backlog_before()  # a day of overlap: the zone cannot matter
        sql = f"Status = '__Active__' AND LastUpdated < '{rt_sql_date(bound, me.zone or UTC)}'"
        async for page in self._tickets_matching(sql, "search older active tickets"):
            yield page

    async def contact_history(self, contact_external_id: str) -> AsyncIterator[Page]:
        """Every ticket the user is a requestor of, with threads (TicketSQL on
        `Requestor.Name`, the contact's external id)."""
        name = contact_external_id.replace("\\", "").replace("'", "")
        async for page in self._tickets_matching(
            f"Requestor.Name = '{name}'", f"search the tickets of {contact_external_id}"
        ):
            yield page

    async def _tickets_matching(self, ticketsql: str, action: str) -> AsyncIterator[Page]:
        """Pages of every ticket matching `ticketsql` (by id), each with its thread."""
        sem = asyncio.Semaphore(4)
        async for items, more in self._collection(
            "/tickets",
            {"query": ticketsql, "fields": "Requestor", "fields[Requestor]":
             "Name,EmailAddress,RealName", "orderby": "id"},
            action=action,
        ):  # fmt: skip
            yield replace(await self._tickets_page(items, sem), more=more)

    async def _tickets_page(self, items: list[Fields], sem: asyncio.Semaphore) -> Page:
        """A page (no cursor, no more) of listed tickets: their requestors as contacts, each
        ticket read with its thread (a few at a time), the vanished ones as deleted."""
        contacts: dict[str, ContactRecord] = {}
        for item in items:
            for requestor in item.objects("Requestor"):
                contact = _contact(requestor)
                contacts.setdefault(contact.external_id, contact)

        async def one(ident: str) -> ConversationRecord | str:
            async with sem:
                return await self._ticket(ident)

        fetched = await asyncio.gather(*(one(item.id()) for item in items))
        return Page(
            "tickets",
            None,
            False,
            conversations=tuple(r for r in fetched if isinstance(r, ConversationRecord)),
            contacts=tuple(contacts.values()),
            deleted_conversation_ids=tuple(r for r in fetched if isinstance(r, str)),
        )

    # ------------------------------------------------------------ searches
    async def search_ticket_ids(self, ticketsql: str, *, limit: int = PER_PAGE) -> list[str]:
        """Ids of tickets matching raw TicketSQL (ordered by id); bad TicketSQL -> Invalid."""
        ids: list[str] = []
        async for items, _ in self._collection(
            "/tickets",
            {"query": ticketsql, "fields": "id", "orderby": "id"},
            action="search tickets",
        ):
            ids.extend(item.id() for item in items)
            if len(ids) >= limit:
                break
        return ids[:limit]

    async def requestor_ticket_ids(self, email: str, *, exclude: str | None = None) -> list[str]:
        """The requestor's other tickets (their history), newest first by id."""
        quoted = email.replace("\\", "").replace("'", "")
        sql = f"Requestor.EmailAddress = '{quoted}'"
        if exclude:
            sql += f" AND id != {int(exclude)}"
        return sorted(await self.search_ticket_ids(sql), key=int, reverse=True)

    # ------------------------------------------------------------ writes (push)
    async def version(self, external_id: str) -> str:
        """The ticket's current ETag (what a write's base_version is compared with)."""
        _, etag = await self._read_ticket(external_id)
        return etag

    async def fetch_state(self, external_id: str) -> RemoteState:
        """The ticket's conflict-relevant fields and its ETag; NotFound once it is deleted."""
        ticket, etag = await self._read_ticket(external_id)
        if ticket.text("Status", "") == "deleted":
            raise NotFound(f"ticket {external_id} was deleted in Request Tracker")
        owner = ticket.obj("Owner")
        owner_name = owner.id() if owner else NOBODY
        queue = ticket.obj("Queue")
        by = ticket.obj("LastUpdatedBy")
        updated = ticket.opt_text("LastUpdated")
        vendor_status = ticket.text("Status", "")
        return RemoteState(
            version=etag,
            status=STATUS_FROM_RT.get(vendor_status, "open"),
            priority=priority_from_rt(_int(ticket, "Priority")),
            assignee_external_id=None if owner_name == NOBODY else owner_name,
            team_external_id=queue.id() if queue else None,
            tags=(),  # RT has no tags
            snoozed_until=None,  # nor snooze: agentdesk snoozes locally
            updated_by=by.id() if by else None,
            updated_at=parse_timestamp(updated) if updated else None,
        )

    async def apply(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        """One write. Field changes carry `If-Match: current.version` (stale -> RT's 412 ->
        ConflictError, and the push engine re-reads); replies and notes cannot (see above)."""
        ident = request.conversation_external_id
        payload = request.payload
        if request.action in ("reply", "note"):
            text = payload.get("text")
            if not isinstance(text, str) or not text.strip():
                raise Invalid(f"a {request.action} to ticket {ident} needs some text")
            kind = "correspond" if request.action == "reply" else "comment"
            txn = await self._post_message(ident, kind, text, after=current.version)
            ticket, etag = await self._read_ticket(ident)
            return WriteResult(
                version=etag,
                message_external_id=txn,
                side_effects=await self._own_status_change(ident, ticket, current, txn),
            )
        changes: dict[str, str | int]
        if request.action == "status":
            status = str(payload.get("status"))
            if status not in STATUS_TO_RT:
                raise Invalid(f"{status!r} is not a status agentdesk can set in Request Tracker")
            changes = {"Status": STATUS_TO_RT[status]}
        elif request.action == "priority":
            priority = payload.get("priority")
            if priority not in PRIORITY_TO_RT:
                raise Invalid(f"{priority!r} is not a priority")
            changes = {"Priority": PRIORITY_TO_RT[priority]}  # type: ignore[index]
        elif request.action == "assign":
            if payload.get("unassign"):
                changes = {"Owner": NOBODY}
            elif payload.get("agent_external_id"):
                changes = {"Owner": str(payload["agent_external_id"])}
            elif payload.get("team_external_id"):
                changes = {"Queue": str(payload["team_external_id"])}
            else:
                raise Invalid(f"an assignment of ticket {ident} needs an agent or a queue")
        elif request.action == "tags":
            raise Invalid(
                "Request Tracker has no tags, so agentdesk cannot tag ticket "
                f"{ident} (custom fields are not mapped as tags)"
            )
        else:
            raise Invalid(f"Request Tracker has no {request.action}; agentdesk keeps it locally")
        return WriteResult(version=await self._update(ident, changes, current.version))

    async def _own_status_change(
        self, ident: str, ticket: Fields, before: RemoteState, txn: str
    ) -> dict[str, str]:
        """RT's scrip "On Correspond Open Inactive Tickets" re-opens a new or stalled ticket
        as part of our reply. When the status moved and every transaction after our message
        is ours or RT's own, that move is the reply's side effect, not a colleague's change."""
        status = STATUS_FROM_RT.get(ticket.text("Status", ""))
        if status is None or status == before.status or not txn.isdigit():
            return {}
        me = await self._whoami()
        query = [{"field": "id", "operator": ">", "value": txn}]
        async for item in self._transactions(
            ident, query, action=f"read what followed the message on ticket {ident}"
        ):
            creator = item.obj("Creator")
            # RT's scrips act as RT_System (the re-open, the mail records); anyone else
            # acting after our message is a colleague, and their change stays theirs.
            if creator is None or creator.id() not in (me.name, RT_SYSTEM):
                return {}
        return {"status": status}

    async def find_sent(self, request: MutationRequest) -> str | None:
        """Check-before-resend: the transaction a lost reply/note already created, or None.

        REST2 keeps nothing of ours but the text (no custom headers survive, a Subject would be
        mailed to the customer, transaction custom fields need an admin to create one), so
        the match is: same kind, by this user, after the version the request was based on
        (an ETag is a transaction id, and ids only grow), with the same text.
        """
        if request.action not in ("reply", "note"):
            return None
        text = request.payload.get("text")
        if not isinstance(text, str):
            return None
        kind = "correspond" if request.action == "reply" else "comment"
        return await self._find_message(
            request.conversation_external_id, kind, text, after=request.base_version
        )

    async def _read_ticket(self, ident: str) -> tuple[Fields, str]:
        """A ticket and its ETag from one response, so the version never runs ahead of the
        fields it guards."""
        response = await self._api.request(
            "GET", f"{REST}/ticket/{ident}", action=f"read ticket {ident}"
        )
        etag = (response.headers.get("etag") or "").strip().removeprefix("W/").strip('"')
        return self._f(decode_json(response), f"ticket {ident}"), etag

    async def _post_message(self, ident: str, kind: str, text: str, *, after: str) -> str:
        """POST a Correspond/Comment; the id of the transaction it created.

        RT answers 201 with `Location: /REST/2.0/transaction/N` (the body is only a message
        list such as ["Correspondence added"]); the history is the fallback.
        """
        what = "reply to" if kind == "correspond" else "add a note to"
        # No If-Match: RT answers 412 to any If-Match here (the resource has no ETag), and a
        # newer customer message does not make a reply wrong anyway.
        response = await self._api.request(
            "POST",
            f"{REST}/ticket/{ident}/{kind}",
            json_body={"Content": text, "ContentType": "text/plain"},
            action=f"{what} ticket {ident}",
        )
        if response.status_code != 201:
            raise Invalid(
                f"Request Tracker did not {what} ticket {ident} "
                f"(HTTP {response.status_code}: {_messages_text(response)})"
            )
        found = re.search(r"/transaction/(\d+)/?$", response.headers.get("location", ""))
        if found:
            return found.group(1)
        txn = await self._find_message(ident, kind, text, after=after)
        if txn is None:
            raise self._api.malformed(
                f"{what} ticket {ident}", "the new message is not in its history"
            )
        return txn

    async def _find_message(self, ident: str, kind: str, text: str, *, after: str) -> str | None:
        me = await self._whoami()
        rt_type = "Correspond" if kind == "correspond" else "Comment"
        query: list[dict[str, str]] = [{"field": "Type", "operator": "=", "value": rt_type}]
        if after.isdigit():
            query.append({"field": "id", "operator": ">", "value": after})
        wanted = _comparable(text)
        async for txn in self._transactions(
            ident, query, action=f"look for a message already sent to ticket {ident}"
        ):
            creator = txn.obj("Creator")
            if creator is None or creator.id() != me.name:
                continue
            if _comparable(await self._plain_text(txn.id())) == wanted:
                return txn.id()
        return None

    async def _transactions(
        self, ident: str, query: list[dict[str, str]], *, action: str
    ) -> AsyncIterator[Fields]:
        """The ticket's history transactions matching `query` (type and creator), oldest
        first."""
        async for items, _ in self._collection(
            f"/ticket/{ident}/history",
            {"query": json.dumps(query), "fields": "Type,Creator", "orderby": "id"},
            action=action,
        ):
            for item in items:
                yield item

    async def _plain_text(self, txn_id: str) -> str:
        """The text/plain body of a transaction exactly as RT stored it (no attachments)."""
        parts: list[str] = []
        async for items, _ in self._collection(
            f"/transaction/{txn_id}/attachments",
            {"fields": "ContentType,Content,Filename"},
            action=f"read the message of transaction {txn_id}",
        ):
            for part in items:
                ctype = (part.opt_text("ContentType") or "").lower()
                if ctype == "text/plain" and not part.opt_text("Filename"):
                    parts.append(part.opt_text("Content") or "")
        return "\n".join(parts)

    async def _update(
        self, ident: str, changes: dict[str, str | int], base_version: str | None
    ) -> str:
        """PUT field changes guarded by If-Match; the ticket's new ETag.

        RT answers 200 even when a change failed (unknown owner, bad status): the error is
        only in the message list, so the ticket is read back and a change that did not take
        is an Invalid with RT's own words.
        """
        headers = {"If-Match": f'"{base_version}"'} if base_version else None
        response = await self._api.request(
            "PUT",
            f"{REST}/ticket/{ident}",
            json_body=changes,
            headers=headers,
            action=f"update ticket {ident}",
        )
        said = _messages(response)
        after, etag = await self._read_ticket(ident)
        failed = [k for k, v in changes.items() if not self._took(after, k, v)]
        if failed:
            reason = "; ".join(said) or "no reason given"
            raise Invalid(
                f"Request Tracker did not change {', '.join(failed)} of ticket {ident}: "
                f"{reason[:300]}"
            )
        return etag

    def _took(self, ticket: Fields, key: str, wanted: str | int) -> bool:
        if key in ("Owner", "Queue"):
            current = ticket.obj(key)
            value = current.id() if current else ""
            if key == "Queue" and value != str(wanted):
                # RT accepts a queue by name too; compare with the name we know
                return self._queue_names.get(value) == str(wanted)
            return value == str(wanted)
        return (ticket.opt_text(key) or "") == str(wanted)


# ---------------------------------------------------------------- helpers
def _settled(cursor: TicketCursor, server_date: str | None) -> TicketCursor:
    """The cursor to store: never inside a second that RT's clock has not finished yet.

    A ticket with a lower id could still be updated within that second and would sort
    before the cursor; storing "everything before that second" re-reads the few tickets of
    that second next time instead (a harmless upsert) and can never skip one.
    """
    if server_date:
        try:
            now = email.utils.parsedate_to_datetime(server_date)
        except (TypeError, ValueError):
            now = None
        if now is not None and now.tzinfo is not None and cursor.updated < now:
            return cursor
    return TicketCursor(cursor.updated - timedelta(seconds=1), WHOLE_SECOND)


def _resolved(ticket: Fields) -> datetime | None:
    """RT's `Resolved` date: when the ticket last went resolved (RT writes unset dates as
    1970-01-01, and keeps the old date when a resolved ticket is reopened)."""
    text = ticket.opt_text("Resolved")
    if not text:
        return None
    try:
        moment = parse_timestamp(text)
    except ValueError:
        return None
    return moment if moment.year > 1970 else None


def _contact(user: Fields) -> ContactRecord:
    name = user.id()
    email = (user.opt_text("EmailAddress") or "").strip().lower()
    identities = (Identity("email", email),) if email else ()
    return ContactRecord(
        external_id=name,
        name=user.opt_text("RealName") or email or name,
        identities=identities,
    )


def _int(fields: Fields, key: str) -> int:
    """RT sends numbers as JSON strings or numbers, depending on the field."""
    text = fields.opt_text(key)
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


def _flatten(params: dict[str, object]) -> list[tuple[str, str]]:
    """Query parameters with repeats (RT takes several `orderby`/`order`)."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        values: Iterable[object] = value if isinstance(value, list) else [value]
        out.extend((key, str(v)) for v in values)
    return out


def _messages(response: httpx.Response) -> list[str]:
    try:
        data = decode_json(response)
    except ValueError:
        return []
    if isinstance(data, list):
        return [str(m) for m in data if isinstance(m, (str, int))]
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return [data["message"]]
    return []


def _messages_text(response: httpx.Response) -> str:
    return "; ".join(_messages(response))[:300] or "no reason given"


def _comparable(text: str) -> str:
    """Text as RT stores it, for matching: RT turns CRLF into LF and keeps the rest, so only
    line endings and the whitespace around the whole text are normalised."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()
