"""The Zendesk Support API dialect of the simulator (a Starlette ASGI app over a `World`).

Faithful to Zendesk's documented behaviour where a client can notice it:

* auth: HTTP Basic `{email}/token:{api_token}`; a missing or wrong credential is 401
  `{"error": "Couldn't authenticate you"}`; an agent asking for an admin-only resource (the
  incremental export) is 403 `{"error": "Forbidden", "description": ...}`;
* pagination: cursor pagination (`page[size]` max 100, `page[after]`/`page[before]`,
  `meta.has_more`, `meta.after_cursor`, `links.next`) and offset pagination (`page`,
  `per_page`, `next_page`, `previous_page`, `count`) on list endpoints; the cursor-based
  incremental export (`per_page` default and max 1000, `after_cursor`, `end_of_stream`,
  changes of the last minute held back) ordered by `generated_timestamp`; the Search API's
  1,000-result limit (422 past it);
* JSON shapes and `null`s as Zendesk sends them, timestamps as `YYYY-MM-DDTHH:MM:SSZ`;
* errors: 404 `{"error": "RecordNotFound", "description": "Not found"}`, unknown endpoints
  `InvalidEndpoint`, bad parameters 400.

Writes: ticket update (`safe_update` + `updated_stamp` → 409), create (`Idempotency-Key`),
tags add/remove/set. The control API (`/_sim/...`) is dialect-neutral: see `sim.control`.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import html
import inspect
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from agentdesk.sim import text
from agentdesk.sim.jsonbody import JSONResponse
from agentdesk.sim.world import Comment, Group, Organization, Ticket, User, World

JsonDict = dict[str, Any]

EXPORT_MAX = 1000  # documented default and maximum page size of the incremental export
LIST_MAX = 100  # cursor and offset pagination: most endpoints allow 100 per page
SEARCH_LIMIT = 1000  # the Search API returns at most 1,000 results per query
HOLD_BACK = 60  # the export leaves out changes made in the minute before the request
FORBIDDEN = (
    "You do not have access to this page. Please contact the account owner of this help desk "
    "for further help."
)
_STATUS_ORDER = {"new": 0, "open": 1, "pending": 2, "hold": 3, "solved": 4, "closed": 5}
_PRIORITY_ORDER = {None: 0, "low": 1, "normal": 2, "high": 3, "urgent": 4}
_LOCALE_ID = {"en-US": 1, "ja": 67, "en-GB": 1176}
# Zendesk's custom ticket statuses: one system status id per status category.
_CUSTOM_STATUS = {"new": 1001, "open": 1002, "pending": 1003, "hold": 1004, "solved": 1005,
                  "closed": 1005}  # fmt: skip
SAFE_UPDATE_CONFLICT = (
    "Safe Update prevented the update due to outdated ticket data. "
    "Please fetch the latest ticket data and try again."
)
IDEMPOTENCY_TTL = 2 * 3600  # Zendesk keeps idempotency keys for two hours
_ORDER_FIELD = 360_001_000_001  # custom field: order number
_PLAN_FIELD = 360_001_000_002  # custom field: customer plan


def iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def error(status: int, name: str, description: str | None = None) -> JSONResponse:
    body: JsonDict = {"error": name}
    if description is not None:
        body["description"] = description
    return JSONResponse(body, status_code=status)


def not_found() -> JSONResponse:
    return error(404, "RecordNotFound", "Not found")


class Invalid(Exception):
    """A write Zendesk refuses with 422 RecordInvalid; `details` maps a field to its errors."""

    def __init__(self, field: str, description: str, code: str = "InvalidValue") -> None:
        super().__init__(description)
        self.details: JsonDict = {field: [{"description": description, "error": code}]}


def invalid(details: JsonDict) -> JSONResponse:
    return JSONResponse(
        {"error": "RecordInvalid", "description": "Record validation errors", "details": details},
        status_code=422,
    )


class _StripJson:
    """Zendesk answers `/api/v2/tickets` and `/api/v2/tickets.json` alike: route without it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith(".json"):
            scope = dict(scope)
            scope["path"] = scope["path"][:-5]
            scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


# ------------------------------------------------------------------ cursors
def _encode(key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _decode(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def _export_cursor(ts: int, ticket_id: int) -> str:
    # Zendesk's export cursors are base64 of "<timestamp>.0||<id>|"; keep the same look.
    return base64.b64encode(f"{ts}.0||{ticket_id}|".encode()).decode()


def _read_export_cursor(cursor: str) -> tuple[int, int] | None:
    try:
        raw = base64.b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode()
        stamp, _, rest = raw.partition("||")
        return int(float(stamp)), int(rest.rstrip("|"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


class BadRequest(Exception):
    def __init__(self, name: str, description: str) -> None:
        super().__init__(description)
        self.name = name
        self.description = description


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest("InvalidPaginationParameter", f"{name} must be an integer") from None
    return max(low, min(high, value))


# ------------------------------------------------------------------ the comment index
# An event key packs (timestamp, ticket id, comment index) into one int that sorts by time.
_TS_SHIFT = 32
_TICKET_SHIFT = 10
_TICKET_MASK = (1 << 22) - 1
_INDEX_MASK = (1 << 10) - 1
_VIA_LABEL = {"email": "Mail", "web": "Web form", "chat": "Chat", "sms": "Text",
              "voice": "Voice", "twitter": "Twitter", "native_messaging": "Messaging",
              "api": "Web service"}  # fmt: skip
_COMMENT_CACHE = 4096  # tickets whose rendered comments stay cached between event pages


class _CommentIndex:
    """Every comment of the world in time order, for the ticket event export.

    Comments are generated on demand from each ticket's seed, so the index is built on the
    first request (about 5 µs a comment) and then kept current cheaply: written comments
    only ever append to `Ticket.extra`, so a change is noticed by the world's next comment
    id and only the new ones are added.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self._keys: list[int] | None = None
        self._seen_written = world.next_comment_id
        self._extra_indexed: dict[int, int] = {}
        self._tickets = len(world.tickets)
        # ticket id -> (comment count, comments): consecutive pages share most tickets.
        self._cache: dict[int, tuple[int, list[Comment]]] = {}

    def keys(self) -> list[int]:
        world = self.world
        if self._keys is None:
            keys: list[int] = []
            for t in world.tickets.values():
                comments = self.comments(t)
                keys.extend(_event_key(c.created_at, t.id, i) for i, c in enumerate(comments))
                self._extra_indexed[t.id] = len(t.extra)
            keys.sort()
            self._keys = keys
            self._seen_written, self._tickets = world.next_comment_id, len(world.tickets)
        elif world.next_comment_id != self._seen_written or len(world.tickets) != self._tickets:
            for t in world.tickets.values():
                done = self._extra_indexed.get(t.id, 0)
                if len(t.extra) > done:
                    for j in range(done, len(t.extra)):
                        i = t.n_generated + j
                        bisect.insort(self._keys, _event_key(t.extra[j].created_at, t.id, i))
                    self._extra_indexed[t.id] = len(t.extra)
            self._seen_written, self._tickets = world.next_comment_id, len(world.tickets)
        return self._keys

    def comments(self, t: Ticket) -> list[Comment]:
        count = self.world.comment_count(t)
        cached = self._cache.get(t.id)
        if cached is not None and cached[0] == count:
            return cached[1]
        comments = self.world.comments(t)
        if len(self._cache) >= _COMMENT_CACHE:
            self._cache.pop(next(iter(self._cache)))  # oldest first: pages move forward
        self._cache[t.id] = (count, comments)
        return comments

    def comment(self, t: Ticket, index: int) -> Comment:
        return self.comments(t)[index]


def _event_key(ts: int, ticket_id: int, index: int) -> int:
    return (ts << _TS_SHIFT) | (ticket_id << _TICKET_SHIFT) | min(index, _INDEX_MASK)


# ------------------------------------------------------------------ the dialect
class ZendeskDialect:
    def __init__(self, world: World) -> None:
        self.world = world
        # Idempotency-Key → (first seen, request digest, status, response body), kept 2 hours.
        self._idempotency: dict[str, tuple[int, str, int, bytes]] = {}
        self._events = _CommentIndex(world)

    # -------------------------------------------------------------- plumbing
    def app(self) -> ASGIApp:
        def api(handler: Callable[[Request, User], Response], admin: bool = False) -> Callable:
            async def endpoint(request: Request) -> Response:
                user = self._authenticate(request)
                if user is None:
                    return JSONResponse(
                        {"error": "Couldn't authenticate you"},
                        status_code=401,
                        headers={"WWW-Authenticate": 'Basic realm="Web Password"'},
                    )
                if admin and user.role != "admin":
                    return error(403, "Forbidden", FORBIDDEN)
                try:
                    result = handler(request, user)
                    if inspect.isawaitable(result):
                        result = await result
                    return result
                except BadRequest as problem:
                    return error(400, problem.name, problem.description)
                except Invalid as problem:
                    return invalid(problem.details)

            return endpoint

        routes = [
            Route("/api/v2/users/me", api(self.me)),
            Route("/api/v2/users/show_many", api(self.users_show_many)),
            Route("/api/v2/users/{user_id:int}", api(self.user_show)),
            Route("/api/v2/users/{user_id:int}/identities", api(self.user_identities)),
            Route("/api/v2/users/{user_id:int}/tickets/requested", api(self.user_requested)),
            Route("/api/v2/users", api(self.users_list)),
            Route("/api/v2/groups/{group_id:int}", api(self.group_show)),
            Route("/api/v2/groups", api(self.groups_list)),
            Route("/api/v2/group_memberships", api(self.memberships_list)),
            Route("/api/v2/organizations/{org_id:int}", api(self.organization_show)),
            Route("/api/v2/tickets/show_many", api(self.tickets_show_many)),
            Route("/api/v2/tickets/{ticket_id:int}/comments", api(self.comments_list)),
            Route(
                "/api/v2/tickets/{ticket_id:int}/tags",
                api(self.tags_endpoint),
                methods=["GET", "POST", "PUT", "DELETE"],
            ),
            Route("/api/v2/tickets/{ticket_id:int}", api(self.ticket_show), methods=["GET"]),
            Route("/api/v2/tickets/{ticket_id:int}", api(self.ticket_update), methods=["PUT"]),
            Route("/api/v2/tickets", api(self.tickets_list), methods=["GET"]),
            Route("/api/v2/tickets", api(self.ticket_create), methods=["POST"]),
            Route("/api/v2/incremental/tickets/cursor", api(self.export, admin=True)),
            Route("/api/v2/incremental/ticket_events", api(self.ticket_events, admin=True)),
            Route("/api/v2/search", api(self.search)),
        ]

        async def unknown(request: Request, exc: Exception) -> Response:
            return error(404, "InvalidEndpoint", "Not found")

        async def not_allowed(request: Request, exc: Exception) -> Response:
            return error(405, "MethodNotAllowed", "Method not allowed")

        app = Starlette(routes=routes, exception_handlers={404: unknown, 405: not_allowed})
        return _StripJson(app)

    def _authenticate(self, request: Request) -> User | None:
        header = request.headers.get("authorization", "")
        scheme, _, payload = header.partition(" ")
        if scheme.lower() != "basic" or not payload:
            return None
        try:
            decoded = base64.b64decode(payload.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        login, sep, secret = decoded.partition(":")
        if not sep or not login.endswith("/token"):
            return None  # password auth is not offered by the simulator
        return self.world.user_by_token(login.removesuffix("/token"), secret)

    @staticmethod
    def _base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @staticmethod
    def _includes(request: Request) -> set[str]:
        raw = request.query_params.get("include", "")
        return {part.strip() for part in re.split(r"[,()]", raw) if part.strip()}

    # -------------------------------------------------------------- rendering
    def ticket_json(self, t: Ticket, base: str) -> JsonDict:
        world = self.world
        requester = world.users[t.requester_id]
        description = world.description(t)
        subject = t.subject or self._derived_subject(t, requester, description)
        source: JsonDict = {"from": {}, "to": {}, "rel": None}
        if t.channel == "email":
            source["from"] = {"address": requester.email, "name": requester.name}
            source["to"] = {"address": text.SUPPORT_ADDRESS, "name": text.BRAND}
        elif t.channel in ("sms", "voice"):
            source["from"] = {"phone": requester.phone, "name": requester.name}
            source["rel"] = "inbound" if t.channel == "voice" else None
        elif t.channel == "social" and requester.twitter:
            source["from"] = {"username": requester.twitter.lstrip("@"), "name": requester.name}
            source["rel"] = "mention"
        rating: JsonDict | None = {"score": t.satisfaction or "unoffered"}
        if t.satisfaction in ("good", "bad"):
            rating = {"id": 900_000_000 + t.id, "score": t.satisfaction,
                      "comment": "" if t.satisfaction == "good" or t.seed % 2 else
                      ("Took too long." if t.lang == "en" else "対応が遅かったです。")}  # fmt: skip
        plan = requester.user_fields.get("plan")
        custom = [
            {"id": _ORDER_FIELD, "value": str(100_000 + t.seed % 900_000)},
            {"id": _PLAN_FIELD, "value": plan.lower() if isinstance(plan, str) else None},
        ]
        return {
            "url": f"{base}/api/v2/tickets/{t.id}.json",
            "id": t.id,
            "external_id": None,
            "via": {"channel": t.via, "source": source},
            "created_at": iso(t.created_at),
            "updated_at": iso(t.updated_at),
            "generated_timestamp": t.updated_at,
            "type": t.type,
            "subject": subject,
            "raw_subject": subject,
            "description": description,
            "priority": t.priority,
            "status": t.status,
            "custom_status_id": _CUSTOM_STATUS[t.status],
            "recipient": text.SUPPORT_ADDRESS if t.channel == "email" else None,
            "requester_id": t.requester_id,
            "submitter_id": t.submitter_id,
            "assignee_id": t.assignee_id,
            "organization_id": t.organization_id,
            "group_id": t.group_id,
            "collaborator_ids": [],
            "follower_ids": [],
            "email_cc_ids": [],
            "forum_topic_id": None,
            "problem_id": None,
            "has_incidents": False,
            "is_public": True,
            "due_at": None,
            "tags": list(t.tags),
            "custom_fields": custom,
            "fields": custom,
            "satisfaction_rating": rating,
            "sharing_agreement_ids": [],
            "followup_ids": [],
            "ticket_form_id": 360_000_000_001,
            "brand_id": 360_000_000_002,
            "allow_channelback": t.channel in ("social", "sms"),
            "allow_attachments": True,
            "from_messaging_channel": t.via == "native_messaging",
        }

    def metric_set_json(self, t: Ticket, base: str) -> JsonDict:
        """The ticket's metric set (`include=metric_sets`): its solve time and reopen count
        are the world's own status history, so tests can compute the truth independently."""
        return {
            "url": f"{base}/api/v2/ticket_metrics/{t.id}.json",
            "id": 700_000_000 + t.id,
            "ticket_id": t.id,
            "created_at": iso(t.created_at),
            "updated_at": iso(t.updated_at),
            "solved_at": iso(t.solved_at) if t.solved_at is not None else None,
            "reopens": t.reopens,
            "latest_comment_added_at": iso(t.last_comment_at),
        }

    def _with_metrics(self, request: Request, row: JsonDict, t: Ticket, base: str) -> JsonDict:
        if "metric_sets" in self._includes(request):
            row["metric_set"] = self.metric_set_json(t, base)
        return row

    @staticmethod
    def _derived_subject(t: Ticket, requester: User, description: str) -> str:
        # What Zendesk titles tickets that arrive without a subject.
        if t.channel == "chat":
            return f"Conversation with {requester.name}"
        if t.channel == "voice":
            return f"Call from: {requester.phone or requester.name}"
        if t.channel == "sms":
            return f"SMS from {requester.name}"
        line = description.strip().splitlines()[0] if description.strip() else ""
        return line[:80] + ("..." if len(line) > 80 else "")

    def user_json(self, u: User, base: str) -> JsonDict:
        staff = u.role != "end-user"
        return {
            "id": u.id,
            "url": f"{base}/api/v2/users/{u.id}.json",
            "name": u.name,
            "email": u.email,
            "created_at": iso(u.created_at),
            "updated_at": iso(u.updated_at),
            "time_zone": u.time_zone,
            "iana_time_zone": u.iana_time_zone,
            "phone": u.phone,
            "shared_phone_number": False if u.phone else None,
            "photo": None,
            "locale_id": _LOCALE_ID.get(u.locale, 1),
            "locale": u.locale,
            "organization_id": u.organization_id,
            "role": u.role,
            "verified": True,
            "external_id": None,
            "tags": ["vip"] if u.user_fields.get("plan") == "Enterprise" else [],
            "alias": "",
            "active": True,
            "shared": False,
            "shared_agent": False,
            "last_login_at": iso(u.last_login_at) if u.last_login_at else None,
            "two_factor_auth_enabled": None,
            "signature": f"{u.name}\n{text.BRAND}" if staff and not u.is_bot else None,
            "details": "",
            "notes": "",
            "role_type": 4 if u.role == "admin" else None,
            "custom_role_id": None,
            "moderator": staff,
            "ticket_restriction": None if staff else "requested",
            "only_private_comments": False,
            "restricted_agent": False,
            "suspended": False,
            "default_group_id": u.default_group_id,
            "report_csv": u.role == "admin",
            "user_fields": dict(u.user_fields),
        }

    def comment_json(self, c: Comment, t: Ticket, base: str) -> JsonDict:
        world = self.world
        author = world.users.get(c.author_id)
        source: JsonDict = {"from": {}, "to": {}, "rel": None}
        if c.channel == "email" and author is not None:
            source["from"] = {"address": author.email, "name": author.name}
            source["to"] = {"address": text.SUPPORT_ADDRESS, "name": text.BRAND}
        attachments = [
            {
                "url": f"{base}/api/v2/attachments/{a.id}.json",
                "id": a.id,
                "file_name": a.file_name,
                "content_url": f"{base}/attachments/token/{a.id:x}/?name={a.file_name}",
                "mapped_content_url": f"{base}/attachments/token/{a.id:x}/?name={a.file_name}",
                "content_type": a.content_type,
                "size": a.size,
                "inline": False,
                "deleted": False,
                "malware_access_override": False,
                "malware_scan_result": "malware_not_found",
                "thumbnails": [],
            }
            for a in c.attachments
        ]
        out: JsonDict = {
            "id": c.id,
            "type": c.type,
            "author_id": c.author_id,
            "body": c.body,
            "html_body": c.html_body,
            "plain_body": c.body,
            "public": c.public,
            "attachments": attachments,
            "audit_id": c.id + 1_000_000_000_000,
            "via": {"channel": c.channel, "source": source},
            "created_at": iso(c.created_at),
            "metadata": {"system": {}, "custom": dict(c.custom or {})},
        }
        if c.data is not None:
            out["data"] = dict(c.data)
        return out

    def _sideload(
        self, request: Request, tickets: Iterable[Ticket], extra_users: Iterable[int] = ()
    ) -> JsonDict:
        includes = self._includes(request)
        base = self._base(request)
        out: JsonDict = {}
        tickets = list(tickets)
        if "users" in includes:
            ids: dict[int, None] = {}
            for t in tickets:
                for uid in (t.requester_id, t.submitter_id, t.assignee_id):
                    if uid is not None:
                        ids[uid] = None
            for uid in extra_users:
                ids[uid] = None
            users = self.world.users
            out["users"] = [self.user_json(users[u], base) for u in ids if u in users]
        if "groups" in includes:
            gids = dict.fromkeys(t.group_id for t in tickets if t.group_id is not None)
            out["groups"] = [self._group_json(self.world.groups[g], base) for g in gids]
        if "organizations" in includes:
            oids = dict.fromkeys(t.organization_id for t in tickets if t.organization_id)
            orgs = self.world.organizations
            out["organizations"] = [self._org_json(orgs[o], base) for o in oids if o in orgs]
        return out

    def _group_json(self, g: Group, base: str) -> JsonDict:
        return {
            "url": f"{base}/api/v2/groups/{g.id}.json",
            "id": g.id,
            "is_public": True,
            "name": g.name,
            "description": g.description,
            "default": g.id == min(self.world.groups),
            "deleted": False,
            "created_at": iso(g.created_at),
            "updated_at": iso(g.updated_at),
        }

    @staticmethod
    def _org_json(o: Organization, base: str) -> JsonDict:
        return {
            "url": f"{base}/api/v2/organizations/{o.id}.json",
            "id": o.id,
            "name": o.name,
            "shared_tickets": False,
            "shared_comments": False,
            "external_id": None,
            "created_at": iso(o.created_at),
            "updated_at": iso(o.created_at),
            "domain_names": [o.domain],
            "details": "",
            "notes": "",
            "group_id": None,
            "tags": [],
            "organization_fields": {},
        }

    # -------------------------------------------------------------- pagination
    def _paginate(
        self,
        request: Request,
        key_name: str,
        keys: Sequence[Any],
        fetch: Callable[[Sequence[Any]], list[JsonDict]],
        extra: Callable[[Sequence[Any]], JsonDict] | None = None,
        *,
        default_size: int = LIST_MAX,
    ) -> JSONResponse:
        """One page of `keys` (sorted ascending), cursor style if `page[size]`/`page[after]`/
        `page[before]` is given, else offset style (`page`, `per_page`)."""
        q = request.query_params
        base = self._base(request)
        path = request.url.path
        if any(k in q for k in ("page[size]", "page[after]", "page[before]")):
            size = _int_param(request, "page[size]", default_size, 1, LIST_MAX)
            after, before = q.get("page[after]"), q.get("page[before]")
            if after:
                key = _decode(after)
                if key is None:
                    raise BadRequest("InvalidPaginationParameter", "page[after] is not valid")
                start = bisect.bisect_right(keys, _as_key(key))
                chunk = keys[start : start + size]
                has_more = start + size < len(keys)
            elif before:
                key = _decode(before)
                if key is None:
                    raise BadRequest("InvalidPaginationParameter", "page[before] is not valid")
                end = bisect.bisect_left(keys, _as_key(key))
                start = max(0, end - size)
                chunk = keys[start:end]
                has_more = start > 0
            else:
                chunk = keys[:size]
                has_more = size < len(keys)
            after_cursor = _encode(_as_json(chunk[-1])) if chunk else None
            before_cursor = _encode(_as_json(chunk[0])) if chunk else None
            others = [(k, v) for k, v in q.multi_items() if not k.startswith("page[")]
            link = f"{base}{path}.json?"
            body: JsonDict = {
                key_name: fetch(chunk),
                "meta": {
                    "has_more": has_more,
                    "after_cursor": after_cursor,
                    "before_cursor": before_cursor,
                },
                "links": {
                    "prev": link
                    + urlencode([*others, ("page[size]", size), ("page[before]", before_cursor)])
                    if before_cursor
                    else None,
                    "next": link
                    + urlencode([*others, ("page[size]", size), ("page[after]", after_cursor)])
                    if after_cursor
                    else None,
                },
            }
        else:
            per_page = _int_param(request, "per_page", default_size, 1, LIST_MAX)
            page = _int_param(request, "page", 1, 1, 10**9)
            if page > 100:  # Zendesk caps offset pagination at the first 10,000 records
                raise BadRequest(
                    "InvalidPaginationParameter",
                    "Offset pagination is limited to the first 100 pages. Use cursor pagination.",
                )
            order = q.get("sort_order", "asc")
            ordered = keys if order != "desc" else keys[::-1]
            start = (page - 1) * per_page
            chunk = ordered[start : start + per_page]
            others = [(k, v) for k, v in q.multi_items() if k != "page"]
            link = f"{base}{path}.json?"
            more = start + per_page < len(keys)
            body = {
                key_name: fetch(chunk),
                "next_page": link + urlencode([*others, ("page", page + 1)]) if more else None,
                "previous_page": link + urlencode([*others, ("page", page - 1)])
                if page > 1 else None,
                "count": len(keys),
            }  # fmt: skip
        if extra is not None:
            body.update(extra(chunk))
        return JSONResponse(body)

    # -------------------------------------------------------------- users, groups
    def me(self, request: Request, user: User) -> Response:
        return JSONResponse({"user": self.user_json(user, self._base(request))})

    def user_show(self, request: Request, user: User) -> Response:
        found = self.world.users.get(request.path_params["user_id"])
        if found is None:
            return not_found()
        return JSONResponse({"user": self.user_json(found, self._base(request))})

    def users_show_many(self, request: Request, user: User) -> Response:
        ids = _id_list(request.query_params.get("ids", ""))
        base = self._base(request)
        users = self.world.users
        return JSONResponse({"users": [self.user_json(users[i], base) for i in ids if i in users]})

    def users_list(self, request: Request, user: User) -> Response:
        roles = set(request.query_params.getlist("role[]"))
        if request.query_params.get("role"):
            roles.add(request.query_params["role"])
        users = self.world.users
        keys = [u.id for u in users.values() if not roles or u.role in roles]
        base = self._base(request)
        return self._paginate(
            request, "users", keys, lambda chunk: [self.user_json(users[i], base) for i in chunk]
        )

    def user_identities(self, request: Request, user: User) -> Response:
        found = self.world.users.get(request.path_params["user_id"])
        if found is None:
            return not_found()
        base = self._base(request)
        rows: list[tuple[str, str]] = []
        if found.email:
            rows.append(("email", found.email))
        if found.phone:
            rows.append(("phone_number", found.phone))
        if found.twitter:
            rows.append(("twitter", found.twitter.lstrip("@")))
        identities = [
            {
                "url": f"{base}/api/v2/users/{found.id}/identities/{found.id * 10 + k}.json",
                "id": found.id * 10 + k,
                "user_id": found.id,
                "type": kind,
                "value": value,
                "verified": True,
                "primary": k == 0 or kind != rows[0][0],
                "created_at": iso(found.created_at),
                "updated_at": iso(found.updated_at),
                "undeliverable_count": 0,
                "deliverable_state": "deliverable",
            }
            for k, (kind, value) in enumerate(rows)
        ]
        return JSONResponse({"identities": identities, "next_page": None,
                             "previous_page": None, "count": len(identities)})  # fmt: skip

    def group_show(self, request: Request, user: User) -> Response:
        group = self.world.groups.get(request.path_params["group_id"])
        if group is None:
            return not_found()
        return JSONResponse({"group": self._group_json(group, self._base(request))})

    def groups_list(self, request: Request, user: User) -> Response:
        groups = self.world.groups
        base = self._base(request)
        return self._paginate(
            request, "groups", sorted(groups),
            lambda chunk: [self._group_json(groups[g], base) for g in chunk],
        )  # fmt: skip

    def memberships_list(self, request: Request, user: User) -> Response:
        q = request.query_params
        rows = {m.id: m for m in self.world.memberships}
        wanted_user = _maybe_int(q.get("user_id"))
        wanted_group = _maybe_int(q.get("group_id"))
        keys = [m.id for m in rows.values()
                if (wanted_user is None or m.user_id == wanted_user)
                and (wanted_group is None or m.group_id == wanted_group)]  # fmt: skip
        base = self._base(request)

        def render(chunk: Sequence[int]) -> list[JsonDict]:
            return [
                {
                    "url": f"{base}/api/v2/group_memberships/{rows[i].id}.json",
                    "id": rows[i].id,
                    "user_id": rows[i].user_id,
                    "group_id": rows[i].group_id,
                    "default": rows[i].default,
                    "created_at": iso(rows[i].created_at),
                    "updated_at": iso(rows[i].created_at),
                }
                for i in chunk
            ]

        return self._paginate(request, "group_memberships", keys, render)

    def organization_show(self, request: Request, user: User) -> Response:
        org = self.world.organizations.get(request.path_params["org_id"])
        if org is None:
            return not_found()
        return JSONResponse({"organization": self._org_json(org, self._base(request))})

    # -------------------------------------------------------------- tickets
    def _ticket_keys(self, request: Request, ids: Sequence[int] | None = None) -> Sequence[Any]:
        """Ticket keys in the requested order (`sort=` for cursor, `sort_by=` for offset)."""
        q = request.query_params
        sort = q.get("sort") or q.get("sort_by") or "id"
        descending = sort.startswith("-")
        field = sort.lstrip("-")
        world = self.world
        if field == "updated_at":
            keys: Sequence[Any] = (
                world.export_index
                if ids is None
                else sorted((world.tickets[i].updated_at, i) for i in ids)
            )
        elif field in ("id", "created_at", "nice_id"):
            keys = world.ticket_ids if ids is None else ids  # ids grow with creation time
        else:
            raise BadRequest("InvalidValue", f"sort {sort!r} is not supported")
        if descending:
            keys = [_negate(k) for k in reversed(keys)]
        return keys

    def _tickets_for(self, request: Request, keys: Sequence[Any]) -> list[JsonDict]:
        base = self._base(request)
        tickets = self.world.tickets
        return [self.ticket_json(tickets[_ticket_id(k)], base) for k in keys]

    def _ticket_sideloads(self, request: Request) -> Callable[[Sequence[Any]], JsonDict]:
        return lambda keys: self._sideload(
            request, (self.world.tickets[_ticket_id(k)] for k in keys)
        )

    def tickets_list(self, request: Request, user: User) -> Response:
        return self._paginate(
            request, "tickets", self._ticket_keys(request),
            lambda keys: self._tickets_for(request, keys), self._ticket_sideloads(request),
        )  # fmt: skip

    def user_requested(self, request: Request, user: User) -> Response:
        uid = request.path_params["user_id"]
        if uid not in self.world.users:
            return not_found()
        ids = self.world.by_requester.get(uid, [])
        return self._paginate(
            request, "tickets", self._ticket_keys(request, sorted(ids)),
            lambda keys: self._tickets_for(request, keys), self._ticket_sideloads(request),
        )  # fmt: skip

    def ticket_show(self, request: Request, user: User) -> Response:
        t = self.world.tickets.get(request.path_params["ticket_id"])
        if t is None:
            return not_found()
        body: JsonDict = {"ticket": self.ticket_json(t, self._base(request))}
        body.update(self._sideload(request, [t]))
        return JSONResponse(body)

    def tickets_show_many(self, request: Request, user: User) -> Response:
        ids = _id_list(request.query_params.get("ids", ""))[:100]
        found = [self.world.tickets[i] for i in ids if i in self.world.tickets]
        base = self._base(request)
        body: JsonDict = {"tickets": [self.ticket_json(t, base) for t in found]}
        body.update(self._sideload(request, found))
        return JSONResponse(body)

    def comments_list(self, request: Request, user: User) -> Response:
        t = self.world.tickets.get(request.path_params["ticket_id"])
        if t is None:
            return not_found()
        comments = {c.id: c for c in self.world.comments(t)}
        ids = sorted(comments)  # ids grow with time within a ticket
        q = request.query_params
        if q.get("sort") == "-created_at":
            ids = [-i for i in reversed(ids)]
        base = self._base(request)
        includes = self._includes(request)

        def render(chunk: Sequence[int]) -> list[JsonDict]:
            return [self.comment_json(comments[abs(i)], t, base) for i in chunk]

        def sideload(chunk: Sequence[int]) -> JsonDict:
            if "users" not in includes:
                return {}
            authors = dict.fromkeys(comments[abs(i)].author_id for i in chunk)
            users = self.world.users
            return {"users": [self.user_json(users[a], base) for a in authors if a in users]}

        return self._paginate(request, "comments", ids, render, sideload)

    # -------------------------------------------------------------- incremental export
    def export(self, request: Request, user: User) -> Response:
        world = self.world
        q = request.query_params
        per_page = _int_param(request, "per_page", EXPORT_MAX, 1, EXPORT_MAX)
        now = world.clock.timestamp()
        index = world.export_index
        cursor = q.get("cursor")
        if cursor:
            position = _read_export_cursor(cursor)
            if position is None:
                raise BadRequest("InvalidCursor", "The cursor is not valid")
            start = bisect.bisect_right(index, position)
        else:
            raw = q.get("start_time")
            if raw is None:
                raise BadRequest("InvalidValue", "start_time or cursor is required")
            try:
                start_time = int(raw)
            except ValueError:
                raise BadRequest("InvalidValue", "start_time must be a Unix epoch time") from None
            if start_time > now - HOLD_BACK:
                raise BadRequest(
                    "InvalidValue", "Too recent start_time. Use a start_time older than one minute."
                )
            position = (start_time, 0)
            start = bisect.bisect_left(index, position)
        # Changes made within the last minute are held back until they settle.
        limit = bisect.bisect_right(index, (now - HOLD_BACK, 2**62))
        chunk = index[start : min(start + per_page, limit)] if start < limit else []
        end_of_stream = start + len(chunk) >= limit
        last = chunk[-1] if chunk else position
        after_cursor = _export_cursor(*last)
        base = self._base(request)
        keep = [(k, v) for k, v in q.multi_items() if k in ("per_page", "include")]
        link = f"{base}/api/v2/incremental/tickets/cursor.json?"
        before_cursor = _export_cursor(*chunk[0]) if (cursor and chunk) else None
        tickets = [world.tickets[tid] for _ts, tid in chunk]
        body: JsonDict = {
            "tickets": [self._with_metrics(request, self.ticket_json(t, base), t, base)
                        for t in tickets],
            "after_url": link + urlencode([("cursor", after_cursor), *keep]),
            "after_cursor": after_cursor,
            "before_url": link + urlencode([("cursor", before_cursor), *keep])
            if before_cursor else None,
            "before_cursor": before_cursor,
            "end_of_stream": end_of_stream,
        }  # fmt: skip
        body.update(self._sideload(request, tickets))
        return JSONResponse(body)

    # -------------------------------------------------------------- ticket events export
    def ticket_events(self, request: Request, user: User) -> Response:
        """Time-based incremental ticket event export: one `Audit` event per comment.

        Zendesk's shape: `ticket_events` (each with `child_events`; with
        `include=comment_events` the comment itself rides in a child of `event_type`
        `Comment`), `count`, `end_time` (the last event's timestamp), `next_page`
        (`start_time=end_time`, so the events of that second may repeat: clients dedupe by
        id), and `end_of_stream` (fewer than 1,000 events were left). Events of the last
        minute are held back, and a start_time within it is refused.
        """
        world = self.world
        raw = request.query_params.get("start_time")
        if raw is None:
            raise BadRequest("InvalidValue", "start_time is required")
        try:
            start_time = int(raw)
        except ValueError:
            raise BadRequest("InvalidValue", "start_time must be a Unix epoch time") from None
        now = world.clock.timestamp()
        if start_time > now - HOLD_BACK:
            raise BadRequest(
                "InvalidValue", "Too recent start_time. Use a start_time older than one minute."
            )
        per_page = _int_param(request, "per_page", EXPORT_MAX, 1, EXPORT_MAX)
        keys = self._events.keys()
        start = bisect.bisect_left(keys, max(0, start_time) << _TS_SHIFT)
        limit = bisect.bisect_left(keys, (now - HOLD_BACK + 1) << _TS_SHIFT)
        chunk = keys[start : min(start + per_page, limit)] if start < limit else []
        if len(chunk) == per_page:
            # Keep every event of the last second on this page, so paging by time advances
            # even when more than a page's worth of events share a second.
            last_second = chunk[-1] >> _TS_SHIFT
            stop = bisect.bisect_left(keys, (last_second + 1) << _TS_SHIFT, lo=start)
            chunk = keys[start : min(stop, limit)]
        end_of_stream = start + len(chunk) >= limit
        end_time = (chunk[-1] >> _TS_SHIFT) if chunk else max(start_time, 0)
        with_comments = "comment_events" in self._includes(request)
        base = self._base(request)
        events = [self._event_json(key, base, with_comments) for key in chunk]
        keep = [(k, v) for k, v in request.query_params.multi_items() if k == "include"]
        link = f"{base}/api/v2/incremental/ticket_events.json?"
        return JSONResponse({
            "ticket_events": events,
            "next_page": link + urlencode([("start_time", end_time), *keep]),
            "count": len(events),
            "end_of_stream": end_of_stream,
            "end_time": end_time,
        })  # fmt: skip

    def _event_json(self, key: int, base: str, with_comments: bool) -> JsonDict:
        ticket_id = (key >> _TICKET_SHIFT) & _TICKET_MASK
        t = self.world.tickets[ticket_id]
        c = self._events.comment(t, key & _INDEX_MASK)
        child: JsonDict
        if with_comments:
            child = self.comment_json(c, t, base)
            child["via_reference_id"] = None
            child["event_type"] = "Comment"
        else:
            child = {
                "id": c.id,
                "via": {"channel": c.channel, "source": {"from": {}, "to": {}, "rel": None}},
                "via_reference_id": None,
                "comment_present": True,
                "comment_public": c.public,
                "event_type": "Comment",
            }
        return {
            "id": c.id + 1_000_000_000_000,  # the audit's id (the comment's `audit_id`)
            "ticket_id": t.id,
            "timestamp": c.created_at,
            "created_at": iso(c.created_at),
            "updater_id": c.author_id,
            "via": _VIA_LABEL.get(c.channel, "Web service"),
            "system": {},
            "metadata": {"system": {}, "custom": dict(c.custom or {})},
            "event_type": "Audit",
            "child_events": [child],
            "merged_ticket_ids": [],
        }

    # -------------------------------------------------------------- search
    def search(self, request: Request, user: User) -> Response:
        q = request.query_params
        query = q.get("query", "")
        if not query.strip():
            raise BadRequest("InvalidValue", "query is required")
        per_page = _int_param(request, "per_page", LIST_MAX, 1, LIST_MAX)
        page = _int_param(request, "page", 1, 1, 10**9)
        if (page - 1) * per_page >= SEARCH_LIMIT:
            return error(
                422,
                "invalid",
                "Invalid search: Requested response size was greater than Search Response Limits",
            )
        matches = _TicketQuery(query, self.world).run(
            q.get("sort_by") or q.get("order_by") or "", q.get("sort_order") or ""
        )
        start = (page - 1) * per_page
        chunk = matches[start : min(start + per_page, SEARCH_LIMIT)]
        base = self._base(request)
        results = []
        for t in chunk:
            row = self._with_metrics(request, self.ticket_json(t, base), t, base)
            row["result_type"] = "ticket"
            results.append(row)
        others = [(k, v) for k, v in q.multi_items() if k != "page"]
        link = f"{base}/api/v2/search.json?"
        more = start + per_page < min(len(matches), SEARCH_LIMIT)
        body: JsonDict = {
            "results": results,
            "facets": None,
            "next_page": link + urlencode([*others, ("page", page + 1)]) if more else None,
            "previous_page": link + urlencode([*others, ("page", page - 1)]) if page > 1 else None,
            "count": len(matches),
        }
        body.update(self._sideload(request, chunk))
        return JSONResponse(body)

    # -------------------------------------------------------------- writes
    async def _payload(self, request: Request, key: str | None) -> JsonDict:
        raw = await request.body()
        try:
            data = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("InvalidJSON", "The request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("InvalidJSON", "The request body must be a JSON object")
        if key is None:
            return data
        inner = data.get(key)
        if not isinstance(inner, dict):
            raise BadRequest("ParameterMissing", f"param is missing or the value is empty: {key}")
        return inner

    def _stale(self, t: Ticket, payload: JsonDict) -> Response | None:
        """409 when `safe_update` is on and `updated_stamp` is not the ticket's `updated_at`."""
        if not _truthy(payload.get("safe_update")):
            return None
        stamp = payload.get("updated_stamp")
        if stamp is None:
            return None  # Zendesk only compares when a stamp is given
        if _parse_stamp(stamp) == t.updated_at:
            return None
        return error(409, "UpdateConflict", SAFE_UPDATE_CONFLICT)

    def _agent(self, raw: object, field: str) -> User:
        uid = _maybe_int(str(raw)) if raw is not None else None
        found = self.world.users.get(uid) if uid is not None else None
        if found is None or found.role == "end-user" or found.is_bot:
            raise Invalid(field, "Assignee is not an agent", "InvalidValue")
        return found

    def _changes(self, t: Ticket, payload: JsonDict, user: User) -> JsonDict:
        """Validate a ticket update; the field → new value it makes (nothing applied yet)."""
        world = self.world
        out: JsonDict = {}
        if "status" in payload:
            status = str(payload["status"] or "").lower()
            if status not in _STATUS_ORDER:
                raise Invalid("status", f"Status: {payload['status']!r} is not valid")
            if status == "new" and t.status != "new":
                raise Invalid("status", "Status: new is not valid for a ticket already opened")
            out["status"] = status
        if "priority" in payload:
            prio = payload["priority"]
            if prio is not None and str(prio).lower() not in ("low", "normal", "high", "urgent"):
                raise Invalid("priority", f"Priority: {prio!r} is not valid")
            out["priority"] = str(prio).lower() if prio else None
        if "group_id" in payload:
            gid = payload["group_id"]
            if gid is not None and _maybe_int(str(gid)) not in world.groups:
                raise Invalid("group", "Group: is invalid")
            out["group_id"] = _maybe_int(str(gid)) if gid is not None else None
        if "assignee_email" in payload and "assignee_id" not in payload:
            email = str(payload["assignee_email"] or "").lower()
            payload = {**payload, "assignee_id": world.users_by_email.get(email, -1)}
        if "assignee_id" in payload:
            raw = payload["assignee_id"]
            if raw is None:
                out["assignee_id"] = None
            else:
                agent = self._agent(raw, "assignee")
                out["assignee_id"] = agent.id
                group = out.get("group_id", t.group_id)
                groups = {m.group_id for m in world.memberships if m.user_id == agent.id}
                if "group_id" in out and group is not None and group not in groups:
                    raise Invalid("assignee", "Assignee is not a member of the group")
                if group not in groups:  # Zendesk moves the ticket to the agent's group
                    out["group_id"] = agent.default_group_id
        if "tags" in payload:
            out["tags"] = _tag_list(payload["tags"])
        if out.get("status") in ("solved", "closed"):
            assignee = out.get("assignee_id", t.assignee_id)
            if assignee is None:  # solving an unassigned ticket assigns it to the solver
                out["assignee_id"] = user.id
                if out.get("group_id", t.group_id) is None:
                    out["group_id"] = user.default_group_id
        return out

    def _comment_of(self, payload: JsonDict) -> tuple[str, str | None, bool] | None:
        comment = payload.get("comment")
        if comment is None:
            return None
        if isinstance(comment, str):
            comment = {"body": comment}
        if not isinstance(comment, dict):
            raise Invalid("comment", "Comment: is invalid")
        html_body = comment.get("html_body")
        body = comment.get("body")
        if body is None and isinstance(html_body, str):
            body = _html_text(html_body)
        if not isinstance(body, str) or not body.strip():
            raise Invalid("comment", "Comment: value is blank", "BlankValue")
        public = _truthy(comment.get("public", True))
        return body, html_body if isinstance(html_body, str) else None, public

    def _apply(
        self,
        t: Ticket,
        user: User,
        changes: JsonDict,
        comment: tuple[str, str | None, bool] | None,
        *,
        marker: str | None,
        custom: JsonDict | None,
        source: str = "zendesk",
    ) -> tuple[JsonDict, Comment | None]:
        """Apply validated changes; returns the audit Zendesk answers with, and the comment."""
        world = self.world
        events: list[JsonDict] = []
        written: Comment | None = None
        previous = {k: getattr(t, k) for k in changes}
        if (
            t.status == "new"
            and "status" not in changes
            and (changes.get("assignee_id") or (comment is not None and comment[2]))
        ):
            changes = {**changes, "status": "open"}  # an agent's touch opens a new ticket
            previous["status"] = "new"
        for name, value in changes.items():
            if previous[name] == value:
                continue
            setattr(t, name, list(value) if name == "tags" else value)
            events.append(
                {"id": world.next_comment_id + 500_000_000 + len(events), "type": "Change",
                 "field_name": name.removesuffix("_id") if name != "group_id" else "group_id",
                 "value": _event_value(value), "previous_value": _event_value(previous[name])}
            )  # fmt: skip
        if comment is not None:
            body, html_body, public = comment
            written = world.add_comment(
                t, user.id, body, public=public, channel="api", marker=marker,
                custom=custom, html_body=html_body,
            )  # fmt: skip
            events.insert(
                0,
                {"id": written.id, "type": "Comment", "author_id": user.id, "body": body,
                 "html_body": written.html_body, "plain_body": body, "public": public,
                 "attachments": [], "audit_id": written.id + 1_000_000_000_000},
            )  # fmt: skip
        else:
            world.touch(t)
        applied = {e["field_name"]: e["value"] for e in events if e["type"] == "Change"}
        if written is not None:
            applied["comment"] = {"public": written.public, "body": written.body}
        world.record_write(t, user.id, source, applied, marker=marker,
                           comment_id=written.id if written else None)  # fmt: skip
        audit: JsonDict = {
            "id": (written.id if written else world.next_comment_id) + 1_000_000_000_000,
            "ticket_id": t.id,
            "created_at": iso(t.updated_at),
            "author_id": user.id,
            "metadata": {
                "system": {"client": "agentdesk-sim", "ip_address": "127.0.0.1"},
                "custom": dict(custom or {}),
            },
            "via": {
                "channel": "api",
                "source": {"from": {}, "to": {}},
            },  # no null rel (spec's ViaObject)
            "events": events,
        }
        return audit, written

    async def ticket_update(self, request: Request, user: User) -> Response:
        t = self.world.tickets.get(request.path_params["ticket_id"])
        if t is None:
            return not_found()
        payload = await self._payload(request, "ticket")
        if t.status == "closed":
            raise Invalid("status", "Status: closed prevents ticket update", "ClosedTicket")
        stale = self._stale(t, payload)
        if stale is not None:
            return stale
        changes = self._changes(t, payload, user)
        comment = self._comment_of(payload)
        custom = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else None
        # Zendesk ignores Idempotency-Key on updates (it is honoured on create only), but the
        # key is what the oracle files the write under, so tests can count it.
        marker = request.headers.get("idempotency-key") or _first_text(custom)
        audit, _comment = self._apply(t, user, changes, comment, marker=marker, custom=custom)
        return JSONResponse({"ticket": self.ticket_json(t, self._base(request)), "audit": audit})

    async def ticket_create(self, request: Request, user: User) -> Response:
        raw = await request.body()
        key = request.headers.get("idempotency-key")
        world = self.world
        digest = hashlib.sha256(raw).hexdigest()
        if key:
            self._expire_keys()
            seen = self._idempotency.get(key)
            if seen is not None:
                if seen[1] != digest:
                    return error(400, "IdempotentRequestError",
                                 "Request parameters do not match the original request")  # fmt: skip
                return Response(seen[3], status_code=seen[2], media_type="application/json",
                                headers={"x-idempotency-lookup": "hit"})  # fmt: skip
        payload = await self._payload(request, "ticket")
        comment = self._comment_of(payload)
        if comment is None:
            raise Invalid("comment", "Comment: value is blank", "BlankValue")
        requester = user
        if payload.get("requester_id") is not None:
            found = world.users.get(_maybe_int(str(payload["requester_id"])) or -1)
            if found is None:
                raise Invalid("requester", "Requester: is invalid")
            requester = found
        elif isinstance(payload.get("requester"), dict):
            req = payload["requester"]
            email = req.get("email")
            if not isinstance(email, str) or "@" not in email:
                raise Invalid("requester", "Requester: Email is invalid")
            requester = world.add_end_user(email, req.get("name"))
        blank = Ticket.__new__(Ticket)  # a stand-in "current" ticket to validate against
        for name in ("status", "priority", "assignee_id", "group_id", "tags"):
            setattr(blank, name, {"status": "new", "tags": []}.get(name))
        changes = self._changes(blank, {k: v for k, v in payload.items() if k != "status"}, user)
        status = str(payload.get("status") or "").lower() or None
        if status is not None and status not in _STATUS_ORDER:
            raise Invalid("status", f"Status: {payload['status']!r} is not valid")
        body, html_body, public = comment
        subject = str(payload.get("subject") or payload.get("raw_subject") or "")
        t = world.create_ticket(
            requester, subject=subject, channel="web", via="api",
            status=status or ("open" if changes.get("assignee_id") else "new"),
            priority=changes.get("priority"), ticket_type=payload.get("type"),
            tags=changes.get("tags"), assignee_id=changes.get("assignee_id"),
            group_id=changes.get("group_id"), submitter_id=user.id,
        )  # fmt: skip
        custom = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else None
        written = world.add_comment(
            t, requester.id if requester is not user else user.id, body, public=public,
            channel="api", marker=key, custom=custom, html_body=html_body,
        )  # fmt: skip
        world.record_write(t, user.id, "zendesk", {"created": True, "subject": subject},
                           marker=key, comment_id=written.id)  # fmt: skip
        audit = {
            "id": written.id + 1_000_000_000_000, "ticket_id": t.id,
            "created_at": iso(t.created_at), "author_id": user.id,
            "metadata": {"system": {}, "custom": dict(custom or {})},
            "via": {"channel": "api", "source": {"from": {}, "to": {}}},  # no null rel (spec's ViaObject)
            "events": [{"id": written.id, "type": "Comment", "author_id": written.author_id,
                        "body": body, "public": public, "attachments": []}],
        }  # fmt: skip
        content = json.dumps(
            {"ticket": self.ticket_json(t, self._base(request)), "audit": audit}
        ).encode()
        headers = {"Location": f"{self._base(request)}/api/v2/tickets/{t.id}.json"}
        if key:
            self._idempotency[key] = (world.clock.timestamp(), digest, 201, content)
            headers["x-idempotency-lookup"] = "miss"
        return Response(content, status_code=201, media_type="application/json", headers=headers)

    def _expire_keys(self) -> None:
        horizon = self.world.clock.timestamp() - IDEMPOTENCY_TTL
        for key in [k for k, v in self._idempotency.items() if v[0] < horizon]:
            del self._idempotency[key]

    async def tags_endpoint(self, request: Request, user: User) -> Response:
        t = self.world.tickets.get(request.path_params["ticket_id"])
        if t is None:
            return not_found()
        if request.method == "GET":
            return JSONResponse({"tags": list(t.tags)})
        payload = await self._payload(request, None)
        if t.status == "closed":
            raise Invalid("status", "Status: closed prevents ticket update", "ClosedTicket")
        stale = self._stale(t, payload)
        if stale is not None:
            return stale
        given = _tag_list(payload.get("tags", []))
        if request.method == "PUT":  # add
            tags = list(dict.fromkeys([*t.tags, *given]))
        elif request.method == "DELETE":  # remove
            tags = [x for x in t.tags if x not in set(given)]
        else:  # POST: set
            tags = given
        marker = request.headers.get("idempotency-key")
        self._apply(t, user, {"tags": tags}, None, marker=marker, custom=None)
        return JSONResponse({"tags": list(t.tags)}, status_code=201 if request.method == "POST"
                            else 200)  # fmt: skip


# ------------------------------------------------------------------ search queries
_TERM = re.compile(r'(-?)(\w+)(:|>=|<=|>|<)("[^"]*"|\S+)|("[^"]*"|\S+)')
_RELATIVE = re.compile(r"^(\d+)(minutes?|hours?|days?|weeks?|months?|years?)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400,
                 "month": 30 * 86400, "year": 365 * 86400}  # fmt: skip


class _TicketQuery:
    """Enough of Zendesk's search syntax for what agents and connectors use on tickets:
    `type:ticket`, `status` (with `<`/`>` on the status order), `priority`, `updated`/`created`
    with `>`, `<`, `>=`, `<=`, `:` on ISO dates, date-times or relative times (`4hours`),
    `requester`, `assignee` (`none`, id or email), `group`, `tags`, `via`, and free words
    matched in the subject and description."""

    def __init__(self, query: str, world: World) -> None:
        self.world = world
        self.filters: list[Callable[[Ticket], bool]] = []
        self.updated_after: int | None = None  # lets the scan start at an index position
        self.other_type = False
        now = world.clock.timestamp()
        for match in _TERM.finditer(query):
            negate, field, op, value, word = match.groups()
            if word is not None:
                self._word(word.strip('"'))
                continue
            value = value.strip('"')
            field = field.lower()
            test = self._term(field, op, value, now)
            if test is None:
                continue
            if negate:
                self.filters.append(lambda t, f=test: not f(t))
            else:
                self.filters.append(test)

    def _word(self, word: str) -> None:
        needle = word.lower()
        world = self.world

        def test(t: Ticket) -> bool:
            if needle in t.subject.lower():
                return True
            return needle in world.description(t).lower()

        self.filters.append(test)

    def _term(self, field: str, op: str, value: str, now: int) -> Callable[[Ticket], bool] | None:
        world = self.world
        if field == "type":
            if value.lower() != "ticket":
                self.other_type = True
            return None
        if field == "status":
            rank = _STATUS_ORDER.get(value.lower())
            if rank is None:
                return lambda t: False
            return _compare(lambda t: _STATUS_ORDER[t.status], op, rank)
        if field == "priority":
            prio = _PRIORITY_ORDER.get(value.lower() if value.lower() != "none" else None, 0)
            return _compare(lambda t: _PRIORITY_ORDER[t.priority], op, prio)
        if field in ("updated", "updated_at", "created", "created_at"):
            low, high = _time_bounds(value, now)
            attr = "updated_at" if field.startswith("updated") else "created_at"
            if op == ">":
                if attr == "updated_at":
                    self.updated_after = max(self.updated_after or 0, high + 1)
                return lambda t: getattr(t, attr) > high
            if op == ">=":
                if attr == "updated_at":
                    self.updated_after = max(self.updated_after or 0, low)
                return lambda t: getattr(t, attr) >= low
            if op == "<":
                return lambda t: getattr(t, attr) < low
            if op == "<=":
                return lambda t: getattr(t, attr) <= high
            return lambda t: low <= getattr(t, attr) <= high
        if field in ("requester", "assignee", "submitter"):
            attr = {"requester": "requester_id", "assignee": "assignee_id",
                    "submitter": "submitter_id"}[field]  # fmt: skip
            if value.lower() == "none":
                return lambda t: getattr(t, attr) is None
            uid = _maybe_int(value)
            if uid is None:
                uid = world.users_by_email.get(value.lower(), -1)
                if uid == -1:  # a phone number
                    uid = next((u.id for u in world.users.values() if u.phone == value), -1)
            return lambda t: getattr(t, attr) == uid
        if field == "group":
            gid = _maybe_int(value)
            if gid is None:
                gid = next((g.id for g in world.groups.values() if g.name == value), -1)
            return lambda t: t.group_id == gid
        if field in ("tags", "tag"):
            return lambda t: value in t.tags
        if field == "via":
            return lambda t: t.via == value or t.channel == value
        if field == "subject":
            needle = value.lower()
            return lambda t: needle in t.subject.lower()
        if field in ("order_by", "sort"):
            return None
        return lambda t: False  # an unknown property matches nothing, as in Zendesk

    def run(self, sort_by: str, sort_order: str) -> list[Ticket]:
        if self.other_type:
            return []
        world = self.world
        index = world.export_index
        start = 0
        if self.updated_after is not None:
            start = bisect.bisect_left(index, (self.updated_after, 0))
        tickets = world.tickets
        filters = self.filters
        # The export index is already in updated_at order.
        found = [
            tickets[tid] for _ts, tid in index[start:] if all(f(tickets[tid]) for f in filters)
        ]
        field = (sort_by or "updated_at").lower()
        descending = (sort_order or "desc").lower() != "asc"
        if field in ("updated_at", "updated"):
            if descending:
                found.reverse()
        elif field in ("created_at", "created"):
            found.sort(key=lambda t: t.id, reverse=descending)
        elif field == "priority":
            found.sort(key=lambda t: (_PRIORITY_ORDER[t.priority], t.id), reverse=descending)
        elif field == "status":
            found.sort(key=lambda t: (_STATUS_ORDER[t.status], t.id), reverse=descending)
        return found


def _compare(get: Callable[[Ticket], int], op: str, value: int) -> Callable[[Ticket], bool]:
    if op == ">":
        return lambda t: get(t) > value
    if op == "<":
        return lambda t: get(t) < value
    if op == ">=":
        return lambda t: get(t) >= value
    if op == "<=":
        return lambda t: get(t) <= value
    return lambda t: get(t) == value


def _time_bounds(value: str, now: int) -> tuple[int, int]:
    """The first and last second a search date value stands for."""
    rel = _RELATIVE.match(value.lower())
    if rel:
        unit = rel.group(2).rstrip("s")
        moment = now - int(rel.group(1)) * _UNIT_SECONDS[unit]
        return moment, moment
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            "InvalidValue", f"Invalid search: cannot read the date {value!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    start = int(parsed.timestamp())
    if len(value) <= 10:  # a whole day
        return start, int((parsed + timedelta(days=1)).timestamp()) - 1
    return start, start


# ------------------------------------------------------------------ small helpers
def _id_list(raw: str) -> list[int]:
    out = []
    for part in raw.split(","):
        part = part.strip()
        if part.isdigit():
            out.append(int(part))
    return out


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _parse_stamp(value: object) -> int | None:
    """An `updated_stamp` (ISO 8601, as `updated_at` is rendered) as Unix seconds."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _tag_list(raw: object) -> list[str]:
    """Zendesk's tag normalisation: lower case, split on spaces, no duplicates."""
    if isinstance(raw, str):
        raw = raw.split()
    if not isinstance(raw, list):
        raise Invalid("tags", "Tags: is invalid")
    out: dict[str, None] = {}
    for item in raw:
        for part in str(item).lower().split():
            out[part.strip(",")] = None
    return [t for t in out if t]


def _event_value(value: object) -> object:
    if isinstance(value, list):
        return list(value)
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _first_text(custom: JsonDict | None) -> str | None:
    for value in (custom or {}).values():
        if isinstance(value, str) and value:
            return value
    return None


def _html_text(markup: str) -> str:
    plain = re.sub(r"<br\s*/?>|</p>", "\n", markup, flags=re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]+>", "", plain)).strip()


def _maybe_int(raw: str | None) -> int | None:
    if raw is None or not raw.strip().lstrip("-").isdigit():
        return None
    return int(raw)


def _as_key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _as_json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _negate(key: Any) -> Any:
    return tuple(-k for k in key) if isinstance(key, tuple) else -key


def _ticket_id(key: Any) -> int:
    return abs(key[1] if isinstance(key, tuple) else key)


def create_app(world: World) -> ASGIApp:
    return ZendeskDialect(world).app()
