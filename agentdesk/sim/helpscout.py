"""The Help Scout Mailbox API 2.0 dialect of the simulator, over the ONE shared world.

Built from Help Scout's developer documentation (developer.helpscout.com/mailbox-api; there is
no OpenAPI document). The world's shapes map as follows:

* groups → mailboxes (a conversation without a group sits in the first mailbox), agents →
  users (role `admin` or `user`), end-users → customers (`_embedded` emails, phones, social
  profiles), tickets → conversations (id and number are the world id), comments → threads
  (`customer`, `message`, `note`; listed newest first, as Help Scout does).
* Status: world new/open → `active`, pending/hold → `pending`, solved/closed → `closed`;
  `spam` is kept here (the world has no such status). Help Scout has no priority.
* Auth: OAuth 2 client credentials. `POST /v2/oauth2/token` (form-encoded ONLY `grant_type`,
  `client_id`, `client_secret`) answers `{"token_type": "bearer", "access_token",
  "expires_in": 172800}`; the app id of an agent is `app_id(user)`, its secret the agent's
  world token. API calls carry `Authorization: Bearer …`; an unknown or expired token is a 401.
  Tokens expire on the simulated clock, or on demand through `/_sim/tokens` (see `sim.oauth`).
* Lists are HAL: `_embedded.<items>`, `page {size, totalElements, totalPages, number}`,
  `_links {self, first, last, next?}`; `_embedded` is left out of an empty page. Conversations
  come 25 a page; `modifiedSince` keeps those modified strictly after the moment;
  `sortField=modifiedAt&sortOrder=asc`; `query=(customerIds:ID)`; `embed=threads`.
* Snooze: `PUT /conversations/{id}/snooze {"snoozedUntil", "unsnoozeOnCustomerReply"}` and
  `DELETE` (204); the conversation shows `snooze {snoozedBy, snoozedUntil, ...}` while it lasts.
* Writes: `POST /conversations/{id}/reply` and `/notes` answer 201 with the new thread's id in
  `Resource-ID`; `PATCH /conversations/{id}` takes ONE JSON-patch operation (`replace
  /status`, `replace|remove /assignTo`, `move /mailboxId`, `replace /subject`) and answers 204;
  `PUT /conversations/{id}/tags {"tags": [...]}` replaces the tags (204).
* Errors are `application/vnd.error+json`: `{"logRef", "message", "_embedded": {"errors":
  [{"path", "message", "source"}]}}`. Rate limits (the shared gate, Help Scout's style): 429
  with `X-RateLimit-Retry-After`, `X-RateLimit-Limit-Minute` / `-Remaining-Minute` on every
  answer, writes counting double.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentdesk.sim.freshdesk import html_text
from agentdesk.sim.oauth import AccessTokens
from agentdesk.sim.world import Comment, Ticket, User, World

PAGE_SIZE = 25  # conversations (and threads) per page
USERS_PAGE = 50
VND_ERROR = "application/vnd.error+json"
_YEAR_2100 = 4_102_444_800  # snoozedUntil "must not be after year 2100"

# World status → Help Scout status, and what a Help Scout status written becomes in the world.
_STATUS_OUT = {
    "new": "active", "open": "active", "pending": "pending", "hold": "pending",
    "solved": "closed", "closed": "closed",
}  # fmt: skip
_STATUS_IN = {"active": "open", "pending": "pending", "closed": "solved", "spam": "closed"}
# World channel → (conversation type, source type).
_CHANNEL_OUT = {
    "email": ("email", "email"), "web": ("email", "web"), "chat": ("chat", "beacon"),
    "sms": ("chat", "sms"), "social": ("chat", "facebook"), "voice": ("phone", "phone"),
}  # fmt: skip


def app_id(user: User) -> str:
    """The app id (OAuth client id) of the agent's own Help Scout app, stable per world."""
    return hashlib.sha256(f"helpscout-app:{user.id}".encode()).hexdigest()[:32]


def iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _parse_iso(value: str) -> int | None:
    try:
        return calendar.timegm(time.strptime(value.strip(), "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().partition(" ")
    return first, last


def _tag_id(tag: str) -> int:
    return int(hashlib.sha256(tag.encode()).hexdigest()[:8], 16)


def vnd_error(status: int, message: str, errors: list[dict[str, str]] | None = None) -> Response:
    body: dict[str, Any] = {"logRef": str(uuid.uuid4()), "message": message}
    if errors:
        body["_embedded"] = {"errors": errors}
    return Response(json.dumps(body), status_code=status, media_type=VND_ERROR)


def _invalid(path: str, message: str) -> Response:
    error = {"path": path, "message": message, "source": "JSON"}
    return vnd_error(400, "Validation error", [error])


@dataclass(frozen=True, slots=True)
class _Snooze:
    until: int
    by: int
    set_at: int
    unsnooze_on_reply: bool


@dataclass(slots=True)
class HelpScoutDialect:
    world: World
    tokens: AccessTokens
    spam: set[int] = field(default_factory=set)
    snoozes: dict[int, _Snooze] = field(default_factory=dict)
    _apps: dict[str, User] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._apps = {
            app_id(self.world.users[i]): self.world.users[i]
            for i in self.world.agent_ids
            if self.world.users[i].token
        }

    # ------------------------------------------------------------ ids
    def mailbox_ids(self) -> list[int]:
        return sorted(self.world.groups)

    def mailbox_of(self, ticket: Ticket) -> int:
        if ticket.group_id in self.world.groups:
            return ticket.group_id  # type: ignore[return-value]
        return self.mailbox_ids()[0]

    def staff(self) -> list[User]:
        return [self.world.users[i] for i in self.world.agent_ids if not self.world.users[i].is_bot]

    def app(self, client_id: str, secret: str) -> User | None:
        user = self._apps.get(client_id)
        if user is None or user.token is None:
            return None
        return user if hmac.compare_digest(user.token.encode(), secret.encode()) else None

    # ------------------------------------------------------------ JSON shapes
    def person_ref(self, user: User) -> dict[str, Any]:
        first, last = _split_name(user.name)
        kind = "customer" if user.role == "end-user" else "user"
        out: dict[str, Any] = {"id": user.id, "type": kind, "first": first, "last": last}
        if user.email:
            out["email"] = user.email
        return out

    def user_json(self, user: User, base: str) -> dict[str, Any]:
        first, last = _split_name(user.name)
        return {
            "id": user.id, "firstName": first, "lastName": last, "email": user.email,
            "role": "admin" if user.role == "admin" else "user", "timezone": user.iana_time_zone,
            "photoUrl": "", "createdAt": iso(user.created_at), "updatedAt": iso(user.updated_at),
            "type": "user", "mention": first.lower(), "initials": (first[:1] + last[:1]).upper(),
            "jobTitle": "", "phone": user.phone or "", "alternateEmails": [],
            "_links": {"self": {"href": f"{base}/v2/users/{user.id}"}},
        }  # fmt: skip

    def customer_json(self, user: User, base: str) -> dict[str, Any]:
        first, last = _split_name(user.name)
        org = self.world.organizations.get(user.organization_id or 0)
        embedded: dict[str, Any] = {
            "emails": [{"id": user.id * 10 + 1, "value": user.email, "type": "work"}]
            if user.email else [],
            "phones": [{"id": user.id * 10 + 2, "value": user.phone, "type": "mobile"}]
            if user.phone else [],
            "social_profiles": [{"id": user.id * 10 + 3, "value": user.twitter.lstrip("@"),
                                 "type": "twitter"}] if user.twitter else [],
            "chats": [], "websites": [],
        }  # fmt: skip
        properties = [
            {"type": "text", "slug": str(k), "name": str(k).replace("_", " ").title(), "value": v}
            for k, v in user.user_fields.items()
            if v is not None
        ]
        return {
            "id": user.id, "firstName": first, "lastName": last, "gender": "unknown",
            "jobTitle": None, "location": user.time_zone,
            "organization": org.name if org else None, "photoType": "unknown", "photoUrl": "",
            "age": None, "background": None, "language": user.locale,
            "createdAt": iso(user.created_at), "updatedAt": iso(user.updated_at),
            "properties": properties, "_embedded": embedded,
            "_links": {"self": {"href": f"{base}/v2/customers/{user.id}"}},
        }  # fmt: skip

    def snooze_of(self, ticket: Ticket) -> _Snooze | None:
        """The conversation's snooze while it lasts (a customer reply may have ended it)."""
        snooze = self.snoozes.get(ticket.id)
        if snooze is None or snooze.until <= self.world.clock.timestamp():
            return None
        if snooze.unsnooze_on_reply:
            customer = ticket.requester_id
            if any(c.author_id == customer and c.created_at >= snooze.set_at for c in ticket.extra):
                return None
        return snooze

    def status_of(self, ticket: Ticket) -> str:
        if ticket.id in self.spam and ticket.status == "closed":
            return "spam"
        return _STATUS_OUT.get(ticket.status, "active")

    def thread_json(self, ticket: Ticket, comment: Comment) -> dict[str, Any]:
        author = self.world.users.get(comment.author_id)
        customer = self.world.users[ticket.requester_id]
        from_customer = author is not None and author.role == "end-user"
        kind = "note" if not comment.public else "customer" if from_customer else "message"
        _, source = _CHANNEL_OUT[ticket.channel]
        out: dict[str, Any] = {
            "id": comment.id, "type": kind, "status": "active", "state": "published",
            "body": comment.html_body,
            "source": {"type": source if from_customer else "web",
                       "via": "customer" if from_customer else "user"},
            "customer": self.person_ref(customer),
            "createdBy": self.person_ref(author) if author is not None
            else {"id": 0, "type": "user", "first": "Help", "last": "Scout"},
            "to": [], "cc": [], "bcc": [], "createdAt": iso(comment.created_at),
            "_embedded": {"attachments": [
                {"id": a.id, "filename": a.file_name, "mimeType": a.content_type,
                 "size": a.size, "width": 0, "height": 0,
                 "_links": {"web": {"href": f"https://secure.helpscout.net/file/{a.id}/"
                                            f"{a.file_name}"}}}
                for a in comment.attachments
            ]},
        }  # fmt: skip
        if ticket.assignee_id is not None and ticket.assignee_id in self.world.users:
            out["assignedTo"] = self.person_ref(self.world.users[ticket.assignee_id])
        return out

    def threads(self, ticket: Ticket) -> list[dict[str, Any]]:
        out = [self.thread_json(ticket, c) for c in reversed(self.world.comments(ticket))]
        # Help Scout puts the customer's satisfaction rating on the thread it rated.
        rating = {"good": "great", "bad": "not-good"}.get(ticket.satisfaction or "")
        for thread in out if rating else ():
            if thread["type"] == "customer":
                thread["rating"] = {"id": ticket.id, "rating": rating, "comments": ""}
                break
        return out

    def conversation_json(self, ticket: Ticket, base: str, *, embed: bool) -> dict[str, Any]:
        customer = self.world.users[ticket.requester_id]
        kind, source = _CHANNEL_OUT[ticket.channel]
        status = self.status_of(ticket)
        comments = self.world.comments(ticket)
        last = comments[-1] if comments else None
        out: dict[str, Any] = {
            "id": ticket.id, "number": ticket.id, "threads": len(comments), "type": kind,
            "folderId": self.mailbox_of(ticket) + 1, "status": status, "state": "published",
            "subject": ticket.subject, "preview": (last.body[:185] if last else ""),
            "mailboxId": self.mailbox_of(ticket), "createdBy": self.person_ref(customer),
            "createdAt": iso(ticket.created_at), "userUpdatedAt": iso(ticket.updated_at),
            "customerWaitingSince": {"time": iso(ticket.last_comment_at), "friendly": ""},
            "source": {"type": source, "via": "customer"},
            "tags": [{"id": _tag_id(t), "color": "#929499", "tag": t} for t in ticket.tags],
            "cc": [], "bcc": [], "primaryCustomer": self.person_ref(customer),
            "customFields": [],
            "_links": {
                "self": {"href": f"{base}/v2/conversations/{ticket.id}"},
                "mailbox": {"href": f"{base}/v2/mailboxes/{self.mailbox_of(ticket)}"},
                "primaryCustomer": {"href": f"{base}/v2/customers/{customer.id}"},
                "threads": {"href": f"{base}/v2/conversations/{ticket.id}/threads"},
                "web": {"href": f"{base}/conversation/{ticket.id}/{ticket.id}/"},
            },
        }  # fmt: skip
        if ticket.assignee_id is not None and ticket.assignee_id in self.world.users:
            out["assignee"] = self.person_ref(self.world.users[ticket.assignee_id])
        if status == "closed" and ticket.solved_at:
            out["closedAt"] = iso(ticket.solved_at)
            out["closedBy"] = ticket.assignee_id or 0
        snooze = self.snooze_of(ticket)
        if snooze is not None:
            out["snooze"] = {"snoozedBy": snooze.by, "snoozedUntil": iso(snooze.until),
                             "unsnoozeOnCustomerReply": snooze.unsnooze_on_reply}  # fmt: skip
        if embed:
            out["_embedded"] = {"threads": self.threads(ticket)}
        return out


# ---------------------------------------------------------------- HAL lists
def _hal(request: Request, key: str, items: list[dict[str, Any]], total: int, number: int,
         size: int) -> JSONResponse:  # fmt: skip
    base = str(request.base_url).rstrip("/")
    pages = max(1, -(-total // size))

    def href(page: int) -> dict[str, str]:
        query = {k: v for k, v in request.query_params.items() if k != "page"}
        query["page"] = str(page)
        return {"href": f"{base}{request.url.path}?{urlencode(query)}"}

    links: dict[str, Any] = {"self": href(number), "first": href(1), "last": href(pages),
                             "page": {"href": f"{base}{request.url.path}?page={{page}}",
                                      "templated": True}}  # fmt: skip
    if number < pages:
        links["next"] = href(number + 1)
    body: dict[str, Any] = {
        "page": {"size": size, "totalElements": total, "totalPages": pages, "number": number},
        "_links": links,
    }
    if items:
        body["_embedded"] = {key: items}
    return JSONResponse(body)


def _page_number(request: Request) -> int | None:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and int(raw) >= 1 else None


Handler = Callable[[Request, HelpScoutDialect, User], Awaitable[Response]]


def create_app(world: World, tokens: AccessTokens) -> Starlette:
    d = HelpScoutDialect(world, tokens)

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            user_id = d.tokens.user_of(token.strip()) if scheme.lower() == "bearer" else None
            user = world.users.get(user_id) if user_id is not None else None
            if user is None:
                return vnd_error(401, "Invalid or expired access token")
            with world.lock:
                return await handler(request, d, user)

        return run

    def ticket_route(handler: Callable[[Request, HelpScoutDialect, User, Ticket],
                                       Awaitable[Response]]) -> Handler:  # fmt: skip
        async def run(request: Request, d: HelpScoutDialect, me: User) -> Response:
            raw = request.path_params["cid"]
            ticket = world.tickets.get(int(raw)) if raw.isdigit() else None
            if ticket is None:
                return vnd_error(404, "Resource not found")
            return await handler(request, d, me, ticket)

        return run

    async def token(request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", "replace")
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):  # Help Scout's token endpoint takes form fields only (a JSON body is a 400)
            return JSONResponse({"error": "invalid_request",
                                 "error_description": "Missing grant type"}, 400)  # fmt: skip
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": "Unsupported grant type"}, 400)  # fmt: skip
        with world.lock:
            user = d.app(form.get("client_id", ""), form.get("client_secret", ""))
            if user is None:
                refused = {"error": "invalid_client", "error_description": "Bad credentials"}
                return JSONResponse(refused, 401)
            access, lifetime = d.tokens.issue(user.id)
        return JSONResponse({"token_type": "bearer", "access_token": access,
                             "expires_in": lifetime})  # fmt: skip

    routes = [
        Route("/v2/oauth2/token", token, methods=["POST"]),
        Route("/v2/users/me", endpoint(_me), methods=["GET"]),
        Route("/v2/users", endpoint(_users), methods=["GET"]),
        Route("/v2/mailboxes", endpoint(_mailboxes), methods=["GET"]),
        Route("/v2/customers/{uid}", endpoint(_customer), methods=["GET"]),
        Route("/v2/conversations", endpoint(_conversations), methods=["GET"]),
        Route("/v2/conversations/{cid}", endpoint(ticket_route(_conversation)),
              methods=["GET", "PATCH"]),
        Route("/v2/conversations/{cid}/threads", endpoint(ticket_route(_threads)),
              methods=["GET"]),
        Route("/v2/conversations/{cid}/reply", endpoint(ticket_route(_reply)), methods=["POST"]),
        Route("/v2/conversations/{cid}/notes", endpoint(ticket_route(_note)), methods=["POST"]),
        Route("/v2/conversations/{cid}/tags", endpoint(ticket_route(_tags)), methods=["PUT"]),
        Route("/v2/conversations/{cid}/snooze", endpoint(ticket_route(_snooze)),
              methods=["PUT", "DELETE"]),
    ]  # fmt: skip

    async def not_found(request: Request, exc: Exception) -> Response:
        return vnd_error(404, "Resource not found")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return vnd_error(405, "Method not allowed")

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    app.state.helpscout = d
    return app


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# ---------------------------------------------------------------- reads
async def _me(request: Request, d: HelpScoutDialect, me: User) -> Response:
    return JSONResponse(d.user_json(me, _base(request)))


async def _users(request: Request, d: HelpScoutDialect, me: User) -> Response:
    number = _page_number(request)
    if number is None:
        return _invalid("page", "must be a positive number")
    staff = d.staff()
    chunk = staff[(number - 1) * USERS_PAGE : number * USERS_PAGE]
    items = [d.user_json(u, _base(request)) for u in chunk]
    return _hal(request, "users", items, len(staff), number, USERS_PAGE)


async def _mailboxes(request: Request, d: HelpScoutDialect, me: User) -> Response:
    base = _base(request)
    items = [
        {"id": g.id, "name": g.name, "slug": hashlib.sha256(str(g.id).encode()).hexdigest()[:16],
         "email": f"{g.name.lower().replace(' ', '-')}@kumomart.example",
         "createdAt": iso(g.created_at), "updatedAt": iso(g.updated_at),
         "_links": {"self": {"href": f"{base}/v2/mailboxes/{g.id}"}}}
        for g in (d.world.groups[i] for i in d.mailbox_ids())
    ]  # fmt: skip
    return _hal(request, "mailboxes", items, len(items), 1, max(1, len(items)))


async def _customer(request: Request, d: HelpScoutDialect, me: User) -> Response:
    raw = request.path_params["uid"]
    user = d.world.users.get(int(raw)) if raw.isdigit() else None
    if user is None or user.role != "end-user":
        return vnd_error(404, "Resource not found")
    return JSONResponse(d.customer_json(user, _base(request)))


_CUSTOMER_QUERY = re.compile(r"^\(?\s*customerIds\s*:\s*(\d+)\s*\)?$")
_SORTS = {"modifiedAt": lambda t: (t.updated_at, t.id), "createdAt": lambda t: (t.created_at, t.id),
          "number": lambda t: (t.id, t.id)}  # fmt: skip


async def _conversations(request: Request, d: HelpScoutDialect, me: User) -> Response:
    q = request.query_params
    number = _page_number(request)
    if number is None:
        return _invalid("page", "must be a positive number")
    status = q.get("status", "active")
    if status not in ("active", "pending", "closed", "spam", "open", "all"):
        return _invalid("status", f"'{status}' is not a valid status")
    tickets = [t for t in d.world.tickets.values() if t.status != "deleted"]
    if status == "open":  # Help Scout: active and pending
        tickets = [t for t in tickets if d.status_of(t) in ("active", "pending")]
    elif status != "all":
        tickets = [t for t in tickets if d.status_of(t) == status]
    if q.get("mailbox"):
        try:
            wanted = {int(x) for x in q["mailbox"].split(",") if x.strip()}
        except ValueError:
            return _invalid("mailbox", "must be mailbox ids separated by commas")
        tickets = [t for t in tickets if d.mailbox_of(t) in wanted]
    if q.get("modifiedSince"):
        since = _parse_iso(q["modifiedSince"])
        if since is None:
            return _invalid("modifiedSince", "must be an ISO 8601 date (2024-01-01T00:00:00Z)")
        tickets = [t for t in tickets if t.updated_at > since]
    if q.get("query"):
        match = _CUSTOMER_QUERY.match(q["query"].strip())
        if match is None:
            return _invalid("query", "the simulator understands (customerIds:ID) only")
        customer = int(match.group(1))
        tickets = [t for t in tickets if t.requester_id == customer]
    field_name = q.get("sortField", "createdAt")
    if field_name not in _SORTS:
        return _invalid("sortField", f"'{field_name}' is not a valid sort field")
    order = q.get("sortOrder", "desc")
    if order not in ("asc", "desc"):
        return _invalid("sortOrder", "must be asc or desc")
    tickets.sort(key=_SORTS[field_name], reverse=order == "desc")
    embed = "threads" in q.get("embed", "").split(",")
    chunk = tickets[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    items = [d.conversation_json(t, _base(request), embed=embed) for t in chunk]
    return _hal(request, "conversations", items, len(tickets), number, PAGE_SIZE)


async def _threads(request: Request, d: HelpScoutDialect, me: User, ticket: Ticket) -> Response:
    number = _page_number(request)
    if number is None:
        return _invalid("page", "must be a positive number")
    threads = d.threads(ticket)
    chunk = threads[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    return _hal(request, "threads", chunk, len(threads), number, PAGE_SIZE)


# ---------------------------------------------------------------- writes
async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def _conversation(
    request: Request, d: HelpScoutDialect, me: User, ticket: Ticket
) -> Response:
    if request.method == "GET":
        embed = "threads" in request.query_params.get("embed", "").split(",")
        return JSONResponse(d.conversation_json(ticket, _base(request), embed=embed))
    body = await _json_body(request)
    if body is None:
        return vnd_error(400, "The request body is not a JSON patch operation")
    op, path, value = body.get("op"), body.get("path"), body.get("value")
    changes: dict[str, object] = {}
    if path == "/status" and op == "replace":
        if value not in _STATUS_IN:
            return _invalid("value", "must be one of active, pending, closed, spam")
        ticket.status = _STATUS_IN[str(value)]
        (d.spam.add if value == "spam" else d.spam.discard)(ticket.id)
        changes["status"] = ticket.status
    elif path == "/assignTo" and op in ("replace", "remove"):
        if op == "remove":
            ticket.assignee_id = None
        else:
            agent = d.world.users.get(value) if isinstance(value, int) else None
            if agent is None or agent.id not in d.world.agent_ids:
                return _invalid("value", "is not a user of this account")
            ticket.assignee_id = agent.id
        changes["assignee_id"] = ticket.assignee_id
    elif path == "/mailboxId" and op == "move":
        if not isinstance(value, int) or value not in d.world.groups:
            return _invalid("value", "is not a mailbox of this account")
        ticket.group_id = value
        changes["group_id"] = value
    elif path == "/subject" and op == "replace":
        if not isinstance(value, str) or not value.strip():
            return _invalid("value", "may not be empty")
        ticket.subject = value
        changes["subject"] = value
    else:
        return _invalid("op", f"unsupported operation {op!r} on {path!r}")
    d.world.touch(ticket)
    d.world.record_write(ticket, me.id, "helpscout", changes)
    return Response(status_code=204)


async def _thread(request: Request, d: HelpScoutDialect, me: User, ticket: Ticket,
                  public: bool) -> Response:  # fmt: skip
    body = await _json_body(request)
    if body is None:
        return vnd_error(400, "The request body is not a JSON object")
    text = body.get("text")
    if not isinstance(text, str) or not html_text(text):
        return _invalid("text", "may not be empty")
    if public:
        customer = body.get("customer")
        if not isinstance(customer, dict) or not isinstance(customer.get("id"), int):
            return _invalid("customer", "may not be null")
    author = me
    if "user" in body:
        author = d.world.users.get(body["user"]) if isinstance(body["user"], int) else None
        if author is None or author.id not in d.world.agent_ids:
            return _invalid("user", "is not a user of this account")
    comment = d.world.add_comment(ticket, author.id, html_text(text), public=public,
                                  channel="web", html_body=text)  # fmt: skip
    status = body.get("status")
    if status in _STATUS_IN:
        ticket.status = _STATUS_IN[str(status)]
    d.world.record_write(ticket, author.id, "helpscout", {"comment": {"public": public}},
                         comment_id=comment.id)  # fmt: skip
    location = f"{_base(request)}/v2/conversations/{ticket.id}/threads/{comment.id}"
    return Response(status_code=201, headers={"Resource-ID": str(comment.id),
                                              "Location": location})  # fmt: skip


async def _reply(request: Request, d: HelpScoutDialect, me: User, ticket: Ticket) -> Response:
    return await _thread(request, d, me, ticket, public=True)


async def _note(request: Request, d: HelpScoutDialect, me: User, ticket: Ticket) -> Response:
    return await _thread(request, d, me, ticket, public=False)


async def _tags(request: Request, d: HelpScoutDialect, me: User, ticket: Ticket) -> Response:
    body = await _json_body(request)
    tags = body.get("tags") if body else None
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return _invalid("tags", "must be a list of tag names")
    ticket.tags = list(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
    d.world.touch(ticket)
    d.world.record_write(ticket, me.id, "helpscout", {"tags": list(ticket.tags)})
    return Response(status_code=204)


async def _snooze(request: Request, d: HelpScoutDialect, me: User, ticket: Ticket) -> Response:
    """Update Snooze (PUT, every request overrides the last) and Delete Snooze (DELETE)."""
    now = d.world.clock.timestamp()
    if request.method == "DELETE":
        d.snoozes.pop(ticket.id, None)
    else:
        body = await _json_body(request) or {}
        raw, unsnooze = body.get("snoozedUntil"), body.get("unsnoozeOnCustomerReply")
        until = _parse_iso(raw) if isinstance(raw, str) else None
        if until is None or until <= now or until >= _YEAR_2100:
            return _invalid("snoozedUntil", "must be an ISO 8601 date in the future, before 2100")
        if not isinstance(unsnooze, bool):
            return _invalid("unsnoozeOnCustomerReply", "may not be null")
        d.snoozes[ticket.id] = _Snooze(until, me.id, now, unsnooze)
    d.world.touch(ticket)
    d.world.record_write(ticket, me.id, "helpscout", {"snooze": request.method})
    return Response(status_code=204)
