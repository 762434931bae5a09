"""Freshdesk v2: vendor JSON in, agentdesk records out; writes through Freshdesk's own endpoints.

Read: groups, agents (roles from `/roles` when the token may read them), contacts (from
`_updated_since`), then tickets from `GET /api/v2/tickets?updated_since=...&order_by=updated_at
&order_type=asc` — Freshdesk's incremental pull. The list stops at 300 pages, so a long backlog
is read in runs that restart from the last `updated_at` seen. Each ticket's first message is its
`description`; the rest come from `/tickets/{id}/conversations`.

Cursors stored by sync: the last `updated_at` seen (ISO, Freshdesk's second precision) for
`tickets` and `contacts`. A replay of the boundary second is a harmless upsert.

Write: replies and notes are `POST /tickets/{id}/reply` and `/notes`; status, priority, tags,
assignment are `PUT /tickets/{id}`. Freshdesk has no version check and no idempotency key, so:
field writes re-read the ticket and refuse (ConflictError) when `updated_at` moved since the
state the push engine checked; tags are set operations against the server's current tags; and
an ambiguous reply is looked for (`find_sent`: same author, same text, created after the
mutation's base version) before it is sent again. Freshdesk has no snooze: it is local.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar

import httpx

from agentdesk.connectors.base import (
    RECENT_PAGE,
    RECENT_PAGES,
    AccountSettings,
    Capabilities,
    ConflictError,
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
    decode_json,
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

MAX_PAGES = 300  # Freshdesk serves at most 300 pages of a list
SEARCH_PAGE = 30  # Freshdesk's search: 30 results a page, pages 1 to 10
SEARCH_MAX_PAGES = 10
SEARCH_EPOCH = date(2010, 1, 1)  # before Freshdesk existed: the search's lower bound
# Every status that is neither Resolved (4) nor Closed (5), in the search query language.
OPEN_STATUSES = "status:2 OR status:3 OR status:6 OR status:7"

# Freshdesk status codes (2–5 built in; 6 and 7 are the default custom statuses).
_STATUS: dict[int, tuple[Status, str]] = {
    2: ("open", "Open"),
    3: ("pending", "Pending"),
    4: ("solved", "Resolved"),
    5: ("closed", "Closed"),
    6: ("pending", "Waiting on Customer"),
    7: ("on_hold", "Waiting on Third Party"),
}
_STATUS_CODE: dict[str, int] = {
    "new": 2, "open": 2, "pending": 3, "on_hold": 7, "solved": 4, "closed": 5,
}  # fmt: skip
_PRIORITY: dict[int, Priority] = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
_PRIORITY_CODE: dict[str, int] = {v: k for k, v in _PRIORITY.items()}
# Ticket `source`: 1 Email, 2 Portal, 3 Phone, 5 Twitter, 6 Facebook, 7 Chat, 8 Mobihelp,
# 9 Feedback widget, 10 Outbound email, 11 Ecommerce, 12 Bot, 13 WhatsApp.
_CHANNEL: dict[int, Channel] = {
    1: "email", 2: "web", 3: "voice", 5: "social", 6: "social", 7: "chat", 8: "web",
    9: "web", 10: "email", 11: "web", 12: "chat", 13: "social",
}  # fmt: skip
_LANGUAGE_LOCALE = {"ja": "ja", "en": "en"}


def map_status(code: int) -> tuple[Status, str]:
    """Freshdesk's status code → (agentdesk status, the vendor's own name for it)."""
    return _STATUS.get(code, ("open", f"status {code}"))


def map_priority(code: int) -> Priority:
    return _PRIORITY.get(code, "normal")


def map_channel(source: int) -> Channel:
    return _CHANNEL.get(source, "email")


def map_role(names: list[str]) -> Role:
    lowered = " ".join(names).lower()
    if "administrator" in lowered:
        return "admin"
    if "supervisor" in lowered:
        return "supervisor"
    return "agent"


def text_to_html(text: str) -> str:
    """An agent's plain text as the HTML Freshdesk's `body` takes (escaped, never markup)."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


class FreshdeskConnector:
    kind: ClassVar[str] = "freshdesk"
    label: ClassVar[str] = "Freshdesk"
    capabilities: ClassVar[Capabilities] = Capabilities(
        can_snooze=False,  # Freshdesk has no snooze: agentdesk snoozes locally
        can_safe_update=False,  # no server-side version check: compared before writing
        has_idempotency_keys=False,  # check-before-resend instead (find_sent)
        has_incremental_export=False,  # updated_since on the tickets list, not an export
    )
    resources: ClassVar[tuple[str, ...]] = ("groups", "agents", "contacts", "tickets")
    # Freshdesk Growth's limit (Pro 400, Enterprise 700 a minute).
    fast_lane: ClassVar[FastLane] = FastLane("poll", rate_limit_per_minute=200)

    def __init__(
        self,
        settings: AccountSettings,
        token: str,
        *,
        per_page: int = 100,
        policy: HttpPolicy = DEFAULT_POLICY,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.per_page = per_page
        self.base_url = settings.base_url.rstrip("/")
        # Freshdesk: Basic auth with the API key as user and "X" as password; only httpx holds it.
        self._http = ApiClient(
            settings,
            vendor=self.label,
            auth=httpx.BasicAuth(token, "X"),
            policy=policy,
            transport=transport,
            sleep=sleep,
        )
        self._me: WhoAmI | None = None
        self._role_names: dict[str, str] | None = None
        self._people: dict[str, tuple[str, AuthorKind]] = {}  # user id → (name, kind)
        self._contacts_seen: set[str] = set()
        self._delivered = Delivered()
        self._all_ratings: dict[str, str] | None = None  # for the cache policy's old tickets

    def __repr__(self) -> str:
        return f"FreshdeskConnector(account={self.settings.name!r}, url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------ plumbing
    def _fields(self, data: object, what: str) -> Fields:
        return Fields(data, what, lambda problem: self._http.malformed(f"read {what}", problem))

    def _time(self, fields: Fields, key: str) -> datetime:
        value = fields.text(key)
        try:
            return parse_timestamp(value)
        except ValueError:
            raise self._http.malformed("read a timestamp", f"{key}={value[:40]!r}") from None

    def _decode(self, response: httpx.Response, action: str) -> object:
        try:
            return decode_json(response)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self._http.malformed(action, "a body that is not JSON") from None

    async def _get(self, path: str, *, params: Params | None = None, action: str) -> Fields:
        data = await self._http.get_json(path, params=params, action=action)
        return self._fields(data, action)

    async def _pages(
        self, path: str, params: Params, *, action: str, max_pages: int | None = None
    ) -> AsyncIterator[tuple[list[Fields], bool]]:
        """Each page of a Freshdesk list (a JSON array) and whether a `Link: rel="next"`
        followed; the next page's URL comes from that header, rebased on the account URL."""
        url: str = path
        query: Params | None = params
        pages = 0
        while True:
            response = await self._http.request("GET", url, params=query, action=action)
            data = self._decode(response, action)
            if not isinstance(data, list):
                raise self._http.malformed(action, "a list was expected")
            items = [self._fields(item, f"{action}[{i}]") for i, item in enumerate(data)]
            pages += 1
            link = response.links.get("next", {}).get("url")
            more = bool(link)
            if max_pages is not None and pages >= max_pages:
                yield items, more
                return
            yield items, more
            if not link:
                return
            url, query = self._http.same_origin(link), None

    # ------------------------------------------------------------ whoami
    async def _roles(self) -> dict[str, str]:
        """Role id → name; an agent-level key may not read roles (403): then none are known."""
        if self._role_names is None:
            try:
                response = await self._http.request("GET", "/api/v2/roles", action="read roles")
            except PermissionDenied:
                self._role_names = {}
            else:
                data = self._decode(response, "read roles")
                if not isinstance(data, list):
                    raise self._http.malformed("read roles", "a list was expected")
                roles = [self._fields(r, "role") for r in data]
                self._role_names = {r.id(): r.text("name", "") for r in roles}
        return self._role_names

    async def _role_of(self, agent: Fields) -> Role:
        names = await self._roles()
        return map_role([names.get(r, "") for r in agent.ids("role_ids")])

    async def whoami(self) -> WhoAmI:
        me = await self._get("/api/v2/agents/me", action="check who is signed in")
        contact = me.obj("contact")
        if contact is None:
            raise self._http.malformed("check who is signed in", "no contact in the agent")
        self._me = WhoAmI(
            external_id=me.id(),
            name=contact.text("name", ""),
            email=normalise_email(contact.opt_text("email")) or self.settings.user,
            role=await self._role_of(me),
        )
        return self._me

    # ------------------------------------------------------------ pull
    def pull(self, resource: str, cursor: str | None) -> AsyncIterator[Page]:
        if resource == "groups":
            return self._pull_groups()
        if resource == "agents":
            return self._pull_agents()
        if resource == "contacts":
            return self._pull_contacts(cursor)
        if resource == "tickets":
            return self._pull_tickets(cursor)
        raise ConnectorError(
            f"the Freshdesk connector has no resource {resource!r} "
            f"(it has {', '.join(self.resources)})"
        )

    async def _pull_groups(self) -> AsyncIterator[Page]:
        async for items, _ in self._pages(
            "/api/v2/groups", {"per_page": self.per_page}, action="list groups"
        ):
            teams = tuple(TeamRecord(g.id(), g.text("name", "")) for g in items)
            yield Page("groups", cursor=None, more=True, teams=teams)
        yield Page("groups", cursor=None, more=False)

    async def _pull_agents(self) -> AsyncIterator[Page]:
        async for items, _ in self._pages(
            "/api/v2/agents", {"per_page": self.per_page}, action="list agents"
        ):
            agents = []
            for agent in items:
                contact = agent.obj("contact")
                if contact is None or not contact.flag("active", True):
                    continue
                name = contact.text("name", "")
                kind: AuthorKind = "bot" if "bot" in name.lower().split() else "agent"
                self._people[agent.id()] = (name, kind)
                agents.append(
                    AgentRecord(
                        external_id=agent.id(),
                        name=name,
                        email=normalise_email(contact.opt_text("email")) or "",
                        role=await self._role_of(agent),
                        presence="online" if agent.flag("available") else "offline",
                        capacity=None,  # Freshdesk's v2 API does not expose capacity
                        team_external_ids=agent.ids("group_ids"),
                    )
                )
            yield Page("agents", cursor=None, more=True, agents=tuple(agents))
        yield Page("agents", cursor=None, more=False)

    def _contact(self, c: Fields) -> ContactRecord:
        language = c.opt_text("language")
        identities: list[Identity] = []

        def add(identity: Identity) -> None:
            if identity not in identities:
                identities.append(identity)

        for email in (c.opt_text("email"), *c.texts("other_emails")):
            value = normalise_email(email)
            if value:
                add(Identity("email", value))
        for key in ("phone", "mobile"):
            phone = normalise_phone(c.opt_text(key), _LANGUAGE_LOCALE.get(language or "", language))
            if phone:
                add(Identity("phone", phone))
        twitter = c.opt_text("twitter_id")
        if twitter:
            add(Identity("twitter", "@" + twitter.lstrip("@").lower()))
        facebook = c.opt_text("facebook_id")
        if facebook:
            add(Identity("facebook", facebook))
        attributes: dict[str, AttributeValue] = {
            k: v for k, v in c.scalars("custom_fields").items() if v not in (None, "")
        }
        if language:
            attributes["language"] = language
        if c.opt_text("time_zone"):
            attributes["time_zone"] = c.text("time_zone")
        if c.opt_text("job_title"):
            attributes["job_title"] = c.text("job_title")
        contact_id = c.id()
        name = c.text("name", "") or (identities[0].value if identities else "")
        self._contacts_seen.add(contact_id)
        self._people[contact_id] = (name, "customer")
        return ContactRecord(
            external_id=contact_id,
            name=name or f"Freshdesk contact {contact_id}",
            identities=tuple(identities),
            attributes=attributes,
            created_at=self._time(c, "created_at") if c.has("created_at") else None,
            updated_at=self._time(c, "updated_at") if c.has("updated_at") else None,
        )

    async def _pull_contacts(self, cursor: str | None) -> AsyncIterator[Page]:
        params: dict[str, str | int] = {"per_page": self.per_page}
        if cursor:
            params["_updated_since"] = cursor
        newest = cursor
        async for items, more in self._pages("/api/v2/contacts", params, action="list contacts"):
            contacts = tuple(self._contact(c) for c in items)
            for c in items:
                stamp = c.text("updated_at", "")
                if stamp and (newest is None or parse_timestamp(stamp) > parse_timestamp(newest)):
                    newest = to_iso(parse_timestamp(stamp))
            # The list has no defined order: the cursor only moves once the last page is in.
            yield Page("contacts", cursor=None if more else newest, more=more, contacts=contacts)
            if not more:
                return
        yield Page("contacts", cursor=newest, more=False)

    def _since(self, cursor: str | None) -> tuple[datetime, set[str]]:
        """Where the pull starts, and the tickets already seen at exactly that second.

        The cursor is `<ISO time>|<ids>`: `updated_since` is inclusive and second-precise, so
        the ids of the boundary second are skipped instead of being delivered again.
        """
        if cursor:
            moment, _, ids = cursor.partition("|")
            try:
                return parse_timestamp(moment), {i for i in ids.split(",") if i}
            except ValueError:
                log.warning("%s: unreadable tickets cursor, starting over", self.settings.name)
        return utcnow() - timedelta(days=max(1, self.settings.cache_days)), set()

    async def _ratings(self, since: datetime) -> dict[str, str]:
        """Satisfaction per ticket id from survey results created since `since`."""
        out: dict[str, str] = {}
        try:
            async for items, _ in self._pages(
                "/api/v2/surveys/satisfaction_ratings",
                {"created_since": to_iso(since), "per_page": self.per_page},
                action="read satisfaction ratings",
            ):
                for r in items:
                    ratings = r.scalars("ratings")
                    score = ratings.get("default_question")
                    if isinstance(score, (int, float)) and not isinstance(score, bool):
                        label = "good" if score > 100 else "bad" if score < 0 else "neutral"
                        out[r.id("ticket_id")] = label
        except (PermissionDenied, NotFound):
            return {}  # surveys off or not visible to this agent: no ratings, not a failure
        return out

    async def _pull_tickets(self, cursor: str | None) -> AsyncIterator[Page]:
        since, boundary = self._since(cursor)
        ratings = await self._ratings(since)
        while True:
            run_start = since
            params = {
                "updated_since": to_iso(since),
                "order_by": "updated_at",
                "order_type": "asc",
                "per_page": self.per_page,
                # stats: resolved/closed/reopened times, for resolution time and reopen rate.
                "include": "description,stats",
            }
            truncated = False
            buffered: Page | None = None
            async for items, more in self._pages(
                "/api/v2/tickets", params, action="list tickets", max_pages=MAX_PAGES
            ):
                fresh = []
                for t in items:
                    stamp = self._time(t, "updated_at")
                    if stamp == since and t.id() in boundary:
                        continue  # delivered by the previous pull
                    if stamp > since:
                        since, boundary = stamp, set()
                    if stamp == since:
                        boundary.add(t.id())
                    fresh.append(t)
                cursor_text = to_iso(since) + "|" + ",".join(sorted(boundary))
                page = await self._ticket_page(fresh, ratings, cursor_text)
                if buffered is not None:  # one behind, so the last page can say more=False
                    yield buffered
                buffered = page
                truncated = more
            # 300 pages and still more: start a new run from the last updated_at seen.
            again = truncated and since > run_start
            if buffered is not None:
                yield Page(
                    "tickets", cursor=buffered.cursor, more=again,
                    conversations=buffered.conversations, contacts=buffered.contacts,
                )  # fmt: skip
            else:
                yield Page(
                    "tickets", cursor=to_iso(since) + "|" + ",".join(sorted(boundary)), more=False
                )
            if not again:
                return

    async def recent(self, since: datetime | None) -> Recent:
        """Tickets updated after `since`, newest first (`updated_since`, one small page),
        with their conversations; the incremental pull confirms them later."""
        with count_requests() as sent:
            params: Params = {
                "updated_since": to_iso(since or utcnow() - timedelta(days=1)),
                "order_by": "updated_at", "order_type": "desc",
                "per_page": RECENT_PAGE, "include": "description,stats",
            }  # fmt: skip
            items: list[Fields] = []
            pages = 0
            async for listed, more in self._pages(
                "/api/v2/tickets", params, action="list recently updated tickets",
                max_pages=RECENT_PAGES,
            ):  # fmt: skip
                pages += 1
                items += listed
                times = [self._time(t, "updated_at") for t in listed]
                if not reads_on(since, times, more, pages):
                    break
            pick = pick_recent(
                since, items, self._delivered, version=lambda t: t.text("updated_at"),
                updated=lambda t: self._time(t, "updated_at"),
            )  # fmt: skip
            page = await self._ticket_page(pick.changed, {}, "")
            fresh = Page(
                "tickets", None, False, conversations=page.conversations, contacts=page.contacts
            )
            return Recent(fresh, pick.handed_on(), sent())

    async def _ticket_page(
        self, tickets: list[Fields], ratings: dict[str, str], cursor: str
    ) -> Page:
        requesters = {t.id("requester_id") for t in tickets if t.has("requester_id")}
        missing = sorted(requesters - self._contacts_seen)
        fetched = await asyncio.gather(*(self._fetch_contact(c) for c in missing))
        contacts = tuple(c for c in fetched if c is not None)
        threads = await asyncio.gather(*(self._thread(t) for t in tickets))
        conversations = tuple(
            self._conversation(t, messages, ratings.get(t.id()))
            for t, messages in zip(tickets, threads)
        )
        return Page("tickets", cursor=cursor, more=True, conversations=conversations,
                    contacts=contacts)  # fmt: skip

    async def _fetch_contact(self, contact_id: str) -> ContactRecord | None:
        try:
            c = await self._get(f"/api/v2/contacts/{contact_id}", action="read a contact")
        except (NotFound, PermissionDenied):
            self._contacts_seen.add(contact_id)  # the store keeps a stub customer
            return None
        return self._contact(c)

    def _conversation(
        self, t: Fields, messages: tuple[MessageRecord, ...] | None, satisfaction: str | None
    ) -> ConversationRecord:
        ticket_id = t.id()
        status, vendor_status = map_status(t.number("status", 2))
        solved_at, reopens = self._resolution(t)
        return ConversationRecord(
            external_id=ticket_id,
            channel=map_channel(t.number("source", 1)),
            subject=t.text("subject", ""),
            status=status,
            vendor_status=vendor_status,
            priority=map_priority(t.number("priority", 1)),
            created_at=self._time(t, "created_at"),
            updated_at=self._time(t, "updated_at"),
            version=t.text("updated_at"),
            customer_external_id=t.opt_id("requester_id"),
            assignee_external_id=t.opt_id("responder_id"),
            team_external_id=t.opt_id("group_id"),
            tags=t.texts("tags"),
            web_url=f"{self.base_url}/a/tickets/{ticket_id}",
            satisfaction=satisfaction,
            messages=messages,
            solved_at=solved_at,
            reopens=reopens,
        )

    def _resolution(self, t: Fields) -> tuple[datetime | None, int | None]:
        """`include=stats`: when the ticket was last solved, and whether it was reopened.

        Freshdesk keeps only the latest of each moment: the solve that counts is the first
        resolve/close after the last reopen (else the latest one), and `reopened_at` says it
        was reopened at least once (Freshdesk has no count). No stats: nothing is said.
        """
        stats = t.obj("stats")
        if stats is None:
            return None, None
        moments = [self._time(stats, k) for k in ("resolved_at", "closed_at")
                   if stats.opt_text(k)]  # fmt: skip
        reopened = self._time(stats, "reopened_at") if stats.opt_text("reopened_at") else None
        after = [m for m in moments if reopened is None or m > reopened]
        solved = min(after) if after else max(moments) if moments else None
        return solved, 1 if reopened is not None else 0

    async def _thread(self, t: Fields) -> tuple[MessageRecord, ...] | None:
        """The description, then every conversation; None if the ticket vanished meanwhile."""
        ticket_id = t.id()
        channel = map_channel(t.number("source", 1))
        requester = t.opt_id("requester_id")
        messages: list[MessageRecord] = []
        description = t.opt_text("description_text")
        if description is None and t.opt_text("description"):
            description = html_to_text(t.text("description"))
        if description:
            name = self._people.get(requester or "", ("", "customer"))[0]
            messages.append(
                MessageRecord(
                    external_id=f"{ticket_id}-description",
                    kind="reply",
                    author_kind="customer",
                    author_name=name or "customer",
                    body=description.strip(),
                    created_at=self._time(t, "created_at"),
                    channel=channel,
                    author_external_id=requester,
                    attachments=self._attachments(t),
                )
            )
        try:
            async for items, _ in self._pages(
                f"/api/v2/tickets/{ticket_id}/conversations",
                {"per_page": 100},
                action=f"read the conversations of ticket {ticket_id}",
            ):
                messages.extend(self._message(c, channel, requester) for c in items)
        except NotFound:
            return None
        messages.sort(key=lambda m: m.created_at)
        return tuple(messages)

    def _attachments(self, item: Fields) -> tuple[Attachment, ...]:
        return tuple(
            Attachment(
                name=a.text("name", "attachment"),
                size=a.number("size"),
                content_type=a.text("content_type", "application/octet-stream"),
                url=a.text("attachment_url", ""),
            )
            for a in item.objects("attachments")
        )

    def _message(self, c: Fields, channel: Channel, requester: str | None) -> MessageRecord:
        user_id = c.opt_id("user_id")
        name, kind = self._people.get(user_id or "", ("", "agent"))
        author_kind: AuthorKind
        if user_id is None:
            author_kind = "system"
        elif c.flag("incoming") or user_id == requester:
            author_kind = "customer"
        else:
            author_kind = "bot" if kind == "bot" else "agent"
        body = c.opt_text("body_text")
        if body is None:
            body = html_to_text(c.text("body", ""))
        source = c.number("source", 0)
        return MessageRecord(
            external_id=c.id(),
            kind="note" if c.flag("private") else "reply",
            author_kind=author_kind,
            author_name=name or ("Freshdesk" if author_kind == "system" else f"user {user_id}"),
            body=body.strip(),
            created_at=self._time(c, "created_at"),
            channel="voice" if source == 7 else channel,
            author_external_id=user_id,
            attachments=self._attachments(c),
        )

    # ------------------------------------------------------------ cache policy
    async def open_backlog(self) -> AsyncIterator[Page]:
        """Unresolved tickets last updated before the cache window, with their threads.

        Search API (`/api/v2/search/tickets`): 30 results a page, at most 10 pages, dates by
        the day with inclusive bounds. A range with more than 300 matches is halved until
        each half fits; tickets on a shared boundary day come once.
        """
        high = self.settings.backlog_before().date()
        seen: set[str] = set()
        ranges = [(SEARCH_EPOCH, high)]
        while ranges:
            low, high = ranges.pop()
            query = f"({OPEN_STATUSES}) AND updated_at:>'{low}' AND updated_at:<'{high}'"
            for number in range(1, SEARCH_MAX_PAGES + 1):
                body = await self._get(
                    "/api/v2/search/tickets",
                    params={"query": f'"{query}"', "page": number},
                    action="search open tickets",
                )
                total = body.number("total", 0)
                if number == 1 and total > SEARCH_MAX_PAGES * SEARCH_PAGE and low < high:
                    middle = low + timedelta(days=(high - low).days // 2)
                    ranges += [(low, middle), (middle + timedelta(days=1), high)]
                    break
                found = [t for t in body.objects("results") if t.id() not in seen]
                seen.update(t.id() for t in found)
                if found:
                    # Search results carry no description (the first message): read each.
                    full = await asyncio.gather(*(self._shown(t.id()) for t in found))
                    shown = [t for t in full if t is not None]
                    yield await self._ticket_page(shown, await self._every_rating(), "")
                if number * SEARCH_PAGE >= total or not body.objects("results"):
                    break

    async def _shown(self, ticket_id: str) -> Fields | None:
        try:
            return await self._ticket(ticket_id)
        except NotFound:  # deleted since the search: nothing to cache
            return None

    async def contact_history(self, contact_external_id: str) -> AsyncIterator[Page]:
        """Every ticket the contact requested, with threads (`/api/v2/tickets?requester_id`)."""
        async for items, _ in self._pages(
            "/api/v2/tickets",
            {
                "requester_id": contact_external_id,
                "per_page": self.per_page,
                "include": "description",
            },
            action=f"list the tickets of customer {contact_external_id}",
        ):
            yield await self._ticket_page(items, await self._every_rating(), "")

    async def _every_rating(self) -> dict[str, str]:
        """Every satisfaction rating of the account, read once per connector: old tickets
        fetched outside the pull need theirs too, or the upsert would clear it."""
        if self._all_ratings is None:
            self._all_ratings = await self._ratings(
                datetime.combine(SEARCH_EPOCH, datetime.min.time(), tzinfo=UTC)
            )
        return self._all_ratings

    async def customer_conversations(self, contact_external_id: str) -> list[ConversationRecord]:
        """A contact's other tickets (all of them, newest first), without their threads."""
        out: list[ConversationRecord] = []
        async for items, _ in self._pages(
            "/api/v2/tickets",
            {"requester_id": contact_external_id, "per_page": self.per_page},
            action="list a customer's tickets",
        ):
            out.extend(self._conversation(t, None, None) for t in items)
        return out

    # ------------------------------------------------------------ writes
    async def _ticket(self, external_id: str) -> Fields:
        return await self._get(f"/api/v2/tickets/{external_id}", action="read a ticket")

    def _state(self, t: Fields) -> RemoteState:
        return RemoteState(
            version=t.text("updated_at"),
            status=map_status(t.number("status", 2))[0],
            priority=map_priority(t.number("priority", 1)),
            assignee_external_id=t.opt_id("responder_id"),
            team_external_id=t.opt_id("group_id"),
            tags=t.texts("tags"),
            updated_by=None,  # Freshdesk's ticket does not say who changed it last
            updated_at=self._time(t, "updated_at"),
        )

    async def fetch_state(self, external_id: str) -> RemoteState:
        return self._state(await self._ticket(external_id))

    async def apply(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        ticket_id = request.conversation_external_id
        payload = request.payload
        if request.action in ("reply", "note"):
            text = str(payload.get("text", ""))
            body: dict[str, object] = {"body": text_to_html(text)}
            if request.action == "note":
                body["private"] = True
            path = (
                f"/api/v2/tickets/{ticket_id}/{'reply' if request.action == 'reply' else 'notes'}"
            )
            created = await self._http.request_json(
                "POST", path, json_body=body, action=f"send a {request.action}"
            )
            return WriteResult(message_external_id=self._fields(created, "conversation").id())
        if request.action == "snooze":
            raise Invalid(
                f"Freshdesk has no snooze; account {self.settings.name} snoozes locally — "
                "this is a bug in agentdesk if you see it, please report it"
            )
        # Freshdesk checks no version on PUT: compare it ourselves right before writing.
        fresh = await self._ticket(ticket_id)
        if fresh.text("updated_at") != current.version:
            raise ConflictError(
                f"ticket {ticket_id} changed on Freshdesk (account {self.settings.name}) since "
                "it was checked — agentdesk re-reads it and tries again"
            )
        update: dict[str, object]
        if request.action == "status":
            update = {"status": _STATUS_CODE[str(payload["status"])]}
        elif request.action == "priority":
            update = {"priority": _PRIORITY_CODE[str(payload["priority"])]}
        elif request.action == "tags":
            add = [str(t) for t in payload.get("add", []) or []]  # type: ignore[union-attr]
            remove = {str(t) for t in payload.get("remove", []) or []}  # type: ignore[union-attr]
            tags = [t for t in fresh.texts("tags") if t not in remove]
            tags += [t for t in add if t not in tags]
            update = {"tags": tags}
        elif request.action == "assign":
            if payload.get("unassign"):
                update = {"responder_id": None}
            elif "agent_external_id" in payload:
                update = {"responder_id": int(str(payload["agent_external_id"]))}
            else:
                team = payload.get("team_external_id")
                update = {"group_id": int(str(team)) if team is not None else None}
        else:
            raise Invalid(f"Freshdesk cannot {request.action} (account {self.settings.name})")
        updated = await self._http.request_json(
            "PUT",
            f"/api/v2/tickets/{ticket_id}",
            json_body=update,
            action=f"set the {request.action}",
        )
        return WriteResult(version=self._fields(updated, "ticket").text("updated_at"))

    async def find_sent(self, request: MutationRequest) -> str | None:
        """The conversation this reply/note already created: same author, same text, private
        for notes, created no earlier than the version the mutation was based on."""
        if request.action not in ("reply", "note"):
            return None
        me = self._me or await self.whoami()
        try:
            floor = parse_timestamp(request.base_version) - timedelta(seconds=1)
        except ValueError:
            floor = None
        text = str(request.payload.get("text", ""))
        found: str | None = None
        ticket_id = request.conversation_external_id
        async for items, _ in self._pages(
            f"/api/v2/tickets/{ticket_id}/conversations",
            {"per_page": 100},
            action=f"look for a sent {request.action} on ticket {ticket_id}",
        ):
            for c in items:
                if c.opt_id("user_id") != me.external_id:
                    continue
                if c.flag("private") != (request.action == "note"):
                    continue
                if floor is not None and self._time(c, "created_at") < floor:
                    continue
                body = c.opt_text("body_text")
                if body is None:
                    body = html_to_text(c.text("body", ""))
                if _same_text(body, text):
                    found = c.id()  # keep the newest match
        return found


__all__ = [
    "FreshdeskConnector",
    "map_channel",
    "map_priority",
    "map_role",
    "map_status",
    "text_to_html",
]
