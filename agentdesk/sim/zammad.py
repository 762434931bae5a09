"""The Zammad REST API (`/api/v1`) dialect of the simulator, over the ONE shared world.

Zammad publishes no OpenAPI document; the shapes follow its REST docs (docs.zammad.org, "API":
intro, tickets, articles, tags, users, groups, states, priorities) and its controllers
(`TicketsController`, `TicketArticlesController`, `TagsController`, `CanSearch`,
`HandlesErrors` in zammad/zammad):

* Auth: `Authorization: Token token=...` (also `Bearer ...`). A bad token is 401 with
  `{"error", "error_human"}` and an `X-Failure` header; what the role may not do is 403
  `{"error": "Not authorized"}`; a missing record is 404 `Couldn't find Ticket with 'id'=N`;
  a refused write is 422.
* States and priorities are the instance's own records (`/ticket_states`,
  `/ticket_priorities`), renamable and extensible by an admin through the same API
  (`PUT`/`POST`), as a real admin does: a ticket carries only `state_id` / `priority_id`. Each
  state has a `state_type` (new, open, pending reminder, pending action, closed, merged, ...).
  A pending state needs a `pending_time`, as Zammad's core workflow demands on the edit screen.
* Tickets: `GET /tickets` ordered by id (`per_page` capped at 100); `GET /tickets/search`
  (`per_page` capped at 200, default 50, `sort_by`/`order_by`, default `updated_at desc`, no
  total unless `with_total_count`). With Elasticsearch (the default here) the query is a
  `field:value` query string (`updated_at:>=ISO`, `customer_id:N`, `state_id:(1 OR 2)`, joined
  by AND), at most 10,000 results deep. Without it (`elasticsearch=False`) Zammad's SQL
  fallback matches the query as a substring of title, number and article bodies — a field
  query finds nothing — while `*` or an empty query lists every ticket in the given order.
* `expand=true` adds association names (`state`, `priority`, `group`, `owner`, `customer`,
  `create_article_type`, ...). Unassigned is `owner_id: 1` (Zammad's "-" system user).
* Articles: `GET /ticket_articles/by_ticket/{id}` (all of them, unpaginated), `POST
  /ticket_articles` (`type` email/note/phone/..., `internal`, `body`, `content_type`). An
  email-type article is mailed to `to` even when `internal` is true: the world remembers
  which articles were mailed, so tests can tell a leaked note.
* Tags: `GET /tags?object=Ticket&o_id=N`, `POST /tags/add`, `DELETE /tags/remove`.
* No ETag and no version check: a `PUT` simply applies. Core has no general API rate limit;
  the shared limiter, when configured, answers like Rack::Attack (a bare 429, no Retry-After).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentdesk.sim.world import DAY, Comment, Ticket, User, World

API = "/api/v1"
LIST_MAX = 100
SEARCH_MAX = 200
SEARCH_DEFAULT = 50
ES_WINDOW = 10_000
NOBODY = 1  # Zammad's user 1, "-": the owner of unassigned tickets
NUMBER_BASE = 31_000
ROLES = {1: "Admin", 2: "Agent", 3: "Customer"}
STATE_TYPES = {
    1: "new", 2: "open", 3: "pending reminder", 4: "pending action", 5: "closed",
    6: "merged", 7: "removed",
}  # fmt: skip
# The world's status → the state type a Zammad ticket in it has; and back.
TYPE_OF_STATUS = {
    "new": "new", "open": "open", "pending": "pending reminder", "hold": "pending reminder",
    "solved": "closed", "closed": "closed",
}  # fmt: skip
STATUS_OF_TYPE = {
    "new": "new", "open": "open", "pending reminder": "pending", "pending action": "pending",
    "closed": "solved", "merged": "closed", "removed": "closed",
}  # fmt: skip
PRIORITY_OF_WORLD = {None: 2, "low": 1, "normal": 2, "high": 3, "urgent": 4}
# The world's channel and a comment's via → Zammad's article type names.
ARTICLE_TYPE = {
    "email": "email", "chat": "chat", "native_messaging": "chat", "sms": "sms",
    "twitter": "twitter status", "social": "twitter status", "voice": "phone", "web": "web",
}  # fmt: skip
ARTICLE_TYPES = (
    "email", "sms", "chat", "fax", "phone", "twitter status", "twitter direct-message",
    "facebook feed post", "facebook feed comment", "note", "web", "telegram personal-message",
    "facebook direct-message", "whatsapp message",
)  # fmt: skip
SENDERS = {1: "Agent", 2: "Customer", 3: "System"}
EDITABLE = {
    "Ticket::State": ("name", "active", "default_create", "default_follow_up"),
    "Ticket::Priority": ("name", "active", "default_create", "ui_color"),
}
_RANGE = re.compile(r'(\w+):([\[{])"?([^"\s]+)"?\s+TO\s+"?([^"\s\]}]+)"?([\]}])')
_TERM = re.compile(r'(\w+):(\([^)]*\)|"[^"]*"|\S+)')


def iso(ts: int) -> str:
    """Zammad's timestamps: UTC with milliseconds (`2016-08-15T07:55:42.119Z`)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _moment(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text.strip().strip('"'))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Zammad's error body (`HandlesErrors#humanize_error`)."""
    return JSONResponse({"error": message, "error_human": message}, status, headers=headers)


@dataclass(slots=True)
class State:
    id: int
    name: str
    state_type_id: int
    active: bool = True
    default_create: bool = False
    default_follow_up: bool = False
    next_state_id: int | None = None

    def as_json(self, expand: bool) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id, "name": self.name, "state_type_id": self.state_type_id,
            "next_state_id": self.next_state_id, "ignore_escalation": self.state_type_id > 2,
            "default_create": self.default_create, "default_follow_up": self.default_follow_up,
            "active": self.active, "note": None, "created_at": "2012-04-02T09:00:00.000Z",
            "updated_at": "2012-04-02T09:00:00.000Z",
        }  # fmt: skip
        if expand:
            out["state_type"] = STATE_TYPES.get(self.state_type_id, "")
        return out


@dataclass(slots=True)
class Priority:
    id: int
    name: str
    default_create: bool = False
    ui_color: str | None = None
    active: bool = True

    def as_json(self, expand: bool) -> dict[str, object]:
        return {
            "id": self.id, "name": self.name, "default_create": self.default_create,
            "ui_icon": self.ui_color, "ui_color": self.ui_color, "note": None,
            "active": self.active, "created_at": "2012-04-02T09:00:00.000Z",
            "updated_at": "2012-04-02T09:00:00.000Z",
        }  # fmt: skip


def stock_states() -> dict[int, State]:
    """Zammad's seeded states (`db/seeds/ticket_states.rb`)."""
    return {
        s.id: s
        for s in (
            State(1, "new", 1, default_create=True),
            State(2, "open", 2, default_follow_up=True),
            State(3, "pending reminder", 3),
            State(4, "closed", 5),
            State(5, "merged", 6),
            State(6, "removed", 7, active=False),
            State(7, "pending close", 4, next_state_id=4),
        )
    }


def stock_priorities() -> dict[int, Priority]:
    """Zammad's seeded priorities (`db/seeds/ticket_priorities.rb`) plus a fourth, "4 urgent",
    which the simulated instance's admin added (the world has urgent tickets)."""
    return {
        p.id: p
        for p in (
            Priority(1, "1 low", ui_color="low-priority"),
            Priority(2, "2 normal", default_create=True),
            Priority(3, "3 high", ui_color="high-priority"),
            Priority(4, "4 urgent", ui_color="high-priority"),
        )
    }


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p", "div") and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain(markup: str) -> str:
    """The text of an article body as the world keeps it."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return "\n".join(line.strip() for line in "".join(parser.parts).strip().splitlines())


def _between(field: str, low: int, high: int, low_in: bool, high_in: bool) -> Any:
    def test(t: Ticket) -> bool:
        value = getattr(t, field)
        return (value >= low if low_in else value > low) and (
            value <= high if high_in else value < high
        )

    return test


class ZammadDialect:
    """Zammad's API over one `World`. One lock around every request."""

    def __init__(self, world: World, *, elasticsearch: bool = True) -> None:
        self.world = world
        self.elasticsearch = elasticsearch
        self.lock = threading.RLock()
        self.states = stock_states()
        self.priorities = stock_priorities()
        self._by_token = {u.token: u for u in world.users.values() if u.token and not u.is_bot}
        self._state_of: dict[int, tuple[int, str]] = {}  # ticket → (state id, world status)
        self._pending: dict[int, int] = {}  # ticket → pending_time
        self._type_of: dict[int, str] = {}  # written comment id → article type
        self.mailed: set[int] = set()
        """Ids of articles Zammad would have sent as email."""
        self._groups_of: dict[int, list[int]] = {}
        for m in world.memberships:
            self._groups_of.setdefault(m.user_id, []).append(m.group_id)

    # ------------------------------------------------------------ instance records
    def _states_of_type(self, type_name: str) -> list[State]:
        return [s for s in sorted(self.states.values(), key=lambda s: s.id)
                if s.active and STATE_TYPES.get(s.state_type_id) == type_name]  # fmt: skip

    def state_of(self, t: Ticket) -> State:
        """The ticket's state record: the one last written while the world status still
        matches, else the instance's first active state of the status's type."""
        known = self._state_of.get(t.id)
        if known is not None and known[1] == t.status and known[0] in self.states:
            return self.states[known[0]]
        wanted = TYPE_OF_STATUS.get(t.status, "open")
        candidates = self._states_of_type(wanted)
        preferred = [s for s in candidates if s.default_create or s.default_follow_up]
        pick = (preferred or candidates or sorted(self.states.values(), key=lambda s: s.id))[0]
        return pick

    def priority_of(self, t: Ticket) -> Priority:
        wanted = PRIORITY_OF_WORLD.get(t.priority, 2)
        return self.priorities.get(wanted) or next(
            p for p in self.priorities.values() if p.default_create
        )

    def _world_priority(self, priority_id: int) -> str:
        return next((k for k, v in PRIORITY_OF_WORLD.items() if v == priority_id and k), "normal")

    # ------------------------------------------------------------ app
    def app(self) -> Starlette:
        def r(path: str, endpoint: Any, methods: list[str]) -> Route:
            return Route(API + path, self._wrap(endpoint), methods=methods)

        return Starlette(
            routes=[
                r("/users/me", self.me, ["GET"]),
                r("/users/search", self.search_users, ["GET"]),
                r("/users/{user_id:int}", self.show_user, ["GET"]),
                r("/groups", self.list_groups, ["GET"]),
                r("/ticket_states", self._listing("Ticket::State"), ["GET", "POST"]),
                r("/ticket_states/{record_id:int}", self._entry("Ticket::State"), ["PUT"]),
                r("/ticket_priorities", self._listing("Ticket::Priority"), ["GET", "POST"]),
                r("/ticket_priorities/{record_id:int}", self._entry("Ticket::Priority"), ["PUT"]),
                r("/tickets", self.list_tickets, ["GET"]),
                r("/tickets/search", self.search_tickets, ["GET"]),
                r("/tickets/{ticket_id:int}", self.ticket, ["GET", "PUT"]),
                r("/ticket_articles/by_ticket/{ticket_id:int}", self.articles, ["GET"]),
                r("/ticket_articles", self.create_article, ["POST"]),
                r("/tags", self.tags, ["GET"]),
                r("/tags/add", self.tag_add, ["POST"]),
                r("/tags/remove", self.tag_remove, ["DELETE"]),
            ]
        )

    def _wrap(self, endpoint: Any) -> Any:
        async def handler(request: Request) -> Response:
            body: object = None
            if request.method in ("POST", "PUT", "DELETE"):
                raw = await request.body()
                try:
                    body = json.loads(raw or b"{}")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    return error(422, "Unable to parse the request body as JSON")
            with self.lock:
                user = self._authenticate(request)
                if user is None:
                    message = "Invalid token!"
                    return error(401, message, {"X-Failure": message})
                return endpoint(request, user, body)

        return handler

    def _authenticate(self, request: Request) -> User | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        token = ""
        if scheme == "Token":
            key, _, token = value.strip().partition("=")
            token = token if key == "token" else ""
        elif scheme == "Bearer":
            token = value.strip()
        return self._by_token.get(token) if token else None

    @staticmethod
    def _expand(request: Request) -> bool:
        return request.query_params.get("expand", "").lower() in ("true", "1")

    @staticmethod
    def _paging(request: Request, cap: int, default: int) -> tuple[int, int]:
        q = request.query_params
        try:
            per_page = min(cap, max(1, int(q.get("per_page") or q.get("limit") or default)))
            page = max(1, int(q.get("page") or 1))
        except ValueError:
            per_page, page = default, 1
        return (page - 1) * per_page, per_page

    # ------------------------------------------------------------ users and groups
    def _roles(self, u: User) -> list[int]:
        if u.role == "admin":
            return [1, 2]
        if u.role == "agent" or u.id in self.world.agent_ids:
            return [2]
        return [3]

    def _user(self, u: User, expand: bool) -> dict[str, object]:
        first, _, last = u.name.partition(" ")
        org = self.world.organizations.get(u.organization_id or 0)
        out: dict[str, object] = {
            "id": u.id, "organization_id": u.organization_id, "login": u.email or f"user{u.id}",
            "firstname": first, "lastname": last, "email": u.email or "", "phone": "",
            "mobile": u.phone or "", "web": "", "vip": False, "verified": True, "active": True,
            "note": "", "role_ids": self._roles(u),
            "group_ids": {str(g): ["full"] for g in self._groups_of.get(u.id, [])},
            "preferences": {"locale": u.locale.lower()},
            "created_at": iso(u.created_at), "updated_at": iso(u.updated_at),
            "last_login": iso(u.last_login_at) if u.last_login_at else None,
        }  # fmt: skip
        if expand:
            out["roles"] = [ROLES[r] for r in self._roles(u)]
            out["organization"] = org.name if org else None
        return out

    def me(self, request: Request, user: User, body: object) -> Response:
        return JSONResponse(self._user(user, self._expand(request)))

    def show_user(self, request: Request, user: User, body: object) -> Response:
        found = self.world.users.get(request.path_params["user_id"])
        if found is None:
            return error(404, f"Couldn't find User with 'id'={request.path_params['user_id']}")
        return JSONResponse(self._user(found, self._expand(request)))

    def search_users(self, request: Request, user: User, body: object) -> Response:
        """`UsersController#search`: `permissions[]=ticket.agent` narrows to agents."""
        q = request.query_params
        wanted = q.getlist("permissions[]") or q.getlist("permissions")
        people = [self.world.users[i] for i in self.world.agent_ids] if "ticket.agent" in wanted \
            else list(self.world.users.values())  # fmt: skip
        query = (q.get("query") or "").replace("*", "").lower()
        if query:
            people = [u for u in people if query in u.name.lower() or query in (u.email or "")]
        offset, limit = self._paging(request, 500, 100)
        chunk = sorted(people, key=lambda u: u.id)[offset : offset + limit]
        return JSONResponse([self._user(u, True) for u in chunk])

    def list_groups(self, request: Request, user: User, body: object) -> Response:
        denied = self._admin_only(user)  # Zammad: `admin.group` only
        if denied is not None:
            return denied
        return JSONResponse(
            [
                {"id": g.id, "name": g.name, "active": True, "note": g.description,
                 "created_at": iso(g.created_at), "updated_at": iso(g.updated_at)}
                for g in sorted(self.world.groups.values(), key=lambda g: g.id)
            ]
        )  # fmt: skip

    # ------------------------------------------------------------ states and priorities
    def _admin_only(self, user: User) -> Response | None:
        return None if user.role == "admin" else error(403, "Not authorized")

    def _catalogue(self, model: str) -> dict[int, Any]:
        records: dict[int, Any] = self.states if model == "Ticket::State" else self.priorities
        return records

    def _listing(self, model: str) -> Any:
        """`GET` lists an instance's states or priorities; an admin's `POST` adds one."""

        def endpoint(request: Request, user: User, body: object) -> Response:
            records = self._catalogue(model)
            if request.method == "GET":
                rows = sorted(records.values(), key=lambda r: r.id)
                return JSONResponse([r.as_json(self._expand(request)) for r in rows])
            denied = self._admin_only(user)
            if denied is not None:
                return denied
            if not isinstance(body, dict) or not body.get("name"):
                return error(422, "Missing required value for field 'name'!")
            record: State | Priority
            if model == "Ticket::State":
                if body.get("state_type_id") not in STATE_TYPES:
                    return error(422, "Missing required value for field 'state_type_id'!")
                record = State(max(records) + 1, str(body["name"]), int(body["state_type_id"]),
                               active=bool(body.get("active", True)))  # fmt: skip
            else:
                record = Priority(max(records) + 1, str(body["name"]),
                                  ui_color=body.get("ui_color"))  # fmt: skip
            records[record.id] = record
            return JSONResponse(record.as_json(False), 201)

        return endpoint

    def _entry(self, model: str) -> Any:
        """An admin's `PUT` renames, (de)activates or re-defaults one state or priority."""

        def endpoint(request: Request, user: User, body: object) -> Response:
            denied = self._admin_only(user)
            if denied is not None:
                return denied
            record_id = request.path_params["record_id"]
            record = self._catalogue(model).get(record_id)
            if record is None:
                return error(404, f"Couldn't find {model} with 'id'={record_id}")
            if isinstance(body, dict):
                for key in EDITABLE[model]:
                    if key in body:
                        setattr(record, key, body[key])
            return JSONResponse(record.as_json(False))

        return endpoint

    # ------------------------------------------------------------ tickets
    def _ticket(self, t: Ticket, expand: bool) -> dict[str, object]:
        state = self.state_of(t)
        priority = self.priority_of(t)
        world = self.world
        comments = world.comment_count(t)
        pending = None
        if STATE_TYPES.get(state.state_type_id, "").startswith("pending"):
            pending = self._pending.get(t.id, t.updated_at + 3 * DAY)
        closed = STATE_TYPES.get(state.state_type_id) == "closed"
        out: dict[str, object] = {
            "id": t.id, "group_id": t.group_id, "priority_id": priority.id,
            "state_id": state.id, "organization_id": t.organization_id,
            "number": str(NUMBER_BASE + t.id), "title": t.subject or "(no subject)",
            "owner_id": t.assignee_id or NOBODY, "customer_id": t.requester_id, "note": None,
            "first_response_at": None, "close_at": iso(t.solved_at or t.updated_at) if closed
            else None, "last_contact_at": iso(t.last_comment_at),
            "create_article_type_id": ARTICLE_TYPES.index(self._ticket_type(t)) + 1,
            "create_article_sender_id": 2, "article_count": comments,
            "pending_time": iso(pending) if pending else None, "type": t.type,
            "preferences": {}, "updated_by_id": t.assignee_id or t.requester_id,
            "created_by_id": t.requester_id, "created_at": iso(t.created_at),
            "updated_at": iso(t.updated_at),
        }  # fmt: skip
        if expand:
            owner = world.users.get(t.assignee_id or 0)
            customer = world.users.get(t.requester_id)
            group = world.groups.get(t.group_id or 0)
            out.update(
                state=state.name, priority=priority.name, group=group.name if group else None,
                owner=owner.email if owner else "-", customer=customer.email if customer else None,
                create_article_type=self._ticket_type(t), create_article_sender="Customer",
            )  # fmt: skip
        return out

    @staticmethod
    def _ticket_type(t: Ticket) -> str:
        return ARTICLE_TYPE.get(t.via, ARTICLE_TYPE.get(t.channel, "email"))

    def list_tickets(self, request: Request, user: User, body: object) -> Response:
        offset, limit = self._paging(request, LIST_MAX, LIST_MAX)
        ids = self.world.ticket_ids[offset : offset + limit]
        expand = self._expand(request)
        return JSONResponse([self._ticket(self.world.tickets[i], expand) for i in ids])

    def _matcher(self, query: str) -> Any:
        """A query-string predicate over tickets (Elasticsearch on), or None if unreadable:
        `field:value`, `field:(a OR b)` and date ranges `field:["ISO" TO "ISO"}`, joined by
        AND."""
        getters = {
            "customer_id": lambda t: t.requester_id, "group_id": lambda t: t.group_id,
            "owner_id": lambda t: t.assignee_id or NOBODY, "id": lambda t: t.id,
            "state_id": lambda t: self.state_of(t).id, "number": lambda t: NUMBER_BASE + t.id,
            "priority_id": lambda t: self.priority_of(t).id,
        }  # fmt: skip
        tests = []
        for part in re.split(r"\s+AND\s+", query.strip()):
            part = part.strip()
            ranged = _RANGE.fullmatch(part)
            if ranged is not None:
                field, opening, low, high, closing = ranged.groups()
                low_at, high_at = _moment(low), _moment(high)
                if field not in ("updated_at", "created_at") or low_at is None or high_at is None:
                    return None
                tests.append(_between(field, low_at, high_at, opening == "[", closing == "]"))
                continue
            match = _TERM.fullmatch(part)
            if match is None or match.group(1) not in getters:
                return None
            get = getters[match.group(1)]
            choices = {v.strip().strip('"') for v in match.group(2).strip("()").split(" OR ")}
            tests.append(lambda t, get=get, choices=choices: str(get(t)) in choices)
        return lambda t: all(test(t) for test in tests)

    def search_tickets(self, request: Request, user: User, body: object) -> Response:
        q = request.query_params
        query = (q.get("query") or "").replace("*", "").strip()
        tickets = [self.world.tickets[i] for i in self.world.ticket_ids]
        if query and self.elasticsearch:
            test = self._matcher(query)
            if test is None:
                return error(422, f"Unable to process the search query {query[:40]!r}")
            tickets = [t for t in tickets if test(t)]
        elif query:  # the SQL fallback: a substring of title, number or an article body
            needle = query.lower()
            tickets = [t for t in tickets if needle in (t.subject or "").lower()
                       or needle in str(NUMBER_BASE + t.id)
                       or any(needle in c.body.lower()
                              for c in self.world.comments(t))]  # fmt: skip
        sort_by = q.get("sort_by") or "updated_at"
        if sort_by not in ("updated_at", "created_at", "id", "number"):
            sort_by = "updated_at"
        column = "id" if sort_by == "number" else sort_by
        descending = (q.get("order_by") or "desc").lower() != "asc"
        tickets.sort(key=lambda t: (getattr(t, column), t.id), reverse=descending)
        offset, limit = self._paging(request, SEARCH_MAX, SEARCH_DEFAULT)
        if query and self.elasticsearch and offset + limit > ES_WINDOW:
            return error(422, f"Result window is too large, from + size must be less than or "
                         f"equal to: [{ES_WINDOW}]")  # fmt: skip
        chunk = tickets[offset : offset + limit]
        if self._expand(request):
            return JSONResponse([self._ticket(t, True) for t in chunk])
        out: dict[str, object] = {
            "tickets": [t.id for t in chunk], "tickets_count": len(chunk),
            "assets": {"Ticket": {str(t.id): self._ticket(t, False) for t in chunk}},
        }  # fmt: skip
        if q.get("with_total_count"):
            out["total_count"] = len(tickets)
        return JSONResponse(out)

    def _find(self, ticket_id: int) -> Ticket | Response:
        t = self.world.tickets.get(ticket_id)
        if t is None:
            return error(404, f"Couldn't find Ticket with 'id'={ticket_id}")
        return t

    def ticket(self, request: Request, user: User, body: object) -> Response:
        t = self._find(request.path_params["ticket_id"])
        if isinstance(t, Response):
            return t
        if request.method == "PUT":
            return self._update(t, user, body, self._expand(request))
        return JSONResponse(self._ticket(t, self._expand(request)))

    def _update(self, t: Ticket, user: User, body: object, expand: bool) -> Response:
        if not isinstance(body, dict):
            return error(422, "The request body must be an object")
        world = self.world
        changes: dict[str, Any] = {}
        state: State | None = None
        if "state_id" in body or "state" in body:
            ref = body.get("state_id", body.get("state"))
            state = self.states.get(ref) if isinstance(ref, int) else next(
                (s for s in self.states.values() if s.name == ref), None)  # fmt: skip
            if state is None or not state.active:
                return error(422, f"No lookup value found for 'state': {ref!r}")
            kind = STATE_TYPES.get(state.state_type_id, "")
            if kind.startswith("pending"):
                moment = _moment(str(body.get("pending_time") or ""))
                if moment is None:
                    return error(422, "Missing required value for field 'pending_time'!")
                self._pending[t.id] = moment
            changes["status"] = STATUS_OF_TYPE.get(kind, "open")
        if "priority_id" in body:
            priority = self.priorities.get(body["priority_id"])
            if priority is None or not priority.active:
                return error(422, f"No lookup value found for 'priority': {body['priority_id']!r}")
            changes["priority"] = self._world_priority(priority.id)
        if "owner_id" in body:
            owner = body["owner_id"]
            if owner not in (None, NOBODY) and owner not in world.agent_ids:
                return error(422, "Invalid value for param 'owner_id': not an agent")
            changes["assignee_id"] = None if owner in (None, NOBODY) else owner
        if "group_id" in body:
            if body["group_id"] not in world.groups:
                return error(422, f"No lookup value found for 'group': {body['group_id']!r}")
            changes["group_id"] = body["group_id"]
        if isinstance(body.get("title"), str):
            changes["subject"] = body["title"]
        changed = False
        for name, value in changes.items():
            if getattr(t, name) != value:
                setattr(t, name, value)
                changed = True
        if state is not None:
            self._state_of[t.id] = (state.id, t.status)
            changed = True
        if changed:
            world.touch(t)
            world.record_write(t, user.id, "zammad", changes)
        return JSONResponse(self._ticket(t, expand))

    # ------------------------------------------------------------ articles
    def _article_type(self, t: Ticket, c: Comment, requester: bool) -> str:
        if c.id in self._type_of:
            return self._type_of[c.id]
        if not c.public:
            return "note"
        if c.type == "VoiceComment":
            return "phone"
        return self._ticket_type(t) if not requester else ARTICLE_TYPE.get(c.channel, "web")

    def _article(self, t: Ticket, c: Comment) -> dict[str, object]:
        author = self.world.users.get(c.author_id)
        requester = author is not None and author.role == "end-user"
        sender_id = 2 if requester else 1
        kind = self._article_type(t, c, requester)
        name = author.name if author else "-"
        return {
            "id": c.id, "ticket_id": t.id, "type_id": ARTICLE_TYPES.index(kind) + 1,
            "sender_id": sender_id, "from": name, "to": "", "cc": "", "subject": t.subject,
            "reply_to": None, "message_id": None, "in_reply_to": None,
            "content_type": "text/html", "body": c.html_body, "internal": not c.public,
            "preferences": {}, "updated_by_id": c.author_id, "created_by_id": c.author_id,
            "origin_by_id": None, "created_at": iso(c.created_at),
            "updated_at": iso(c.created_at),
            "attachments": [
                {"id": a.id, "filename": a.file_name, "size": str(a.size),
                 "preferences": {"Content-Type": a.content_type}}
                for a in c.attachments
            ],
            "type": kind, "sender": SENDERS[sender_id],
            "created_by": author.email if author and author.email else "-",
            "updated_by": author.email if author and author.email else "-",
        }  # fmt: skip

    def articles(self, request: Request, user: User, body: object) -> Response:
        t = self._find(request.path_params["ticket_id"])
        if isinstance(t, Response):
            return t
        return JSONResponse([self._article(t, c) for c in self.world.comments(t)])

    def create_article(self, request: Request, user: User, body: object) -> Response:
        if not isinstance(body, dict):
            return error(422, "The request body must be an object")
        t = self._find(body.get("ticket_id") if isinstance(body.get("ticket_id"), int) else 0)
        if isinstance(t, Response):
            return t
        markup = body.get("body")
        if not isinstance(markup, str) or not markup.strip():
            return error(422, "Need at least an 'body' for the article")
        kind = str(body.get("type") or "note")
        if kind not in ARTICLE_TYPES:
            return error(422, f"No lookup value found for 'type': {kind!r}")
        internal = bool(body.get("internal", False))
        html = body.get("content_type") == "text/html"
        text = plain(markup) if html else markup.strip()
        comment = self.world.add_comment(t, user.id, text, public=not internal, channel="web",
                                         html_body=markup if html else None)  # fmt: skip
        self._type_of[comment.id] = kind
        if kind == "email" and body.get("to"):
            self.mailed.add(comment.id)  # an email article is sent, internal or not
        changes: dict[str, object] = {"comment": {"public": not internal, "type": kind}}
        self.world.record_write(t, user.id, "zammad", changes, comment_id=comment.id)
        return JSONResponse(self._article(t, comment), 201)

    # ------------------------------------------------------------ tags
    def _tag_target(self, source: Any) -> Ticket | Response:
        if source.get("object") != "Ticket":
            return error(422, "No such object: only Ticket is supported here")
        try:
            ticket_id = int(source.get("o_id") or 0)
        except (TypeError, ValueError):
            ticket_id = 0
        return self._find(ticket_id)

    def tags(self, request: Request, user: User, body: object) -> Response:
        t = self._tag_target(request.query_params)
        if isinstance(t, Response):
            return t
        return JSONResponse({"tags": list(t.tags)})

    def _tag_change(self, user: User, body: object, *, add: bool) -> Response:
        if not isinstance(body, dict):
            return error(422, "The request body must be an object")
        t = self._tag_target(body)
        if isinstance(t, Response):
            return t
        item = str(body.get("item") or "").strip()
        if not item:
            return error(422, "Missing required value for field 'item'!")
        present = item in t.tags
        if add and not present:
            t.tags.append(item)
        elif not add and present:
            t.tags.remove(item)
        if add != present:
            self.world.touch(t)
            self.world.record_write(t, user.id, "zammad", {"tags": list(t.tags)})
        return JSONResponse(True, 201 if add else 200)

    def tag_add(self, request: Request, user: User, body: object) -> Response:
        return self._tag_change(user, body, add=True)

    def tag_remove(self, request: Request, user: User, body: object) -> Response:
        return self._tag_change(user, body, add=False)


def build_app(world: World, *, elasticsearch: bool = True) -> Starlette:
    """A Starlette app speaking Zammad over `world` (the dialect is `app.state.dialect`)."""
    dialect = ZammadDialect(world, elasticsearch=elasticsearch)
    app = dialect.app()
    app.state.dialect = dialect
    return app


def create_app(world: World) -> Starlette:
    """The entry point `agentdesk.sim.server` calls for every dialect."""
    return build_app(world)
