"""The Chatwoot application API dialect of the simulator, over the ONE shared world.

The world is Zendesk-flavoured; this module presents the same people, tickets and comments in
Chatwoot's shapes (application API v1, `swagger/swagger.json` of chatwoot/chatwoot):

* tickets → conversations (the ticket id is the account-scoped `display_id` used in URLs),
  comments → messages (`message_type` 0 incoming / 1 outgoing / 2 activity, `private` notes),
  end-users → contacts, agents → agents (role `agent` / `administrator`), groups → teams,
  the ticket's channel → an inbox (`Channel::Email`, `Channel::WebWidget`, `Channel::Sms`,
  `Channel::Twitter`, `Channel::Voice`, `Channel::Api` for web forms).
* Auth is the `api_access_token` header; URLs carry `/api/v1/accounts/{account_id}/...`.
  A missing or wrong token, or another account's id, is a 401 with `{"error": ...}` (Chatwoot
  answers authorisation failures with 401 too, never 403).
* Lists page by `page` (25 conversations a page). `updated_within=SECONDS` returns every
  conversation updated within that many seconds, unpaginated, as Chatwoot's ConversationFinder
  does (the dashboard uses it to catch up after a reconnect).
* Writes go through the world's own helpers (`add_comment`, `touch`) so `/_sim/state` stays the
  oracle across dialects; status changes, assignments and label edits also leave Chatwoot's
  activity messages, kept here with the dialect's other own state (snooze times).
* Rate limit: Rack::Attack style, a per-token budget per minute of the simulated clock,
  answered `429` `text/plain` "Retry later" with NO Retry-After. Off unless configured.

Times are Unix seconds (Chatwoot's JSON uses epoch numbers for conversations and messages).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute

from agentdesk.sim.cable import CableHub, pubsub_token
from agentdesk.sim.jsonbody import JSONResponse
from agentdesk.sim.world import DAY, Comment, Ticket, User, World

PAGE_SIZE = 25  # Chatwoot's conversation list page size
MESSAGES_PAGE = 20  # messages returned per call (the latest, or those before `before`)
DEFAULT_ACCOUNT_ID = 1

# The world's neutral channel → the inbox Chatwoot would receive it in.
INBOXES: tuple[tuple[int, str, str, str], ...] = (
    # (inbox id, world channel, channel_type, name)
    (1, "email", "Channel::Email", "Support email"),
    (2, "chat", "Channel::WebWidget", "Website chat"),
    (3, "sms", "Channel::Sms", "SMS"),
    (4, "social", "Channel::Twitter", "Twitter @kumomart"),
    (5, "voice", "Channel::Voice", "Phone"),
    (6, "web", "Channel::Api", "Contact form"),
)
_INBOX_OF = {channel: (iid, kind, name) for iid, channel, kind, name in INBOXES}

# World (Zendesk) status → Chatwoot status. Chatwoot has no "waiting on the customer": its
# snooze "until the next customer reply" (snoozed, no time) is exactly that.
_STATUS_OUT = {
    "new": "open", "open": "open", "pending": "snoozed", "hold": "snoozed",
    "solved": "resolved", "closed": "resolved",
}  # fmt: skip
_PRIORITY_OUT = {"low": "low", "normal": "medium", "high": "high", "urgent": "urgent"}
_PRIORITY_IN = {"low": "low", "medium": "normal", "high": "high", "urgent": "urgent", "none": None}
_STATUSES = ("open", "resolved", "pending", "snoozed")
_UNAUTHENTICATED = "You need to sign in or sign up before continuing."


@dataclass(slots=True)
class Activity:
    """A Chatwoot activity message (message_type 2): status, assignment and label changes."""

    id: int
    content: str
    created_at: int


@dataclass(slots=True)
class ChatwootState:
    """What Chatwoot keeps that the shared world has no field for, derived deterministically."""

    snoozed_until: dict[int, int | None] = field(default_factory=dict)
    bot_pending: set[int] = field(default_factory=set)  # "pending": still with the bot
    activities: dict[int, list[Activity]] = field(default_factory=dict)
    requests: dict[str, tuple[int, int]] = field(default_factory=dict)  # token → (minute, n)
    availability: dict[int, str] = field(default_factory=dict)  # user id → what they set


class ChatwootDialect:
    """The Chatwoot application API over `world`. `rate_limit`: requests per minute per token
    (None: unlimited, the default for tests that are not about throttling)."""

    def __init__(
        self,
        world: World,
        *,
        account_id: int = DEFAULT_ACCOUNT_ID,
        rate_limit: int | None = None,
        account_name: str = "Kumo Mart",
    ) -> None:
        self.world = world
        self.account_id = account_id
        self.account_name = account_name
        self.rate_limit = rate_limit
        self.state = ChatwootState()
        self.lock = threading.RLock()  # tests read the world from another thread
        # Chatwoot ids are small: a user's id is its rank in the world (agents come first).
        self._id_base = min(world.users) - 1
        self._tokens = {u.token: u for u in world.users.values() if u.token}
        self._team_ids = {gid: n for n, gid in enumerate(sorted(world.groups), start=1)}
        self._group_of_team = {n: gid for gid, n in self._team_ids.items()}
        for ticket in world.tickets.values():
            if ticket.status == "hold":  # on hold: snoozed to a time, derived from the seed
                self.state.snoozed_until[ticket.id] = (
                    ticket.updated_at + (1 + ticket.seed % 5) * DAY
                )
            elif ticket.status == "new" and ticket.bot:
                self.state.bot_pending.add(ticket.id)

    # ------------------------------------------------------------ ids
    def user_cid(self, user: User) -> int:
        return user.id - self._id_base

    def user_of(self, cid: object) -> User | None:
        try:
            return self.world.users.get(int(str(cid)) + self._id_base)
        except ValueError:
            return None

    def team_id(self, group_id: int | None) -> int | None:
        return self._team_ids.get(group_id) if group_id is not None else None

    def credentials(self, role: str = "agent") -> tuple[str, str]:
        """(email, api_access_token) of an agent with `role` ("agent" or "admin")."""
        user = self.world.agent_with_role(role)
        assert user.email is not None and user.token is not None
        return user.email, user.token

    # ------------------------------------------------------------ JSON shapes
    def agent_json(self, user: User) -> dict[str, object]:
        return {
            "id": self.user_cid(user),
            "account_id": self.account_id,
            "availability_status": self.availability(user),
            "auto_offline": True,
            "confirmed": True,
            "email": user.email,
            "available_name": user.name,
            "name": user.name,
            "role": "administrator" if user.role == "admin" else "agent",
            "thumbnail": "",
            "custom_role_id": None,
        }

    def availability(self, user: User) -> str:
        """The agent's `availability_status` as the spec's enum has it (available, busy,
        offline; `online` is set as available): what the agent set, else derived from the
        last login so it is stable per seed."""
        if user.id in self.state.availability:
            chosen = self.state.availability[user.id]
            return "available" if chosen == "online" else chosen
        since = self.world.now - (user.last_login_at or 0)
        return "available" if since < DAY else "busy" if since < 2 * DAY else "offline"

    def contact_json(self, user: User) -> dict[str, object]:
        person = self.world.people[user.person] if user.person is not None else None
        org = self.world.organizations.get(user.organization_id or 0)
        additional: dict[str, object] = {}
        if org is not None:
            additional["company_name"] = org.name
        if user.twitter:
            additional["social_profiles"] = {"twitter": user.twitter.lstrip("@")}
        custom: dict[str, object] = dict(user.user_fields)
        custom["language"] = user.locale
        custom["time_zone"] = user.iana_time_zone
        if person is not None:
            additional["city"] = {"Asia/Tokyo": "Tokyo", "Europe/London": "London"}.get(
                person.iana_time_zone, "San Francisco"
            )
        return {
            "id": self.user_cid(user),
            "name": user.name,
            "email": user.email,
            "phone_number": user.phone,
            "identifier": None,
            "thumbnail": "",
            "availability_status": "offline",
            "blocked": False,
            "additional_attributes": additional,
            "custom_attributes": custom,
            "last_activity_at": user.updated_at,
            "created_at": user.created_at,
        }

    def team_json(self, group_id: int, me: User | None = None) -> dict[str, object]:
        group = self.world.groups[group_id]
        members = {m.user_id for m in self.world.memberships if m.group_id == group_id}
        return {
            "id": self._team_ids[group_id],
            "name": group.name,
            "description": group.description,
            "allow_auto_assign": False,
            "account_id": self.account_id,
            "is_member": me is not None and me.id in members,
        }

    def chatwoot_status(self, ticket: Ticket) -> str:
        if ticket.id in self.state.bot_pending and ticket.status == "new":
            return "pending"
        return _STATUS_OUT.get(ticket.status, "open")

    def message_json(self, ticket: Ticket, comment: Comment) -> dict[str, object]:
        author = self.world.users.get(comment.author_id)
        inbox_id = _INBOX_OF[ticket.channel][0]
        if author is not None and author.is_bot:
            sender: dict[str, object] = {"id": 1, "name": author.name, "type": "agent_bot"}
            sender_type, message_type = "AgentBot", 1
        elif author is not None and author.role == "end-user":
            sender = {**self.contact_json(author), "type": "contact"}
            sender_type, message_type = "Contact", 0
        else:
            sender = {**self.agent_json(author), "type": "user"} if author is not None else {}
            sender_type, message_type = "User", 1
        content_type = "voice_call" if comment.type == "VoiceComment" else "text"
        attributes: dict[str, object] = {}
        if comment.data:
            attributes["data"] = dict(comment.data)
        if ticket.channel == "email" and message_type == 0:
            # Chatwoot keeps an incoming mail's HTML beside its text content.
            attributes["email"] = {
                "subject": ticket.subject,
                "html_content": {"full": comment.html_body},
                "text_content": {"full": comment.body},
            }
        return {
            "id": comment.id,
            "content": comment.body,
            "account_id": self.account_id,
            "inbox_id": inbox_id,
            "conversation_id": ticket.id,
            "message_type": message_type,
            "created_at": comment.created_at,
            "updated_at": comment.created_at,
            "private": not comment.public,
            "status": "sent",
            "source_id": None,
            "content_type": content_type,
            "content_attributes": attributes,
            "sender_type": sender_type,
            "sender_id": sender.get("id"),
            "external_source_ids": {},
            "additional_attributes": {},
            "processed_message_content": comment.body,
            "sentiment": {},
            "conversation": {"assignee_id": self._assignee_cid(ticket), "unread_count": 0},
            "attachments": [self._attachment_json(comment, a) for a in comment.attachments],
            "sender": sender,
        }

    def _attachment_json(self, comment: Comment, attachment: object) -> dict[str, object]:
        name = getattr(attachment, "file_name", "file")
        ctype = getattr(attachment, "content_type", "application/octet-stream")
        kind = ctype.split("/")[0]
        url = f"https://app.chatwoot.example/rails/active_storage/blobs/{attachment.id}/{name}"  # type: ignore[attr-defined]
        return {
            "id": attachment.id,  # type: ignore[attr-defined]
            "message_id": comment.id,
            "file_type": kind if kind in ("image", "audio", "video") else "file",
            "account_id": self.account_id,
            "extension": name.rsplit(".", 1)[-1] if "." in name else None,
            "data_url": url,
            "thumb_url": url if kind == "image" else "",
            "file_size": getattr(attachment, "size", 0),
        }

    def activity_json(self, ticket: Ticket, activity: Activity) -> dict[str, object]:
        return {
            "id": activity.id,
            "content": activity.content,
            "account_id": self.account_id,
            "inbox_id": _INBOX_OF[ticket.channel][0],
            "conversation_id": ticket.id,
            "message_type": 2,
            "created_at": activity.created_at,
            "updated_at": activity.created_at,
            "private": False,
            "status": "sent",
            "source_id": None,
            "content_type": "text",
            "content_attributes": {},
            "sender_type": None,
            "sender_id": None,
            "external_source_ids": {},
            "additional_attributes": {},
            "attachments": [],
        }

    def csat_json(self, ticket: Ticket) -> dict[str, object] | None:
        """The CSAT survey message Chatwoot leaves on a resolved conversation, if rated/offered."""
        if ticket.satisfaction not in ("good", "bad", "offered"):
            return None
        rating = {"good": 5, "bad": 1}.get(ticket.satisfaction)
        attributes: dict[str, object] = {}
        if rating is not None:
            attributes["submitted_values"] = {
                "csat_survey_response": {"rating": rating, "feedback_message": ""}
            }
        at = ticket.last_comment_at + 60
        return {
            **self.activity_json(ticket, Activity(ticket.id * 1000 + 999, "", at)),
            "id": 80_000_000_000_000 + ticket.id,  # after the generated ones, before writes
            "content": "Please rate the conversation",
            "message_type": 3,  # template
            "content_type": "input_csat",
            "content_attributes": attributes,
        }

    def messages(self, ticket: Ticket) -> list[dict[str, object]]:
        out = [self.message_json(ticket, c) for c in self.world.comments(ticket)]
        csat = self.csat_json(ticket)
        if csat is not None:
            out.append(csat)
        out.extend(self.activity_json(ticket, a) for a in self.state.activities.get(ticket.id, []))
        out.sort(key=lambda m: int(m["id"]))  # type: ignore[call-overload]
        return out

    def _assignee_cid(self, ticket: Ticket) -> int | None:
        user = self.world.users.get(ticket.assignee_id or 0)
        return self.user_cid(user) if user is not None else None

    def conversation_json(self, ticket: Ticket, *, me: User | None = None) -> dict[str, object]:
        requester = self.world.users[ticket.requester_id]
        inbox_id, channel_type, _name = _INBOX_OF[ticket.channel]
        assignee = self.world.users.get(ticket.assignee_id or 0)
        last = self.world.comments(ticket)[-1] if self.world.comment_count(ticket) else None
        status = self.chatwoot_status(ticket)
        additional: dict[str, object] = {}
        if ticket.channel == "email" and ticket.subject:
            additional["mail_subject"] = ticket.subject
        elif ticket.subject:
            additional["subject"] = ticket.subject  # API/form inboxes carry the form's title
        group = ticket.group_id
        meta: dict[str, object] = {
            "sender": self.contact_json(requester),
            "channel": channel_type,
            "hmac_verified": False,
        }
        # Chatwoot's jbuilder leaves `assignee` / `team` out when there is none.
        if assignee is not None:
            meta["assignee"] = self.agent_json(assignee)
        if group in self.world.groups:
            meta["team"] = self.team_json(group, me)
        return {
            "meta": meta,
            "id": ticket.id,
            "messages": [self.message_json(ticket, last)] if last is not None else [],
            "account_id": self.account_id,
            "uuid": _uuid(self.world.seed, ticket.id),
            "additional_attributes": additional,
            "agent_last_seen_at": ticket.last_comment_at,
            "assignee_last_seen_at": ticket.last_comment_at,
            "can_reply": True,
            "contact_last_seen_at": ticket.last_comment_at,
            "custom_attributes": {},
            "inbox_id": inbox_id,
            "labels": list(ticket.tags),
            "muted": False,
            "snoozed_until": self.state.snoozed_until.get(ticket.id)
            if status == "snoozed"
            else None,
            "status": status,
            "created_at": ticket.created_at,
            "updated_at": float(ticket.updated_at),
            "timestamp": ticket.last_comment_at,
            "first_reply_created_at": None,
            "unread_count": 0,
            "last_non_activity_message": self.message_json(ticket, last) if last else None,
            "last_activity_at": ticket.last_comment_at,
            "priority": _PRIORITY_OUT.get(ticket.priority or ""),
            "waiting_since": ticket.last_comment_at if status == "open" else None,
            "sla_policy_id": None,
        }

    # ------------------------------------------------------------ writes (world helpers)
    def _activity(self, ticket: Ticket, content: str) -> None:
        now = self.world.clock.timestamp()
        activity = Activity(self.world.next_comment_id, content, now)
        self.world.next_comment_id += 1
        self.state.activities.setdefault(ticket.id, []).append(activity)
        self.world.touch(ticket, now)

    def set_status(self, ticket: Ticket, status: str, until: int | None, actor: User) -> None:
        self.state.bot_pending.discard(ticket.id)
        self.state.snoozed_until.pop(ticket.id, None)
        if status == "open":
            ticket.status = "open"
            text = f"Conversation was reopened by {actor.name}"
        elif status == "resolved":
            ticket.status = "solved"
            text = f"Conversation was marked resolved by {actor.name}"
        elif status == "pending":
            ticket.status = "new"
            self.state.bot_pending.add(ticket.id)
            text = f"Conversation was marked pending by {actor.name}"
        else:  # snoozed: with a time it is "on hold", without one it waits for the customer
            ticket.status = "hold" if until is not None else "pending"
            self.state.snoozed_until[ticket.id] = until
            text = f"{actor.name} has snoozed this conversation"
        self._activity(ticket, text)

    def set_labels(self, ticket: Ticket, labels: list[str], actor: User) -> None:
        added = [x for x in labels if x not in ticket.tags]
        removed = [x for x in ticket.tags if x not in labels]
        ticket.tags = list(dict.fromkeys(labels))
        if added:
            self._activity(ticket, f"{actor.name} added {', '.join(added)}")
        if removed:
            self._activity(ticket, f"{actor.name} removed {', '.join(removed)}")
        if not added and not removed:
            self.world.touch(ticket)


def _uuid(seed: int, ticket_id: int) -> str:
    h = hashlib.sha256(f"chatwoot:{seed}:{ticket_id}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


Handler = Callable[[Request, ChatwootDialect, User], Awaitable[Response]]


def create_app(
    world: World,
    *,
    account_id: int = DEFAULT_ACCOUNT_ID,
    rate_limit: int | None = None,
    dialect: ChatwootDialect | None = None,
    cable: CableHub | None = None,
) -> Starlette:
    """The Starlette app speaking Chatwoot over `world` (see the module docstring)."""
    d = dialect or ChatwootDialect(world, account_id=account_id, rate_limit=rate_limit)

    def endpoint(
        handler: Handler, *, account_scoped: bool = True
    ) -> Callable[..., Awaitable[Response]]:
        async def run(request: Request) -> Response:
            token = request.headers.get("api_access_token", "")
            user = d._tokens.get(token) if token else None
            if user is None:
                return _error(401, _UNAUTHENTICATED)
            if d.rate_limit is not None:
                minute = d.world.clock.timestamp() // 60
                with d.lock:
                    window, used = d.state.requests.get(token, (minute, 0))
                    used = used + 1 if window == minute else 1
                    d.state.requests[token] = (minute, used)
                if used > d.rate_limit:
                    # Rack::Attack's throttled response: no Retry-After, no reset header.
                    return PlainTextResponse("Retry later\n", status_code=429)
            if account_scoped and request.path_params.get("account_id") != str(d.account_id):
                return _error(401, "You are not authorized to access this account")
            with d.lock:
                return await handler(request, d, user)

        return run

    prefix = "/api/v1/accounts/{account_id}"
    routes = [
        Route("/api/v1/profile", endpoint(_profile, account_scoped=False), methods=["GET"]),
        Route(
            "/api/v1/profile/availability",
            endpoint(_availability, account_scoped=False),
            methods=["POST"],
        ),
        Route(f"{prefix}/agents", endpoint(_agents), methods=["GET"]),
        Route(f"{prefix}/teams", endpoint(_teams), methods=["GET"]),
        Route(f"{prefix}/teams/{{team_id}}/team_members", endpoint(_team_members), methods=["GET"]),
        Route(f"{prefix}/inboxes", endpoint(_inboxes), methods=["GET"]),
        Route(f"{prefix}/conversations", endpoint(_conversations), methods=["GET"]),
        Route(f"{prefix}/conversations/{{cid}}", endpoint(_conversation), methods=["GET"]),
        Route(f"{prefix}/conversations/{{cid}}/messages", endpoint(_messages), methods=["GET"]),
        Route(
            f"{prefix}/conversations/{{cid}}/messages", endpoint(_create_message), methods=["POST"]
        ),
        Route(
            f"{prefix}/conversations/{{cid}}/toggle_status",
            endpoint(_toggle_status),
            methods=["POST"],
        ),
        Route(
            f"{prefix}/conversations/{{cid}}/toggle_priority",
            endpoint(_toggle_priority),
            methods=["POST"],
        ),
        Route(
            f"{prefix}/conversations/{{cid}}/assignments", endpoint(_assignments), methods=["POST"]
        ),
        Route(f"{prefix}/conversations/{{cid}}/labels", endpoint(_labels), methods=["GET", "POST"]),
        Route(f"{prefix}/contacts/{{contact_id}}", endpoint(_contact), methods=["GET"]),
        Route(
            f"{prefix}/contacts/{{contact_id}}/conversations",
            endpoint(_contact_conversations),
            methods=["GET"],
        ),
    ]
    if cable is not None:
        cable.dialect = d
        routes.append(WebSocketRoute("/cable", cable.endpoint))
    app = Starlette(routes=routes)
    app.state.chatwoot = d
    return app


# ---------------------------------------------------------------- handlers
def _ticket(request: Request, d: ChatwootDialect) -> Ticket | None:
    try:
        return d.world.tickets.get(int(request.path_params["cid"]))
    except ValueError:
        return None


_NOT_FOUND = "Resource could not be found"


async def _body(request: Request) -> dict[str, object] | None:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def _profile(request: Request, d: ChatwootDialect, me: User) -> Response:
    role = "administrator" if me.role == "admin" else "agent"
    presence = d.availability(me)
    return JSONResponse(
        {
            "id": d.user_cid(me),
            "account_id": d.account_id,
            "available_name": me.name,
            "avatar_url": "",
            "confirmed": True,
            "display_name": None,
            "message_signature": None,
            "email": me.email,
            "hmac_identifier": "",
            "inviter_id": None,
            "name": me.name,
            "provider": "email",
            "pubsub_token": pubsub_token(me),
            "role": role,
            "ui_settings": {},
            "uid": me.email,
            "type": None,
            "custom_attributes": {},
            "accounts": [
                {
                    "id": d.account_id,
                    "name": d.account_name,
                    "status": "active",
                    "active_at": None,
                    "role": role,
                    "permissions": [role],
                    "availability": presence,
                    "availability_status": presence,
                    "auto_offline": True,
                    "custom_role_id": None,
                    "custom_role": None,
                }
            ],
        }
    )


async def _availability(request: Request, d: ChatwootDialect, me: User) -> Response:
    """ProfilesController#availability: `{"profile": {"account_id", "availability"}}` sets
    the agent's availability on that account; the answer is the profile."""
    body = await _body(request)
    profile = body.get("profile") if body else None
    if not isinstance(profile, dict):
        return _error(400, "param is missing or the value is empty: profile")
    if str(profile.get("account_id")) != str(d.account_id):
        return _error(404, _NOT_FOUND)  # find_by! on the agent's account users
    availability = profile.get("availability")
    if availability not in ("online", "busy", "offline"):
        return _error(422, f"'{availability}' is not a valid availability")
    d.state.availability[me.id] = str(availability)
    return await _profile(request, d, me)


def _staff(d: ChatwootDialect) -> list[User]:
    return [d.world.users[i] for i in d.world.agent_ids if not d.world.users[i].is_bot]


async def _agents(request: Request, d: ChatwootDialect, me: User) -> Response:
    return JSONResponse([d.agent_json(u) for u in _staff(d)])


async def _teams(request: Request, d: ChatwootDialect, me: User) -> Response:
    return JSONResponse([d.team_json(g, me) for g in sorted(d.world.groups)])


async def _team_members(request: Request, d: ChatwootDialect, me: User) -> Response:
    try:
        group_id = d._group_of_team.get(int(request.path_params["team_id"]))
    except ValueError:
        group_id = None
    if group_id is None:
        return _error(404, _NOT_FOUND)
    members = [m.user_id for m in d.world.memberships if m.group_id == group_id]
    return JSONResponse([d.agent_json(d.world.users[u]) for u in members])


async def _inboxes(request: Request, d: ChatwootDialect, me: User) -> Response:
    payload = [
        {
            "id": iid,
            "name": name,
            "channel_type": kind,
            "channel_id": iid,
            "avatar_url": "",
            "enable_auto_assignment": True,
            "greeting_enabled": False,
            "greeting_message": None,
            "working_hours_enabled": False,
            "enable_email_collect": kind == "Channel::WebWidget",
            "csat_survey_enabled": True,
            "out_of_office_message": None,
            "working_hours": [],
            "timezone": "UTC",
        }
        for iid, _channel, kind, name in INBOXES
    ]
    return JSONResponse({"payload": payload})


_SORTS: dict[str, Callable[[Ticket], tuple[int, int]]] = {
    "last_activity_at_desc": lambda t: (-t.last_comment_at, -t.id),
    "last_activity_at_asc": lambda t: (t.last_comment_at, t.id),
    "created_at_desc": lambda t: (-t.created_at, -t.id),
    "created_at_asc": lambda t: (t.created_at, t.id),
}


async def _conversations(request: Request, d: ChatwootDialect, me: User) -> Response:
    q = request.query_params
    status = q.get("status", "open")
    assignee_type = q.get("assignee_type", "all")
    tickets = list(d.world.tickets.values())
    if status != "all":
        tickets = [t for t in tickets if d.chatwoot_status(t) == status]
    if q.get("inbox_id"):
        tickets = [t for t in tickets if str(_INBOX_OF[t.channel][0]) == q["inbox_id"]]
    if q.get("team_id"):
        tickets = [t for t in tickets if str(d.team_id(t.group_id)) == q["team_id"]]
    if q.get("labels"):
        wanted = set(q.getlist("labels")) | set(q.getlist("labels[]"))
        tickets = [t for t in tickets if wanted & set(t.tags)]
    me_id = me.id
    mine = sum(1 for t in tickets if t.assignee_id == me_id)
    unassigned = sum(1 for t in tickets if t.assignee_id is None)
    if assignee_type == "me":
        tickets = [t for t in tickets if t.assignee_id == me_id]
    elif assignee_type == "unassigned":
        tickets = [t for t in tickets if t.assignee_id is None]
    elif assignee_type == "assigned":
        tickets = [t for t in tickets if t.assignee_id is not None]
    meta = {
        "mine_count": mine,
        "unassigned_count": unassigned,
        "assigned_count": len(tickets) - unassigned if assignee_type == "all" else mine,
        "all_count": len(tickets),
    }
    tickets.sort(key=_SORTS.get(q.get("sort_by", ""), _SORTS["last_activity_at_desc"]))
    within = q.get("updated_within")
    if within:
        try:
            cutoff = d.world.clock.timestamp() - int(within)
        except ValueError:
            return _error(422, "updated_within must be a number of seconds")
        page = [t for t in tickets if t.updated_at > cutoff]  # unpaginated, as Chatwoot does
    else:
        try:
            number = max(1, int(q.get("page", "1")))
        except ValueError:
            number = 1
        page = tickets[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    payload = [d.conversation_json(t, me=me) for t in page]
    return JSONResponse({"data": {"meta": meta, "payload": payload}})


async def _conversation(request: Request, d: ChatwootDialect, me: User) -> Response:
    ticket = _ticket(request, d)
    if ticket is None:
        return _error(404, _NOT_FOUND)
    return JSONResponse(d.conversation_json(ticket, me=me))


async def _messages(request: Request, d: ChatwootDialect, me: User) -> Response:
    ticket = _ticket(request, d)
    if ticket is None:
        return _error(404, _NOT_FOUND)
    messages = d.messages(ticket)
    q = request.query_params
    try:
        if q.get("before"):
            before = int(q["before"])
            messages = [m for m in messages if int(m["id"]) < before][-MESSAGES_PAGE:]  # type: ignore[call-overload]
        elif q.get("after"):
            after = int(q["after"])
            messages = [m for m in messages if int(m["id"]) > after][:100]  # type: ignore[call-overload]
        else:
            messages = messages[-MESSAGES_PAGE:]
    except ValueError:
        return _error(422, "before/after must be message ids")
    requester = d.world.users[ticket.requester_id]
    assignee = d.world.users.get(ticket.assignee_id or 0)
    meta: dict[str, object] = {
        "labels": list(ticket.tags),
        "additional_attributes": {},
        "contact": d.contact_json(requester),
        "agent_last_seen_at": None,
        "assignee_last_seen_at": None,
    }
    if assignee is not None:
        meta["assignee"] = d.agent_json(assignee)
    return JSONResponse({"meta": meta, "payload": messages})


async def _create_message(request: Request, d: ChatwootDialect, me: User) -> Response:
    ticket = _ticket(request, d)
    if ticket is None:
        return _error(404, _NOT_FOUND)
    body = await _body(request)
    if body is None:
        return _error(422, "The request body is not a JSON object")
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        return _error(422, "Content can't be blank")
    message_type = body.get("message_type", "outgoing")
    if message_type not in ("outgoing", "incoming"):
        return _error(422, f"'{message_type}' is not a valid message_type")
    private = bool(body.get("private", False))
    author = me
    if message_type == "incoming":  # the API may post on the contact's behalf
        author = d.world.users[ticket.requester_id]
    comment = d.world.add_comment(
        ticket, author.id, content, public=not private, channel=ticket.via
    )
    if message_type == "incoming" and ticket.id in d.state.snoozed_until:
        d.set_status(ticket, "open", None, author)  # a customer reply ends any snooze
    return JSONResponse(d.message_json(ticket, comment))


async def _toggle_status(request: Request, d: ChatwootDialect, me: User) -> Response:
    ticket = _ticket(request, d)
    if ticket is None:
        return _error(404, _NOT_FOUND)
    body = await _body(request) or {}
    status = body.get("status")
    if status is None:  # Chatwoot toggles open ⇄ resolved when no status is given
        status = "open" if d.chatwoot_status(ticket) == "resolved" else "resolved"
    if status not in _STATUSES:
        return _error(422, f"'{status}' is not a valid status")
    until = body.get("snoozed_until")
    if until is not None and (isinstance(until, bool) or not isinstance(until, (int, float))):
        return _error(422, "snoozed_until must be a Unix timestamp")
    d.set_status(ticket, str(status), int(until) if status == "snoozed" and until else None, me)
    return JSONResponse(
        {
            "meta": {},
            "payload": {
                "success": True,
                "current_status": d.chatwoot_status(ticket),
                "conversation_id": ticket.id,
            },
        }
    )


async def _toggle_priority(request: Request, d: ChatwootDialect, me: User) -> Response:
    ticket = _ticket(request, d)
    if ticket is None:
        return _error(404, _NOT_FOUND)
    body = await _body(request) or {}
    priority = body.get("priority")
    if priority not in _PRIORITY_IN:
        return _error(422, f"'{priority}' is not a valid priority")
    ticket.priority = _PRIORITY_IN[str(priority)]
    d.world.touch(ticket)
    return Response(status_code=200)  # Chatwoot answers `head :ok`


async def _assignments(request: Request, d: ChatwootDialect, me: User) -> Response:
    ticket = _ticket(request, d)
    if ticket is None:
        return _error(404, _NOT_FOUND)
    body = await _body(request)
    if body is None:
        return _error(422, "The request body is not a JSON object")
    if "assignee_id" in body:  # assignee_id wins over team_id, as documented
        agent = d.user_of(body["assignee_id"]) if body["assignee_id"] is not None else None
        if agent is not None and agent.id not in d.world.agent_ids:
            agent = None
        ticket.assignee_id = agent.id if agent is not None else None
        d._activity(
            ticket,
            f"Assigned to {agent.name} by {me.name}"
            if agent
            else f"Conversation unassigned by {me.name}",
        )
        return JSONResponse(d.agent_json(agent) if agent is not None else None)
    if "team_id" in body:
        raw = body["team_id"]
        group_id = d._group_of_team.get(int(raw)) if isinstance(raw, int) else None
        ticket.group_id = group_id
        name = d.world.groups[group_id].name if group_id is not None else None
        d._activity(
            ticket,
            f"Assigned to {name} team by {me.name}"
            if name
            else f"Unassigned from team by {me.name}",
        )
        return JSONResponse(d.team_json(group_id, me) if group_id is not None else None)
    return _error(422, "assignee_id or team_id is required")


async def _labels(request: Request, d: ChatwootDialect, me: User) -> Response:
    ticket = _ticket(request, d)
    if ticket is None:
        return _error(404, _NOT_FOUND)
    if request.method == "POST":
        body = await _body(request) or {}
        labels = body.get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            return _error(422, "labels must be a list of strings")
        # Chatwoot replaces the whole list: the caller sends the set it wants.
        d.set_labels(ticket, [x.strip().lower() for x in labels if x.strip()], me)
    return JSONResponse({"payload": list(ticket.tags)})


def _contact_user(request: Request, d: ChatwootDialect) -> User | None:
    user = d.user_of(request.path_params["contact_id"])
    return user if user is not None and user.role == "end-user" else None


async def _contact(request: Request, d: ChatwootDialect, me: User) -> Response:
    user = _contact_user(request, d)
    if user is None:
        return _error(404, _NOT_FOUND)
    return JSONResponse({"payload": d.contact_json(user)})


async def _contact_conversations(request: Request, d: ChatwootDialect, me: User) -> Response:
    user = _contact_user(request, d)
    if user is None:
        return _error(404, _NOT_FOUND)
    tickets = [d.world.tickets[i] for i in d.world.by_requester.get(user.id, [])]
    tickets.sort(key=lambda t: -t.last_comment_at)
    return JSONResponse({"payload": [d.conversation_json(t, me=me) for t in tickets]})
