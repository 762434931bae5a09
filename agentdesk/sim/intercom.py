"""The Intercom REST API (version 2.16) dialect of the simulator, over the ONE shared world.

The world is Zendesk-flavoured; this module presents the same people, tickets and comments in
Intercom's shapes (`intercom/Intercom-OpenAPI` `descriptions/2.16/api.intercom.io.yaml`):

* tickets → conversations (the ticket id, as a string, is the conversation id); the first
  comment is the conversation's `source`, later ones are `conversation_parts` (`comment`,
  `note`) beside the dialect's own activity parts (`close`, `open`, `snoozed`, `assignment`);
* end-users → contacts (24-hex ids, `role` user or lead), agents → admins, groups → teams;
* the ticket's channel → `source.type` (`email`, `conversation` for the Messenger, `sms`,
  `twitter`, `phone_call`); web forms arrive as Messenger conversations, as in Intercom;
* states: new/open → `open`, pending/hold → `snoozed` (Intercom has no "waiting" state; a
  snooze ends at its time or when the customer replies), solved/closed → `closed`;
* auth is `Authorization: Bearer <token>`; failures answer Intercom's `error.list` bodies;
* lists and searches page with an opaque `starting_after` cursor, `per_page` at most 150;
  `POST /conversations/search` evaluates the documented query language (AND/OR groups nested
  at most two deep, at most 15 filters a group, `>`/`<` meaning "or equal" as documented)
  and an optional `sort` (`field` updated_at, created_at or id; `order` ascending or
  descending, the default; any other order is 400 `invalid_sort_order`, as the contacts
  search documents — Intercom-OpenAPI issue 114: the conversations search takes it too).
  Without a sort, results come oldest update first.

Rate limits are the shared gate's (`sim.faults`), in Intercom's style: 10-second windows,
429 `rate_limit_exceeded` with `X-RateLimit-Limit/-Remaining/-Reset` and no Retry-After.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentdesk.connectors.normalise import html_to_text
from agentdesk.sim.world import DAY, Comment, Ticket, User, World

MAX_PER_PAGE = 150
DEFAULT_PER_PAGE = 20
MAX_PARTS = 500  # Intercom returns at most 500 parts of a conversation
MAX_FILTERS = 15
MAX_NESTING = 2
WORKSPACE_ID = "kumo8mrt"
VERSIONS = frozenset(
    ["1.0", "1.1", "1.2", "1.3", "1.4"] + [f"2.{n}" for n in range(17)] + ["Unstable"]
)  # the `Intercom-Version` values the 2.16 document lists
_ACTIVITY_BASE = 95_000_000_000_000

SOURCE_TYPE = {
    "email": "email", "chat": "conversation", "sms": "sms", "social": "twitter",
    "voice": "phone_call", "web": "conversation",
}  # fmt: skip
_STATE = {
    "new": "open", "open": "open", "pending": "snoozed", "hold": "snoozed",
    "solved": "closed", "closed": "closed",
}  # fmt: skip
_PRIORITY = {None: "none", "low": "low", "normal": "medium", "high": "high", "urgent": "urgent"}

T = TypeVar("T")
Handler = Callable[[Request, "IntercomDialect", User], Awaitable[Response]]


def contact_id(user: User) -> str:
    return f"{user.id:024x}"


def tag_id(name: str) -> str:
    return str(int(hashlib.sha1(name.encode()).hexdigest()[:7], 16))


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"type": "error.list", "request_id": str(uuid.uuid4()),
         "errors": [{"code": code, "message": message}]},
        status,
    )  # fmt: skip


@dataclass(slots=True)
class ActivityPart:
    """A part the dialect records for a write the world has no comment for."""

    id: int
    part_type: str  # close | open | snoozed | assignment
    created_at: int
    author_id: int
    assigned_to: tuple[str, str] | None = None  # ("admin" | "team", id)


@dataclass(slots=True)
class IntercomState:
    snoozed_until: dict[int, int] = field(default_factory=dict)
    activity: dict[int, list[ActivityPart]] = field(default_factory=dict)
    created_tags: set[str] = field(default_factory=set)
    away: dict[int, bool] = field(default_factory=dict)
    next_part_id: int = _ACTIVITY_BASE


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class IntercomDialect:
    def __init__(self, world: World) -> None:
        self.world = world
        self.state = IntercomState()
        self._tokens = {u.token: u for u in world.users.values() if u.token}

    # ------------------------------------------------------------ lookups
    def user_of_contact(self, cid: str) -> User | None:
        try:
            user = self.world.users.get(int(cid, 16))
        except ValueError:
            return None
        return user if user is not None and user.role == "end-user" else None

    def admin(self, ref: object) -> User | None:
        try:
            user = self.world.users.get(int(str(ref)))
        except ValueError:
            return None
        return user if user is not None and user.id in self.world.agent_ids else None

    def state_of(self, t: Ticket) -> str:
        state = _STATE.get(t.status, "open")
        if state == "snoozed" and self.snoozed_until(t) <= self.world.clock.timestamp():
            return "open"  # Intercom wakes a snoozed conversation at its time
        return state

    def snoozed_until(self, t: Ticket) -> int:
        return self.state.snoozed_until.get(t.id, t.updated_at + (1 + t.seed % 5) * DAY)

    def all_tags(self) -> list[str]:
        names = set(self.state.created_tags)
        for t in self.world.tickets.values():
            names.update(t.tags)
        return sorted(names)

    # ------------------------------------------------------------ JSON shapes
    def admin_json(self, user: User) -> dict[str, object]:
        teams = sorted({m.group_id for m in self.world.memberships if m.user_id == user.id})
        return {
            "type": "admin", "id": str(user.id), "name": user.name, "email": user.email,
            "job_title": "Support" if user.role != "admin" else "Support lead",
            "away_mode_enabled": self.state.away.get(user.id, False),
            "away_mode_reassign": False, "has_inbox_seat": True,
            "team_ids": [int(g) for g in teams], "avatar": None,
        }  # fmt: skip

    def team_json(self, group_id: int) -> dict[str, object]:
        group = self.world.groups[group_id]
        members = sorted({m.user_id for m in self.world.memberships if m.group_id == group_id})
        return {"type": "team", "id": str(group.id), "name": group.name,
                "admin_ids": [int(u) for u in members]}  # fmt: skip

    def tag_json(self, name: str, applied_at: int | None = None) -> dict[str, object]:
        return {"type": "tag", "id": tag_id(name), "name": name, "applied_at": applied_at,
                "applied_by": None}  # fmt: skip

    def contact_json(self, user: User) -> dict[str, object]:
        person = self.world.people[user.person] if user.person is not None else None
        org = self.world.organizations.get(user.organization_id or 0)
        custom: dict[str, object] = {k: v for k, v in user.user_fields.items() if v is not None}
        if org is not None:
            custom["company"] = org.name
        city = None
        if person is not None:
            city = {"Asia/Tokyo": "Tokyo", "Europe/London": "London"}.get(
                person.iana_time_zone, "San Francisco"
            )
        social = []
        if user.twitter:
            handle = user.twitter.lstrip("@")
            social.append({"type": "social_profile", "name": "Twitter",
                           "url": f"https://twitter.com/{handle}"})  # fmt: skip
        out: dict[str, object] = {
            "type": "contact", "id": contact_id(user), "external_id": None,
            "workspace_id": WORKSPACE_ID, "role": "user" if user.email else "lead",
            "email": user.email or "", "phone": user.phone, "name": user.name,
            "owner_id": None, "has_hard_bounced": False, "marked_email_as_spam": False,
            "unsubscribed_from_emails": False, "created_at": user.created_at,
            "updated_at": user.updated_at, "signed_up_at": user.created_at,
            "last_seen_at": user.updated_at, "language_override": None,
            "browser_language": user.locale, "custom_attributes": custom,
            "location": {"type": "location", "country": None, "region": None, "city": city},
            "social_profiles": {"type": "list", "data": social},
        }  # fmt: skip
        if user.email:
            out["email_domain"] = user.email.rsplit("@", 1)[-1]
        return out

    def _author(self, user: User | None) -> dict[str, object]:
        if user is None:
            return {"type": "bot", "id": "0", "name": "Operator"}
        if user.is_bot:
            kind, ident = "bot", str(user.id)
        elif user.role == "end-user":
            kind, ident = ("user" if user.email else "lead"), contact_id(user)
        else:
            kind, ident = "admin", str(user.id)
        out: dict[str, object] = {"type": kind, "id": ident, "name": user.name}
        if user.email:
            out["email"] = user.email
        return out

    def _attachments(self, comment: Comment) -> list[dict[str, object]]:
        return [
            {"type": "upload", "name": a.file_name, "content_type": a.content_type,
             "filesize": a.size,
             "url": f"https://downloads.intercomcdn.example/i/o/{a.id}/{a.file_name}"}
            for a in comment.attachments
        ]  # fmt: skip

    def _source(self, t: Ticket, first: Comment | None) -> dict[str, object]:
        author = self.world.users.get(first.author_id) if first is not None else None
        customer_first = author is not None and author.role == "end-user"
        return {
            "type": SOURCE_TYPE.get(t.channel, "conversation"),
            "id": str(first.id) if first is not None else str(t.id),
            "delivered_as": "customer_initiated" if customer_first else "admin_initiated",
            "subject": t.subject if t.channel == "email" else "",
            "body": first.html_body if first is not None else "",
            "author": self._author(author),
            "attachments": self._attachments(first) if first is not None else [],
            "url": "https://kumomart.example/contact" if t.channel == "web" else None,
            "redacted": False,
        }

    def _rating(self, t: Ticket) -> dict[str, object] | None:
        if t.satisfaction not in ("good", "bad", "offered"):
            return None
        requester = self.world.users[t.requester_id]
        out: dict[str, object] = {
            "created_at": t.last_comment_at + 60, "updated_at": t.last_comment_at + 60,
            "contact": {"type": "contact", "id": contact_id(requester), "external_id": None},
            "teammate": {"type": "admin", "id": str(t.assignee_id) if t.assignee_id else None},
        }  # fmt: skip
        if t.satisfaction != "offered":
            out["rating"] = 5 if t.satisfaction == "good" else 1
            out["remark"] = ""
        return out

    def conversation_json(self, t: Ticket, *, parts: bool) -> dict[str, object]:
        comments = self.world.comments(t) if parts else []
        first = comments[0] if comments else self.world.first_comment(t)
        requester = self.world.users[t.requester_id]
        state = self.state_of(t)
        # Waiting since the customer's last word: a new conversation, or one they wrote last.
        customer_last = t.extra[-1].author_id == t.requester_id if t.extra else t.status == "new"
        waiting = t.last_comment_at if state == "open" and customer_last else None
        teammates = [{"type": "admin", "id": str(t.assignee_id)}] if t.assignee_id else []
        out: dict[str, object] = {
            "type": "conversation", "id": str(t.id), "title": t.subject or None,
            "created_at": t.created_at, "updated_at": t.updated_at, "waiting_since": waiting,
            "snoozed_until": self.snoozed_until(t) if state == "snoozed" else None,
            "open": state != "closed", "state": state, "read": True,
            "priority": _PRIORITY.get(t.priority, "none"),
            "admin_assignee_id": t.assignee_id or 0, "team_assignee_id": t.group_id or 0,
            "tags": {"type": "tag.list", "tags": [self.tag_json(x) for x in t.tags]},
            "conversation_rating": self._rating(t),
            "source": self._source(t, first),
            "contacts": {"type": "contact.list", "contacts": [
                {"type": "contact", "id": contact_id(requester), "external_id": None}]},
            "teammates": {"type": "admin.list", "teammates": teammates},
            "custom_attributes": {}, "first_contact_reply": None, "sla_applied": None,
            "statistics": {
                "type": "conversation_statistics",
                "first_contact_reply_at": t.created_at,
                "count_reopens": t.reopens,
                "count_conversation_parts": self.world.comment_count(t),
                **({"last_close_at": t.solved_at} if t.solved_at is not None else {}),
            },
            "ai_agent_participated": t.bot,
        }  # fmt: skip
        if parts:
            rendered = [self._part(t, c) for c in comments[1:]]
            rendered += [self._activity_part(t, a) for a in self.state.activity.get(t.id, [])]
            rendered.sort(key=lambda p: (p["created_at"], int(str(p["id"]))))
            out["conversation_parts"] = {"type": "conversation_part.list",
                                         "conversation_parts": rendered[:MAX_PARTS],
                                         "total_count": len(rendered)}  # fmt: skip
        return out

    def _part(self, t: Ticket, c: Comment) -> dict[str, object]:
        return {
            "type": "conversation_part", "id": str(c.id),
            "part_type": "comment" if c.public else "note", "body": c.html_body,
            "created_at": c.created_at, "updated_at": c.created_at, "notified_at": c.created_at,
            "assigned_to": None, "author": self._author(self.world.users.get(c.author_id)),
            "attachments": self._attachments(c), "external_id": None, "redacted": False,
        }  # fmt: skip

    def _activity_part(self, t: Ticket, a: ActivityPart) -> dict[str, object]:
        assigned = {"type": a.assigned_to[0], "id": a.assigned_to[1]} if a.assigned_to else None
        return {
            "type": "conversation_part", "id": str(a.id), "part_type": a.part_type,
            "body": None, "created_at": a.created_at, "updated_at": a.created_at,
            "notified_at": a.created_at, "assigned_to": assigned,
            "author": self._author(self.world.users.get(a.author_id)), "attachments": [],
            "external_id": None, "redacted": False,
        }  # fmt: skip

    # ------------------------------------------------------------ writes
    def record(self, t: Ticket, admin: User, part_type: str, changes: dict[str, object],
               assigned_to: tuple[str, str] | None = None) -> None:  # fmt: skip
        self.world.touch(t)
        self.state.next_part_id += 1
        self.state.activity.setdefault(t.id, []).append(
            ActivityPart(self.state.next_part_id, part_type, t.updated_at, admin.id, assigned_to)
        )
        self.world.record_write(t, admin.id, "intercom", changes)


# ---------------------------------------------------------------- paging and search
def _encode(key: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode(cursor: str) -> tuple[int, int] | None:
    try:
        a, b = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return int(a), int(b)
    except (ValueError, TypeError):
        return None


def _per_page(value: object) -> int:
    if value is None:
        return DEFAULT_PER_PAGE
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_PER_PAGE:
        raise _Refused(error(400, "parameter_invalid", f"per_page must be between 1 and "
                                                       f"{MAX_PER_PAGE}"))  # fmt: skip
    return number


def _keyset(
    items: list[T], key: Callable[[T], tuple[int, int]], per_page: int, after: str | None
) -> tuple[list[T], dict[str, object]]:
    """One page of `items` in `key` order after the cursor `after`, and its `pages` object.

    Keyset cursors (the last key seen), not offsets: a conversation updated meanwhile moves
    behind the cursor and is met again, never skipped."""
    ordered = sorted(items, key=key)
    start = 0
    if after:
        wanted = _decode(after)
        if wanted is None:
            raise _Refused(error(400, "parameter_invalid", "starting_after is not valid"))
        start = next((i for i, x in enumerate(ordered) if key(x) > wanted), len(ordered))
    chunk = ordered[start : start + per_page]
    pages: dict[str, object] = {
        "type": "pages",
        "page": start // per_page + 1,
        "per_page": per_page,
        "total_pages": max(1, -(-len(ordered) // per_page)),
    }
    if start + per_page < len(ordered):
        pages["next"] = {"per_page": per_page, "starting_after": _encode(key(chunk[-1]))}
    return chunk, pages


_SORT_FIELDS: dict[str, Callable[[Ticket], int]] = {
    "updated_at": lambda t: t.updated_at, "created_at": lambda t: t.created_at,
    "id": lambda t: t.id,
}  # fmt: skip


def _sort_key(sort: object) -> Callable[[Ticket], tuple[int, int]]:
    """The keyset order a search body's `sort` asks for (none: oldest update first)."""
    if sort is None:
        return lambda t: (t.updated_at, t.id)
    if not isinstance(sort, dict):
        raise _Refused(error(400, "parameter_invalid", "sort must be an object"))
    field_of = _SORT_FIELDS.get(str(sort.get("field") or "updated_at"))
    if field_of is None:
        raise _Refused(error(400, "parameter_invalid", f"cannot sort by {sort.get('field')!r}"))
    order = sort.get("order", "descending")
    if order not in ("ascending", "descending"):
        raise _Refused(error(400, "invalid_sort_order", f"Invalid sort order '{order}'. "
                             "Must be one of: ascending, descending"))  # fmt: skip
    if order == "ascending":
        return lambda t: (field_of(t), t.id)
    return lambda t: (-field_of(t), -t.id)


def _conversation_page(
    d: IntercomDialect, tickets: list[Ticket], per_page: int, after: str | None,
    key: Callable[[Ticket], tuple[int, int]] = lambda t: (t.updated_at, t.id),
) -> dict[str, object]:  # fmt: skip
    chunk, pages = _keyset(tickets, key, per_page, after)
    return {
        "type": "conversation.list",
        "pages": pages,
        "total_count": len(tickets),
        "conversations": [d.conversation_json(t, parts=False) for t in chunk],
    }


def _search_args(body: dict[str, object]) -> tuple[object, int, str | None]:
    """A search body's query, page size and cursor."""
    if "query" not in body:
        raise _Refused(error(400, "parameter_not_found", "query not specified"))
    pagination = body.get("pagination")
    if not isinstance(pagination, dict):
        pagination = {}
    after = pagination.get("starting_after")
    per_page = _per_page(pagination.get("per_page"))
    return body["query"], per_page, after if isinstance(after, str) and after else None


def _conversation_value(d: IntercomDialect, t: Ticket, name: str) -> object:
    requester = d.world.users[t.requester_id]
    values: dict[str, Callable[[], object]] = {
        "id": lambda: str(t.id),
        "created_at": lambda: t.created_at,
        "updated_at": lambda: t.updated_at,
        "state": lambda: d.state_of(t),
        "open": lambda: d.state_of(t) != "closed",
        "priority": lambda: _PRIORITY.get(t.priority, "none"),
        "contact_ids": lambda: [contact_id(requester)],
        "admin_assignee_id": lambda: t.assignee_id or 0,
        "team_assignee_id": lambda: t.group_id or 0,
        "source.type": lambda: SOURCE_TYPE.get(t.channel, "conversation"),
        "tag_ids": lambda: [tag_id(x) for x in t.tags],
        "snoozed_until": lambda: d.snoozed_until(t) if d.state_of(t) == "snoozed" else None,
    }
    if name not in values:
        raise _Refused(error(400, "parameter_invalid", f"{name} is not a searchable field"))
    return values[name]()


def _contact_value(user: User, name: str) -> object:
    values: dict[str, object] = {
        "id": contact_id(user), "email": user.email, "phone": user.phone, "name": user.name,
        "role": "user" if user.email else "lead", "created_at": user.created_at,
        "updated_at": user.updated_at,
    }  # fmt: skip
    if name not in values:
        raise _Refused(error(400, "parameter_invalid", f"{name} is not a searchable field"))
    return values[name]


def _compare(actual: object, operator: str, wanted: object) -> bool:
    many = actual if isinstance(actual, list) else [actual]
    if operator in ("IN", "NIN"):
        if not isinstance(wanted, list):
            raise _Refused(error(400, "parameter_invalid", f"{operator} needs an array value"))
        found = any(str(a) in {str(w) for w in wanted} for a in many)
        return found if operator == "IN" else not found
    if operator in ("=", "!="):
        found = any(str(a).lower() == str(wanted).lower() for a in many if a is not None) or (
            wanted is None and actual is None
        )
        return found if operator == "=" else not found
    if operator in (">", "<", ">=", "<="):
        try:
            number = int(str(wanted))
        except ValueError:
            raise _Refused(error(400, "parameter_invalid", f"{wanted!r} is not a number")) from None
        # Intercom documents `>` and `<` as "greater (or equal)" and "lower (or equal)".
        if operator.startswith(">"):
            return any(isinstance(a, int) and a >= number for a in many)
        return any(isinstance(a, int) and a <= number for a in many)
    text = str(wanted).lower()
    hay = [str(a).lower() for a in many if a is not None]
    if operator == "~":
        return any(text in h for h in hay)
    if operator == "!~":
        return not any(text in h for h in hay)
    if operator == "^":
        return any(h.startswith(text) for h in hay)
    if operator == "$":
        return any(h.endswith(text) for h in hay)
    raise _Refused(error(400, "parameter_invalid", f"operator {operator!r} is not supported"))


def _matcher(query: object, value_of: Callable[[object, str], object],
             depth: int = 0) -> Callable[[object], bool]:  # fmt: skip
    if not isinstance(query, dict):
        raise _Refused(error(400, "parameter_invalid", "query must be an object"))
    operator = query.get("operator")
    if operator in ("AND", "OR"):
        if depth >= MAX_NESTING + 1:
            raise _Refused(error(400, "parameter_invalid",
                                 f"queries nest at most {MAX_NESTING} levels"))  # fmt: skip
        children = query.get("value")
        if not isinstance(children, list) or not children:
            raise _Refused(error(400, "parameter_invalid", f"{operator} needs a list of filters"))
        if len(children) > MAX_FILTERS:
            raise _Refused(error(400, "parameter_invalid",
                                 f"at most {MAX_FILTERS} filters in one {operator} group"))  # fmt: skip
        tests = [_matcher(c, value_of, depth + 1) for c in children]
        if operator == "AND":
            return lambda item: all(test(item) for test in tests)
        return lambda item: any(test(item) for test in tests)
    name = query.get("field")
    if not isinstance(name, str) or not isinstance(operator, str):
        raise _Refused(error(400, "parameter_invalid", "a filter needs field and operator"))
    wanted = query.get("value")
    return lambda item: _compare(value_of(item, name), operator, wanted)


# ---------------------------------------------------------------- the app
def create_app(world: World) -> Starlette:
    d = IntercomDialect(world)

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            me = d._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if me is None:
                return error(401, "unauthorized", "Access Token Invalid")
            version = request.headers.get("intercom-version")
            if version is not None and version not in VERSIONS:
                return error(400, "intercom_version_invalid", "The requested version is invalid")
            try:
                with world.lock:
                    return await handler(request, d, me)
            except _Refused as refused:
                return refused.response

        return run

    routes = [
        Route("/me", endpoint(_me), methods=["GET"]),
        Route("/admins", endpoint(_admins), methods=["GET"]),
        Route("/admins/{admin_id}", endpoint(_admin), methods=["GET"]),
        Route("/admins/{admin_id}/away", endpoint(_away), methods=["PUT"]),
        Route("/teams", endpoint(_teams), methods=["GET"]),
        Route("/tags", endpoint(_tags), methods=["GET", "POST"]),
        Route("/contacts/search", endpoint(_search_contacts), methods=["POST"]),
        Route("/contacts/{contact_id}", endpoint(_contact), methods=["GET"]),
        Route("/conversations", endpoint(_conversations), methods=["GET"]),
        Route("/conversations/search", endpoint(_search_conversations), methods=["POST"]),
        Route("/conversations/{cid}", endpoint(_conversation), methods=["GET"]),
        Route("/conversations/{cid}/reply", endpoint(_reply), methods=["POST"]),
        Route("/conversations/{cid}/parts", endpoint(_parts), methods=["POST"]),
        Route("/conversations/{cid}/tags", endpoint(_tag_conversation), methods=["POST"]),
        Route(
            "/conversations/{cid}/tags/{tag_id}", endpoint(_untag_conversation), methods=["DELETE"]
        ),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(404, "not_found", "Resource Not Found")

    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.state.intercom = d
    return app


async def _body(request: Request) -> dict[str, object]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        raise _Refused(error(400, "parameter_invalid", "The request body is not JSON")) from None
    if not isinstance(data, dict):
        raise _Refused(error(400, "parameter_invalid", "The request body must be an object"))
    return data


def _ticket(request: Request, d: IntercomDialect) -> Ticket:
    try:
        t = d.world.tickets.get(int(request.path_params["cid"]))
    except ValueError:
        t = None
    if t is None:
        raise _Refused(error(404, "not_found", "Resource Not Found"))
    return t


def _acting_admin(d: IntercomDialect, body: dict[str, object]) -> User:
    if "admin_id" not in body:
        raise _Refused(error(400, "parameter_not_found", "admin_id not specified"))
    admin = d.admin(body["admin_id"])
    if admin is None:
        raise _Refused(error(404, "admin_not_found", "Admin not found"))
    return admin


async def _me(request: Request, d: IntercomDialect, me: User) -> Response:
    return JSONResponse({
        **d.admin_json(me), "email_verified": True, "avatar": {"type": "avatar", "image_url": None},
        "app": {"type": "app", "id_code": WORKSPACE_ID, "name": "Kumo Mart",
                "created_at": d.world.now - 900 * DAY, "secure": False,
                "identity_verification": False, "timezone": "Asia/Tokyo", "region": "US"},
    })  # fmt: skip


def _staff(d: IntercomDialect) -> list[User]:
    return [d.world.users[i] for i in d.world.agent_ids if not d.world.users[i].is_bot]


async def _admins(request: Request, d: IntercomDialect, me: User) -> Response:
    return JSONResponse({"type": "admin.list", "admins": [d.admin_json(u) for u in _staff(d)]})


async def _admin(request: Request, d: IntercomDialect, me: User) -> Response:
    admin = d.admin(request.path_params["admin_id"])
    if admin is None or admin.is_bot:
        return error(404, "admin_not_found", "Admin not found")
    return JSONResponse(d.admin_json(admin))


async def _away(request: Request, d: IntercomDialect, me: User) -> Response:
    admin = d.admin(request.path_params["admin_id"])
    if admin is None or admin.is_bot:
        return error(404, "admin_not_found", "Admin not found")
    body = await _body(request)
    away = body.get("away_mode_enabled")
    if not isinstance(away, bool) or not isinstance(body.get("away_mode_reassign"), bool):
        return error(400, "parameter_invalid",
                     "away_mode_enabled and away_mode_reassign must be booleans")  # fmt: skip
    d.state.away[admin.id] = away
    return JSONResponse(d.admin_json(admin))


async def _teams(request: Request, d: IntercomDialect, me: User) -> Response:
    return JSONResponse({"type": "team.list",
                         "teams": [d.team_json(g) for g in sorted(d.world.groups)]})  # fmt: skip


async def _tags(request: Request, d: IntercomDialect, me: User) -> Response:
    if request.method == "POST":
        body = await _body(request)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return error(400, "parameter_invalid", "name is required")
        d.state.created_tags.add(name.strip())
        return JSONResponse(d.tag_json(name.strip()))
    return JSONResponse({"type": "list", "data": [d.tag_json(x) for x in d.all_tags()]})


async def _contact(request: Request, d: IntercomDialect, me: User) -> Response:
    user = d.user_of_contact(request.path_params["contact_id"])
    if user is None:
        return error(404, "not_found", "User Not Found")
    return JSONResponse(d.contact_json(user))


async def _search_contacts(request: Request, d: IntercomDialect, me: User) -> Response:
    query, per_page, after = _search_args(await _body(request))
    test = _matcher(query, lambda u, name: _contact_value(u, name))  # type: ignore[arg-type]
    found = [u for u in d.world.users.values() if u.role == "end-user" and test(u)]
    chunk, pages = _keyset(found, lambda u: (0, u.id), per_page, after)
    return JSONResponse(
        {
            "type": "list",
            "data": [d.contact_json(u) for u in chunk],
            "total_count": len(found),
            "pages": pages,
        }
    )


async def _conversations(request: Request, d: IntercomDialect, me: User) -> Response:
    q = request.query_params
    tickets = list(d.world.tickets.values())
    return JSONResponse(
        _conversation_page(d, tickets, _per_page(q.get("per_page")), q.get("starting_after"))
    )


async def _search_conversations(request: Request, d: IntercomDialect, me: User) -> Response:
    body = await _body(request)
    query, per_page, after = _search_args(body)
    key = _sort_key(body.get("sort"))
    test = _matcher(query, lambda t, name: _conversation_value(d, t, name))  # type: ignore[arg-type]
    found = [t for t in d.world.tickets.values() if test(t)]
    return JSONResponse(_conversation_page(d, found, per_page, after, key))


async def _conversation(request: Request, d: IntercomDialect, me: User) -> Response:
    return JSONResponse(d.conversation_json(_ticket(request, d), parts=True))


async def _reply(request: Request, d: IntercomDialect, me: User) -> Response:
    t = _ticket(request, d)
    body = await _body(request)
    message_type = body.get("message_type")
    if message_type not in ("comment", "note"):
        return error(400, "parameter_invalid", "message_type must be comment or note")
    if body.get("type") != "admin":
        return error(400, "parameter_invalid", "type must be admin")
    admin = _acting_admin(d, body)
    html = body.get("body")
    if not isinstance(html, str) or not html.strip():
        return error(400, "parameter_invalid", "Body is required")
    comment = d.world.add_comment(t, admin.id, html_to_text(html), public=message_type ==
                                  "comment", channel=t.via, html_body=html)  # fmt: skip
    d.world.record_write(t, admin.id, "intercom", {"comment": {"public": comment.public}},
                         comment_id=comment.id)  # fmt: skip
    return JSONResponse(d.conversation_json(t, parts=True))


async def _parts(request: Request, d: IntercomDialect, me: User) -> Response:
    t = _ticket(request, d)
    body = await _body(request)
    admin = _acting_admin(d, body)
    kind = body.get("message_type")
    if kind == "close":
        t.status = "solved"
        d.state.snoozed_until.pop(t.id, None)
        d.record(t, admin, "close", {"status": "solved"})
    elif kind == "open":
        t.status = "open"
        d.state.snoozed_until.pop(t.id, None)
        d.record(t, admin, "open", {"status": "open"})
    elif kind == "snoozed":
        until = body.get("snoozed_until")
        if isinstance(until, bool) or not isinstance(until, int):
            return error(400, "parameter_invalid", "snoozed_until must be a Unix timestamp")
        if until <= d.world.clock.timestamp():
            return error(400, "parameter_invalid", "snoozed_until must be in the future")
        t.status = "pending"
        d.state.snoozed_until[t.id] = until
        d.record(t, admin, "snoozed", {"status": "pending", "snoozed_until": until})
    elif kind == "assignment":
        target = body.get("type")
        raw = str(body.get("assignee_id", ""))
        if target not in ("admin", "team") or not raw:
            return error(400, "parameter_invalid", "type (admin or team) and assignee_id needed")
        if target == "admin":
            agent = None if raw == "0" else d.admin(raw)
            if raw != "0" and agent is None:
                return error(404, "assignee_not_found", "Assignee not found")
            t.assignee_id = agent.id if agent is not None else None
            d.record(t, admin, "assignment", {"assignee_id": t.assignee_id}, ("admin", raw))
        else:
            group = None
            if raw != "0":
                group = next((g for g in d.world.groups if str(g) == raw), None)
                if group is None:
                    return error(404, "team_not_found", "Team not found")
            t.group_id = group
            d.record(t, admin, "assignment", {"group_id": group}, ("team", raw))
    else:
        return error(400, "parameter_invalid",
                     "message_type must be close, open, snoozed or assignment")  # fmt: skip
    return JSONResponse(d.conversation_json(t, parts=True))


async def _tag_conversation(request: Request, d: IntercomDialect, me: User) -> Response:
    t = _ticket(request, d)
    body = await _body(request)
    admin = _acting_admin(d, body)
    name = next((x for x in d.all_tags() if tag_id(x) == str(body.get("id"))), None)
    if name is None:
        return error(404, "tag_not_found", "Tag not found")
    if name not in t.tags:
        t.tags.append(name)
        d.world.touch(t)
        d.world.record_write(t, admin.id, "intercom", {"tags": list(t.tags)})
    return JSONResponse(d.tag_json(name, d.world.clock.timestamp()))


async def _untag_conversation(request: Request, d: IntercomDialect, me: User) -> Response:
    t = _ticket(request, d)
    body = await _body(request)
    admin = _acting_admin(d, body)
    wanted = request.path_params["tag_id"]
    name = next((x for x in t.tags if tag_id(x) == wanted), None)
    if name is None:
        return error(404, "tag_not_found", "Tag not found")
    t.tags.remove(name)
    d.world.touch(t)
    d.world.record_write(t, admin.id, "intercom", {"tags": list(t.tags)})
    return JSONResponse(d.tag_json(name))
