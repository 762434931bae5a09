"""Chatwoot (application API v1): vendor JSON in, agentdesk records out, and writes back.

Read: `GET /api/v1/profile` (who am I, role per account), teams (+ team members), agents,
conversations. A first sync pages `GET /conversations?status=all&sort_by=created_at_asc`
(25 a page, stable order: new conversations append at the end); later syncs ask for
`updated_within=<seconds>` (Chatwoot's catch-up filter, unpaginated) from the newest server
`updated_at` seen, with an overlap margin. Each changed conversation's messages are fetched
newest page first and walked back with `before=<id>`.

Cursors: `full:<page>:<watermark>` while the first pass runs (a crash resumes at that page),
then `since:<watermark>` (Unix seconds, the server's own `updated_at`).

Write: reply / note → `POST messages`; status and snooze → `toggle_status`; priority →
`toggle_priority`; agent / team → `assignments`; tags → `labels` (Chatwoot REPLACES the list,
so add/remove are set operations on the server's current labels). Chatwoot has neither
idempotency keys nor version checks: the push engine compares `fetch_state` per field first,
and `find_sent` looks for a reply that already landed (same author, same body, created at or
after the version the request was based on) before a retry sends it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import quote, unquote, urlsplit

import httpx

from agentdesk.connectors.base import (
    PRESENCES,
    AccountSettings,
    AuthError,
    BackendError,
    Capabilities,
    FastLane,
    Invalid,
    NotFound,
    Typing,
)
from agentdesk.connectors.http import DEFAULT_POLICY, ApiClient, Fields, HttpPolicy, decode_json
from agentdesk.connectors.normalise import html_to_text, normalise_phone
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
from agentdesk.timeutil import parse_timestamp

log = logging.getLogger(__name__)

FULL_PREFIX = "full:"
SINCE_PREFIX = "since:"
OVERLAP_SECONDS = 300
"""Incremental pulls reach this far behind the watermark: covers clock skew between us and
the server and writes committed while the previous pull ran. Replays are harmless upserts."""

LIVE_QUIET = 10.0
"""Seconds without a frame (ActionCable pings every 3 s) after which the socket is dead."""
LIVE_COALESCE = 0.15
"""Events arriving within this many seconds of each other are read together."""
LIVE_BATCH = 20
"""Conversations read at most per batch of events (the rest follow in the next batch)."""
LIVE_MAX_FRAME = 4 * 1024 * 1024
_CONVERSATION_EVENTS = frozenset({
    "message.created", "message.updated", "conversation.created", "conversation.updated",
    "conversation.status_changed", "assignee.changed", "conversation.contact_changed",
})  # fmt: skip

_CHANNEL: dict[str, Channel] = {
    "Channel::Email": "email",
    "Channel::WebWidget": "chat",
    "Channel::Sms": "sms",
    "Channel::TwilioSms": "sms",
    "Channel::Whatsapp": "social",
    "Channel::Twitter": "social",
    "Channel::FacebookPage": "social",
    "Channel::Instagram": "social",
    "Channel::Telegram": "social",
    "Channel::Line": "social",
    "Channel::Voice": "voice",
    "Channel::Api": "web",
}
_PRIORITY_IN: dict[str, Priority] = {
    "low": "low", "medium": "normal", "high": "high", "urgent": "urgent",
}  # fmt: skip
_PRIORITY_OUT: dict[str, str] = {
    "low": "low",
    "normal": "medium",
    "high": "high",
    "urgent": "urgent",
}
_SOCIAL_KINDS = {"twitter": "twitter", "facebook": "facebook", "instagram": "instagram"}
_ATTRIBUTE_KEYS = ("plan", "segment", "lifetime_value", "language", "time_zone")
_HTML = re.compile(r"<(p|div|br|span|a|b|i|strong|em|ul|ol|li|table|html|body)\b", re.IGNORECASE)


def map_status(status: str, snoozed_until: object) -> Status:
    """Chatwoot → agentdesk. `pending` is "still with the bot, no human yet" (→ new); a snooze
    with no time waits for the customer's next reply (→ pending); with a time it is on hold."""
    if status == "resolved":
        return "solved"
    if status == "pending":
        return "new"
    if status == "snoozed":
        return "on_hold" if snoozed_until else "pending"
    return "open"


def status_payload(status: str) -> dict[str, object]:
    """agentdesk → the `toggle_status` body."""
    if status in ("solved", "closed"):
        return {"status": "resolved"}
    if status == "new":
        return {"status": "pending"}
    if status in ("pending", "on_hold"):
        return {"status": "snoozed"}  # until the customer replies
    return {"status": "open"}


def map_priority(value: str | None) -> Priority:
    return _PRIORITY_IN.get((value or "").lower(), "normal")  # none: Chatwoot's default


def map_channel(channel_type: str | None) -> Channel:
    return _CHANNEL.get(channel_type or "", "chat")  # Chatwoot is chat-first


def map_role(value: str | None) -> Role:
    return "admin" if value == "administrator" else "agent"


def to_text(content: str) -> str:
    """Message content as plain text: HTML (mail bodies) converted once with html2text."""
    if not _HTML.search(content):
        return content.strip()
    return html_to_text(content)


def _time(value: object) -> datetime | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except ValueError:
            return parse_timestamp(value)
    return None


def _version(value: object) -> str:
    """The conversation's `updated_at` (epoch float) as a stable version string."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{float(value):.3f}"
    return str(value or "")


def _presence(value: str | None) -> str | None:
    """Chatwoot's availability_status (available, busy, offline) in agentdesk's words
    (online, busy, offline): what the agent sets is `online`, what the API shows is
    `available`."""
    return "online" if value == "available" else value


class ChatwootConnector:
    kind: ClassVar[str] = "chatwoot"
    label: ClassVar[str] = "Chatwoot"
    capabilities: ClassVar[Capabilities] = Capabilities(
        can_snooze=True,  # toggle_status snoozed + snoozed_until
        can_safe_update=False,  # no version check on writes: fetch_state per field instead
        has_idempotency_keys=False,  # check-before-resend via find_sent
        has_incremental_export=False,  # updated_within is a catch-up filter, not an export
        can_set_presence=True,  # POST /api/v1/profile/availability (per account)
    )
    resources: ClassVar[tuple[str, ...]] = ("teams", "agents", "conversations")
    # Pushed over ActionCable; the limit bounds the reads each event costs (Chatwoot's
    # default Rack::Attack allowance is far above it).
    fast_lane: ClassVar[FastLane] = FastLane("websocket", rate_limit_per_minute=300)

    def __init__(
        self,
        settings: AccountSettings,
        token: str,
        *,
        account_id: int | None = None,
        policy: HttpPolicy = DEFAULT_POLICY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        base, found = _split_account(settings.base_url)
        self.account_id = account_id or found
        self.client = ApiClient(
            AccountSettings(
                settings.name,
                settings.connector,
                base,
                settings.user,
                settings.ca_bundle,
                settings.cache_days,
            ),
            vendor="Chatwoot",
            headers={"api_access_token": token},
            policy=policy,
            transport=transport,
        )
        self._me: WhoAmI | None = None
        self._pubsub_token: str | None = None

    def __repr__(self) -> str:
        return f"ChatwootConnector(account={self.settings.name!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    # ------------------------------------------------------------ paths
    def _path(self, tail: str) -> str:
        if self.account_id is None:
            raise Invalid(
                f"the URL of account {self.settings.name} names no Chatwoot account — use "
                "https://HOST/app/accounts/ID or https://HOST/api/v1/accounts/ID as --url"
            )
        return f"/api/v1/accounts/{self.account_id}{tail}"

    def _fail(self, action: str) -> object:
        return lambda problem: self.client.malformed(action, problem)

    # ------------------------------------------------------------ who am I
    async def whoami(self) -> WhoAmI:
        action = "read the signed-in agent's profile"
        data = Fields(
            await self.client.get_json("/api/v1/profile", action=action),
            "profile",
            self._fail(action),  # type: ignore[arg-type]
        )
        accounts = data.objects("accounts")
        if self.account_id is None and len(accounts) == 1:
            self.account_id = int(accounts[0].id())
        role = data.opt_text("role")
        for account in accounts:
            if account.id() == str(self.account_id):
                role = account.opt_text("role") or role
        self._me = WhoAmI(data.id(), data.text("name", ""), data.text("email", ""), map_role(role))
        self._pubsub_token = data.opt_text("pubsub_token")
        return self._me

    # ------------------------------------------------------------ live
    async def live(self) -> AsyncIterator[Page | Typing]:
        """Chatwoot's ActionCable feed (`/cable`, RoomChannel with the profile's
        `pubsub_token`), as its dashboard uses it. Each event names a conversation; events
        that arrive together are read once, a few conversations at a time. Yields an empty
        page once subscribed; raises BackendError when the socket drops or goes quiet (no
        ping for LIVE_QUIET seconds) and AuthError when the subscription is rejected."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, WebSocketException
        from websockets.typing import Origin, Subprotocol

        me = await self.whoami()
        if not self._pubsub_token:
            raise self.client.malformed("open the live connection", "no pubsub_token")
        identifier = json.dumps({
            "channel": "RoomChannel", "pubsub_token": self._pubsub_token,
            "account_id": self.account_id, "user_id": int(me.external_id),
        }, separators=(",", ":"))  # fmt: skip
        base = self.client.base_url
        url = re.sub(r"^http", "ws", base) + "/cable"
        secure: ssl.SSLContext | None = None
        if url.startswith("wss:"):
            secure = ssl.create_default_context(cafile=self.settings.ca_bundle or None)
        try:
            async with connect(
                url, subprotocols=[Subprotocol("actioncable-v1-json")], origin=Origin(base), ssl=secure,
                open_timeout=LIVE_QUIET, ping_interval=None, max_size=LIVE_MAX_FRAME,
            ) as socket:  # fmt: skip
                await socket.send(json.dumps({"command": "subscribe", "identifier": identifier}))
                pending: dict[str, None] = {}
                while True:
                    timeout = LIVE_COALESCE if pending else LIVE_QUIET
                    try:
                        raw = await asyncio.wait_for(socket.recv(), timeout=timeout)
                    except TimeoutError:
                        if not pending:
                            raise BackendError(
                                f"the live connection to Chatwoot ({self.settings.name}) went "
                                f"quiet for {LIVE_QUIET:.0f} s; reconnecting"
                            ) from None
                        batch, pending = list(pending)[:LIVE_BATCH], dict.fromkeys(
                            list(pending)[LIVE_BATCH:]
                        )
                        yield await self._conversations_page(batch)
                        continue
                    frame = _frame(raw)
                    kind = frame.get("type")
                    if kind == "confirm_subscription":
                        yield Page("conversations", None, False)
                    elif kind == "reject_subscription":
                        raise AuthError(
                            f"Chatwoot refused the live connection of account "
                            f"{self.settings.name}: its pubsub token was not accepted"
                        )
                    elif kind == "disconnect":
                        raise BackendError(f"Chatwoot closed the live connection ({frame})")
                    message = frame.get("message")
                    if not isinstance(message, dict):
                        continue  # welcome, ping
                    event = _live_event(message)
                    if isinstance(event, Typing):
                        yield event
                    elif event is not None:
                        pending[event] = None
        except (OSError, WebSocketException, InvalidHandshake) as exc:
            raise BackendError(
                f"the live connection to Chatwoot ({self.settings.name}) dropped "
                f"({type(exc).__name__}); reconnecting"
            ) from None

    async def _conversations_page(self, ids: list[str]) -> Page:
        """Conversations as the API shows them now (404: gone, left to the complete pull)."""

        async def show(cid: str) -> Fields | None:
            try:
                return await self._show(cid)
            except NotFound:
                return None

        shown = [item for item in await asyncio.gather(*(show(c) for c in ids)) if item]
        (conversations, contacts), _ = await self._page(shown, 0.0)
        return Page("conversations", None, False, conversations=conversations, contacts=contacts)

    # ------------------------------------------------------------ presence
    async def set_presence(self, presence: str) -> str:
        """The agent's own availability on this account (online, busy or offline).

        Chatwoot keeps availability per account user; its ProfilesController#availability
        takes `{"profile": {"account_id", "availability"}}` and answers with the profile.
        (The OpenAPI document lists only PUT /profile, whose permitted fields no longer
        include availability.)
        """
        if presence not in PRESENCES:
            raise Invalid(f"presence must be one of {', '.join(PRESENCES)}")
        action = "set your availability"
        self._path("")  # raises Invalid, in words, when the URL names no account
        data = Fields(
            await self.client.request_json(
                "POST",
                "/api/v1/profile/availability",
                json_body={"profile": {"account_id": self.account_id,
                                       "availability": presence}},
                action=action,
            ),
            "profile",
            self._fail(action),  # type: ignore[arg-type]
        )
        for account in data.objects("accounts"):
            if account.id() == str(self.account_id):
                return _presence(account.opt_text("availability_status")
                                 or account.opt_text("availability")) or presence
        return presence

    # ------------------------------------------------------------ pull
    async def pull(self, resource: str, cursor: str | None) -> AsyncIterator[Page]:
        if resource == "teams":
            yield await self._teams()
        elif resource == "agents":
            yield await self._agents()
        elif resource == "conversations":
            async for page in self._conversations(cursor):
                yield page
        else:
            raise ValueError(f"Chatwoot has no resource {resource!r}")

    async def _teams(self) -> Page:
        action = "list teams"
        raw = await self.client.request("GET", self._path("/teams"), action=action)
        items = self._list(raw, action)
        teams = tuple(TeamRecord(f.id(), f.text("name", "")) for f in items)
        return Page("teams", cursor=None, more=False, teams=teams)

    async def _agents(self) -> Page:
        action = "list agents"
        raw = await self.client.request("GET", self._path("/agents"), action=action)
        agents = self._list(raw, action)
        team_raw = await self.client.request("GET", self._path("/teams"), action="list teams")
        team_ids = [t.id() for t in self._list(team_raw, "list teams")]

        async def members(team_id: str) -> tuple[str, list[str]]:
            what = "list team members"
            response = await self.client.request(
                "GET", self._path(f"/teams/{team_id}/team_members"), action=what
            )
            return team_id, [m.id() for m in self._list(response, what)]

        membership: dict[str, list[str]] = {}
        for team_id, ids in await asyncio.gather(*(members(t) for t in team_ids)):
            for agent_id in ids:
                membership.setdefault(agent_id, []).append(team_id)
        records = tuple(
            AgentRecord(
                external_id=a.id(),
                name=a.text("available_name", "") or a.text("name", ""),
                email=(a.opt_text("email") or "").lower(),
                role=map_role(a.opt_text("role")),
                presence=_presence(a.opt_text("availability_status")),
                capacity=None,  # Chatwoot's capacity is an Enterprise assignment policy
                team_external_ids=tuple(membership.get(a.id(), ())),
            )
            for a in agents
        )
        return Page("agents", cursor=None, more=False, agents=records)

    def _list(self, response: httpx.Response, action: str) -> list[Fields]:
        """Chatwoot answers some index endpoints with a bare JSON array."""
        try:
            data = decode_json(response)
        except ValueError:
            raise self.client.malformed(action, "not JSON") from None
        if isinstance(data, dict):
            data = data.get("payload")
        if not isinstance(data, list):
            raise self.client.malformed(action, "not a list")
        return [Fields(item, f"{action}[{i}]", self._fail(action)) for i, item in enumerate(data)]  # type: ignore[arg-type]

    async def _conversations(self, cursor: str | None) -> AsyncIterator[Page]:
        action = "list conversations"
        if cursor is None or cursor.startswith(FULL_PREFIX):
            page, watermark = 1, 0.0
            started = time.time()
            window_start = started - max(1, self.settings.cache_days) * 86_400
            if cursor:
                _, page_text, mark = cursor.split(":", 2)
                page, watermark = int(page_text), float(mark)
            while True:
                items = await self._list_page("all", page, action)
                if not items:
                    # Done: later syncs catch up from the oldest of "what we saw" and "when
                    # we started", so a conversation changed mid-pass is not skipped.
                    since = min(watermark, started) if watermark else started
                    yield Page("conversations", cursor=f"{SINCE_PREFIX}{since:.0f}", more=False)
                    return
                # Chatwoot cannot filter the list by update time: the pass walks every
                # conversation but caches (and reads the messages of) only the window's.
                # Older open ones come from open_backlog, old solved ones from histories.
                for item in items:
                    watermark = max(watermark, _activity(item))
                # No time at all: kept (and checked) rather than silently skipped.
                recent = [item for item in items if not 0 < _activity(item) < window_start]
                page_out, watermark = await self._page(recent, watermark)
                page += 1
                yield Page(
                    "conversations",
                    cursor=f"{FULL_PREFIX}{page}:{watermark:.3f}",
                    more=True,
                    conversations=page_out[0],
                    contacts=page_out[1],
                )
        if not cursor.startswith(SINCE_PREFIX):
            raise Invalid(
                f"the stored Chatwoot cursor of account {self.settings.name} is not one "
                "agentdesk writes — run `agentdesk sync --full` to start over"
            )
        watermark = float(cursor[len(SINCE_PREFIX) :])
        within = max(1, math.ceil(time.time() - watermark)) + OVERLAP_SECONDS
        data = await self.client.get_json(
            self._path("/conversations"),
            params={"status": "all", "assignee_type": "all", "updated_within": within},
            action=action,
        )
        items = self._payload(data, action)
        (conversations, contacts), new_mark = await self._page(items, watermark)
        yield Page(
            "conversations",
            cursor=f"{SINCE_PREFIX}{new_mark:.0f}",
            more=False,
            conversations=conversations,
            contacts=contacts,
        )

    async def _list_page(self, status: str, page: int, action: str) -> list[Fields]:
        """One page (25) of the conversation list, oldest created first (a stable order)."""
        data = await self.client.get_json(
            self._path("/conversations"),
            params={
                "status": status,
                "assignee_type": "all",
                "sort_by": "created_at_asc",
                "page": page,
            },
            action=action,
        )
        return self._payload(data, action)

    def _payload(self, data: Mapping[str, object], action: str) -> list[Fields]:
        root = Fields(data, "conversations", self._fail(action))  # type: ignore[arg-type]
        inner = root.obj("data")
        if inner is None:
            raise self.client.malformed(action, "no `data` object")
        return inner.objects("payload")

    async def _page(
        self, items: list[Fields], watermark: float
    ) -> tuple[tuple[tuple[ConversationRecord, ...], tuple[ContactRecord, ...]], float]:
        contacts: dict[str, ContactRecord] = {}
        for item in items:
            meta = item.obj("meta")
            sender = meta.obj("sender") if meta else None
            if sender is not None:
                contact = self._contact(sender)
                contacts[contact.external_id] = contact
            updated = item.raw("updated_at")
            if isinstance(updated, (int, float)) and not isinstance(updated, bool):
                watermark = max(watermark, float(updated))
        messages = await asyncio.gather(*(self._messages(item.id()) for item in items))
        conversations = tuple(
            self._conversation(item, msgs) for item, msgs in zip(items, messages, strict=True)
        )
        return (conversations, tuple(contacts.values())), watermark

    # ------------------------------------------------------------ mapping
    def _contact(self, c: Fields) -> ContactRecord:
        identities: list[Identity] = []
        email = c.opt_text("email")
        if email and "@" in email:
            identities.append(Identity("email", email.strip().lower()))
        phone = normalise_phone(c.opt_text("phone_number"), "en-US")
        if phone:
            identities.append(Identity("phone", phone))
        extra = c.obj("additional_attributes")
        social = extra.obj("social_profiles") if extra else None
        if social is not None:
            for key, kind in _SOCIAL_KINDS.items():
                handle = social.opt_text(key)
                if handle:
                    value = handle.strip().lower().lstrip("@")
                    identities.append(Identity(kind, f"@{value}" if kind == "twitter" else value))  # type: ignore[arg-type]
        custom = c.scalars("custom_attributes")
        attributes: dict[str, AttributeValue] = {
            k: custom[k] for k in _ATTRIBUTE_KEYS if custom.get(k) is not None
        }
        if extra is not None and extra.opt_text("company_name"):
            attributes["company"] = extra.text("company_name")
        if extra is not None and extra.opt_text("city"):
            attributes["city"] = extra.text("city")
        return ContactRecord(
            external_id=c.id(),
            name=c.text("name", "") or (email or ""),
            identities=tuple(identities),
            attributes=attributes,
            created_at=_time(c.raw("created_at")),
            updated_at=_time(c.raw("last_activity_at")),
        )

    def _conversation(self, c: Fields, messages: tuple[MessageRecord, ...]) -> ConversationRecord:
        meta = c.obj("meta")
        channel = map_channel(meta.opt_text("channel") if meta else None)
        status = c.text("status", "open")
        extra = c.obj("additional_attributes")
        subject = ""
        if extra is not None:
            subject = extra.opt_text("mail_subject") or extra.opt_text("subject") or ""
        if not subject:  # chats have no subject: title them from the first message
            first = next((m for m in messages if m.kind == "reply"), None)
            subject = first.body.split("\n", 1)[0][:80] if first else ""
        assignee = meta.obj("assignee") if meta else None
        team = meta.obj("team") if meta else None
        sender = meta.obj("sender") if meta else None
        created = _time(c.raw("created_at")) or datetime.fromtimestamp(0, UTC)
        updated = _time(c.raw("updated_at")) or created
        host = self.client.base_url
        return ConversationRecord(
            external_id=c.id(),
            channel=channel,
            subject=subject,
            status=map_status(status, c.raw("snoozed_until")),
            vendor_status=status,
            priority=map_priority(c.opt_text("priority")),
            created_at=created,
            updated_at=updated,
            version=_version(c.raw("updated_at")),
            customer_external_id=sender.id() if sender is not None else None,
            assignee_external_id=assignee.id() if assignee is not None else None,
            team_external_id=team.id() if team is not None else None,
            tags=c.texts("labels"),
            # Chatwoot's own snooze (epoch seconds); a snooze "until the customer replies" has
            # no time and stays None (its status already says pending).
            snoozed_until=_time(c.raw("snoozed_until")) if status == "snoozed" else None,
            web_url=f"{host}/app/accounts/{self.account_id}/conversations/{c.id()}",
            satisfaction=_satisfaction(messages),
            messages=tuple(
                m if m.channel == "voice" else replace(m, channel=channel)
                for m in messages
                if m.kind != "event" or m.body
            ),
        )

    async def _messages(self, conversation_id: str) -> tuple[MessageRecord, ...]:
        """Every message, walking back from the newest page with `before`."""
        action = "read the messages of a conversation"
        path = self._path(f"/conversations/{conversation_id}/messages")
        seen: dict[str, MessageRecord] = {}
        before: str | None = None
        while True:
            data = await self.client.get_json(
                path, params={"before": before} if before else None, action=action
            )
            root = Fields(data, "messages", self._fail(action))  # type: ignore[arg-type]
            items = root.objects("payload")
            if not items:
                break
            for item in items:
                record = self._message(item, conversation_id)
                if record is not None:
                    seen[record.external_id] = record
            oldest = min(int(i.id()) for i in items)
            if before is not None and oldest >= int(before):
                break  # the server ignored `before`: avoid looping forever
            before = str(oldest)
            if len(items) < 20:
                break
        return tuple(sorted(seen.values(), key=lambda m: (m.created_at, int(m.external_id))))

    def _message(self, m: Fields, conversation_id: str) -> MessageRecord | None:
        message_type = m.number("message_type", 1)
        content_type = m.opt_text("content_type") or "text"
        attributes = m.obj("content_attributes")
        if content_type == "input_csat":
            return self._csat_message(m, attributes)
        body = m.opt_text("content") or ""
        if not body and attributes is not None:
            mail = attributes.obj("email")
            html = mail.obj("html_content") if mail else None
            body = html.text("full", "") if html else ""
        sender = m.obj("sender")
        sender_type = (m.opt_text("sender_type") or "").lower()
        private = m.flag("private")
        kind: MessageKind = "note" if private else "reply"
        author: AuthorKind
        if message_type == 2:
            kind, author, name = "event", "system", "Chatwoot"
        elif message_type == 0 or sender_type == "contact":
            author, name = "customer", sender.text("name", "") if sender else ""
        elif sender_type in ("agentbot", "captain::assistant"):
            author, name = "bot", sender.text("name", "Bot") if sender else "Bot"
        else:
            author = "agent"
            name = (sender.opt_text("available_name") or sender.text("name", "")) if sender else ""
        channel = "voice" if content_type == "voice_call" else "chat"
        attachments = tuple(_attachment(a) for a in m.objects("attachments"))
        return MessageRecord(
            external_id=m.id(),
            kind=kind,
            author_kind=author,
            author_name=name,
            body=to_text(body),
            created_at=_time(m.raw("created_at")) or datetime.fromtimestamp(0, UTC),
            channel=channel,  # type: ignore[arg-type]
            author_external_id=m.opt_id("sender_id") if author != "system" else None,
            attachments=attachments,
        )

    def _csat_message(self, m: Fields, attributes: Fields | None) -> MessageRecord:
        values = attributes.obj("submitted_values") if attributes else None
        response = values.obj("csat_survey_response") if values else None
        rating = response.number("rating", 0) if response else 0
        body = f"Customer rated the conversation {rating}/5" if rating else "CSAT survey sent"
        return MessageRecord(
            external_id=m.id(),
            kind="event",
            author_kind="system",
            author_name="CSAT",
            body=body,
            created_at=_time(m.raw("created_at")) or datetime.fromtimestamp(0, UTC),
            channel="chat",
        )

    # ------------------------------------------------------------ cache policy
    async def open_backlog(self) -> AsyncIterator[Page]:
        """Open, pending and snoozed conversations whose last activity is older than the
        cache window, with their messages: the conversation list filtered by `status`,
        paged (25 a page) until a page comes back empty."""
        bound = self.settings.backlog_before().timestamp()
        action = "list open conversations"
        for status in ("open", "pending", "snoozed"):
            page = 1
            while True:
                items = await self._list_page(status, page, action)
                if not items:
                    break
                old = [item for item in items if _activity(item) < bound]
                if old:
                    (conversations, contacts), _ = await self._page(old, 0.0)
                    yield Page(
                        "conversations", cursor=None, more=True,
                        conversations=conversations, contacts=contacts,
                    )  # fmt: skip
                page += 1

    async def contact_history(self, contact_external_id: str) -> AsyncIterator[Page]:
        """Every conversation of one contact with its messages
        (`/contacts/{id}/conversations`, one unpaged list)."""
        items = await self._contact_items(contact_external_id)
        for start in range(0, len(items), 25):  # pages the size of Chatwoot's own
            (conversations, contacts), _ = await self._page(items[start : start + 25], 0.0)
            yield Page(
                "conversations", cursor=None, more=start + 25 < len(items),
                conversations=conversations, contacts=contacts,
            )  # fmt: skip

    # ------------------------------------------------------------ history
    async def contact_conversations(
        self, contact_external_id: str
    ) -> tuple[ConversationRecord, ...]:
        """A contact's conversations (the customer panel's history), without messages."""
        items = await self._contact_items(contact_external_id)
        return tuple(_without_messages(self._conversation(item, ())) for item in items)

    async def _contact_items(self, contact_external_id: str) -> list[Fields]:
        """`/contacts/{id}/conversations`: every conversation of one contact (unpaged)."""
        action = "list a contact's conversations"
        data = await self.client.get_json(
            self._path(f"/contacts/{quote(contact_external_id, safe='')}/conversations"),
            action=action,
        )
        root = Fields(data, "contact conversations", self._fail(action))  # type: ignore[arg-type]
        return root.objects("payload")

    # ------------------------------------------------------------ writes
    async def _show(self, external_id: str) -> Fields:
        action = "read a conversation"
        data = await self.client.get_json(
            self._path(f"/conversations/{external_id}"), action=action
        )
        return Fields(data, "conversation", self._fail(action))  # type: ignore[arg-type]

    async def fetch_state(self, external_id: str) -> RemoteState:
        c = await self._show(external_id)
        meta = c.obj("meta")
        assignee = meta.obj("assignee") if meta else None
        team = meta.obj("team") if meta else None
        return RemoteState(
            version=_version(c.raw("updated_at")),
            status=map_status(c.text("status", "open"), c.raw("snoozed_until")),
            priority=map_priority(c.opt_text("priority")),
            assignee_external_id=assignee.id() if assignee is not None else None,
            team_external_id=team.id() if team is not None else None,
            tags=c.texts("labels"),
            snoozed_until=_time(c.raw("snoozed_until")),
            updated_at=_time(c.raw("updated_at")),
        )

    async def apply(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        cid = request.conversation_external_id
        p = request.payload
        action = request.action
        if action in ("reply", "note"):
            text = str(p.get("text", ""))
            data = await self.client.request_json(
                "POST",
                self._path(f"/conversations/{cid}/messages"),
                json_body={
                    "content": text,
                    "message_type": "outgoing",
                    "private": action == "note",
                    "content_type": "text",
                },
                action="send a reply" if action == "reply" else "add an internal note",
                idempotent=False,
            )
            message = Fields(data, "message", self._fail("send a message"))  # type: ignore[arg-type]
            return WriteResult(version=None, message_external_id=message.id())
        if action == "status":
            await self._post(
                cid, "/toggle_status", status_payload(str(p["status"])), "change the status"
            )
        elif action == "snooze":
            until = _time(p.get("until"))
            body: dict[str, object] = {"status": "snoozed"}
            if until is not None:
                body["snoozed_until"] = int(until.timestamp())
            await self._post(cid, "/toggle_status", body, "snooze the conversation")
        elif action == "priority":
            value = _PRIORITY_OUT.get(str(p["priority"]), "none")
            await self._post(cid, "/toggle_priority", {"priority": value}, "change the priority")
        elif action == "tags":
            # Chatwoot replaces the whole list: apply add/remove to the server's labels now.
            labels = await self._labels(cid)
            remove = {str(x).lower() for x in _seq(p.get("remove"))}
            wanted = [x for x in labels if x.lower() not in remove]
            for tag in _seq(p.get("add")):
                if str(tag).lower() not in {x.lower() for x in wanted}:
                    wanted.append(str(tag))
            await self._post(cid, "/labels", {"labels": wanted}, "change the labels")
        elif action == "assign":
            if "team_external_id" in p:
                team = p["team_external_id"]
                body = {"team_id": int(str(team)) if team is not None else None}
            elif p.get("unassign"):
                body = {"assignee_id": None}
            else:
                body = {"assignee_id": int(str(p["agent_external_id"]))}
            await self._post(cid, "/assignments", body, "assign the conversation")
        else:
            raise Invalid(f"Chatwoot account {self.settings.name} cannot {action}")
        state = await self.fetch_state(cid)
        return WriteResult(version=state.version)

    async def _post(self, cid: str, tail: str, body: Mapping[str, object], action: str) -> None:
        # Raw request: assignments may answer a JSON `null`, toggle_priority an empty body.
        await self.client.request(
            "POST", self._path(f"/conversations/{cid}{tail}"), json_body=dict(body), action=action
        )

    async def _labels(self, cid: str) -> list[str]:
        action = "read the labels of a conversation"
        data = await self.client.get_json(self._path(f"/conversations/{cid}/labels"), action=action)
        return list(Fields(data, "labels", self._fail(action)).texts("payload"))  # type: ignore[arg-type]

    async def find_sent(self, request: MutationRequest) -> str | None:
        """A reply/note this request already created: by me, same body, same privacy, created
        no earlier than the version (server `updated_at`) the request was based on."""
        if request.action not in ("reply", "note"):
            return None
        me = self._me or await self.whoami()
        text = " ".join(str(request.payload.get("text", "")).split())
        queued_at = _since(request)
        action = "look for a reply that may already have been sent"
        data = await self.client.get_json(
            self._path(f"/conversations/{request.conversation_external_id}/messages"),
            action=action,
        )
        for m in reversed(Fields(data, "messages", self._fail(action)).objects("payload")):  # type: ignore[arg-type]
            if m.number("message_type", -1) != 1 or m.opt_id("sender_id") != me.external_id:
                continue
            if m.flag("private") != (request.action == "note"):
                continue
            created = m.raw("created_at")
            if queued_at is not None and isinstance(created, (int, float)) and created < queued_at:
                continue
            if " ".join((m.opt_text("content") or "").split()) == text:
                return m.id()
        return None


def _since(request: MutationRequest) -> float | None:
    queued = request.payload.get("queued_at")
    moment = _time(queued) if queued is not None else None
    if moment is not None:
        return moment.timestamp() - 1
    try:
        return float(request.base_version) - 1  # a second of slack for whole-second clocks
    except ValueError:
        return None


def _seq(value: object) -> list[object]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _split_account(url: str) -> tuple[str, int | None]:
    """`https://host/app/accounts/7/...` or `.../api/v1/accounts/7` → (`https://host`, 7);
    a bare host URL keeps None (whoami fills it when the user has one account)."""
    parts = urlsplit(url.rstrip("/"))
    match = re.search(r"/(?:app|api/v1)/accounts/(\d+)", parts.path)
    if match is None:
        return url.rstrip("/"), None
    base = f"{parts.scheme}://{parts.netloc}{parts.path[: match.start()]}"
    return base, int(match.group(1))


def _attachment(a: Fields) -> Attachment:
    url = a.text("data_url", "")
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or f"attachment-{a.id()}"
    kind = a.text("file_type", "file")
    ext = a.opt_text("extension") or ""
    content_type = {
        "image": f"image/{ext or 'png'}",
        "audio": f"audio/{ext or 'mpeg'}",
        "video": f"video/{ext or 'mp4'}",
    }.get(kind, "application/pdf" if ext == "pdf" else "application/octet-stream")
    return Attachment(name=name, size=a.number("file_size"), content_type=content_type, url=url)


def _satisfaction(messages: tuple[MessageRecord, ...]) -> str | None:
    for m in reversed(messages):
        if m.author_name == "CSAT" and m.kind == "event":
            match = re.search(r"rated the conversation (\d)/5", m.body)
            if match is None:
                return "offered"
            return (
                "good" if int(match.group(1)) >= 4 else "bad" if int(match.group(1)) <= 2 else "ok"
            )
    return None


def _activity(item: Fields) -> float:
    """When a listed conversation last changed (epoch seconds; 0 when not given)."""
    for key in ("updated_at", "last_activity_at", "timestamp"):
        value = item.raw(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return 0.0


def _without_messages(record: ConversationRecord) -> ConversationRecord:
    return replace(record, messages=None)


def _frame(raw: str | bytes) -> dict[str, object]:
    """One ActionCable frame; what is not a JSON object counts as nothing."""
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _live_event(message: dict[str, object]) -> str | Typing | None:
    """The conversation an event is about (its id), a colleague's typing, or None."""
    event, data = message.get("event"), message.get("data")
    if not isinstance(data, dict):
        return None
    conversation = data.get("conversation")
    if event in ("conversation.typing_on", "conversation.typing_off"):
        user = data.get("user")
        if not isinstance(conversation, dict) or not isinstance(user, dict):
            return None
        who = str(user.get("available_name") or user.get("name") or "someone")
        return Typing(str(conversation.get("id")), who, event == "conversation.typing_on")
    if event not in _CONVERSATION_EVENTS:
        return None
    ident = data.get("conversation_id") if event.startswith("message.") else data.get("id")
    if ident is None and isinstance(conversation, dict):
        ident = conversation.get("id")
    return str(ident) if isinstance(ident, (int, str)) and str(ident).isdigit() else None
