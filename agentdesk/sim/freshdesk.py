"""The Freshdesk v2 dialect: the ONE shared world, served in Freshdesk's shapes.

Mapping (the world is Zendesk-flavoured; Freshdesk names things differently):

* world tickets → Freshdesk tickets. The first comment is the ticket's `description` (as in
  Freshdesk, where it is not part of the conversations list); the rest are conversations.
* statuses are numbers: 2 Open, 3 Pending, 4 Resolved, 5 Closed, plus Freshdesk's default
  custom statuses 6 "Waiting on Customer" and 7 "Waiting on Third Party" (world `hold`).
* priorities 1 Low, 2 Medium, 3 High, 4 Urgent (a world ticket without one is Low, Freshdesk's
  default); sources 1 Email, 2 Portal, 3 Phone, 5 Twitter, 7 Chat (SMS arrives as chat).
* end-users → contacts (`mobile`, `twitter_id`, `custom_fields` plan/segment/lifetime_value);
  staff → agents with `role_ids` (Administrator / Agent) and `available`; groups → groups.
* satisfaction: world `good`/`bad` → a survey rating of 103 / -103 (Freshdesk's classic
  5-point scale runs -103..103).

Behaviour documented by Freshdesk that sync depends on: Basic auth with the API key as user
and any password; `page`/`per_page` (max 100) with a `Link: <...>; rel="next"` header, at most
300 pages; the tickets list shows only tickets created in the last 30 days unless
`updated_since` (or a requester filter) is given; 401 `invalid_credentials`, 403
`access_denied`, 404 with an empty body, 400 `{"description": "Validation failed", "errors":
[...]}`, 415 for a body that is not JSON; a per-minute budget answered with 429 and
`Retry-After` (seconds) and always reported in `X-RateLimit-Total` / `X-RateLimit-Remaining` /
`X-RateLimit-Used-CurrentRequest` (an `include=` costs one more credit).

Writes go through the world's helpers (`add_comment`, `touch`) so `/_sim/state` stays the
oracle across dialects. Freshdesk has no idempotency keys: replies and notes carry no marker.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import html
import json
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentdesk.sim.jsonbody import JSONResponse
from agentdesk.sim.world import DAY, Comment, Ticket, User, World

API = "/api/v2"
MAX_PAGES = 300
DEFAULT_WINDOW_DAYS = 30

# world status → Freshdesk status code, and back
STATUS_CODE = {"new": 2, "open": 2, "pending": 3, "hold": 7, "solved": 4, "closed": 5}
WORLD_STATUS = {2: "open", 3: "pending", 4: "solved", 5: "closed", 6: "pending", 7: "hold"}
STATUS_NAME = {
    2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed",
    6: "Waiting on Customer", 7: "Waiting on Third Party",
}  # fmt: skip
PRIORITY_CODE = {None: 1, "low": 1, "normal": 2, "high": 3, "urgent": 4}
WORLD_PRIORITY = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
SOURCE_CODE = {"email": 1, "web": 2, "voice": 3, "social": 5, "chat": 7, "sms": 7}
TYPE_NAME = {
    "question": "Question", "incident": "Incident", "problem": "Problem",
    "task": "Feature Request",
}  # fmt: skip
# Roles as Freshdesk's /api/v2/roles lists them (ids are per account; these are stable).
ROLES = (
    (43_000_000_001, "Account Administrator", "Has complete control over the help desk"),
    (43_000_000_002, "Administrator", "Can configure all features through the Admin tab"),
    (43_000_000_003, "Supervisor", "Can perform all agent related activities and more"),
    (43_000_000_004, "Agent", "Can log, view, reply, update and resolve tickets"),
)
ROLE_ID = {"admin": ROLES[1][0], "supervisor": ROLES[2][0], "agent": ROLES[3][0]}
_RATING_BASE = 44_000_000_000
_SURVEY_ID = 44_000_000_001
SUPPORT_EMAIL = "support@kumomart.example"


def iso(ts: int) -> str:
    """Freshdesk's timestamps: UTC, second precision, `Z`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


SEARCH_PAGE = 30
SEARCH_MAX_PAGES = 10
_SEARCH_TOKEN = re.compile(r"\s*(?:(\()|(\))|(AND|OR)\b|(\w+):([<>]?)('[^']*'|[^\s()]+))")


class _SearchQuery:
    """A Freshdesk search query as a predicate over tickets (recursive descent; AND binds
    tighter than OR)."""

    def __init__(self, text: str, dialect: FreshdeskDialect) -> None:
        self.dialect = dialect
        self.tokens: list[tuple[str, ...]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _SEARCH_TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise ValueError(f"cannot read the query at {text[position : position + 20]!r}")
            opening, closing, op, field, compare, value = match.groups()
            if opening or closing:
                self.tokens.append(("(",) if opening else (")",))
            elif op:
                self.tokens.append((op,))
            else:
                self.tokens.append(("term", field, compare, value.strip("'")))
            position = match.end()  # the pattern's leading \s* skips the spaces between tokens
        self.at = 0

    def parse(self) -> Any:
        test = self._or()
        if self.at != len(self.tokens):
            raise ValueError("unexpected text after the query")
        return test

    def _or(self) -> Any:
        parts = [self._and()]
        while self.at < len(self.tokens) and self.tokens[self.at] == ("OR",):
            self.at += 1
            parts.append(self._and())
        return lambda t: any(p(t) for p in parts)

    def _and(self) -> Any:
        parts = [self._atom()]
        while self.at < len(self.tokens) and self.tokens[self.at] == ("AND",):
            self.at += 1
            parts.append(self._atom())
        return lambda t: all(p(t) for p in parts)

    def _atom(self) -> Any:
        if self.at >= len(self.tokens):
            raise ValueError("the query ends too early")
        token = self.tokens[self.at]
        self.at += 1
        if token == ("(",):
            inner = self._or()
            if self.at >= len(self.tokens) or self.tokens[self.at] != (")",):
                raise ValueError("a parenthesis is not closed")
            self.at += 1
            return inner
        if token[0] != "term":
            raise ValueError(f"unexpected {token[0]}")
        return self._term(*token[1:])

    def _term(self, field: str, compare: str, value: str) -> Any:
        d = self.dialect
        if field in ("updated_at", "created_at"):
            try:
                day = int(datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
            except ValueError:
                raise ValueError(f"{field} takes a date as 'yyyy-mm-dd'") from None
            if compare == ">":  # inclusive, as Freshdesk's search is
                return lambda t: getattr(t, field) >= day
            if compare == "<":
                return lambda t: getattr(t, field) < day + DAY
            return lambda t: day <= getattr(t, field) < day + DAY
        if field == "tag":
            return lambda t: value in t.tags
        numbers = {
            "status": d.status_code,
            "priority": lambda t: PRIORITY_CODE.get(t.priority, 1),
            "requester_id": lambda t: t.requester_id,
            "group_id": lambda t: t.group_id,
            "agent_id": lambda t: t.assignee_id,
        }
        if field not in numbers or not value.isdigit():
            raise ValueError(f"{field}:{value} is not a supported search term")
        of, wanted = numbers[field], int(value)
        if compare == ">":
            return lambda t: (of(t) or 0) >= wanted
        if compare == "<":
            return lambda t: (of(t) or 0) <= wanted
        return lambda t: of(t) == wanted


def _parse_time(value: str) -> int | None:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


class _TextOf(HTMLParser):
    """Freshdesk's `body_text`: the HTML's text, block elements as line breaks, no markup."""

    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("p", "div", "blockquote"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(markup: str) -> str:
    parser = _TextOf()
    parser.feed(markup)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    out: list[str] = []
    for line in lines:  # collapse runs of blank lines to one
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _error(status: int, description: str, errors: Iterable[dict[str, str]] = ()) -> Response:
    return JSONResponse({"description": description, "errors": list(errors)}, status_code=status)


def _invalid(field: str, message: str, code: str = "invalid_value") -> Response:
    return _error(400, "Validation failed", [{"field": field, "message": message, "code": code}])


class _Denied(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class FreshdeskDialect:
    """Freshdesk's API over one `World`. Thread-safe: one lock around every request."""

    def __init__(
        self, world: World, *, rate_limit_per_minute: int | None = None, role: str = "admin"
    ) -> None:
        self.world = world
        self.rate_limit_per_minute = rate_limit_per_minute
        """None: no budget (tests' default). Freshdesk's plans allow 50–700 per minute."""
        self.role = role
        self.lock = threading.RLock()
        self._by_key = {u.token: u for u in world.users.values() if u.token and not u.is_bot}
        self._status_override: dict[int, tuple[int, str]] = {}  # id → (code, world status)
        self._window = -1
        self._used = 0
        self.requests = 0
        """Every API request seen (for tests that count round trips)."""
        self._group_agents: dict[int, list[int]] = {g: [] for g in world.groups}
        self._agent_groups: dict[int, list[int]] = {}
        for m in world.memberships:
            self._group_agents.setdefault(m.group_id, []).append(m.user_id)
            self._agent_groups.setdefault(m.user_id, []).append(m.group_id)

    # ------------------------------------------------------------ credentials
    def credentials(self, role: str | None = None) -> tuple[str, str]:
        """(the agent's email, their API key) for an agent of `role` (default: the dialect's)."""
        user = self.world.agent_with_role(role or self.role)
        assert user.email is not None and user.token is not None
        return user.email, user.token

    # ------------------------------------------------------------ app
    def routes(self) -> list[Route]:
        def r(path: str, endpoint: Any, methods: list[str]) -> Route:
            return Route(API + path, self._wrap(endpoint), methods=methods)

        return [
            r("/agents/me", self.agent_me, ["GET"]),
            r("/agents", self.list_agents, ["GET"]),
            r("/agents/{agent_id:int}", self.show_agent, ["GET"]),
            r("/roles", self.list_roles, ["GET"]),
            r("/groups", self.list_groups, ["GET"]),
            r("/groups/{group_id:int}", self.show_group, ["GET"]),
            r("/contacts", self.list_contacts, ["GET"]),
            r("/contacts/{contact_id:int}", self.show_contact, ["GET"]),
            r("/tickets", self.list_tickets, ["GET"]),
            r("/tickets/{ticket_id:int}", self.ticket, ["GET", "PUT"]),
            r("/tickets/{ticket_id:int}/conversations", self.conversations, ["GET"]),
            r("/tickets/{ticket_id:int}/reply", self.reply, ["POST"]),
            r("/tickets/{ticket_id:int}/notes", self.note, ["POST"]),
            r("/tickets/{ticket_id:int}/satisfaction_ratings", self.ticket_ratings, ["GET"]),
            r("/surveys/satisfaction_ratings", self.list_ratings, ["GET"]),
            r("/search/tickets", self.search_tickets, ["GET"]),
        ]

    def app(self) -> Starlette:
        return Starlette(routes=self.routes())

    def _wrap(self, endpoint: Any) -> Any:
        async def handler(request: Request) -> Response:
            body: object = None
            if request.method in ("POST", "PUT"):
                if "application/json" not in request.headers.get("content-type", ""):
                    return JSONResponse(
                        {"code": "invalid_content_type",
                         "message": "Content-Type header should have application/json"},
                        status_code=415,
                    )  # fmt: skip
                raw = await request.body()
                try:
                    body = json.loads(raw or b"null")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    return JSONResponse(
                        {"code": "invalid_json", "message": "Request body has invalid json format"},
                        status_code=400,
                    )
            with self.lock:
                self.requests += 1
                try:
                    user = self._authenticate(request)
                    headers = self._spend(request)
                except _Denied as denied:
                    return denied.response
                response: Response = endpoint(request, user, body)
                response.headers.update(headers)
                return response

        return handler

    def _authenticate(self, request: Request) -> User:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        user: User | None = None
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
            user = self._by_key.get(key)
        if user is None:
            raise _Denied(
                JSONResponse(
                    {"code": "invalid_credentials",
                     "message": "You have to be logged in to perform this action."},
                    status_code=401,
                )
            )  # fmt: skip
        return user

    def _spend(self, request: Request) -> dict[str, str]:
        """Freshdesk's per-minute budget; an `include` costs one extra credit."""
        limit = self.rate_limit_per_minute
        if limit is None:
            return {}
        now = self.world.clock.timestamp()
        window = now // 60
        if window != self._window:
            self._window, self._used = window, 0
        include = request.query_params.get("include", "")
        cost = 1 + len([p for p in include.split(",") if p.strip()])
        if self._used + cost > limit:
            raise _Denied(
                JSONResponse(
                    {"code": "rate_limit_exceeded",
                     "message": "You have exceeded the limit of requests per minute"},
                    status_code=429,
                    headers={
                        "Retry-After": str(max(1, (window + 1) * 60 - now)),
                        "X-RateLimit-Total": str(limit),
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Used-CurrentRequest": "0",
                    },
                )
            )  # fmt: skip
        self._used += cost
        return {
            "X-RateLimit-Total": str(limit),
            "X-RateLimit-Remaining": str(limit - self._used),
            "X-RateLimit-Used-CurrentRequest": str(cost),
        }

    # ------------------------------------------------------------ paging
    def _page_args(self, request: Request) -> tuple[int, int] | Response:
        q = request.query_params
        try:
            page = int(q.get("page", "1"))
            per_page = int(q.get("per_page", "30"))
        except ValueError:
            return _invalid("page", "It should be a/an Positive Integer", "datatype_mismatch")
        if page < 1:
            return _invalid("page", "It should be a/an Positive Integer", "datatype_mismatch")
        if not 1 <= per_page <= 100:
            return _invalid("per_page", "It should be a Positive Integer less than or equal to 100")
        return page, per_page

    def _paged(self, request: Request, items: list[Any], render: Any) -> Response:
        args = self._page_args(request)
        if isinstance(args, Response):
            return args
        page, per_page = args
        start = (page - 1) * per_page
        chunk = items[start : start + per_page]
        headers: dict[str, str] = {}
        if start + per_page < len(items):
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
            query.append(("page", str(page + 1)))
            url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
            headers["Link"] = f'<{url}?{urlencode(query)}>; rel="next"'
        return JSONResponse([render(item) for item in chunk], headers=headers)

    # ------------------------------------------------------------ agents, roles, groups
    def _agent(self, user: User) -> dict[str, object]:
        groups = self._agent_groups.get(user.id, [])
        # Availability is derived deterministically (the world has no presence).
        available = (user.id + self.world.seed) % 4 != 0
        last_login = user.last_login_at or user.updated_at
        return {
            "available": available,
            "available_since": iso(last_login) if available else None,
            "occasional": False,
            "id": user.id,
            "ticket_scope": 1 if user.role == "admin" else 2,
            "signature": f"<div>{html.escape(user.name)}</div>",
            "group_ids": groups,
            "role_ids": [ROLE_ID.get(user.role, ROLE_ID["agent"])],
            "skill_ids": [],
            "focus_mode": True,
            "type": "support_agent",
            "created_at": iso(user.created_at),
            "updated_at": iso(user.updated_at),
            "last_active_at": iso(last_login),
            "contact": {
                "active": True,
                "email": user.email,
                "job_title": None,
                "language": user.locale.split("-")[0],
                "last_login_at": iso(last_login),
                "mobile": None,
                "name": user.name,
                "phone": None,
                "time_zone": user.time_zone,
                "created_at": iso(user.created_at),
                "updated_at": iso(user.updated_at),
            },
        }

    def _staff(self) -> list[User]:
        # The bot answers chats as an agent of the helpdesk (Freddy-style), so it is listed.
        return [self.world.users[i] for i in self.world.agent_ids] + [
            self.world.users[self.world.bot_id]
        ]

    def agent_me(self, request: Request, user: User, body: object) -> Response:
        return JSONResponse(self._agent(user))

    def list_agents(self, request: Request, user: User, body: object) -> Response:
        staff = self._staff()
        email = request.query_params.get("email")
        if email:
            staff = [u for u in staff if (u.email or "").lower() == email.lower()]
        return self._paged(request, staff, self._agent)

    def show_agent(self, request: Request, user: User, body: object) -> Response:
        agent_id = request.path_params["agent_id"]
        found = next((u for u in self._staff() if u.id == agent_id), None)
        return JSONResponse(self._agent(found)) if found else Response(status_code=404)

    def list_roles(self, request: Request, user: User, body: object) -> Response:
        if user.role != "admin":
            return JSONResponse(
                {
                    "code": "access_denied",
                    "message": "You are not authorized to perform this action.",
                },
                status_code=403,
            )
        start = self.world.now - 900 * DAY
        return JSONResponse(
            [
                {"id": rid, "name": name, "description": desc, "default": True,
                 "created_at": iso(start), "updated_at": iso(start)}
                for rid, name, desc in ROLES
            ]
        )  # fmt: skip

    def _group(self, group_id: int) -> dict[str, object]:
        g = self.world.groups[group_id]
        return {
            "id": g.id,
            "name": g.name,
            "description": g.description,
            "escalate_to": None,
            "unassigned_for": "30m",
            "business_hour_id": None,
            "group_type": "support_agent_group",
            "agent_ids": list(self._group_agents.get(g.id, [])),
            "auto_ticket_assign": False,
            "created_at": iso(g.created_at),
            "updated_at": iso(g.updated_at),
        }

    def list_groups(self, request: Request, user: User, body: object) -> Response:
        return self._paged(request, sorted(self.world.groups), self._group)

    def show_group(self, request: Request, user: User, body: object) -> Response:
        group_id = request.path_params["group_id"]
        if group_id not in self.world.groups:
            return Response(status_code=404)
        return JSONResponse(self._group(group_id))

    # ------------------------------------------------------------ contacts
    def _contact(self, u: User) -> dict[str, object]:
        return {
            "active": True,
            "address": None,
            "company_id": u.organization_id,
            "description": None,
            "email": u.email,
            "id": u.id,
            "job_title": None,
            "language": u.locale.split("-")[0],
            "mobile": u.phone,
            "name": u.name,
            "phone": None,
            "time_zone": u.time_zone,
            "twitter_id": u.twitter.lstrip("@") if u.twitter else None,
            "facebook_id": None,
            "unique_external_id": None,
            "other_emails": [],
            "tags": [],
            "custom_fields": {
                "plan": u.user_fields.get("plan"),
                "segment": u.user_fields.get("segment"),
                "lifetime_value": u.user_fields.get("lifetime_value"),
            },
            "view_all_tickets": False,
            "created_at": iso(u.created_at),
            "updated_at": iso(u.updated_at),
        }

    def _customers(self) -> list[User]:
        return [u for u in self.world.users.values() if u.role == "end-user"]

    def list_contacts(self, request: Request, user: User, body: object) -> Response:
        q = request.query_params
        people = self._customers()
        if q.get("email"):
            people = [u for u in people if (u.email or "").lower() == q["email"].lower()]
        for key in ("phone", "mobile"):
            if q.get(key):
                people = [u for u in people if u.phone == q[key]]
        since_text = q.get("_updated_since")
        if since_text:
            since = _parse_time(since_text)
            if since is None:
                return _invalid("_updated_since", "It should be in the 'valid date time' format")
            people = [u for u in people if u.updated_at >= since]
        people.sort(key=lambda u: u.id)
        return self._paged(request, people, self._contact)

    def show_contact(self, request: Request, user: User, body: object) -> Response:
        found = self.world.users.get(request.path_params["contact_id"])
        if found is None or found.role != "end-user":
            return Response(status_code=404)
        return JSONResponse(self._contact(found))

    # ------------------------------------------------------------ tickets
    def status_code(self, t: Ticket) -> int:
        override = self._status_override.get(t.id)
        if override is not None and override[1] == t.status:
            return override[0]
        return STATUS_CODE.get(t.status, 2)

    def _first(self, t: Ticket) -> Comment | None:
        return self.world.first_comment(t)

    def _ticket(self, t: Ticket, includes: set[str], description: bool) -> dict[str, object]:
        first = self._first(t)
        first_text = first.body if first else ""
        subject = t.subject or " ".join(first_text.split())[:80] or "(no subject)"
        priority = PRIORITY_CODE.get(t.priority, 1)
        respond = {1: DAY, 2: DAY // 3, 3: DAY // 6, 4: 3600}[priority]
        resolve = {1: 3 * DAY, 2: 2 * DAY, 3: DAY, 4: DAY // 6}[priority]
        out: dict[str, object] = {
            "id": t.id,
            "subject": subject,
            "status": self.status_code(t),
            "priority": priority,
            "source": SOURCE_CODE.get(t.channel, 1),
            "type": TYPE_NAME.get(t.type or ""),
            "requester_id": t.requester_id,
            "responder_id": t.assignee_id,
            "group_id": t.group_id,
            "company_id": t.organization_id,
            "product_id": None,
            "email_config_id": None,
            "cc_emails": [],
            "fwd_emails": [],
            "reply_cc_emails": [],
            "to_emails": [SUPPORT_EMAIL] if t.channel == "email" else None,
            "tags": list(t.tags),
            "custom_fields": {},
            "fr_escalated": False,
            "spam": False,
            "is_escalated": False,
            "due_by": iso(t.created_at + resolve),
            "fr_due_by": iso(t.created_at + respond),
            "created_at": iso(t.created_at),
            "updated_at": iso(t.updated_at),
        }
        if description:
            out["description"] = first.html_body if first else ""
            out["description_text"] = first_text
            out["attachments"] = [self._attachment(a, t.created_at) for a in
                                  (first.attachments if first else ())]  # fmt: skip
        if "requester" in includes:
            req = self.world.users[t.requester_id]
            out["requester"] = {
                "id": req.id, "name": req.name, "email": req.email, "mobile": req.phone,
                "phone": None,
            }  # fmt: skip
        if "stats" in includes:
            code = self.status_code(t)
            out["stats"] = {
                "agent_responded_at": None,
                "requester_responded_at": None,
                "first_responded_at": None,
                "status_updated_at": iso(t.updated_at),
                # The world's status history: resolved when it last became solved or closed
                # (a closed ticket was resolved first), reopened at its last reopen.
                "reopened_at": iso(t.reopened_at) if t.reopened_at is not None else None,
                "resolved_at": iso(t.solved_at) if t.solved_at is not None else None,
                "closed_at": iso(max(t.updated_at, t.solved_at or 0)) if code == 5 else None,
                "pending_since": iso(t.updated_at) if code == 3 else None,
            }
        return out

    def _attachment(self, a: Any, created: int) -> dict[str, object]:
        return {
            "id": a.id,
            "name": a.file_name,
            "content_type": a.content_type,
            "size": a.size,
            "attachment_url": f"https://attachments.kumomart.example/{a.id}/{a.file_name}",
            "created_at": iso(created),
            "updated_at": iso(created),
        }

    def list_tickets(self, request: Request, user: User, body: object) -> Response:
        q = request.query_params
        args = self._page_args(request)
        if isinstance(args, Response):
            return args
        if args[0] > MAX_PAGES:
            return _invalid("page", f"Value must be less than or equal to {MAX_PAGES}")
        includes = {p.strip() for p in q.get("include", "").split(",") if p.strip()}
        if includes - {"requester", "stats", "description"}:
            return _invalid(
                "include", "It should be one of these values: 'requester,stats,description'"
            )
        order_by = q.get("order_by", "created_at")
        order_type = q.get("order_type", "desc")
        if order_by not in ("created_at", "due_by", "updated_at", "status"):
            return _invalid(
                "order_by",
                "It should be one of these values: 'created_at,due_by,updated_at,status'",
            )
        if order_type not in ("asc", "desc"):
            return _invalid("order_type", "It should be one of these values: 'asc,desc'")
        world = self.world
        since: int | None = None
        if q.get("updated_since"):
            since = _parse_time(q["updated_since"])
            if since is None:
                return _invalid("updated_since", "It should be in the 'valid date time' format")
        if since is not None and order_by == "updated_at":
            pos = bisect.bisect_left(world.export_index, (since, -1))
            tickets = [world.tickets[tid] for _, tid in world.export_index[pos:]]
        else:
            tickets = [world.tickets[tid] for tid in world.ticket_ids]
            if since is not None:
                tickets = [t for t in tickets if t.updated_at >= since]
        requester_filter = False
        if q.get("requester_id"):
            try:
                rid = int(q["requester_id"])
            except ValueError:
                return _invalid(
                    "requester_id", "It should be a/an Positive Integer", "datatype_mismatch"
                )
            tickets = [t for t in tickets if t.requester_id == rid]
            requester_filter = True
        if q.get("email"):
            uid = world.users_by_email.get(q["email"].lower())
            tickets = [t for t in tickets if t.requester_id == uid]
            requester_filter = True
        if q.get("company_id"):
            tickets = [t for t in tickets if str(t.organization_id) == q["company_id"]]
        if since is None and not requester_filter:
            # Freshdesk: without updated_since, only tickets created in the last 30 days.
            floor = world.clock.timestamp() - DEFAULT_WINDOW_DAYS * DAY
            tickets = [t for t in tickets if t.created_at >= floor]
        if not (since is not None and order_by == "updated_at" and order_type == "asc"):
            key = {
                "created_at": lambda t: (t.created_at, t.id),
                "updated_at": lambda t: (t.updated_at, t.id),
                "due_by": lambda t: (t.created_at, t.id),
                "status": lambda t: (self.status_code(t), t.id),
            }[order_by]
            tickets.sort(key=key, reverse=order_type == "desc")
        return self._paged(
            request, tickets, lambda t: self._ticket(t, includes, "description" in includes)
        )

    def search_tickets(self, request: Request, user: User, body: object) -> Response:
        """`/search/tickets?query="..."`: Freshdesk's query language (field:value, field:>'d',
        field:<'d' with inclusive day bounds, AND/OR, parentheses), 30 results a page, pages
        1 to 10, newest first, `{"results": [...], "total": N}`; no description in results."""
        raw = request.query_params.get("query", "")
        if len(raw) < 2 or not (raw.startswith('"') and raw.endswith('"')) or len(raw) > 512:
            return _invalid("query", "It should be a/an String enclosed in double quotes")
        try:
            page = int(request.query_params.get("page", "1"))
        except ValueError:
            page = 0
        if not 1 <= page <= SEARCH_MAX_PAGES:
            return _invalid("page", f"It should be a/an Positive Integer less than or equal "
                            f"to {SEARCH_MAX_PAGES}")  # fmt: skip
        try:
            test = _SearchQuery(raw[1:-1], self).parse()
        except ValueError as exc:
            return _invalid("query", str(exc))
        found = [t for t in self.world.tickets.values() if test(t)]
        found.sort(key=lambda t: (t.updated_at, t.id), reverse=True)
        chunk = found[(page - 1) * SEARCH_PAGE : page * SEARCH_PAGE]
        return JSONResponse(
            {"results": [self._ticket(t, set(), False) for t in chunk], "total": len(found)}
        )

    def _find(self, request: Request) -> Ticket | None:
        return self.world.tickets.get(request.path_params["ticket_id"])

    def ticket(self, request: Request, user: User, body: object) -> Response:
        t = self._find(request)
        if t is None:
            return Response(status_code=404)
        if request.method == "PUT":
            return self._update(t, user, body)
        includes = {p.strip() for p in request.query_params.get("include", "").split(",")}
        out = self._ticket(t, includes, True)
        if "conversations" in includes:
            out["conversations"] = [self._conversation(t, c) for c in self.world.comments(t)[1:10]]
        return JSONResponse(out)

    def _update(self, t: Ticket, user: User, body: object) -> Response:
        if not isinstance(body, dict) or not body:
            return _invalid("body", "It should be a/an key/value pair", "missing_field")
        allowed = {"status", "priority", "responder_id", "group_id", "tags", "type", "subject"}
        errors = [
            {"field": k, "message": "Unexpected/invalid field in request", "code": "invalid_field"}
            for k in body
            if k not in allowed
        ]
        if errors:
            return _error(400, "Validation failed", errors)
        world = self.world
        changes: dict[str, Any] = {}
        if "status" in body:
            if body["status"] not in STATUS_NAME:
                return _invalid("status", "It should be one of these values: '2,3,4,5,6,7'")
            changes["status"] = body["status"]
        if "priority" in body:
            if body["priority"] not in WORLD_PRIORITY:
                return _invalid("priority", "It should be one of these values: '1,2,3,4'")
            changes["priority"] = WORLD_PRIORITY[body["priority"]]
        if "responder_id" in body:
            rid = body["responder_id"]
            if rid is not None and (rid not in world.users or world.users[rid].role == "end-user"):
                return _invalid("responder_id", "There is no agent matching the given responder_id")
            changes["assignee_id"] = rid
        if "group_id" in body:
            gid = body["group_id"]
            if gid is not None and gid not in world.groups:
                return _invalid("group_id", "There is no group matching the given group_id")
            changes["group_id"] = gid
        if "tags" in body:
            tags = body["tags"]
            if not isinstance(tags, list) or not all(isinstance(x, str) for x in tags):
                return _invalid("tags", "It should be a/an Array", "datatype_mismatch")
            if any(len(x) > 32 or "," in x for x in tags):
                return _invalid("tags", "Each tag should be at most 32 characters without commas")
            changes["tags"] = list(dict.fromkeys(tags))
        if "type" in body:
            changes["type"] = next((k for k, v in TYPE_NAME.items() if v == body["type"]), None)
        if "subject" in body and isinstance(body["subject"], str):
            changes["subject"] = body["subject"]
        changed = False
        if "status" in changes:
            code = changes.pop("status")
            if self.status_code(t) != code:
                t.status = WORLD_STATUS[code]
                changed = True
            self._status_override[t.id] = (code, t.status)
        for name, value in changes.items():
            if getattr(t, name) != value:
                setattr(t, name, value)
                changed = True
        if changed:
            world.touch(t)
        return JSONResponse(self._ticket(t, set(), True))

    # ------------------------------------------------------------ conversations
    def _conversation(self, t: Ticket, c: Comment) -> dict[str, object]:
        author = self.world.users.get(c.author_id)
        incoming = author is not None and author.role == "end-user"
        if not c.public:
            source = 2
        elif c.type == "VoiceComment":
            source = 7
        elif incoming and t.channel == "social":
            source = 3
        elif incoming and t.channel == "email":
            source = 1
        else:
            source = 0
        return {
            "id": c.id,
            "body": c.html_body,
            "body_text": c.body,
            "incoming": incoming,
            "private": not c.public,
            "user_id": c.author_id,
            "support_email": SUPPORT_EMAIL if t.channel == "email" else None,
            "source": source,
            "category": 2 if incoming else 3,
            "ticket_id": t.id,
            "to_emails": [SUPPORT_EMAIL] if incoming and t.channel == "email" else [],
            "from_email": (author.email if author else None) if incoming else None,
            "cc_emails": [],
            "bcc_emails": [],
            "attachments": [self._attachment(a, c.created_at) for a in c.attachments],
            "created_at": iso(c.created_at),
            "updated_at": iso(c.created_at),
        }

    def conversations(self, request: Request, user: User, body: object) -> Response:
        t = self._find(request)
        if t is None:
            return Response(status_code=404)
        items = self.world.comments(t)[1:]  # the first one is the ticket's description
        return self._paged(request, items, lambda c: self._conversation(t, c))

    def _create(self, request: Request, user: User, body: object, *, note: bool) -> Response:
        t = self._find(request)
        if t is None:
            return Response(status_code=404)
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return _invalid("body", "It should be a/an String", "missing_field")
        markup = body["body"]
        text = html_text(markup)
        if not text:
            return _invalid("body", "It should not be blank as this is a mandatory field")
        author = user.id
        if "user_id" in body:
            uid = body["user_id"]
            if uid not in self.world.users:
                return _invalid("user_id", "There is no contact matching the given user_id")
            author = uid
        private = bool(body.get("private", True)) if note else False
        comment = self.world.add_comment(t, author, text, public=not private, channel="web")
        comment.html_body = markup  # what the agent sent, as Freshdesk keeps it
        return JSONResponse(self._conversation(t, comment), status_code=201)

    def reply(self, request: Request, user: User, body: object) -> Response:
        return self._create(request, user, body, note=False)

    def note(self, request: Request, user: User, body: object) -> Response:
        return self._create(request, user, body, note=True)

    # ------------------------------------------------------------ satisfaction
    def _rating(self, t: Ticket) -> dict[str, object] | None:
        if t.satisfaction not in ("good", "bad"):
            return None
        at = min(t.updated_at, t.last_comment_at + 3600)
        return {
            "id": _RATING_BASE + t.id,
            "survey_id": _SURVEY_ID,
            "user_id": t.requester_id,
            "agent_id": t.assignee_id,
            "group_id": t.group_id,
            "ticket_id": t.id,
            "feedback": None,
            "ratings": {"default_question": 103 if t.satisfaction == "good" else -103},
            "created_at": iso(at),
            "updated_at": iso(at),
        }

    def ticket_ratings(self, request: Request, user: User, body: object) -> Response:
        t = self._find(request)
        if t is None:
            return Response(status_code=404)
        rating = self._rating(t)
        return JSONResponse([rating] if rating else [])

    def list_ratings(self, request: Request, user: User, body: object) -> Response:
        since_text = request.query_params.get("created_since")
        since = _parse_time(since_text) if since_text else None
        if since_text and since is None:
            return _invalid("created_since", "It should be in the 'valid date time' format")
        if since is None:  # Freshdesk: the last 30 days by default
            since = self.world.clock.timestamp() - DEFAULT_WINDOW_DAYS * DAY
        ratings = []
        for tid in self.world.ticket_ids:
            rating = self._rating(self.world.tickets[tid])
            created = _parse_time(str(rating["created_at"])) if rating else None
            if rating is not None and created is not None and created >= since:
                ratings.append(rating)
        return self._paged(request, ratings, lambda r: r)


def build_app(
    world: World, *, rate_limit_per_minute: int | None = None, role: str = "admin"
) -> Starlette:
    """A Starlette app speaking Freshdesk over `world` (the dialect is `app.state.dialect`)."""
    dialect = FreshdeskDialect(world, rate_limit_per_minute=rate_limit_per_minute, role=role)
    app = dialect.app()
    app.state.dialect = dialect
    return app


__all__ = [
    "PRIORITY_CODE",
    "SOURCE_CODE",
    "STATUS_CODE",
    "WORLD_STATUS",
    "FreshdeskDialect",
    "build_app",
    "html_text",
    "iso",
]


def create_app(world: World, *, rate_limit_per_minute: int | None = None) -> Starlette:
    """The entry point `agentdesk.sim.server` calls for every dialect (`create_app(world)`)."""
    return build_app(world, rate_limit_per_minute=rate_limit_per_minute)
