"""Intercom (REST API 2.16): vendor JSON in, agentdesk records out, and writes back.

Read: `GET /me` (who the token belongs to), `GET /teams`, `GET /admins` (team ids, away
mode), conversations by `POST /conversations/search` on `updated_at` (150 a page, followed
with the `starting_after` cursor of `pages.next`), each one's parts from
`GET /conversations/{id}` (the source message plus up to 500 parts), and the contacts of a
page in one `POST /contacts/search` (`id IN [...]`). A customer's history is the search
`contact_ids = ID`; the open backlog is `state IN [open, snoozed] AND updated_at < bound`.
The fast lane (`recent`) is the same search sorted `updated_at` descending, ten a page.

Cursor: `search:<from>:<newest seen>:<starting_after>`: the pull asks for everything updated
at or after `from` (the cache window's start on the first sync, then the newest `updated_at`
seen minus an overlap), and a crash resumes at the page it reached. What the overlap brings
back with the `updated_at` this connector already delivered (and the engine committed) is not
read again, so a quiet round costs one search.

Write: reply / note → `POST /conversations/{id}/reply` (`message_type` comment or note);
status, snooze and assignment → `POST /conversations/{id}/parts` (close, open, snoozed,
assignment of an admin or a team; assignee "0" unassigns); tags → `POST /tags` (create by
name) then `POST/DELETE /conversations/{id}/tags`. Every write names the acting admin
(`admin_id`, the token's own admin). Intercom has neither version checks nor idempotency
keys: the push engine compares `fetch_state` per field first, and `find_sent` looks for a
reply that already landed before a retry sends it again. The API cannot set a
conversation's priority (it only reports it), so `can_set_priority` is off.

States: `open` → open; `snoozed` → pending, with `snoozed_until` kept (Intercom has no
waiting state; its snooze ends at the time or when the customer replies); `closed` → solved
(a customer's reply reopens it). Channels: `source.type` (email, conversation = Messenger
chat, sms, whatsapp/twitter/facebook/instagram = social, phone_call/phone_switch = voice).
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import httpx

from agentdesk.connectors.base import (
    PRESENCES,
    RECENT_PAGE,
    AccountSettings,
    Capabilities,
    Delivered,
    FastLane,
    Invalid,
    MalformedResponse,
    NotFound,
    Recent,
    pick_recent,
    reads_on,
)
from agentdesk.connectors.http import (
    DEFAULT_POLICY,
    ApiClient,
    Fields,
    HttpPolicy,
    TokenAuth,
    count_requests,
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
    Status,
    TeamRecord,
    WhoAmI,
    WriteResult,
)
from agentdesk.timeutil import from_iso

log = logging.getLogger(__name__)

API_VERSION = "2.16"
PER_PAGE = 150  # Intercom's maximum
CURSOR_PREFIX = "search:"
OVERLAP_SECONDS = 300
"""Incremental pulls reach this far behind the newest `updated_at` seen: covers writes
committed while the previous pull ran. Replays are harmless upserts."""
PENDING_SNOOZE = timedelta(days=1)
"""A status change to pending/on hold becomes a snooze this long: Intercom has no waiting
state, and its snooze ends earlier anyway when the customer replies."""

_CHANNEL: dict[str, Channel] = {
    "email": "email", "conversation": "chat", "push": "chat", "chat": "chat", "sms": "sms",
    "whatsapp": "social", "twitter": "social", "facebook": "social", "instagram": "social",
    "phone_call": "voice", "phone_switch": "voice",
}  # fmt: skip
_PRIORITY: dict[str, Priority] = {
    "low": "low", "medium": "normal", "none": "normal", "high": "high", "urgent": "urgent",
    "priority": "high", "not_priority": "normal",  # the two values before 2.13
}  # fmt: skip
_STATUS: dict[str, Status] = {"open": "open", "snoozed": "pending", "closed": "solved"}
_ATTRIBUTE_KEYS = ("plan", "segment", "lifetime_value", "company")
_MESSAGE_PARTS = {"comment": "reply", "note": "note"}
_EVENT_PARTS = {
    "close": "closed the conversation", "open": "reopened the conversation",
    "snoozed": "snoozed the conversation", "assignment": "assigned the conversation",
}  # fmt: skip


def map_status(state: str | None) -> Status:
    return _STATUS.get(state or "", "open")


def map_priority(value: str | None) -> Priority:
    return _PRIORITY.get((value or "").lower(), "normal")


def map_channel(source_type: str | None) -> Channel:
    return _CHANNEL.get(source_type or "", "chat")  # Intercom is Messenger-first


def _satisfaction(rating: Fields | None) -> str | None:
    if rating is None:
        return None
    score = rating.number("rating", 0)
    if not score:
        return "offered"
    return "good" if score >= 4 else "bad" if score <= 2 else "ok"


def _time(value: object) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None


def _updated(c: Fields) -> datetime:
    """A listed conversation's `updated_at` (Unix seconds) as a time."""
    return datetime.fromtimestamp(c.number("updated_at"), UTC)


def _assignee(value: str | None) -> str | None:
    """Intercom reports "no admin" / "no team" as 0 (the spec) or null (older versions)."""
    return None if value in (None, "", "0") else value


def html_body(text: str) -> str:
    """Plain text as the HTML Intercom's reply expects: escaped, one paragraph per block."""
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return (
        "".join("<p>" + html.escape(b.strip()).replace("\n", "<br>") + "</p>" for b in blocks)
        or "<p></p>"
    )


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


class IntercomConnector:
    kind: ClassVar[str] = "intercom"
    label: ClassVar[str] = "Intercom"
    capabilities: ClassVar[Capabilities] = Capabilities(
        can_set_priority=False,  # the API reports a conversation's priority, never sets it
        can_snooze=True,  # parts: message_type snoozed + snoozed_until
        can_safe_update=False,  # no version check on writes: fetch_state per field instead
        has_idempotency_keys=False,  # check-before-resend via find_sent
        has_incremental_export=False,  # search by updated_at, not an export
        can_set_presence=True,  # PUT /admins/{id}/away
    )
    resources: ClassVar[tuple[str, ...]] = ("teams", "agents", "conversations")
    # Intercom's "Rate Limiting" page: the default example is 1,000 requests a minute per
    # app, spent in 10-second windows (167 each).
    fast_lane: ClassVar[FastLane] = FastLane("poll", rate_limit_per_minute=1000)

    def __init__(
        self,
        settings: AccountSettings,
        token: str,
        *,
        policy: HttpPolicy = DEFAULT_POLICY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.client = ApiClient(
            settings,
            vendor="Intercom",
            auth=TokenAuth("Bearer", token),
            headers={"Intercom-Version": API_VERSION},
            policy=policy,
            transport=transport,
        )
        self._me: WhoAmI | None = None
        self._app_id = "_"  # the workspace's id code (in inbox links), known after whoami
        self._tag_ids: dict[str, str] = {}
        self._pulled: dict[str, int] = {}
        """updated_at of each conversation this connector pulled, within the overlap: what
        the overlap brings back unchanged is not read again."""
        self._delivered = Delivered()

    def __repr__(self) -> str:
        return f"IntercomConnector(account={self.settings.name!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    def _fail(self, action: str) -> Callable[[str], MalformedResponse]:
        return lambda problem: self.client.malformed(action, problem)

    async def _get(self, path: str, what: str, action: str) -> Fields:
        data = await self.client.get_json(path, action=action)
        return Fields(data, what, self._fail(action))

    async def _post(
        self, path: str, body: object, what: str, action: str, *, read: bool = False
    ) -> Fields:
        """POST a write (never repeated after a lost answer) or, with `read`, a search."""
        data = await self.client.request_json(
            "POST", path, json_body=body, action=action, idempotent=read
        )
        return Fields(data, what, self._fail(action))

    # ------------------------------------------------------------ who am I
    async def whoami(self) -> WhoAmI:
        me = await self._get("/me", "admin", "read the signed-in admin")
        app = me.obj("app")
        self._app_id = (app.opt_text("id_code") if app else None) or self._app_id
        # Intercom's API exposes no teammate roles; an access token belongs to the workspace
        # admin who created the app, so the token's owner acts as an admin.
        self._me = WhoAmI(me.id(), me.text("name", ""), (me.opt_text("email") or "").lower(),
                          "admin")  # fmt: skip
        return self._me

    async def _admin_id(self) -> str:
        return (self._me or await self.whoami()).external_id

    # ------------------------------------------------------------ presence
    async def set_presence(self, presence: str) -> str:
        """Intercom's away mode: online is "not away"; busy and offline both set away mode
        (which the admin list reads back as busy)."""
        if presence not in PRESENCES:
            raise Invalid(f"presence must be one of {', '.join(PRESENCES)}")
        admin = await self._admin_id()
        data = await self.client.request_json(
            "PUT", f"/admins/{admin}/away",
            json_body={"away_mode_enabled": presence != "online", "away_mode_reassign": False},
            action="set your away mode",
        )  # fmt: skip
        away = Fields(data, "admin", self._fail("set your away mode")).flag("away_mode_enabled")
        if away == (presence != "online"):
            return presence
        return "busy" if away else "online"

    # ------------------------------------------------------------ pull
    async def pull(self, resource: str, cursor: str | None) -> AsyncIterator[Page]:
        if resource == "teams":
            teams = await self._get("/teams", "team list", "list teams")
            yield Page("teams", cursor=None, more=False, teams=tuple(
                TeamRecord(t.id(), t.text("name", "")) for t in teams.objects("teams")))  # fmt: skip
        elif resource == "agents":
            admins = await self._get("/admins", "admin list", "list admins")
            yield Page("agents", cursor=None, more=False, agents=tuple(
                AgentRecord(
                    external_id=a.id(), name=a.text("name", ""),
                    email=(a.opt_text("email") or "").lower(),
                    presence="busy" if a.flag("away_mode_enabled") else "online",
                    team_external_ids=a.ids("team_ids"),
                )
                for a in admins.objects("admins")
            ))  # fmt: skip
        elif resource == "conversations":
            await self._admin_id()  # the workspace id, for each conversation's link
            async for page in self._conversations(cursor):
                yield page
        else:
            raise ValueError(f"Intercom has no resource {resource!r}")

    async def _conversations(self, cursor: str | None) -> AsyncIterator[Page]:
        if cursor is None:
            start = int(time.time()) - max(1, self.settings.cache_days) * 86_400
            newest, after = 0, None
        else:
            start, newest, after = self._parse_cursor(cursor)
        self._pulled = {k: v for k, v in self._pulled.items() if cursor and v >= start}
        query = {"field": "updated_at", "operator": ">", "value": start}
        async for page in self._search(query, after, skip=self._pulled):
            for c in page.conversations:
                newest = max(newest, int(c.updated_at.timestamp()))
            if page.more:
                cursor = f"{CURSOR_PREFIX}{start}:{newest}:{page.cursor}"
            else:
                since = max(start, newest - OVERLAP_SECONDS) if newest else start
                cursor = f"{CURSOR_PREFIX}{since}:0:"
            yield replace(page, cursor=cursor)
            # Back here only once the engine committed the page: now it may be skipped.
            for c in page.conversations:
                self._pulled[c.external_id] = int(c.updated_at.timestamp())

    def _parse_cursor(self, cursor: str) -> tuple[int, int, str | None]:
        try:
            if not cursor.startswith(CURSOR_PREFIX):
                raise ValueError(cursor)
            start, newest, after = cursor[len(CURSOR_PREFIX) :].split(":", 2)
            return int(start), int(newest or 0), after or None
        except ValueError:
            raise Invalid(
                f"the stored Intercom cursor of account {self.settings.name} is not one "
                "agentdesk writes — run `agentdesk sync --full` to start over"
            ) from None

    async def _search(
        self,
        query: Mapping[str, object],
        after: str | None = None,
        *,
        skip: Mapping[str, int] | None = None,
    ) -> AsyncIterator[Page]:
        """Pages of conversations (with parts and contacts) matching `query`; the cursor is
        left to the caller, `more` says whether `starting_after` leads on."""
        action = "search conversations"
        while True:
            pagination: dict[str, object] = {"per_page": PER_PAGE}
            if after:
                pagination["starting_after"] = after
            found = await self._post(
                "/conversations/search", {"query": dict(query), "pagination": pagination},
                "conversation list", action, read=True,
            )  # fmt: skip
            items = found.objects("conversations")
            pages = found.obj("pages")
            following = pages.obj("next") if pages is not None else None
            after = following.opt_text("starting_after") if following is not None else None
            ids = [c.id() for c in items if not skip or skip.get(c.id()) != c.number("updated_at")]
            shown = await asyncio.gather(*(self._show_if_there(cid) for cid in ids))
            conversations = tuple(self._conversation(c) for c in shown if c is not None)
            contacts = await self._contacts(
                {c.customer_external_id for c in conversations if c.customer_external_id}
            )
            more = bool(after and items)
            yield Page(
                "conversations", cursor=after if more else None, more=more,
                conversations=conversations, contacts=contacts,
                deleted_conversation_ids=tuple(i for i, c in zip(ids, shown, strict=True) if c is None),
            )  # fmt: skip
            if not more:
                return

    async def recent(self, since: datetime | None) -> Recent:
        """The most recently updated conversations (`POST /conversations/search` sorted by
        `updated_at` descending, one small page) changed at or after `since`, each read in
        full with its parts. The pull's search confirms them later."""
        with count_requests() as sent:
            await self._admin_id()  # the workspace id, for each conversation's link
            # Intercom documents timestamp filters as matched by calendar day: a day back only
            # keeps the search small; the order and `reads_on` decide what is new.
            bound = int(since.timestamp()) - 86_400 if since is not None else 0
            query = {"field": "updated_at", "operator": ">", "value": bound}
            listed: list[Fields] = []
            after: str | None = None
            pages = 0
            while True:
                pagination: dict[str, object] = {"per_page": RECENT_PAGE}
                if after:
                    pagination["starting_after"] = after
                found = await self._post(
                    "/conversations/search",
                    {"query": query, "sort": {"field": "updated_at", "order": "descending"},
                     "pagination": pagination},
                    "conversation list", "search recently updated conversations", read=True,
                )  # fmt: skip
                pages += 1
                items = found.objects("conversations")
                listed += items
                paging = found.obj("pages")
                following = paging.obj("next") if paging is not None else None
                after = following.opt_text("starting_after") if following is not None else None
                times = [_updated(c) for c in items]
                if not after or not reads_on(since, times, len(items) >= RECENT_PAGE, pages):
                    break
            pick = pick_recent(
                since, listed, self._delivered, version=lambda c: str(c.number("updated_at")),
                updated=_updated,
            )  # fmt: skip
            changed = pick.changed
            shown = await asyncio.gather(*(self._show_if_there(c.id()) for c in changed))
            conversations = tuple(self._conversation(c) for c in shown if c is not None)
            contacts = await self._contacts(
                {c.customer_external_id for c in conversations if c.customer_external_id}
            )
            page = Page(
                "conversations", None, False, conversations=conversations, contacts=contacts,
                deleted_conversation_ids=tuple(
                    c.id() for c, full in zip(changed, shown, strict=True) if full is None),
            )  # fmt: skip
            return Recent(page, pick.handed_on(), sent())

    async def _show_if_there(self, external_id: str) -> Fields | None:
        """A listed conversation in full (list entries carry no parts); None when it was
        deleted between the search and this read."""
        try:
            return await self._show(external_id)
        except NotFound:
            return None

    async def _show(self, external_id: str) -> Fields:
        return await self._get(
            f"/conversations/{external_id}", "conversation", "read a conversation"
        )

    async def _contacts(self, ids: set[str]) -> tuple[ContactRecord, ...]:
        if not ids:
            return ()
        action = "search contacts"
        out: list[ContactRecord] = []
        wanted = sorted(ids)
        for start in range(0, len(wanted), PER_PAGE):
            found = await self._post(
                "/contacts/search",
                {"query": {"field": "id", "operator": "IN",
                           "value": wanted[start : start + PER_PAGE]},
                 "pagination": {"per_page": PER_PAGE}},
                "contact list", action, read=True,
            )  # fmt: skip
            out.extend(self._contact(c) for c in found.objects("data"))
        return tuple(out)

    # ------------------------------------------------------------ cache policy
    async def open_backlog(self) -> AsyncIterator[Page]:
        """Open and snoozed conversations last updated before the cache window."""
        bound = int(self.settings.backlog_before().timestamp())
        query = {"operator": "AND", "value": [
            {"field": "state", "operator": "IN", "value": ["open", "snoozed"]},
            {"field": "updated_at", "operator": "<", "value": bound},
        ]}  # fmt: skip
        async for page in self._search(query):
            yield replace(page, cursor=None)

    async def contact_history(self, contact_external_id: str) -> AsyncIterator[Page]:
        """Every conversation of one contact: the search `contact_ids = ID`."""
        query = {"field": "contact_ids", "operator": "=", "value": contact_external_id}
        async for page in self._search(query):
            yield replace(page, cursor=None)

    # ------------------------------------------------------------ mapping
    def _contact(self, c: Fields) -> ContactRecord:
        identities: list[Identity] = []
        email = normalise_email(c.opt_text("email"))
        if email:
            identities.append(Identity("email", email))
        phone = normalise_phone(c.opt_text("phone"), c.opt_text("browser_language"))
        if phone:
            identities.append(Identity("phone", phone))
        social = c.obj("social_profiles")
        for profile in social.objects("data") if social is not None else []:
            url = profile.opt_text("url") or ""
            if profile.text("name", "").lower() == "twitter" and url:
                identities.append(Identity("twitter", "@" + url.rstrip("/").rsplit("/", 1)[-1]
                                           .lower()))  # fmt: skip
        custom = c.scalars("custom_attributes")
        attributes: dict[str, AttributeValue] = {
            k: custom[k] for k in _ATTRIBUTE_KEYS if custom.get(k) is not None
        }
        location = c.obj("location")
        if location is not None and location.opt_text("city"):
            attributes["city"] = location.text("city")
        if c.opt_text("browser_language"):
            attributes["language"] = c.text("browser_language")
        return ContactRecord(
            external_id=c.id(),
            name=c.text("name", "") or (email or ""),
            identities=tuple(identities),
            attributes=attributes,
            created_at=_time(c.raw("created_at")),
            updated_at=_time(c.raw("updated_at")),
        )

    def _conversation(self, c: Fields) -> ConversationRecord:
        source = c.obj("source")
        channel = map_channel(source.opt_text("type") if source else None)
        messages = self._messages(c, source, channel)
        contacts = c.obj("contacts")
        people = contacts.objects("contacts") if contacts is not None else []
        subject = c.opt_text("title") or (source.opt_text("subject") if source else "") or ""
        if not subject:  # chats have no subject: title them from the first message
            first = next((m for m in messages if m.kind == "reply"), None)
            subject = first.body.split("\n", 1)[0][:80] if first else ""
        state = c.text("state", "open")
        tags = c.obj("tags")
        statistics = c.obj("statistics")
        created = _time(c.raw("created_at")) or datetime.fromtimestamp(0, UTC)
        return ConversationRecord(
            external_id=c.id(),
            channel=channel,
            subject=subject,
            status=map_status(state),
            vendor_status=state,
            priority=map_priority(c.opt_text("priority")),
            created_at=created,
            updated_at=_time(c.raw("updated_at")) or created,
            version=c.text("updated_at", ""),
            customer_external_id=people[0].id() if people else None,
            assignee_external_id=_assignee(c.opt_id("admin_assignee_id")),
            team_external_id=_assignee(c.opt_id("team_assignee_id")),
            tags=tuple(t.text("name") for t in tags.objects("tags")) if tags else (),
            web_url=f"https://app.intercom.com/a/inbox/{self._app_id}/inbox/conversation/{c.id()}",
            satisfaction=_satisfaction(c.obj("conversation_rating")),
            snoozed_until=_time(c.raw("snoozed_until")) if state == "snoozed" else None,
            messages=messages,
            solved_at=_time(statistics.raw("last_close_at")) if statistics else None,
            reopens=statistics.number("count_reopens") if statistics else None,
        )

    def _messages(
        self, c: Fields, source: Fields | None, channel: Channel
    ) -> tuple[MessageRecord, ...]:
        out: list[MessageRecord] = []
        created = _time(c.raw("created_at")) or datetime.fromtimestamp(0, UTC)
        if source is not None and (source.opt_text("body") or source.objects("attachments")):
            out.append(self._message(source, "reply", created, channel))
        holder = c.obj("conversation_parts")
        for part in holder.objects("conversation_parts") if holder is not None else []:
            part_type = part.text("part_type", "")
            at = _time(part.raw("created_at")) or created
            if part_type in _MESSAGE_PARTS:
                out.append(self._message(part, _MESSAGE_PARTS[part_type], at, channel))  # type: ignore[arg-type]
            elif part_type in _EVENT_PARTS:
                author = part.obj("author")
                who = author.text("name", "") if author else ""
                out.append(MessageRecord(
                    external_id=part.id(), kind="event", author_kind="system",
                    author_name="Intercom", body=f"{who} {_EVENT_PARTS[part_type]}".strip(),
                    created_at=at, channel=channel,
                ))  # fmt: skip
        return tuple(out)

    def _message(
        self, m: Fields, kind: MessageKind, at: datetime, channel: Channel
    ) -> MessageRecord:
        author = m.obj("author")
        author_type = author.text("type", "") if author else ""
        author_kind: AuthorKind = (
            "customer" if author_type in ("user", "lead", "contact")
            else "bot" if author_type == "bot" else "agent"
        )  # fmt: skip
        return MessageRecord(
            external_id=m.id() if m.has("id") else f"source-{at.timestamp():.0f}",
            kind=kind,
            author_kind=author_kind,
            author_name=author.text("name", "") if author else "",
            body=html_to_text(m.opt_text("body") or ""),
            created_at=at,
            channel=channel,
            author_external_id=author.opt_id("id") if author else None,
            attachments=tuple(
                Attachment(
                    a.text("name", "attachment"),
                    a.number("filesize"),
                    a.text("content_type", "application/octet-stream"),
                    a.text("url", ""),
                )
                for a in m.objects("attachments")
            ),
        )

    # ------------------------------------------------------------ writes
    async def fetch_state(self, external_id: str) -> RemoteState:
        c = await self._show(external_id)
        record = self._conversation(c)
        return RemoteState(
            version=record.version,
            status=record.status,
            priority=record.priority,
            assignee_external_id=record.assignee_external_id,
            team_external_id=record.team_external_id,
            tags=record.tags,
            snoozed_until=record.snoozed_until,
            updated_by=_last_admin(c),
            updated_at=record.updated_at,
        )

    async def apply(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        cid = request.conversation_external_id
        p = request.payload
        action = request.action
        admin = await self._admin_id()
        if action in ("reply", "note"):
            text = str(p.get("text", ""))
            if not text.strip():
                raise Invalid(f"a {action} to Intercom conversation {cid} needs some text")
            kind = "comment" if action == "reply" else "note"
            c = await self._post(
                f"/conversations/{cid}/reply",
                {"message_type": kind, "type": "admin", "admin_id": admin,
                 "body": html_body(text)},
                "conversation", "send a reply" if action == "reply" else "add an internal note",
            )  # fmt: skip
            return WriteResult(version=c.text("updated_at", ""),
                               message_external_id=self._mine(c, kind, admin, text))  # fmt: skip
        if action == "status":
            status = str(p["status"])
            if status in ("solved", "closed"):
                body: dict[str, object] = {"message_type": "close", "type": "admin"}
            elif status in ("pending", "on_hold"):
                until = datetime.now(UTC) + PENDING_SNOOZE
                body = {"message_type": "snoozed", "snoozed_until": int(until.timestamp())}
            else:
                body = {"message_type": "open"}
            return await self._part(cid, {**body, "admin_id": admin}, "change the status")
        if action == "snooze":
            until = from_iso(str(p["until"]))
            return await self._part(
                cid, {"message_type": "snoozed", "admin_id": admin,
                      "snoozed_until": int(until.timestamp())}, "snooze the conversation",
            )  # fmt: skip
        if action == "assign":
            if "team_external_id" in p:
                target, assignee = "team", str(p["team_external_id"] or "0")
            elif p.get("unassign"):
                target, assignee = "admin", "0"
            else:
                target, assignee = "admin", str(p["agent_external_id"])
            return await self._part(
                cid, {"message_type": "assignment", "type": target, "admin_id": admin,
                      "assignee_id": assignee}, "assign the conversation",
            )  # fmt: skip
        if action == "tags":
            return await self._tags(cid, admin, p)
        raise Invalid(
            f"Intercom's API cannot {'set the priority of' if action == 'priority' else action} "
            f"conversation {cid} on account {self.settings.name}; change it in Intercom"
        )

    async def _part(self, cid: str, body: dict[str, object], action: str) -> WriteResult:
        c = await self._post(f"/conversations/{cid}/parts", body, "conversation", action)
        return WriteResult(version=c.text("updated_at", ""))

    async def _tags(self, cid: str, admin: str, p: Mapping[str, object]) -> WriteResult:
        current = await self._show(cid)
        holder = current.obj("tags")
        on = {t.text("name").lower(): t.id() for t in holder.objects("tags")} if holder else {}
        for name in _seq(p.get("remove")):
            tag = on.get(str(name).lower())
            if tag is not None:
                await self.client.request_json(
                    "DELETE", f"/conversations/{cid}/tags/{tag}", json_body={"admin_id": admin},
                    action="remove a tag",
                )  # fmt: skip
        for name in _seq(p.get("add")):
            if str(name).lower() in on:
                continue
            tag = await self._tag_id(str(name))
            await self._post(f"/conversations/{cid}/tags", {"id": tag, "admin_id": admin},
                             "tag", "add a tag")  # fmt: skip
        state = await self.fetch_state(cid)
        return WriteResult(version=state.version)

    async def _tag_id(self, name: str) -> str:
        """The id of the workspace tag called `name`; `POST /tags` creates it if new."""
        if name.lower() not in self._tag_ids:
            tag = await self._post("/tags", {"name": name}, "tag", "create a tag")
            self._tag_ids[name.lower()] = tag.id()
        return self._tag_ids[name.lower()]

    def _mine(self, c: Fields, kind: str, admin: str, text: str,
              since: float | None = None) -> str | None:  # fmt: skip
        """The newest part of `kind` by `admin` with this text (at or after `since`)."""
        holder = c.obj("conversation_parts")
        for part in reversed(holder.objects("conversation_parts") if holder else []):
            author = part.obj("author")
            if part.text("part_type", "") != kind or author is None or author.opt_id("id") != admin:
                continue
            if since is not None and part.number("created_at") < since:
                continue
            if _same_text(html_to_text(part.opt_text("body") or ""), text):
                return part.id()
        return None

    async def find_sent(self, request: MutationRequest) -> str | None:
        """A reply/note this request already created: by me, same kind, same text, created
        no earlier than the agent made it (a second of slack for whole-second clocks)."""
        if request.action not in ("reply", "note"):
            return None
        admin = await self._admin_id()
        since = request.created_at.timestamp() - 1 if request.created_at else None
        c = await self._show(request.conversation_external_id)
        kind = "comment" if request.action == "reply" else "note"
        return self._mine(c, kind, admin, str(request.payload.get("text", "")), since)


def _last_admin(c: Fields) -> str | None:
    """The name of the admin behind the conversation's newest part (for the conflict view)."""
    holder = c.obj("conversation_parts")
    for part in reversed(holder.objects("conversation_parts") if holder else []):
        author = part.obj("author")
        if author is not None and author.opt_text("type") == "admin":
            return author.opt_text("name")
    return None


def _seq(value: object) -> list[object]:
    return list(value) if isinstance(value, (list, tuple)) else []
