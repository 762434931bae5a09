"""The Front Core API dialect of the simulator, over the ONE shared world.

The world is Zendesk-flavoured; this module presents the same people, tickets and comments in
Front's shapes (`front-core-api.json` of frontapp/front-api-specs, and dev.frontapp.com):

* tickets → conversations `cnv_…` (ticketing on: `status_id` / `status_category` open, waiting,
  resolved beside the legacy `status` assigned / unassigned / archived); public comments →
  messages `msg_…` (their `type` from the ticket's channel: email, front_chat, sms, tweet,
  whatsapp, call, custom); private comments → comments `com_…` (Front's internal notes);
  end-users → contacts `crd_…` with handles; agents → teammates `tea_…`; groups → teams
  `tim_…`, each owning one shared inbox `inb_…` (a conversation without a group sits in
  "General").
  Ids are the world's numbers in base 36, as Front's own ids look.
* Auth: `Authorization: Bearer <token>` (a company API token); 401 with Front's `_error` body.
* Lists page with `limit` (≤ 100; the event feed ≤ 15) and an opaque `page_token`, the next
  page's whole URL in `_pagination.next`. A larger `limit` is a 400.
* `GET /events?q[after]=` is the change feed, derived from the world: every message, note,
  resolution and reopen a ticket went through, and every write in `World.writes` (dialect,
  control API, live activity), each event embedding its conversation.
* Writes go through the world's helpers (`add_comment`, `touch`, `record_write`) so
  `/_sim/state` stays the oracle. A reply archives the conversation unless
  `options.archive` is false, as Front does. Snooze is a reminder (`PATCH …/reminders`).
* Rate limits: the shared gate answers 429 with `retry-after` and `x-ratelimit-*` (Front's
  per-company budget per minute). While that budget is on, Front's burst tier applies too:
  5 requests a second per conversation (Front's general burst limit per resource), beyond
  which it answers 429 with `retry-after` and `x-front-tier` although the company budget
  (`x-ratelimit-remaining`) still has requests left.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import html
import json
import math
import re
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentdesk.sim import text
from agentdesk.sim.faults import RateLimiter
from agentdesk.sim.world import Comment, Ticket, User, World

Json = dict[str, Any]
MAX_LIMIT = 100
MAX_EVENTS_LIMIT = 15
DEFAULT_LIMIT = 50
BURST_TIER = "2"
BURST_PER_SECOND = 5
PREFIXES = {
    "conversation": "cnv_",
    "message": "msg_",
    "comment": "com_",
    "contact": "crd_",
    "teammate": "tea_",
    "team": "tim_",
    "inbox": "inb_",
    "tag": "tag_",
}
# The world's neutral channel → the `type` of Front messages on it.
MESSAGE_TYPE = {
    "email": "email",
    "chat": "front_chat",
    "sms": "sms",
    "social": "tweet",
    "voice": "call",
    "web": "custom",
}
# Ticket statuses (ticketing on): id, name, category; the world statuses each stands for.
STATUSES = (
    ("sts_open", "Open", "open"),
    ("sts_waiting", "Waiting on customer", "waiting"),
    ("sts_resolved", "Resolved", "resolved"),
)
_CATEGORY = {
    "new": "open",
    "open": "open",
    "pending": "waiting",
    "hold": "waiting",
    "solved": "resolved",
    "closed": "resolved",
}
_WORLD_STATUS = {"open": "open", "waiting": "pending", "resolved": "solved"}
GENERAL_INBOX = 1
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def b36(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _B36[digit] + out
        if not number:
            return out


def front_id(kind: str, number: int) -> str:
    return PREFIXES[kind] + b36(number)


def world_id(kind: str, value: object) -> int | None:
    """The world's number behind a Front id (`cnv_1a` → 46); None when it is not one."""
    raw = str(value or "")
    prefix = PREFIXES[kind]
    if not raw.startswith(prefix) or len(raw) == len(prefix):
        return None
    try:
        return int(raw[len(prefix) :], 36)
    except ValueError:
        return None


def _error(
    status: int, title: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"_error": {"status": status, "title": title, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def _not_found(what: str) -> Response:
    return _error(404, "Not found", f"{what} not found")


def _bad(message: str) -> Response:
    return _error(400, "Bad request", message)


@dataclass(slots=True)
class Reminder:
    scheduled_at: int
    teammate_id: int
    created_at: int


@dataclass(slots=True)
class FrontState:
    """What Front keeps that the shared world has no field for."""

    reminders: dict[int, Reminder] = field(default_factory=dict)
    tag_ids: dict[str, int] = field(default_factory=dict)  # tag name → number
    message_uids: dict[str, tuple[int, int]] = field(default_factory=dict)  # uid → (ticket, id)
    burst: dict[tuple[int, int], int] = field(default_factory=dict)  # (ticket, second) → n
    available: dict[int, bool] = field(default_factory=dict)  # teammate → what they set


class FrontDialect:
    """Front's Core API over `world`. The burst tier is on while `limiter` (the company's
    per-minute budget, kept by the shared gate) is."""

    def __init__(self, world: World, *, limiter: RateLimiter | None = None) -> None:
        self.world = world
        self.limiter = limiter
        self.state = FrontState()
        self.lock = threading.RLock()
        self._tokens = {u.token: u for u in world.users.values() if u.token}
        self._inbox_of_group = {gid: n for n, gid in enumerate(sorted(world.groups), start=2)}
        self._group_of_inbox = {n: gid for gid, n in self._inbox_of_group.items()}
        for ticket in world.tickets.values():
            if ticket.status == "hold":  # on hold: snoozed to a time, derived from the seed
                at = ticket.updated_at + (1 + ticket.seed % 5) * 86_400
                owner = ticket.assignee_id or world.agent_ids[0]
                self.state.reminders[ticket.id] = Reminder(at, owner, ticket.updated_at)

    # ------------------------------------------------------------ reads of the world
    def ticket(self, value: object) -> Ticket | None:
        number = world_id("conversation", value)
        return self.world.tickets.get(number) if number is not None else None

    def teammate(self, value: object) -> User | None:
        raw = str(value or "")
        if raw.startswith("alt:email:"):
            found = self.world.users_by_email.get(raw[len("alt:email:") :].lower())
        else:
            found = world_id("teammate", raw)
        if found is None or found not in self.world.agent_ids:
            return None
        user = self.world.users[found]
        return None if user.is_bot else user

    def contact(self, value: object) -> User | None:
        number = world_id("contact", value)
        user = self.world.users.get(number) if number is not None else None
        return user if user is not None and user.role == "end-user" else None

    def tag_number(self, name: str) -> int:
        if name not in self.state.tag_ids:
            self.state.tag_ids[name] = len(self.state.tag_ids) + 1
        return self.state.tag_ids[name]

    def tag_name(self, value: object) -> str | None:
        number = world_id("tag", value)
        return next((n for n, i in self.state.tag_ids.items() if i == number), None)

    def inbox_number(self, ticket: Ticket) -> int:
        return self._inbox_of_group.get(ticket.group_id or 0, GENERAL_INBOX)

    def reminder(self, ticket: Ticket) -> Reminder | None:
        found = self.state.reminders.get(ticket.id)
        if found is not None and found.scheduled_at <= self.world.clock.timestamp():
            return None  # it went off: the conversation is back in the inbox
        return found

    def listed_status(self, ticket: Ticket) -> str:
        """Front's own status: archived once resolved, else assigned or unassigned."""
        if _CATEGORY[ticket.status] == "resolved":
            return "archived"
        return "assigned" if ticket.assignee_id is not None else "unassigned"

    # ------------------------------------------------------------ JSON shapes
    def conversation_url(self, base: str, ticket: Ticket) -> str:
        return f"{base}/conversations/{front_id('conversation', ticket.id)}"

    def teammate_url(self, base: str, user_id: int) -> str:
        return f"{base}/teammates/{front_id('teammate', user_id)}"

    def teammate_json(self, base: str, user: User) -> Json:
        tid = front_id("teammate", user.id)
        first, _, last = user.name.partition(" ")
        since = self.world.now - (user.last_login_at or 0)
        available = self.state.available.get(user.id, since < 86_400)
        return {
            "_links": {
                "self": f"{base}/teammates/{tid}",
                "related": {
                    "inboxes": f"{base}/teammates/{tid}/inboxes",
                    "conversations": f"{base}/teammates/{tid}/conversations",
                },
            },
            "id": tid,
            "email": user.email or "",
            "username": (user.email or "").split("@")[0],
            "first_name": first,
            "last_name": last,
            "license_type": "regular",
            "is_admin": user.role == "admin",
            "is_available": available,
            "is_blocked": False,
            "type": "ai" if user.is_bot else "user",
            "custom_fields": {},
        }

    def inbox_json(self, base: str, number: int) -> Json:
        iid = front_id("inbox", number)
        group = self._group_of_inbox.get(number)
        name = self.world.groups[group].name if group is not None else "General"
        related: Json = {
            "teammates": f"{base}/inboxes/{iid}/teammates",
            "conversations": f"{base}/inboxes/{iid}/conversations",
            "channels": f"{base}/inboxes/{iid}/channels",
        }
        if group is not None:
            related["owner"] = f"{base}/teams/{front_id('team', group)}"
        return {
            "_links": {"self": f"{base}/inboxes/{iid}", "related": related},
            "id": iid,
            "name": name,
            "is_private": False,
            "is_public": True,
            "custom_fields": {},
        }

    def team_json(self, base: str, group_id: int) -> Json:
        tid = front_id("team", group_id)
        members = {m.user_id for m in self.world.memberships if m.group_id == group_id}
        return {
            "_links": {"self": f"{base}/teams/{tid}"},
            "id": tid,
            "name": self.world.groups[group_id].name,
            "inboxes": [self.inbox_json(base, self._inbox_of_group[group_id])],
            "members": [self.teammate_json(base, self.world.users[u]) for u in sorted(members)],
        }

    def tag_json(self, base: str, name: str) -> Json:
        tid = front_id("tag", self.tag_number(name))
        long_ago = float(self.world.now - 400 * 86_400)
        return {
            "_links": {
                "self": f"{base}/tags/{tid}",
                "related": {
                    "conversations": f"{base}/tags/{tid}/conversations",
                    "owner": None,
                    "parent_tag": None,
                    "children": None,
                },
            },
            "id": tid,
            "name": name,
            "description": None,
            "highlight": None,
            "is_private": False,
            "is_visible_in_conversation_lists": True,
            "created_at": long_ago,
            "updated_at": long_ago,
        }

    def handles(self, user: User) -> list[Json]:
        out = []
        if user.email:
            out.append({"handle": user.email, "source": "email"})
        if user.phone:
            out.append({"handle": user.phone, "source": "phone"})
        if user.twitter:
            out.append({"handle": user.twitter.lstrip("@"), "source": "twitter"})
        return out

    def contact_json(self, base: str, user: User) -> Json:
        cid = front_id("contact", user.id)
        org = self.world.organizations.get(user.organization_id or 0)
        custom: Json = dict(user.user_fields)
        custom["language"] = user.locale
        custom["time_zone"] = user.iana_time_zone
        if org is not None:
            custom["company"] = org.name
        return {
            "_links": {
                "self": f"{base}/contacts/{cid}",
                "related": {
                    "notes": f"{base}/contacts/{cid}/notes",
                    "conversations": f"{base}/contacts/{cid}/conversations",
                },
            },
            "id": cid,
            "name": user.name,
            "description": "",
            "links": [],
            "groups": [],
            "lists": [],
            "handles": self.handles(user),
            "custom_fields": custom,
            "is_private": False,
        }

    def _customer_handle(self, ticket: Ticket, user: User) -> str:
        if ticket.channel in ("sms", "voice") and user.phone:
            return user.phone
        if ticket.channel == "social" and user.twitter:
            return user.twitter.lstrip("@")
        return user.email or user.phone or (user.twitter or "").lstrip("@") or f"visitor-{user.id}"

    def recipient_json(self, base: str, ticket: Ticket, user: User, role: str) -> Json:
        contact = f"{base}/contacts/{front_id('contact', user.id)}"
        return {
            "_links": {"related": {"contact": contact}},
            "name": user.name,
            "handle": self._customer_handle(ticket, user),
            "role": role,
        }

    def message_type(self, ticket: Ticket) -> str:
        kind = MESSAGE_TYPE[ticket.channel]
        if kind == "tweet" and not self.world.users[ticket.requester_id].twitter:
            return "whatsapp"
        return kind

    def message_json(self, base: str, ticket: Ticket, comment: Comment) -> Json:
        mid = front_id("message", comment.id)
        author = self.world.users.get(comment.author_id)
        inbound = author is not None and author.role == "end-user"
        customer = self.world.users[ticket.requester_id]
        support = {
            "_links": {"related": {"contact": None}},
            "name": "Kumo Mart support",
            "handle": text.SUPPORT_ADDRESS,
        }
        them = self.recipient_json(base, ticket, customer, "to")
        if inbound:
            recipients = [{**them, "role": "from"}, {**support, "role": "to"}]
        else:
            recipients = [{**support, "role": "from"}, them]
        return {
            "_links": {
                "self": f"{base}/messages/{mid}",
                "related": {"conversation": self.conversation_url(base, ticket)},
            },
            "id": mid,
            "message_uid": hashlib.sha256(f"uid:{comment.id}".encode()).hexdigest()[:32],
            "type": self.message_type(ticket),
            "is_inbound": inbound,
            "draft_mode": None,
            "version": f"{comment.id:x}-{comment.created_at}",
            "created_at": float(comment.created_at),
            "subject": ticket.subject,
            "blurb": comment.body[:120],
            "author": None if inbound or author is None else self.teammate_json(base, author),
            "recipients": recipients,
            "body": comment.html_body,
            "text": comment.body,
            "attachments": [
                {
                    "id": f"fil_{b36(a.id)}",
                    "filename": a.file_name,
                    "url": f"{base}/download/fil_{b36(a.id)}",
                    "content_type": a.content_type,
                    "size": a.size,
                    "metadata": {"is_inline": False},
                }
                for a in comment.attachments
            ],
            "metadata": {},
        }

    def comment_json(self, base: str, ticket: Ticket, comment: Comment) -> Json:
        cid = front_id("comment", comment.id)
        author = (
            self.world.users.get(comment.author_id) or self.world.users[self.world.agent_ids[0]]
        )
        return {
            "_links": {
                "self": f"{base}/comments/{cid}",
                "related": {
                    "conversation": self.conversation_url(base, ticket),
                    "mentions": f"{base}/comments/{cid}/mentions",
                    "comment_replied_to": None,
                },
            },
            "id": cid,
            "author": self.teammate_json(base, author),
            "body": comment.body,
            "posted_at": float(comment.created_at),
            "attachments": [],
            "is_pinned": False,
        }

    def conversation_json(self, base: str, ticket: Ticket) -> Json:
        cid = front_id("conversation", ticket.id)
        requester = self.world.users[ticket.requester_id]
        category = _CATEGORY[ticket.status]
        status_id = next(s for s, _n, c in STATUSES if c == category)
        assignee = self.world.users.get(ticket.assignee_id or 0)
        reminder = self.reminder(ticket)
        links = {
            k: f"{base}/conversations/{cid}/{k}"
            for k in ("events", "followers", "messages", "comments", "inboxes")
        }
        return {
            "_links": {"self": f"{base}/conversations/{cid}", "related": links},
            "id": cid,
            "type": "conversation",
            "subject": ticket.subject,
            "status": self.listed_status(ticket),
            "status_id": status_id,
            "status_category": category,
            "ticket_ids": [f"TICKET-{ticket.id}"],
            "assignee": self.teammate_json(base, assignee) if assignee is not None else None,
            "recipient": self.recipient_json(base, ticket, requester, "from"),
            "tags": [self.tag_json(base, t) for t in ticket.tags],
            "links": [],
            "custom_fields": {},
            "created_at": float(ticket.created_at),
            "updated_at": float(ticket.updated_at),
            "waiting_since": float(ticket.last_comment_at),
            "is_private": False,
            "scheduled_reminders": []
            if reminder is None
            else [
                {
                    "_links": {"related": {"owner": self.teammate_url(base, reminder.teammate_id)}},
                    "created_at": float(reminder.created_at),
                    "scheduled_at": float(reminder.scheduled_at),
                    "updated_at": float(reminder.created_at),
                }
            ],
            "metadata": {},
        }

    # ------------------------------------------------------------ events (derived)
    def events(self, base: str, ticket: Ticket) -> list[Json]:
        """Every event of one conversation, oldest first."""
        raw: list[tuple[int, str, Json | None, User | None]] = []
        requester = self.world.users[ticket.requester_id]
        for c in self.world.comments(ticket):
            author = self.world.users.get(c.author_id)
            if not c.public:
                raw.append(
                    (
                        c.created_at,
                        "comment",
                        {"_meta": {"type": "comment"}, "data": self.comment_json(base, ticket, c)},
                        author,
                    )
                )
                continue
            kind = "inbound" if c.author_id == requester.id else "out_reply"
            raw.append(
                (
                    c.created_at,
                    kind,
                    {"_meta": {"type": "message"}, "data": self.message_json(base, ticket, c)},
                    author,
                )
            )
        assignee = self.world.users.get(ticket.assignee_id or 0)
        writes = self.world.writes.get(ticket.id, [])
        if assignee is not None and not any("assignee_id" in w["changes"] for w in writes):
            raw.append(
                (ticket.created_at + 1, "assign", self._target_teammate(base, assignee), None)
            )
        if not writes:  # the generated status history (writes carry their own)
            for k in range(ticket.reopens):
                back = (ticket.reopened_at or ticket.updated_at) - k * 3_600
                raw.append((back - 1_800, "archive", None, assignee))
                raw.append((back, "reopen", None, None))
            if ticket.solved_at is not None and ticket.status in ("solved", "closed"):
                raw.append((ticket.solved_at, "archive", None, assignee))
        for write in writes:
            actor = self.world.users.get(write["actor_id"] or 0)
            raw.extend(
                (int(write["at"]), kind, target, actor)
                for kind, target in self._write_events(base, write["changes"])
            )
        raw.sort(key=lambda e: e[0])
        conversation = self.conversation_json(base, ticket)
        out = []
        for n, (at, kind, target, actor) in enumerate(raw):
            eid = "evt_" + b36(
                int(hashlib.sha256(f"{ticket.id}:{n}:{kind}:{at}".encode()).hexdigest()[:12], 16)
            )
            event: Json = {
                "_links": {"self": f"{base}/events/{eid}"},
                "id": eid,
                "type": kind,
                "emitted_at": float(at),
                "conversation": conversation,
            }
            if actor is not None and actor.role != "end-user":
                event["source"] = {
                    "_meta": {"type": "teammate"},
                    "data": self.teammate_json(base, actor),
                }
            else:
                event["source"] = {
                    "_meta": {"type": "inboxes"},
                    "data": [self.inbox_json(base, self.inbox_number(ticket))],
                }
            if target is not None:
                event["target"] = target
            out.append(event)
        return out

    def _target_teammate(self, base: str, user: User) -> Json:
        return {"_meta": {"type": "teammate"}, "data": self.teammate_json(base, user)}

    def _write_events(
        self, base: str, changes: dict[str, object]
    ) -> Iterable[tuple[str, Json | None]]:
        status = changes.get("status")
        if isinstance(status, str):
            category = _CATEGORY.get(status, "open")
            yield (
                {"resolved": "archive", "open": "reopen"}.get(category, "ticket_status_update"),
                None,
            )
        for key in ("assignee_id", "assignee"):
            if key in changes:
                user = self.world.users.get(changes[key]) if isinstance(changes[key], int) else None
                yield ("assign", self._target_teammate(base, user)) if user else ("unassign", None)
        if "group_id" in changes:
            group = changes["group_id"]
            number = (
                self._inbox_of_group.get(group, GENERAL_INBOX)
                if isinstance(group, int)
                else GENERAL_INBOX
            )
            yield "move", {"_meta": {"type": "inboxes"}, "data": self.inbox_json(base, number)}
        tags = changes.get("tags")
        if isinstance(tags, list):
            for name in tags:
                yield "tag", {"_meta": {"type": "tag"}, "data": self.tag_json(base, str(name))}

    # ------------------------------------------------------------ writes
    def write(self, ticket: Ticket, actor: User, changes: dict[str, object]) -> None:
        self.world.touch(ticket)
        self.world.record_write(ticket, actor.id, "front", changes)

    def take_burst(self, ticket_id: int) -> bool:
        """One request on this conversation's burst budget; False when it is spent."""
        if self.limiter is None or self.limiter.per_minute is None:
            return True
        key = (ticket_id, self.world.clock.timestamp())
        used = self.state.burst.get(key, 0) + 1
        self.state.burst = {k: v for k, v in self.state.burst.items() if k[1] == key[1]}
        self.state.burst[key] = used
        return used <= BURST_PER_SECOND


# ---------------------------------------------------------------- paging
def _encode(key: tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode(token: str) -> tuple[float, str] | None:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return float(raw[0]), str(raw[1])
    except (ValueError, TypeError, IndexError, KeyError):
        return None


def _limit(request: Request, ceiling: int = MAX_LIMIT) -> int | Response:
    raw = request.query_params.get("limit")
    if raw is None:
        return min(DEFAULT_LIMIT, ceiling)
    try:
        limit = int(raw)
    except ValueError:
        return _bad("limit must be an integer")
    if not 1 <= limit <= ceiling:
        return _bad(f"limit must be between 1 and {ceiling}")
    return limit


def _page(
    request: Request,
    items: list[Any],
    key: Callable[[Any], tuple[float, str]],
    render: Callable[[Any], Json] = lambda item: item,
    *,
    ceiling: int = MAX_LIMIT,
    default_desc: bool = True,
) -> Response:
    """One page of `items` in `sort_order` by `key`, rendered, with `_pagination.next`: the
    whole next URL carrying an opaque keyset `page_token` (stable while items change)."""
    limit = _limit(request, ceiling)
    if isinstance(limit, Response):
        return limit
    q = request.query_params
    order = q.get("sort_order") or ("desc" if default_desc else "asc")
    if order not in ("asc", "desc"):
        return _bad("sort_order must be asc or desc")
    desc = order == "desc"
    items = sorted(items, key=key, reverse=desc)
    token = q.get("page_token")
    if token:
        last = _decode(token)
        if last is None:
            return _bad("page_token is invalid")
        items = [i for i in items if (key(i) < last if desc else key(i) > last)]
    page = items[:limit]
    next_url = None
    if len(items) > limit:
        params = [(k, v) for k, v in q.multi_items() if k != "page_token"]
        params.append(("page_token", _encode(key(page[-1]))))
        next_url = f"{str(request.base_url).rstrip('/')}{request.url.path}?{urlencode(params)}"
    return JSONResponse(
        {
            "_pagination": {"next": next_url},
            "_links": {"self": str(request.url)},
            "_results": [render(i) for i in page],
        }
    )


def _statuses(request: Request) -> set[str] | Response:
    wanted = set(request.query_params.getlist("q[statuses][]"))
    unknown = wanted - {"assigned", "unassigned", "archived", "trashed"}
    if unknown:
        return _bad(f"unknown conversation status {min(unknown)!r}")
    return wanted


def _after_before(request: Request) -> tuple[float, float] | Response:
    q = request.query_params
    try:
        after = float(q.get("q[after]", "-1"))
        before = float(q.get("q[before]", "inf"))
    except ValueError:
        return _bad("q[after] and q[before] are timestamps in seconds")
    return after, before


async def _body(request: Request) -> Json | None:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _author(d: FrontDialect, body: Json, me: User) -> User | None:
    """The teammate a message or comment is written as: `author_id`, else the token's own."""
    return d.teammate(body["author_id"]) if body.get("author_id") else me


def _plain(body: str) -> str:
    return (
        html.unescape(re.sub(r"<br\s*/?>|</p>\s*<p>", "\n", body).replace("</p>", "")).replace(
            "<p>", ""
        )
        if "<" in body
        else body
    )


# ---------------------------------------------------------------- the app
Handler = Callable[[Request, FrontDialect, User, str], Awaitable[Response]]


def create_app(world: World, *, limiter: RateLimiter | None = None) -> Starlette:
    d = FrontDialect(world, limiter=limiter)

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            user = d._tokens.get(token) if scheme.lower() == "bearer" and token else None
            if user is None:
                return _error(401, "Unauthenticated", "Invalid or missing API token")
            base = str(request.base_url).rstrip("/")
            with d.lock:
                ticket_ref = request.path_params.get("cid")
                ticket = d.ticket(ticket_ref) if ticket_ref else None
                if ticket is not None and not d.take_burst(ticket.id):
                    return _error(
                        429,
                        "Too many requests",
                        "Burst rate limit exceeded for this resource, retry later",
                        headers={"retry-after": "1", "x-front-tier": BURST_TIER},
                    )
                return await handler(request, d, user, base)

        return run

    def conversation_route(tail: str, handler: Handler, methods: list[str]) -> Route:
        return Route(f"/conversations/{{cid}}{tail}", endpoint(handler), methods=methods)

    routes = [
        Route("/me", endpoint(_me), methods=["GET"]),
        Route("/teammates", endpoint(_teammates), methods=["GET"]),
        Route("/teammates/{tid}", endpoint(_teammate), methods=["GET", "PATCH"]),
        Route("/teams", endpoint(_teams), methods=["GET"]),
        Route("/inboxes", endpoint(_inboxes), methods=["GET"]),
        Route("/company/statuses", endpoint(_company_statuses), methods=["GET"]),
        Route("/tags", endpoint(_tags), methods=["GET", "POST"]),
        Route("/events", endpoint(_events), methods=["GET"]),
        Route("/conversations", endpoint(_conversations), methods=["GET"]),
        conversation_route("", _conversation, ["GET", "PATCH"]),
        conversation_route("/messages", _messages, ["GET", "POST"]),
        conversation_route("/comments", _comments, ["GET", "POST"]),
        conversation_route("/events", _conversation_events, ["GET"]),
        conversation_route("/inboxes", _conversation_inboxes, ["GET"]),
        conversation_route("/assignee", _assignee, ["PUT"]),
        conversation_route("/tags", _conversation_tags, ["POST", "DELETE"]),
        conversation_route("/reminders", _reminders, ["PATCH"]),
        Route("/messages/{mid}", endpoint(_message), methods=["GET"]),
        Route("/contacts/{contact_id}", endpoint(_contact), methods=["GET"]),
        Route(
            "/contacts/{contact_id}/conversations",
            endpoint(_contact_conversations),
            methods=["GET"],
        ),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return _not_found("Route")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, "Method not allowed", f"{request.method} is not allowed here")

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    app.state.front = d
    return app


# ---------------------------------------------------------------- handlers: company
async def _me(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    return JSONResponse(
        {
            "_links": {"self": f"{base}/me"},
            "id": "cmp_" + b36(d.world.seed + 1),
            "name": "Kumo Mart",
        }
    )


def _staff(d: FrontDialect) -> list[User]:
    return [d.world.users[i] for i in d.world.agent_ids if not d.world.users[i].is_bot]


async def _teammates(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    return JSONResponse(
        {
            "_links": {"self": f"{base}/teammates"},
            "_results": [d.teammate_json(base, u) for u in _staff(d)],
        }
    )


async def _teammate(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    user = d.teammate(request.path_params["tid"])
    if user is None:
        return _not_found("Teammate")
    if request.method == "GET":
        return JSONResponse(d.teammate_json(base, user))
    body = await _body(request)
    if body is None or not isinstance(body.get("is_available", False), bool):
        return _bad("is_available must be true or false")
    if "is_available" in body:
        d.state.available[user.id] = body["is_available"]
    return Response(status_code=204)


async def _teams(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    return JSONResponse(
        {
            "_links": {"self": f"{base}/teams"},
            "_results": [d.team_json(base, g) for g in sorted(d.world.groups)],
        }
    )


async def _inboxes(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    numbers = [GENERAL_INBOX, *sorted(d._group_of_inbox)]
    return JSONResponse(
        {
            "_links": {"self": f"{base}/inboxes"},
            "_results": [d.inbox_json(base, n) for n in numbers],
        }
    )


async def _company_statuses(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    at = float(d.world.now - 400 * 86_400)
    results = [
        {
            "_links": {"self": f"{base}/company/statuses/{sid}"},
            "id": sid,
            "name": name,
            "category": category,
            "description": None,
            "created_at": at,
            "updated_at": at,
        }
        for sid, name, category in STATUSES
    ]
    return JSONResponse({"_links": {"self": f"{base}/company/statuses"}, "_results": results})


async def _tags(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    if request.method == "POST":
        body = await _body(request)
        name = body.get("name") if body else None
        if not isinstance(name, str) or not name.strip():
            return _bad("name is required")
        if name.strip() in d.state.tag_ids:
            return _error(409, "Conflict", f"A tag named {name.strip()!r} already exists")
        return JSONResponse(d.tag_json(base, name.strip()), status_code=201)
    for ticket in d.world.tickets.values():  # every tag in use has an id
        for name in ticket.tags:
            d.tag_number(name)
    items = [d.tag_json(base, n) for n in d.state.tag_ids]
    return _page(request, items, lambda t: (0.0, t["id"]), default_desc=False)


# ---------------------------------------------------------------- handlers: conversations
async def _events(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    window = _after_before(request)
    if isinstance(window, Response):
        return window
    after, before = window
    q = request.query_params
    if q.get("sort_by", "created_at") != "created_at":
        return _bad("events can only be sorted by created_at")
    wanted = set(q.getlist("q[types][]"))
    index = d.world.export_index
    # No event of a ticket is later than its updated_at: look only at those updated since.
    start = bisect.bisect_left(index, (math.floor(after) + 1, -1)) if after >= 0 else 0
    items = [
        e
        for _, tid in index[start:]
        for e in d.events(base, d.world.tickets[tid])
        if after < e["emitted_at"] < before and (not wanted or e["type"] in wanted)
    ]
    return _page(request, items, lambda e: (e["emitted_at"], e["id"]), ceiling=MAX_EVENTS_LIMIT)


def _listed(d: FrontDialect, base: str, request: Request, tickets: Iterable[Ticket]) -> Response:
    """Conversations, newest activity first; only the page asked for is rendered."""
    statuses = _statuses(request)
    if isinstance(statuses, Response):
        return statuses
    if request.query_params.get("sort_by", "date") != "date":
        return _bad("conversations can only be sorted by date")
    chosen = [t for t in tickets if not statuses or d.listed_status(t) in statuses]
    return _page(
        request,
        chosen,
        lambda t: (float(t.updated_at), front_id("conversation", t.id)),
        lambda t: d.conversation_json(base, t),
    )


async def _conversations(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    return _listed(d, base, request, d.world.tickets.values())


async def _conversation(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    ticket = d.ticket(request.path_params["cid"])
    if ticket is None:
        return _not_found("Conversation")
    if request.method == "GET":
        return JSONResponse(d.conversation_json(base, ticket))
    body = await _body(request)
    if body is None:
        return _bad("the body must be a JSON object")
    if "status" in body and "status_id" in body:
        return _bad("Only one of status and status_id should be provided")
    changes: dict[str, object] = {}
    if "status" in body:
        status = {"archived": "solved", "open": "open"}.get(str(body["status"]))
        if status is None:
            return _bad(
                f"status {body['status']!r} is not one of archived, open (the simulator "
                "does not trash or mark spam)"
            )
        changes["status"] = status
    if "status_id" in body:
        category = next((c for s, _n, c in STATUSES if s == body["status_id"]), None)
        if category is None:
            return _not_found("Status")
        changes["status"] = _WORLD_STATUS[category]
    if "assignee_id" in body:
        target = d.teammate(body["assignee_id"]) if body["assignee_id"] is not None else None
        if body["assignee_id"] is not None and target is None:
            return _not_found("Teammate")
        changes["assignee_id"] = target.id if target is not None else None
    if "inbox_id" in body:
        number = world_id("inbox", body["inbox_id"])
        if number != GENERAL_INBOX and number not in d._group_of_inbox:
            return _not_found("Inbox")
        changes["group_id"] = d._group_of_inbox.get(number or 0)
    if "tag_ids" in body:
        names = [d.tag_name(t) for t in body["tag_ids"] or []]
        if None in names:
            return _not_found("Tag")
        changes["tags"] = names
    if not changes:
        return _bad("nothing to update")
    for name, value in changes.items():
        setattr(ticket, name, value)
    if "status" in changes and changes["status"] != "pending":
        d.state.reminders.pop(ticket.id, None)
    d.write(ticket, me, changes)
    return Response(status_code=204)


async def _assignee(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    ticket = d.ticket(request.path_params["cid"])
    if ticket is None:
        return _not_found("Conversation")
    body = await _body(request)
    if body is None or "assignee_id" not in body:
        return _bad("assignee_id is required")
    target = d.teammate(body["assignee_id"]) if body["assignee_id"] is not None else None
    if body["assignee_id"] is not None and target is None:
        return _not_found("Teammate")
    ticket.assignee_id = target.id if target is not None else None
    d.write(ticket, me, {"assignee_id": ticket.assignee_id})
    return Response(status_code=204)


async def _conversation_tags(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    ticket = d.ticket(request.path_params["cid"])
    if ticket is None:
        return _not_found("Conversation")
    body = await _body(request)
    ids = body.get("tag_ids") if body else None
    if not isinstance(ids, list) or not ids:
        return _bad("tag_ids must be a non-empty list")
    names = [d.tag_name(t) for t in ids]
    if None in names:
        return _not_found("Tag")
    if request.method == "POST":
        tags = ticket.tags + [n for n in names if n not in ticket.tags]  # type: ignore[misc]
    else:
        tags = [t for t in ticket.tags if t not in names]
    if tags != ticket.tags:
        ticket.tags = tags  # type: ignore[assignment]
        d.write(ticket, me, {"tags": list(tags)})
    return Response(status_code=204)


async def _reminders(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    ticket = d.ticket(request.path_params["cid"])
    if ticket is None:
        return _not_found("Conversation")
    body = await _body(request)
    if body is None or "teammate_id" not in body or "scheduled_at" not in body:
        return _bad("teammate_id and scheduled_at are required")
    owner = d.teammate(body["teammate_id"])
    if owner is None:
        return _not_found("Teammate")
    at = body["scheduled_at"]
    if at is None:  # unsnooze
        d.state.reminders.pop(ticket.id, None)
        ticket.status = "open" if ticket.status == "hold" else ticket.status
        d.write(ticket, me, {"status": ticket.status})
        return Response(status_code=204)
    if isinstance(at, bool) or not isinstance(at, (int, float)):
        return _bad("scheduled_at must be a timestamp in seconds")
    now = d.world.clock.timestamp()
    if not now < at < now + 50 * 365 * 86_400:
        return _bad("scheduled_at must be in the future and within 50 years")
    d.state.reminders[ticket.id] = Reminder(int(at), owner.id, now)
    ticket.status = "hold"  # ticketing: the conversation waits in the default waiting status
    d.write(ticket, me, {"status": "hold"})
    return Response(status_code=204)


# ---------------------------------------------------------------- handlers: threads
def _ticket_or_404(request: Request, d: FrontDialect) -> Ticket | Response:
    ticket = d.ticket(request.path_params["cid"])
    return ticket if ticket is not None else _not_found("Conversation")


async def _messages(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    ticket = _ticket_or_404(request, d)
    if isinstance(ticket, Response):
        return ticket
    if request.method == "GET":
        items = [d.message_json(base, ticket, c) for c in d.world.comments(ticket) if c.public]
        return _page(request, items, lambda m: (m["created_at"], m["id"]))
    body = await _body(request)
    content = body.get("body") if body else None
    if not isinstance(content, str) or not content.strip():
        return _bad("body is required")
    author = _author(d, body, me)
    if author is None:
        return _not_found("Teammate")
    plain = body["text"] if isinstance(body.get("text"), str) else _plain(content)
    comment = d.world.add_comment(
        ticket, author.id, str(plain), public=True, channel=ticket.via, html_body=content
    )
    changes: dict[str, object] = {"comment": {"public": True}}
    options = body["options"] if isinstance(body.get("options"), dict) else {}
    if options.get("archive", True):  # Front archives on send unless told not to
        ticket.status = "solved"
        changes["status"] = "solved"
        d.world.touch(ticket)
    d.world.record_write(ticket, author.id, "front", changes, comment_id=comment.id)
    uid = d.message_json(base, ticket, comment)["message_uid"]
    d.state.message_uids[uid] = (ticket.id, comment.id)
    return JSONResponse({"status": "accepted", "message_uid": uid}, status_code=202)


async def _message(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    ref = request.path_params["mid"]
    if ref.startswith("alt:uid:"):  # Front's resource alias for a message just sent
        found = d.state.message_uids.get(ref[len("alt:uid:") :])
        ticket = d.world.tickets.get(found[0]) if found else None
        number = found[1] if found else None
    else:
        number = world_id("message", ref)
        ticket = next(
            (
                t
                for t in d.world.tickets.values()
                if any(c.id == number for c in d.world.comments(t))
            ),
            None,
        )
    comment = (
        next((c for c in d.world.comments(ticket) if c.id == number and c.public), None)
        if ticket is not None
        else None
    )
    if ticket is None or comment is None:
        return _not_found("Message")
    return JSONResponse(d.message_json(base, ticket, comment))


async def _comments(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    ticket = _ticket_or_404(request, d)
    if isinstance(ticket, Response):
        return ticket
    if request.method == "GET":
        items = [d.comment_json(base, ticket, c) for c in d.world.comments(ticket) if not c.public]
        return _page(request, items, lambda c: (c["posted_at"], c["id"]), default_desc=False)
    body = await _body(request)
    content = body.get("body") if body else None
    if not isinstance(content, str) or not content.strip():
        return _bad("body is required")
    author = _author(d, body, me)
    if author is None:
        return _not_found("Teammate")
    comment = d.world.add_comment(ticket, author.id, content, public=False)
    d.world.record_write(
        ticket, author.id, "front", {"comment": {"public": False}}, comment_id=comment.id
    )
    return JSONResponse(d.comment_json(base, ticket, comment), status_code=201)


async def _conversation_events(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    ticket = _ticket_or_404(request, d)
    if isinstance(ticket, Response):
        return ticket
    return _page(request, d.events(base, ticket), lambda e: (e["emitted_at"], e["id"]))


async def _conversation_inboxes(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    ticket = _ticket_or_404(request, d)
    if isinstance(ticket, Response):
        return ticket
    here = f"{d.conversation_url(base, ticket)}/inboxes"
    return JSONResponse(
        {"_links": {"self": here}, "_results": [d.inbox_json(base, d.inbox_number(ticket))]}
    )


# ---------------------------------------------------------------- handlers: contacts
async def _contact(request: Request, d: FrontDialect, me: User, base: str) -> Response:
    user = d.contact(request.path_params["contact_id"])
    if user is None:
        return _not_found("Contact")
    return JSONResponse(d.contact_json(base, user))


async def _contact_conversations(
    request: Request, d: FrontDialect, me: User, base: str
) -> Response:
    user = d.contact(request.path_params["contact_id"])
    if user is None:
        return _not_found("Contact")
    tickets = [d.world.tickets[i] for i in d.world.by_requester.get(user.id, [])]
    return _listed(d, base, request, tickets)
