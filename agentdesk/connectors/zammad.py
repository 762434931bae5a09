"""Zammad (REST API `/api/v1`): vendor JSON in, agentdesk records out; writes through its API.

Zammad publishes no OpenAPI document. What this relies on, from docs.zammad.org ("API" pages:
intro, tickets, articles, tags, users, groups) and zammad/zammad's controllers:

* Auth `Authorization: Token token=...` (an access token from the user's profile).
* States and priorities are the instance's own records, renamable and extensible by its admin:
  they are read from `/ticket_states?expand=true` and `/ticket_priorities` on every pull and
  mapped by what they ARE, never by name or id: a state by its `state_type` (new, open,
  pending reminder, pending action, closed, merged, removed), a priority by its place around
  the instance's default (`default_create`) in id order — below it low, the first above it
  high, any further ones urgent.
* Tickets: `GET /tickets/search?query=updated_at:["ISO" TO "..."]&sort_by=updated_at
  &order_by=asc&expand=true&page=&per_page=200` (the search caps `per_page` at 200, says no
  total, and Elasticsearch answers at most 10,000 results deep: a long pull runs in stretches
  that restart from the last `updated_at` seen). Without Elasticsearch Zammad's search only
  matches text, so a field query finds nothing: that is detected once per connector (a known
  ticket's `number:` is looked up) and the pull falls back to the plain list the search serves
  for `query=*` — every ticket, newest first — read until it passes the cursor.
* Each ticket's articles come from `/ticket_articles/by_ticket/{id}?expand=true` (all at once)
  and its tags from `/tags?object=Ticket&o_id={id}`; unknown customers from `/users/{id}`.
* Cursor (`tickets`): `<ISO updated_at>|<ids seen at that moment>`; a replay is an upsert.
* Fast lane (`recent`): the search for `*` sorted `updated_at` descending, ten a page.

Write: a reply is an article `type: email, internal: false` to the customer's address (a
customer without one gets a public `note`, which Zammad shows in their portal and mails to
nobody); a note is `type: note, internal: true` — never an email-type article with internal
true, which Zammad would still send. State, priority, owner and group are `PUT /tickets/{id}`
(`owner_id: 1` unassigns; a pending state carries a `pending_time` a day ahead); tags are
`/tags/add` and `/tags/remove`, one item each. Zammad has no ETag and checks no version, so a
field write re-reads the ticket and refuses (ConflictError) when its `updated_at` moved since
the state the push engine checked; an ambiguous reply is looked for (`find_sent`) before it is
sent again. Zammad has no snooze in its API (pending reminders are states): snooze is local.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import ClassVar

import httpx

from agentdesk.connectors.base import (
    RECENT_PAGE,
    AccountSettings,
    Capabilities,
    ConflictError,
    ConnectorError,
    Delivered,
    FastLane,
    Invalid,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    Recent,
    pick_recent,
    reads_on,
)
from agentdesk.connectors.freshdesk import text_to_html
from agentdesk.connectors.http import (
    DEFAULT_POLICY,
    ApiClient,
    Fields,
    HttpPolicy,
    JsonObject,
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
    MessageKind,
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
from agentdesk.timeutil import parse_timestamp, utcnow

log = logging.getLogger(__name__)

SEARCH_PAGE = 200  # Zammad caps the search's per_page at 200
RUN_PAGES = 45  # 9,000 results: inside Elasticsearch's 10,000-deep window
NOBODY = "1"  # Zammad's user 1 ("-") owns every unassigned ticket
FAR_FUTURE = "2999-12-31T23:59:59Z"  # Zammad strips `*` from queries: no open range bound
EPOCH = "1970-01-01T00:00:00Z"
PENDING_FOR = timedelta(days=1)
# Zammad's seeded state types (`db/seeds/ticket_state_types.rb`), for an instance whose
# `/ticket_states?expand=true` does not name them.
STATE_TYPES = {
    "1": "new", "2": "open", "3": "pending reminder", "4": "pending action", "5": "closed",
    "6": "merged", "7": "removed", "8": "pending review", "9": "delegated",
}  # fmt: skip
_STATUS_OF_TYPE: dict[str, Status] = {
    "new": "new", "open": "open", "pending reminder": "pending", "pending action": "pending",
    "pending review": "pending", "delegated": "open", "closed": "solved", "merged": "closed",
    "removed": "closed",
}  # fmt: skip
# agentdesk status → the state types that express it, best first. Zammad has no "on hold" and
# one closed type: solved and closed both become its closed state.
_TYPES_FOR_STATUS: dict[str, tuple[str, ...]] = {
    "new": ("new",), "open": ("open",), "pending": ("pending reminder",),
    "on_hold": ("pending reminder",), "solved": ("closed",), "closed": ("closed",),
}  # fmt: skip
_OPEN_TYPES = frozenset({"new", "open", "pending reminder", "pending action", "pending review",
                         "delegated"})  # fmt: skip
# Article type (`db/seeds/ticket_article_types.rb`) → agentdesk channel.
_CHANNEL: dict[str, Channel] = {
    "email": "email", "fax": "email", "sms": "sms", "chat": "chat", "phone": "voice",
    "web": "web", "twitter status": "social", "twitter direct-message": "social",
    "facebook feed post": "social", "facebook feed comment": "social",
    "facebook direct-message": "social", "telegram personal-message": "social",
    "whatsapp message": "social",
}  # fmt: skip
_LEVELS: tuple[Priority, ...] = ("low", "normal", "high", "urgent")


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """One instance's states and priorities, as agentdesk reads and writes them."""

    states: dict[str, tuple[Status, str, str]]
    """state id → (agentdesk status, the instance's name for it, its state type)."""
    state_for: dict[str, str]
    """agentdesk status → the state id written for it."""
    priorities: dict[str, tuple[Priority, str]]
    priority_for: dict[str, str]

    def status(self, state_id: str) -> tuple[Status, str]:
        status, name, _ = self.states.get(state_id, ("open", f"state {state_id}", "open"))
        return status, name

    def state_type(self, state_id: str) -> str:
        return self.states.get(state_id, ("open", "", "open"))[2]

    def priority(self, priority_id: str | None) -> Priority:
        return self.priorities.get(priority_id or "", ("normal", ""))[0]

    def open_state_ids(self) -> list[str]:
        return [i for i, (_, _, kind) in self.states.items() if kind in _OPEN_TYPES]


def read_vocabulary(states: list[Fields], priorities: list[Fields]) -> Vocabulary:
    """Map an instance's `/ticket_states?expand=true` and `/ticket_priorities` records."""
    by_state: dict[str, tuple[Status, str, str]] = {}
    writable: dict[str, list[tuple[int, str]]] = {}
    for s in sorted(states, key=lambda s: s.number("id")):
        state_id = s.id()
        kind = s.opt_text("state_type") or STATE_TYPES.get(s.id("state_type_id"), "open")
        by_state[state_id] = (_STATUS_OF_TYPE.get(kind, "open"), s.text("name", ""), kind)
        if s.flag("active", True):
            # The state Zammad itself picks first: default_create / default_follow_up.
            rank = 0 if s.flag("default_create") or s.flag("default_follow_up") else 1
            writable.setdefault(kind, []).append((rank, state_id))
    state_for: dict[str, str] = {}
    for status, kinds in _TYPES_FOR_STATUS.items():
        for kind in kinds:
            if writable.get(kind):
                state_for[status] = min(writable[kind])[1]
                break
    rows = sorted(priorities, key=lambda p: p.number("id"))
    default = next((i for i, p in enumerate(rows) if p.flag("default_create")), len(rows) // 2)
    by_priority: dict[str, tuple[Priority, str]] = {}
    priority_for: dict[str, str] = {}
    for index, p in enumerate(rows):
        level: Priority
        if index < default:
            level = "low"
        elif index == default:
            level = "normal"
        else:
            level = "high" if index == default + 1 else "urgent"
        by_priority[p.id()] = (level, p.text("name", ""))
        if p.flag("active", True) and level not in priority_for:
            priority_for[level] = p.id()
    for wanted, fallbacks in (("urgent", "high"), ("high", "urgent"), ("low", "normal")):
        if wanted not in priority_for and fallbacks in priority_for:
            priority_for[wanted] = priority_for[fallbacks]
    return Vocabulary(by_state, state_for, by_priority, priority_for)


def map_role(role_names: tuple[str, ...]) -> Role:
    lowered = " ".join(role_names).lower()
    if "admin" in lowered:
        return "admin"
    if "supervisor" in lowered:
        return "supervisor"
    return "agent"


def map_channel(article_type: str | None) -> Channel:
    return _CHANNEL.get(article_type or "", "web")


def _query_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(slots=True)
class HighWater:
    """An incremental pull's cursor: the newest `updated_at` delivered and the ids delivered
    at exactly that moment, so an inclusive `>=` query can skip them instead of repeating
    them. Text form `<ISO>|<id>,<id>`. Freshdesk's tickets cursor works the same way."""

    moment: datetime
    ids: set[str]

    @classmethod
    def parse(cls, cursor: str | None, start: datetime) -> HighWater:
        if cursor:
            moment, _, ids = cursor.partition("|")
            try:
                return cls(parse_timestamp(moment), {i for i in ids.split(",") if i})
            except ValueError:
                log.warning("unreadable cursor %r, starting from the cache window", cursor[:40])
        return cls(start, set())

    def delivered(self, stamp: datetime, record_id: str) -> bool:
        return stamp == self.moment and record_id in self.ids

    def note(self, stamp: datetime, record_id: str) -> None:
        if stamp > self.moment:
            self.moment, self.ids = stamp, set()
        if stamp == self.moment:
            self.ids.add(record_id)

    def copy(self) -> HighWater:
        return HighWater(self.moment, set(self.ids))

    def text(self) -> str:
        return _query_time(self.moment) + "|" + ",".join(sorted(self.ids, key=_id_order))


def _id_order(record_id: str) -> tuple[int, str]:
    return (int(record_id), "") if record_id.isdigit() else (0, record_id)


class ZammadConnector:
    kind: ClassVar[str] = "zammad"
    label: ClassVar[str] = "Zammad"
    capabilities: ClassVar[Capabilities] = Capabilities(
        can_snooze=False,  # pending reminders are states with a time: snooze is local
        can_safe_update=False,  # no ETag, no version check: updated_at compared before writing
        has_idempotency_keys=False,  # check-before-resend instead (find_sent)
        has_incremental_export=False,  # a search sorted by updated_at, not an export
    )
    resources: ClassVar[tuple[str, ...]] = ("groups", "agents", "tickets")
    # Zammad core documents no general API rate limit (Rack::Attack guards only sign-in and
    # password resets): a self-hosted instance gets a polite 120 a minute, like RT.
    fast_lane: ClassVar[FastLane] = FastLane("poll", rate_limit_per_minute=120)

    def __init__(
        self,
        settings: AccountSettings,
        token: str,
        *,
        policy: HttpPolicy = DEFAULT_POLICY,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self._http = ApiClient(
            settings,
            vendor=self.label,
            headers={"Authorization": f"Token token={token}"},
            policy=policy,
            transport=transport,
            sleep=sleep,
        )
        self._me: WhoAmI | None = None
        self._vocabulary: Vocabulary | None = None
        self._search_works: bool | None = None
        self._people: dict[str, tuple[str, str | None]] = {}  # user id → (name, email)
        self._contacts_seen: set[str] = set()
        self._teams_seen: set[str] = set()
        self._by_customer: dict[str, list[str]] | None = None  # no-search history index
        self._delivered = Delivered()

    def __repr__(self) -> str:  # never the token, which lives only in the client's headers
        return f"ZammadConnector(account={self.settings.name!r}, url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------ plumbing
    def _fail(self, what: str) -> Callable[[str], MalformedResponse]:
        return lambda problem: self._http.malformed(f"read {what}", problem)

    def _fields(self, data: object, what: str) -> Fields:
        return Fields(data, what, self._fail(what))

    def _time(self, fields: Fields, key: str) -> datetime:
        value = fields.text(key)
        try:
            return parse_timestamp(value)
        except ValueError:
            raise self._http.malformed("read a timestamp", f"{key}={value[:40]!r}") from None

    async def _get(self, path: str, *, params: Params | None = None, action: str) -> Fields:
        return self._fields(await self._http.get_json(path, params=params, action=action), action)

    async def _get_list(self, path: str, *, params: Params | None = None,
                        action: str) -> list[Fields]:  # fmt: skip
        response = await self._http.request("GET", path, params=params, action=action)
        try:
            data = decode_json(response)
        except ValueError:
            raise self._http.malformed(action, "a body that is not JSON") from None
        if not isinstance(data, list):
            raise self._http.malformed(action, "a list was expected")
        return [self._fields(item, f"{action}[{i}]") for i, item in enumerate(data)]

    # ------------------------------------------------------------ whoami
    async def whoami(self) -> WhoAmI:
        me = await self._get("/api/v1/users/me", params={"expand": "true"},
                             action="check who is signed in")  # fmt: skip
        self._me = WhoAmI(
            external_id=me.id(),
            name=self._name(me),
            email=normalise_email(me.opt_text("email")) or self.settings.user,
            role=map_role(me.texts("roles")),
        )
        return self._me

    @staticmethod
    def _name(user: Fields) -> str:
        name = " ".join(p for p in (user.opt_text("firstname"), user.opt_text("lastname")) if p)
        return name or user.opt_text("email") or user.opt_text("login") or ""

    # ------------------------------------------------------------ the instance's vocabulary
    async def vocabulary(self, *, refresh: bool = False) -> Vocabulary:
        """The instance's states and priorities (read once per pull, or when unknown)."""
        if self._vocabulary is None or refresh:
            states, priorities = await asyncio.gather(
                self._get_list("/api/v1/ticket_states", params={"expand": "true"},
                               action="read the ticket states"),
                self._get_list("/api/v1/ticket_priorities", action="read the ticket priorities"),
            )  # fmt: skip
            self._vocabulary = read_vocabulary(states, priorities)
        return self._vocabulary

    # ------------------------------------------------------------ pull
    def pull(self, resource: str, cursor: str | None) -> AsyncIterator[Page]:
        if resource == "groups":
            return self._pull_groups()
        if resource == "agents":
            return self._pull_agents()
        if resource == "tickets":
            return self._pull_tickets(cursor)
        raise ConnectorError(
            f"the Zammad connector has no resource {resource!r} "
            f"(it has {', '.join(self.resources)})"
        )

    async def _pull_groups(self) -> AsyncIterator[Page]:
        try:
            groups = await self._get_list("/api/v1/groups", action="list groups")
        except PermissionDenied:
            # Only `admin.group` may list groups: an agent learns them from the tickets.
            log.info("%s: groups come from the tickets (no admin.group)", self.settings.name)
            groups = []
        teams = tuple(TeamRecord(g.id(), g.text("name", "")) for g in groups
                      if g.flag("active", True))  # fmt: skip
        self._teams_seen.update(t.external_id for t in teams)
        yield Page("groups", cursor=None, more=False, teams=teams)

    async def _pull_agents(self) -> AsyncIterator[Page]:
        page = 1
        while True:
            users = await self._get_list(
                "/api/v1/users/search",
                params=[("query", "*"), ("permissions[]", "ticket.agent"), ("expand", "true"),
                        ("page", str(page)), ("per_page", "100")],
                action="list agents",
            )  # fmt: skip
            agents = []
            for u in users:
                if not u.flag("active", True):
                    continue
                name, email = self._name(u), normalise_email(u.opt_text("email"))
                self._people[u.id()] = (name, email)
                groups = u.raw("group_ids")
                agents.append(
                    AgentRecord(
                        external_id=u.id(),
                        name=name,
                        email=email or "",
                        role=map_role(u.texts("roles")),
                        presence=None,  # Zammad's API has no agent presence
                        team_external_ids=tuple(str(g) for g in groups)
                        if isinstance(groups, (dict, list)) else (),
                    )
                )  # fmt: skip
            more = len(users) >= 100
            yield Page("agents", cursor=None, more=more, agents=tuple(agents))
            if not more:
                return
            page += 1

    async def _search(
        self, query: str, *, order: str = "asc", page: int = 1, per_page: int = SEARCH_PAGE
    ) -> list[Fields]:
        return await self._get_list(
            "/api/v1/tickets/search",
            params={"query": query, "sort_by": "updated_at", "order_by": order,
                    "expand": "true", "page": page, "per_page": per_page},
            action="search tickets",
        )  # fmt: skip

    async def _search_pages(
        self, query: str, *, order: str = "asc", max_pages: int | None = None
    ) -> AsyncIterator[tuple[list[Fields], bool]]:
        """Each page of a search and whether it was full (Zammad says no total: a short page
        is the last)."""
        number = 1
        while True:
            items = await self._search(query, order=order, page=number)
            full = len(items) >= SEARCH_PAGE
            yield items, full
            if not full or (max_pages is not None and number >= max_pages):
                return
            number += 1

    async def search_works(self) -> bool:
        """Whether the search answers field queries (Elasticsearch): a known ticket's number
        must find it. Without Elasticsearch Zammad matches the query as text and finds none."""
        if self._search_works is None:
            listed = await self._get_list("/api/v1/tickets", params={"page": 1, "per_page": 1},
                                          action="list tickets")  # fmt: skip
            if not listed:
                self._search_works = True
            else:
                probe = listed[0]
                try:
                    found = await self._search(f"number:{probe.text('number', '')}", per_page=5)
                except (Invalid, MalformedResponse):
                    found = []
                self._search_works = any(t.id() == probe.id() for t in found)
                if not self._search_works:
                    log.info(
                        "%s: Zammad's search answers no field queries (no "
                        "Elasticsearch?): reading its list instead",
                        self.settings.name,
                    )
        return self._search_works

    async def _pull_tickets(self, cursor: str | None) -> AsyncIterator[Page]:
        vocabulary = await self.vocabulary(refresh=True)
        window = utcnow() - timedelta(days=max(1, self.settings.cache_days))
        mark = HighWater.parse(cursor, window)
        walk = self._by_search if await self.search_works() else self._by_list
        async for page in walk(mark, vocabulary):
            yield page

    async def _by_search(self, mark: HighWater, vocabulary: Vocabulary) -> AsyncIterator[Page]:
        """Oldest change first, in stretches of RUN_PAGES that restart from the last seen."""
        buffered: Page | None = None
        while True:
            query = f'updated_at:["{_query_time(mark.moment)}" TO "{FAR_FUTURE}"]'
            run_start, full = mark.moment, False
            async for items, full in self._search_pages(query, max_pages=RUN_PAGES):
                fresh = []
                for t in items:
                    stamp = self._time(t, "updated_at")
                    if not mark.delivered(stamp, t.id()):
                        mark.note(stamp, t.id())
                        fresh.append(t)
                page = await self._ticket_page(fresh, mark.text(), vocabulary)
                if buffered is not None:  # one behind, so the last page can say more=False
                    yield buffered
                buffered = page
            if not (full and mark.moment > run_start):
                break
        assert buffered is not None
        yield replace(buffered, more=False)

    async def _by_list(self, mark: HighWater, vocabulary: Vocabulary) -> AsyncIterator[Page]:
        """Without a working search: every ticket newest first (`query=*`), until the cursor.
        The cursor only moves once the walk is done; an interrupted walk is walked again."""
        newest = mark.copy()
        async for items, full in self._search_pages("*", order="desc"):
            fresh = []
            done = not full
            for t in items:
                stamp = self._time(t, "updated_at")
                if stamp < mark.moment:
                    done = True
                    break
                if not mark.delivered(stamp, t.id()):
                    newest.note(stamp, t.id())
                    fresh.append(t)
            # Until the walk is done the stored cursor stays where it started.
            cursor = (newest if done else mark).text()
            yield await self._ticket_page(fresh, cursor, vocabulary, more=not done)
            if done:
                return

    async def recent(self, since: datetime | None) -> Recent:
        """The most recently updated tickets (the search for `*` sorted by `updated_at`
        descending, one small page: it lists every ticket with or without Elasticsearch)
        changed at or after `since`, with their articles and tags. The pull confirms them."""
        with count_requests() as sent:
            vocabulary = await self.vocabulary()
            listed: list[Fields] = []
            pages = 0
            while True:
                pages += 1
                items = await self._search("*", order="desc", page=pages, per_page=RECENT_PAGE)
                listed += items
                times = [self._time(t, "updated_at") for t in items]
                if not reads_on(since, times, len(items) >= RECENT_PAGE, pages):
                    break
            pick = pick_recent(
                since, listed, self._delivered, version=lambda t: t.text("updated_at"),
                updated=lambda t: self._time(t, "updated_at"),
            )  # fmt: skip
            page = await self._ticket_page(pick.changed, None, vocabulary, more=False)
            return Recent(page, pick.handed_on(), sent())

    async def _ticket_page(
        self, tickets: list[Fields], cursor: str | None, vocabulary: Vocabulary, *,
        more: bool = True, resource: str = "tickets",
    ) -> Page:  # fmt: skip
        customers = {t.id("customer_id") for t in tickets if t.has("customer_id")}
        missing = sorted(customers - self._contacts_seen)
        fetched = await asyncio.gather(*(self._fetch_contact(c) for c in missing))
        threads = await asyncio.gather(*(self._thread(t) for t in tickets))
        conversations = tuple(
            self._conversation(t, vocabulary, messages, tags)
            for t, (messages, tags) in zip(tickets, threads)
            if messages is not None
        )
        contacts = tuple(c for c in fetched if c is not None)
        teams = {t.id("group_id"): t.text("group", "") for t in tickets
                 if t.has("group_id") and t.opt_text("group")}  # fmt: skip
        unseen = tuple(TeamRecord(i, name) for i, name in teams.items()
                       if i not in self._teams_seen)  # fmt: skip
        self._teams_seen.update(teams)
        return Page(resource, cursor=cursor, more=more, conversations=conversations,
                    contacts=contacts, teams=unseen)  # fmt: skip

    async def _fetch_contact(self, user_id: str) -> ContactRecord | None:
        try:
            u = await self._get(f"/api/v1/users/{user_id}", params={"expand": "true"},
                                action="read a customer")  # fmt: skip
        except (NotFound, PermissionDenied):
            self._contacts_seen.add(user_id)  # the store keeps a stub customer
            return None
        return self._contact(u)

    def _contact(self, u: Fields) -> ContactRecord:
        preferences = u.obj("preferences")
        locale = preferences.opt_text("locale") if preferences is not None else None
        identities: list[Identity] = []
        email = normalise_email(u.opt_text("email"))
        if email:
            identities.append(Identity("email", email))
        for key in ("phone", "mobile"):
            phone = normalise_phone(u.opt_text(key), locale)
            if phone and Identity("phone", phone) not in identities:
                identities.append(Identity("phone", phone))
        attributes: dict[str, AttributeValue] = {}
        for key in ("organization", "department", "note"):
            if u.opt_text(key):
                attributes[key] = u.text(key)
        if u.flag("vip"):
            attributes["vip"] = True
        if locale:
            attributes["locale"] = locale
        user_id = u.id()
        name = self._name(u) or (identities[0].value if identities else "")
        self._contacts_seen.add(user_id)
        self._people[user_id] = (name, email)
        return ContactRecord(
            external_id=user_id,
            name=name or f"Zammad customer {user_id}",
            identities=tuple(identities),
            attributes=attributes,
            created_at=self._time(u, "created_at") if u.has("created_at") else None,
            updated_at=self._time(u, "updated_at") if u.has("updated_at") else None,
        )

    async def _thread(self, t: Fields) -> tuple[tuple[MessageRecord, ...] | None, tuple[str, ...]]:
        """Articles and tags of a ticket; (None, ()) if it vanished meanwhile."""
        ticket_id = t.id()
        channel = map_channel(t.opt_text("create_article_type"))
        try:
            articles, tags = await asyncio.gather(
                self._get_list(f"/api/v1/ticket_articles/by_ticket/{ticket_id}",
                               params={"expand": "true"},
                               action=f"read the articles of ticket {ticket_id}"),
                self._tags(ticket_id),
            )  # fmt: skip
        except NotFound:
            return None, ()
        messages = tuple(sorted((self._message(a, channel) for a in articles),
                                key=lambda m: m.created_at))  # fmt: skip
        return messages, tags

    async def _tags(self, ticket_id: str) -> tuple[str, ...]:
        body = await self._get("/api/v1/tags", params={"object": "Ticket", "o_id": ticket_id},
                               action=f"read the tags of ticket {ticket_id}")  # fmt: skip
        return body.texts("tags")

    def _message(self, a: Fields, channel: Channel) -> MessageRecord:
        sender = (a.opt_text("sender") or "").lower()
        author_kind: AuthorKind = (
            "customer" if sender == "customer" else "system" if sender == "system" else "agent"
        )
        article_type = a.opt_text("type")
        kind: MessageKind = "note" if a.flag("internal") else "reply"
        body = a.text("body", "")
        if (a.opt_text("content_type") or "text/html") == "text/html":
            body = html_to_text(body)
        author = a.opt_id("origin_by_id") or a.opt_id("created_by_id")
        name = self._people.get(author or "", ("", None))[0] or a.text("from", "") or "Zammad"
        return MessageRecord(
            external_id=a.id(),
            kind=kind,
            author_kind=author_kind,
            author_name=name,
            body=body.strip(),
            created_at=self._time(a, "created_at"),
            channel=channel if article_type in (None, "note") else map_channel(article_type),
            author_external_id=author,
            attachments=tuple(
                Attachment(
                    name=x.text("filename", "attachment"),
                    size=_size(x.raw("size")),
                    content_type=_content_type(x),
                    url=f"{self.base_url}/api/v1/ticket_attachment/{a.id('ticket_id')}/"
                    f"{a.id()}/{x.id()}",
                )
                for x in a.objects("attachments")
            ),
        )

    def _conversation(
        self, t: Fields, vocabulary: Vocabulary, messages: tuple[MessageRecord, ...] | None,
        tags: tuple[str, ...],
    ) -> ConversationRecord:  # fmt: skip
        ticket_id = t.id()
        status, vendor_status = vocabulary.status(t.id("state_id"))
        owner = t.opt_id("owner_id")
        closed_at = t.opt_text("close_at")
        return ConversationRecord(
            external_id=ticket_id,
            channel=map_channel(t.opt_text("create_article_type")),
            subject=t.text("title", ""),
            status=status,
            vendor_status=vendor_status,
            priority=vocabulary.priority(t.opt_id("priority_id")),
            created_at=self._time(t, "created_at"),
            updated_at=self._time(t, "updated_at"),
            version=t.text("updated_at"),
            customer_external_id=t.opt_id("customer_id"),
            assignee_external_id=None if owner in (None, NOBODY) else owner,
            team_external_id=t.opt_id("group_id"),
            tags=tags,
            web_url=f"{self.base_url}/#ticket/zoom/{ticket_id}",
            satisfaction=None,  # Zammad core has no satisfaction survey
            messages=messages,
            solved_at=self._time(t, "close_at") if closed_at and status in ("solved", "closed")
            else None,
            reopens=None,  # not counted by Zammad
        )  # fmt: skip

    # ------------------------------------------------------------ cache policy
    async def open_backlog(self) -> AsyncIterator[Page]:
        """Tickets in an open state type last updated before the cache window."""
        vocabulary = await self.vocabulary()
        before = self.settings.backlog_before()
        if not await self.search_works():
            async for page in self._found("*", vocabulary, "open_backlog", keep=lambda t: (
                self._time(t, "updated_at") < before
                and vocabulary.state_type(t.id("state_id")) in _OPEN_TYPES
            )):  # fmt: skip
                yield page
            return
        states = " OR ".join(vocabulary.open_state_ids())
        query = f'state_id:({states}) AND updated_at:["{EPOCH}" TO "{_query_time(before)}"}}'
        async for page in self._found(query, vocabulary, "open_backlog"):
            yield page

    async def contact_history(self, contact_external_id: str) -> AsyncIterator[Page]:
        """Every ticket of the customer, with articles (`customer_id:` search)."""
        vocabulary = await self.vocabulary()
        if await self.search_works():
            async for page in self._found(f"customer_id:{contact_external_id}", vocabulary,
                                          "history"):  # fmt: skip
                yield page
            return
        if self._by_customer is None:  # one walk over the list indexes every customer
            index: dict[str, list[str]] = {}
            async for items, _ in self._search_pages("*", order="desc"):
                for t in items:
                    index.setdefault(t.text("customer_id", ""), []).append(t.id())
            self._by_customer = index
        ids = self._by_customer.get(contact_external_id, [])
        for start in range(0, len(ids), 50):
            found = await asyncio.gather(*(self._shown(i) for i in ids[start : start + 50]))
            yield await self._ticket_page([t for t in found if t is not None], None, vocabulary,
                                          resource="history")  # fmt: skip

    async def _found(
        self, query: str, vocabulary: Vocabulary, resource: str, *,
        keep: Callable[[Fields], bool] | None = None,
    ) -> AsyncIterator[Page]:  # fmt: skip
        """Pages of the tickets a search finds (or, for `*`, those of the list `keep` keeps)."""
        order, limit = ("desc", None) if keep is not None else ("asc", RUN_PAGES)
        async for items, _ in self._search_pages(query, order=order, max_pages=limit):
            kept = [t for t in items if keep is None or keep(t)]
            if kept:
                yield await self._ticket_page(kept, None, vocabulary, resource=resource)

    async def _shown(self, ticket_id: str) -> Fields | None:
        try:
            return await self._ticket(ticket_id)
        except NotFound:
            return None

    # ------------------------------------------------------------ writes
    async def _ticket(self, external_id: str) -> Fields:
        return await self._get(f"/api/v1/tickets/{external_id}", params={"expand": "true"},
                               action="read a ticket")  # fmt: skip

    async def _state(self, t: Fields) -> RemoteState:
        vocabulary = await self.vocabulary()
        if t.id("state_id") not in vocabulary.states:  # an admin added a state since
            vocabulary = await self.vocabulary(refresh=True)
        owner = t.opt_id("owner_id")
        return RemoteState(
            version=t.text("updated_at"),
            status=vocabulary.status(t.id("state_id"))[0],
            priority=vocabulary.priority(t.opt_id("priority_id")),
            assignee_external_id=None if owner in (None, NOBODY) else owner,
            team_external_id=t.opt_id("group_id"),
            tags=await self._tags(t.id()),
            updated_by=t.opt_id("updated_by_id"),
            updated_at=self._time(t, "updated_at"),
        )

    async def fetch_state(self, external_id: str) -> RemoteState:
        return await self._state(await self._ticket(external_id))

    async def apply(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        ticket_id = request.conversation_external_id
        payload = request.payload
        if request.action in ("reply", "note"):
            return await self._post_article(request)
        if request.action == "snooze":
            raise Invalid(
                f"Zammad has no snooze; account {self.settings.name} snoozes locally — "
                "this is a bug in agentdesk if you see it, please report it"
            )
        if request.action == "tags":
            # One item per call, each a set operation: a colleague's other tags stay.
            for verb, method in (("add", "POST"), ("remove", "DELETE")):
                for tag in _items(payload.get(verb)):
                    target = {"object": "Ticket", "o_id": int(ticket_id), "item": tag}
                    await self._http.request(
                        method, f"/api/v1/tags/{verb}", json_body=target, action=f"{verb} a tag"
                    )
            return WriteResult()
        # Zammad checks no version on PUT: compare updated_at ourselves right before writing.
        fresh = await self._ticket(ticket_id)
        if fresh.text("updated_at") != current.version:
            raise ConflictError(
                f"ticket {ticket_id} changed on Zammad (account {self.settings.name}) since "
                "it was checked — agentdesk re-reads it and tries again"
            )
        update = await self._update_for(request)
        updated = await self._http.request_json(
            "PUT", f"/api/v1/tickets/{ticket_id}", json_body=update,
            action=f"set the {request.action}",
        )  # fmt: skip
        return WriteResult(version=self._fields(updated, "ticket").text("updated_at"))

    async def _update_for(self, request: MutationRequest) -> JsonObject:
        payload = request.payload
        vocabulary = await self.vocabulary()
        if request.action == "status":
            status = str(payload["status"])
            state_id = vocabulary.state_for.get(status)
            if state_id is None:
                raise Invalid(f"Zammad account {self.settings.name} has no active state for "
                              f"{status!r} — ask its admin, or pick another status")  # fmt: skip
            update: JsonObject = {"state_id": int(state_id)}
            if vocabulary.state_type(state_id).startswith("pending"):
                update["pending_time"] = _query_time(utcnow() + PENDING_FOR)
            return update
        if request.action == "priority":
            priority_id = vocabulary.priority_for.get(str(payload["priority"]))
            if priority_id is None:
                raise Invalid(f"Zammad account {self.settings.name} has no priorities")
            return {"priority_id": int(priority_id)}
        if request.action == "assign":
            if payload.get("unassign"):
                return {"owner_id": int(NOBODY)}
            if "agent_external_id" in payload:
                return {"owner_id": int(str(payload["agent_external_id"]))}
            return {"group_id": int(str(payload["team_external_id"]))}
        raise Invalid(f"Zammad cannot {request.action} (account {self.settings.name})")

    async def _post_article(self, request: MutationRequest) -> WriteResult:
        ticket_id = request.conversation_external_id
        text = str(request.payload.get("text", ""))
        article: JsonObject = {
            "ticket_id": int(ticket_id), "body": text_to_html(text), "content_type": "text/html",
        }  # fmt: skip
        if request.action == "note":
            article |= {"type": "note", "internal": True}
        else:
            ticket = await self._ticket(ticket_id)
            email = await self._customer_email(ticket.opt_id("customer_id"))
            if email:
                article |= {"type": "email", "internal": False, "to": email,
                            "subject": ticket.text("title", "")}  # fmt: skip
            else:  # mailed to nobody; the customer sees it in their portal
                article |= {"type": "note", "internal": False}
        created = await self._http.request_json(
            "POST", "/api/v1/ticket_articles", json_body=article,
            action=f"send a {request.action}",
        )  # fmt: skip
        return WriteResult(message_external_id=self._fields(created, "article").id())

    async def _customer_email(self, customer_id: str | None) -> str | None:
        if customer_id is None:
            return None
        if customer_id not in self._people:
            await self._fetch_contact(customer_id)
        return self._people.get(customer_id, ("", None))[1]

    async def find_sent(self, request: MutationRequest) -> str | None:
        """The article this reply/note already created: same author, same text, internal for
        notes, created no earlier than the mutation (a second of clock skew allowed)."""
        if request.action not in ("reply", "note"):
            return None
        me = self._me or await self.whoami()
        made = request.created_at
        floor = made - timedelta(seconds=1) if made is not None else None
        # Compared as both sides read back through the one HTML converter, so characters it
        # escapes (`*`, `_`, `1.`) match themselves.
        sent = _words(html_to_text(text_to_html(str(request.payload.get("text", "")))))
        ticket_id = request.conversation_external_id
        found: str | None = None
        for a in await self._get_list(
            f"/api/v1/ticket_articles/by_ticket/{ticket_id}", params={"expand": "true"},
            action=f"look for a sent {request.action} on ticket {ticket_id}",
        ):  # fmt: skip
            if a.opt_id("created_by_id") != me.external_id:
                continue
            if a.flag("internal") != (request.action == "note"):
                continue
            if floor is not None and self._time(a, "created_at") < floor:
                continue
            if _words(html_to_text(a.text("body", ""))) == sent:
                found = a.id()  # keep the newest match
        return found


def _words(text: str) -> str:
    return " ".join(text.split())


def _items(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _size(value: object) -> int:
    """Zammad sends an attachment's size as text ("1234")."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def _content_type(attachment: Fields) -> str:
    preferences = attachment.obj("preferences")
    if preferences is None:
        return "application/octet-stream"
    return (preferences.opt_text("Content-Type") or preferences.opt_text("Mime-Type")
            or "application/octet-stream")  # fmt: skip


__all__ = [
    "Vocabulary",
    "ZammadConnector",
    "map_channel",
    "map_role",
    "read_vocabulary",
]
