"""Front (Core API): vendor JSON in, agentdesk records out, and writes back.

Read: `GET /me` (the token's company: Front tokens are company-wide, so the signed-in agent is
the teammate whose email is the account's user, `GET /teammates/alt:email:<user>`), teams
(each owns shared inboxes), teammates, conversations. A first sync pages
`GET /conversations?q[statuses][]=…` (100 a page, newest activity first, `page_token` from
`_pagination.next`) back to the cache window; later syncs read the change feed
`GET /events?q[after]=<seconds>` (15 a page, oldest first) and refresh each conversation an
event names. A conversation's thread is three lists: messages (replies), comments (Front's
internal notes) and events (assignments, archive, reopen, moves, tags: shown as events, and
the source of solved time and reopen count); its inbox says its team.

Cursors: `full:<started>:<next page URL>` while the first pass runs (a crash resumes at that
page), then `events:<seconds>` (where the feed is read from next). The fast lane (`recent`)
lists conversations by newest activity, ten a page.

Write: reply `POST …/messages` (with `options.archive` false: Front archives on send by
default), note `POST …/comments`, status `PATCH` with the company's ticket `status_id`
(ticketing) or `status` archived/open, assignee `PUT …/assignee`, team = move to the team's
inbox (`PATCH inbox_id`), tags `POST`/`DELETE …/tags` by tag id (created when missing),
snooze = a reminder (`PATCH …/reminders`). Front has no priority and neither version tokens nor
idempotency keys: the push engine compares `fetch_state` per field first, and `find_sent`
looks for a reply that already landed before a retry sends it again.
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import ClassVar

import httpx

from agentdesk.connectors.base import (
    PRESENCES,
    RECENT_PAGE,
    AccountSettings,
    AuthError,
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
    Params,
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
    MessageRecord,
    MutationRequest,
    Page,
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
EVENTS_PREFIX = "events:"
OVERLAP_SECONDS = 120
"""The change feed is read again this far back: covers events Front commits a little after
they are emitted, and clock skew. Replays are harmless upserts."""
PAGE_LIMIT = 100
EVENTS_LIMIT = 15  # Front's maximum for /events
EVENTS_PER_PAGE = 60
"""Events gathered into one committed page: a busy minute makes one page, not dozens."""
LISTED = ("assigned", "unassigned", "archived")
OPEN_LISTED = ("assigned", "unassigned")

# Front message `type` (its channel) → agentdesk channel; Front's word stays in the table.
CHANNEL: dict[str, Channel] = {
    "email": "email",
    "front_chat": "chat",
    "intercom": "chat",
    "sms": "sms",
    "whatsapp": "social",
    "yalo_wha": "social",
    "tweet": "social",
    "tweet_dm": "social",
    "facebook": "social",
    "googleplay": "social",
    "call": "voice",
    "phone-call": "voice",
    "custom": "web",
    "internal": "email",
}
_CATEGORY: dict[str, Status] = {"open": "open", "waiting": "pending", "resolved": "solved"}
_LEGACY: dict[str, Status] = {"archived": "solved", "deleted": "closed", "trashed": "closed"}
_HANDLE_KIND = {"email": "email", "phone": "phone", "twitter": "twitter", "facebook": "facebook"}
_ATTRIBUTE_KEYS = ("plan", "segment", "lifetime_value", "language", "time_zone", "company")
_EVENT_TEXT = {
    "archive": "Archived",
    "reopen": "Reopened",
    "unassign": "Unassigned",
    "trash": "Moved to trash",
    "restore": "Restored",
    "ticket_status_update": "Status changed",
    "reminder": "Snooze ended",
}
_SHOWN_EVENTS = frozenset({*_EVENT_TEXT, "assign", "move", "tag", "untag"})


def map_status(category: str | None, status: str | None, snoozed: bool = False) -> Status:
    """Front → agentdesk: the ticket status category when ticketing is on (open, waiting,
    resolved), else the legacy status (archived = done, assigned/unassigned = open work).
    A snooze (a reminder still to come) on open work is on hold."""
    mapped = _CATEGORY.get(category or "") or _LEGACY.get(status or "", "open")
    if snoozed and mapped in ("open", "pending"):
        return "on_hold"
    return mapped


def map_channel(message_type: str | None) -> Channel:
    return CHANNEL.get(message_type or "", "email")  # Front began as shared email inboxes


def map_role(is_admin: bool) -> Role:
    return "admin" if is_admin else "agent"


def _moment(value: object) -> datetime | None:
    """Front's timestamps: seconds since the epoch, with up to three decimals (None when it
    is not one a calendar can hold)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _version(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    return f"{float(value):.3f}"


def _snoozed_until(c: Fields, now: float) -> datetime | None:
    times = [_seconds(r, "scheduled_at") for r in c.objects("scheduled_reminders")]
    return _moment(min(t for t in times if t > now)) if any(t > now for t in times) else None


def _link_id(link: object) -> str | None:
    """The id at the end of a Front resource link (`…/contacts/crd_3c` → `crd_3c`)."""
    if not isinstance(link, str) or "/" not in link:
        return None
    return link.rstrip("/").rsplit("/", 1)[-1] or None


def _as_html(text: str) -> str:
    return "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"


class FrontConnector:
    kind: ClassVar[str] = "front"
    label: ClassVar[str] = "Front"
    capabilities: ClassVar[Capabilities] = Capabilities(
        can_set_priority=False,  # Front conversations have no priority
        can_snooze=True,  # a reminder: PATCH /conversations/{id}/reminders
        can_safe_update=False,  # no version check on writes: fetch_state per field instead
        has_idempotency_keys=False,  # check-before-resend via find_sent
        has_incremental_export=False,  # the event feed is a feed, not an export
        can_set_presence=True,  # PATCH /teammates/{id} is_available
    )
    resources: ClassVar[tuple[str, ...]] = ("teams", "agents", "conversations")
    # Front's "Rate limits" page: 50 requests a minute on the Starter plan (Professional 100,
    # Enterprise 200), per company.
    fast_lane: ClassVar[FastLane] = FastLane("poll", rate_limit_per_minute=50)

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
            vendor="Front",
            headers={"Authorization": f"Bearer {token}"},
            policy=policy,
            transport=transport,
        )
        self._me: WhoAmI | None = None
        self._teams: list[Fields] | None = None
        self._statuses: dict[str, str] | None = None  # category → status id; {} without ticketing
        self._contacts: dict[str, ContactRecord] = {}
        self._fetched: dict[str, tuple[float, float]] = {}
        """Conversation id → (the updated_at last read, the feed cursor its page carried)."""
        self._delivered = Delivered()

    def __repr__(self) -> str:
        return f"FrontConnector(account={self.settings.name!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    def _fail(self, action: str) -> Callable[[str], MalformedResponse]:
        return lambda problem: self.client.malformed(action, problem)

    async def _get(self, url: str, action: str, params: Params | None = None) -> Fields:
        data = await self.client.get_json(url, params=params, action=action)
        return Fields(data, action, self._fail(action))

    async def _results(
        self, url: str, action: str, params: Params | None = None
    ) -> AsyncIterator[tuple[list[Fields], str | None]]:
        """Each page of a Front list (`_results`) with the URL of the next (`_pagination`)."""
        next_url: str | None = url
        while next_url is not None:
            root = await self._get(next_url, action, params)
            params = None  # the next URL carries every parameter
            pagination = root.obj("_pagination")
            raw_next = pagination.opt_text("next") if pagination is not None else None
            current, next_url = next_url, None
            if raw_next:
                try:
                    next_url = self.client.same_origin(raw_next)
                except ValueError:
                    raise self.client.malformed(action, "a next-page link that is no URL") from None
                if next_url == current:
                    raise self.client.malformed(action, "a next-page link to the same page")
            yield root.objects("_results"), next_url

    async def _all(self, url: str, action: str, params: Params | None = None) -> list[Fields]:
        out: list[Fields] = []
        async for items, _ in self._results(url, action, params):
            out.extend(items)
        return out

    # ------------------------------------------------------------ who am I
    async def whoami(self) -> WhoAmI:
        await self._get("/me", "check the API token")  # 401 here: the token is refused
        action = "find your teammate profile"
        try:
            me = await self._get(f"/teammates/alt:email:{self.settings.user}", action)
        except NotFound:
            raise AuthError(
                f"the Front token of account {self.settings.name} works, but no teammate has "
                f"the email {self.settings.user} — use your Front login email as --user"
            ) from None
        self._me = WhoAmI(
            me.id(), _teammate_name(me), me.text("email", ""), map_role(me.flag("is_admin"))
        )
        return self._me

    async def _my_id(self) -> str:
        return (self._me or await self.whoami()).external_id

    # ------------------------------------------------------------ presence
    async def set_presence(self, presence: str) -> str:
        """Front knows available or not: online is available; busy and offline are not."""
        if presence not in PRESENCES:
            raise Invalid(f"presence must be one of {', '.join(PRESENCES)}")
        await self.client.request(
            "PATCH",
            f"/teammates/{await self._my_id()}",
            json_body={"is_available": presence == "online"},
            action="set your availability",
        )
        return "online" if presence == "online" else "offline"

    # ------------------------------------------------------------ pull
    async def pull(self, resource: str, cursor: str | None) -> AsyncIterator[Page]:
        if resource == "teams":
            teams = await self._team_list()
            yield Page(
                "teams",
                cursor=None,
                more=False,
                teams=tuple(TeamRecord(t.id(), t.text("name", "")) for t in teams),
            )
        elif resource == "agents":
            yield await self._agents()
        elif resource == "conversations":
            async for page in self._conversations(cursor):
                yield page
        else:
            raise ValueError(f"Front has no resource {resource!r}")

    async def _team_list(self) -> list[Fields]:
        self._teams = await self._all("/teams", "list teams")
        return self._teams

    async def _agents(self) -> Page:
        teams = self._teams if self._teams is not None else await self._team_list()
        membership: dict[str, list[str]] = {}
        for team in teams:
            for member in team.objects("members"):
                membership.setdefault(member.id(), []).append(team.id())
        records = tuple(
            AgentRecord(
                external_id=t.id(),
                name=_teammate_name(t),
                email=(t.opt_text("email") or "").lower(),
                role=map_role(t.flag("is_admin")),
                presence="online" if t.flag("is_available") else "offline",
                team_external_ids=tuple(membership.get(t.id(), ())),
            )
            for t in await self._all("/teammates", "list teammates")
            if t.opt_text("type") in (None, "user") and not t.flag("is_blocked")
        )
        return Page("agents", cursor=None, more=False, agents=records)

    async def _conversations(self, cursor: str | None) -> AsyncIterator[Page]:
        self._contacts.clear()  # read each contact once a round: fresh, but not per page
        if cursor is None or cursor.startswith(FULL_PREFIX):
            async for page in self._first_pass(cursor):
                yield page
            return
        if not cursor.startswith(EVENTS_PREFIX):
            raise Invalid(
                f"the stored Front cursor of account {self.settings.name} is not one agentdesk "
                "writes — run `agentdesk sync --full` to start over"
            )
        async for page in self._changes(float(cursor[len(EVENTS_PREFIX) :])):
            yield page

    async def _first_pass(self, cursor: str | None) -> AsyncIterator[Page]:
        """Newest activity first, back to the cache window; then the event feed takes over
        from when the pass started, so what changed during the pass is not missed."""
        action = "list conversations"
        started = time.time()
        url, params = "/conversations", _listing(LISTED)
        if cursor:
            _, mark, url = cursor.split(":", 2)
            started, params = float(mark), None
        window_start = started - max(1, self.settings.cache_days) * 86_400
        async for items, next_url in self._results(url, action, params):
            recent = [c for c in items if (_activity(c) or started) >= window_start]
            done = next_url is None or len(recent) < len(items)
            resume = float(f"{started - OVERLAP_SECONDS:.3f}")
            conversations, contacts = await self._records(recent, resume)
            cursor_out = (
                f"{EVENTS_PREFIX}{resume:.3f}"
                if done
                else f"{FULL_PREFIX}{started:.3f}:{next_url}"
            )
            yield Page(
                "conversations",
                cursor=cursor_out,
                more=not done,
                conversations=conversations,
                contacts=contacts,
            )
            if done:
                return

    async def _changes(self, since: float) -> AsyncIterator[Page]:
        """The event feed after `since` (oldest first), conversations refreshed in pages.

        The cursor moves to the newest event seen, but never past `OVERLAP_SECONDS` before
        this round began, so an event Front commits a little late is still read next round;
        a conversation whose `updated_at` is the one this connector last read is not fetched
        again for such a replay."""
        action = "read the event feed"
        settled = time.time() - OVERLAP_SECONDS
        recent = settled - OVERLAP_SECONDS
        self._fetched = {k: v for k, v in self._fetched.items() if v[0] >= recent}
        params: Params = [
            ("q[after]", f"{since:.3f}"),
            ("sort_by", "created_at"),
            ("sort_order", "asc"),
            ("limit", str(EVENTS_LIMIT)),
        ]
        watermark = since
        pending: dict[str, Fields] = {}
        seen = 0
        async for events, next_url in self._results("/events", action, params):
            for event in events:
                watermark = max(watermark, _seconds(event, "emitted_at"))
                c = event.obj("conversation")
                if c is not None and not self._has(c, since):
                    pending.pop(c.id(), None)  # keep the newest copy, in order
                    pending[c.id()] = c
            seen += len(events)
            if next_url is not None and seen < EVENTS_PER_PAGE:
                continue
            # The mark as the cursor stores it (to the millisecond), so the next round's
            # `since` compares equal to what `_has` recorded.
            mark = float(f"{max(since, min(watermark, settled)):.3f}")
            conversations, contacts = await self._records(list(pending.values()), mark)
            pending.clear()
            seen = 0
            yield Page(
                "conversations",
                cursor=f"{EVENTS_PREFIX}{mark:.3f}",
                more=next_url is not None,
                conversations=conversations,
                contacts=contacts,
            )

    async def recent(self, since: datetime | None) -> Recent:
        """The conversations with the newest activity (the list's own order, one small page)
        changed at or after `since`, with their threads: a quiet poll is one request. The
        event feed of the complete lane confirms them later."""
        with count_requests() as sent:
            params = [*_listing(LISTED)[:-1], ("limit", str(RECENT_PAGE))]
            listed: list[Fields] = []
            pages = 0
            async for items, next_url in self._results(
                "/conversations", "list recently active conversations", params
            ):
                pages += 1
                listed += items
                times = [_when(c) for c in items]
                if not reads_on(since, times, next_url is not None, pages):
                    break
            pick = pick_recent(
                since, listed, self._delivered, version=lambda c: _version(c.raw("updated_at")),
                updated=_when,
            )  # fmt: skip
            conversations, contacts = await self._records(pick.changed)
            page = Page("conversations", None, False, conversations=conversations,
                        contacts=contacts)  # fmt: skip
            return Recent(page, pick.handed_on(), sent())

    # ------------------------------------------------------------ one page of records
    def _has(self, c: Fields, since: float) -> bool:
        """This connector read the conversation as it is now, on a page whose cursor the sync
        engine has since committed (the feed resumes at or after it)."""
        read = self._fetched.get(c.id())
        return read is not None and read[0] == _activity(c) and read[1] <= since

    async def _records(
        self, items: list[Fields], mark: float = math.inf
    ) -> tuple[tuple[ConversationRecord, ...], tuple[ContactRecord, ...]]:
        inbox_team = await self._inbox_teams()
        now = time.time()
        threads = await asyncio.gather(*(self._thread(c.id()) for c in items))
        contact_ids = list(dict.fromkeys(filter(None, (_recipient_contact(c) for c in items))))
        contacts = await asyncio.gather(*(self._contact(cid) for cid in contact_ids))
        records = tuple(
            self._conversation(c, thread, inbox_team, now)
            for c, thread in zip(items, threads, strict=True)
        )
        for c in items:  # once the whole page is read; `mark` says when it counts as kept
            self._fetched[c.id()] = (_activity(c), mark)
        return records, tuple(c for c in contacts if c is not None)

    async def _inbox_teams(self) -> dict[str, str]:
        teams = self._teams if self._teams is not None else await self._team_list()
        return {inbox.id(): team.id() for team in teams for inbox in team.objects("inboxes")}

    async def _thread(
        self, cid: str
    ) -> tuple[list[Fields], list[Fields], list[Fields], str | None]:
        """(messages, comments, events, inbox id) of one conversation."""
        base = f"/conversations/{cid}"
        limit = [("limit", str(PAGE_LIMIT))]
        messages, comments, events, inboxes = await asyncio.gather(
            self._all(f"{base}/messages", "read the messages of a conversation", limit),
            self._all(f"{base}/comments", "read the comments of a conversation", limit),
            self._all(f"{base}/events", "read the events of a conversation", limit),
            self._all(f"{base}/inboxes", "read the inboxes of a conversation"),
        )
        return messages, comments, events, inboxes[0].id() if inboxes else None

    async def _contact(self, contact_id: str) -> ContactRecord | None:
        if contact_id in self._contacts:
            return self._contacts[contact_id]
        try:
            c = await self._get(f"/contacts/{contact_id}", "read a contact")
        except NotFound:  # merged or deleted meanwhile: the conversation keeps its handle
            return None
        identities: list[Identity] = []
        for h in c.objects("handles"):
            kind = _HANDLE_KIND.get(h.text("source", ""), "other")
            value = h.text("handle", "")
            if kind == "email":
                value = normalise_email(value) or ""
            elif kind == "phone":
                value = normalise_phone(value) or ""
            elif kind == "twitter":
                value = "@" + value.strip().lower().lstrip("@")
            if value:
                identities.append(Identity(kind, value))  # type: ignore[arg-type]
        custom = c.scalars("custom_fields")
        attributes: dict[str, AttributeValue] = {
            k: custom[k] for k in _ATTRIBUTE_KEYS if custom.get(k) is not None
        }
        email = next((i.value for i in identities if i.kind == "email"), "")
        record = ContactRecord(
            external_id=c.id(),
            name=c.text("name", "") or email,
            identities=tuple(identities),
            attributes=attributes,
        )
        self._contacts[contact_id] = record
        return record

    # ------------------------------------------------------------ mapping
    def _conversation(
        self,
        c: Fields,
        thread: tuple[list[Fields], list[Fields], list[Fields], str | None],
        inbox_team: Mapping[str, str],
        now: float,
    ) -> ConversationRecord:
        messages, comments, events, inbox = thread
        oldest = min(messages, key=lambda m: _seconds(m, "created_at"), default=None)
        channel = map_channel(oldest.opt_text("type") if oldest is not None else None)
        records = [self._message(m, channel) for m in messages]
        records += [self._note(n, channel) for n in comments]
        records += [r for e in events if (r := self._event(e, channel)) is not None]
        records.sort(key=lambda m: (m.created_at, m.external_id))
        snoozed = _snoozed_until(c, now)
        vendor_status = c.opt_text("status_category") or c.text("status", "")
        status = map_status(
            c.opt_text("status_category"), c.opt_text("status"), snoozed is not None
        )
        created = _moment(c.raw("created_at")) or (records[0].created_at if records else None)
        updated = _moment(c.raw("updated_at")) or (records[-1].created_at if records else created)
        archives = [e for e in events if e.opt_text("type") == "archive"]
        assignee = c.obj("assignee")
        subject = c.text("subject", "")
        if not subject:  # chats and texts have no subject: title them from the first message
            first = next((m for m in records if m.kind == "reply"), None)
            subject = first.body.split("\n", 1)[0][:80] if first else ""
        return ConversationRecord(
            external_id=c.id(),
            channel=channel,
            subject=subject,
            status=status,
            vendor_status=vendor_status,
            priority="normal",
            created_at=created or datetime.fromtimestamp(0, UTC),
            updated_at=updated or datetime.fromtimestamp(0, UTC),
            version=_version(c.raw("updated_at")),
            customer_external_id=_recipient_contact(c),
            assignee_external_id=assignee.id() if assignee is not None else None,
            team_external_id=inbox_team.get(inbox or ""),
            tags=tuple(t.text("name", "") for t in c.objects("tags")),
            web_url=f"https://app.frontapp.com/open/{c.id()}",
            snoozed_until=snoozed,
            messages=tuple(records),
            solved_at=(
                _moment(archives[-1].raw("emitted_at"))
                if archives and status in ("solved", "closed")
                else None
            ),
            reopens=sum(1 for e in events if e.opt_text("type") == "reopen"),
        )

    def _message(self, m: Fields, channel: Channel) -> MessageRecord:
        inbound = m.flag("is_inbound")
        author = m.obj("author")
        kind: AuthorKind = "customer" if inbound else "agent"
        if not inbound and author is not None and author.opt_text("type") not in (None, "user"):
            kind = "bot"  # Front's bots author as teammates of type ai, rule, macro, ...
        if inbound or author is None:
            sender = next(
                (r for r in m.objects("recipients") if r.opt_text("role") == "from"), None
            )
            name = (sender.opt_text("name") or sender.text("handle", "")) if sender else ""
        else:
            name = _teammate_name(author)
        text = m.opt_text("text")
        body = text.strip() if text is not None else html_to_text(m.text("body", ""))
        return MessageRecord(
            external_id=m.id(),
            kind="reply",
            author_kind=kind,
            author_name=name,
            body=body,
            created_at=_moment(m.raw("created_at")) or datetime.fromtimestamp(0, UTC),
            channel=map_channel(m.opt_text("type")) if m.opt_text("type") else channel,
            author_external_id=author.id() if author is not None and not inbound else None,
            attachments=tuple(
                Attachment(
                    a.text("filename", ""),
                    a.number("size"),
                    a.text("content_type", "application/octet-stream"),
                    a.text("url", ""),
                )
                for a in m.objects("attachments")
            ),
        )

    def _note(self, n: Fields, channel: Channel) -> MessageRecord:
        author = n.obj("author")
        return MessageRecord(
            external_id=n.id(),
            kind="note",
            author_kind="agent",
            author_name=_teammate_name(author) if author is not None else "",
            body=n.text("body", "").strip(),
            created_at=_moment(n.raw("posted_at")) or datetime.fromtimestamp(0, UTC),
            channel=channel,
            author_external_id=author.id() if author is not None else None,
        )

    def _event(self, e: Fields, channel: Channel) -> MessageRecord | None:
        kind = e.text("type", "")
        if kind not in _SHOWN_EVENTS:
            return None  # messages and comments are in the thread already
        source = e.obj("source")
        by = source.raw("data") if source is not None else None
        actor = _join_name(by) if isinstance(by, dict) else ""
        target = e.obj("target")
        what = target.raw("data") if target is not None else None
        named = what.get("name") or _join_name(what) if isinstance(what, dict) else None
        body = {
            "assign": f"Assigned to {named}",
            "move": f"Moved to inbox {named}",
            "tag": f"Tagged {named}",
            "untag": f"Untagged {named}",
        }.get(kind, _EVENT_TEXT.get(kind, kind))
        return MessageRecord(
            external_id=e.id(),
            kind="event",
            author_kind="system",
            author_name=actor or "Front",
            body=f"{body} by {actor}" if actor else body,
            created_at=_moment(e.raw("emitted_at")) or datetime.fromtimestamp(0, UTC),
            channel=channel,
        )

    # ------------------------------------------------------------ cache policy
    async def open_backlog(self) -> AsyncIterator[Page]:
        """Conversations still being worked (assigned / unassigned: not archived) whose last
        activity is older than the cache window, with their threads."""
        bound = self.settings.backlog_before().timestamp()
        action = "list open conversations"
        async for items, _ in self._results("/conversations", action, _listing(OPEN_LISTED)):
            old = [c for c in items if _activity(c) < bound]
            if old:
                conversations, contacts = await self._records(old)
                yield Page(
                    "conversations",
                    cursor=None,
                    more=True,
                    conversations=conversations,
                    contacts=contacts,
                )

    async def contact_history(self, contact_external_id: str) -> AsyncIterator[Page]:
        """Every conversation of one contact with its thread (`/contacts/{id}/conversations`)."""
        action = "list a contact's conversations"
        url = f"/contacts/{contact_external_id}/conversations"
        async for items, next_url in self._results(url, action, _listing(LISTED)):
            conversations, contacts = await self._records(items)
            yield Page(
                "conversations",
                cursor=None,
                more=next_url is not None,
                conversations=conversations,
                contacts=contacts,
            )

    # ------------------------------------------------------------ writes
    async def fetch_state(self, external_id: str) -> RemoteState:
        c, inboxes, inbox_team = await asyncio.gather(
            self._get(f"/conversations/{external_id}", "read a conversation"),
            self._all(
                f"/conversations/{external_id}/inboxes", "read the inboxes of a conversation"
            ),
            self._inbox_teams(),
        )
        snoozed = _snoozed_until(c, time.time())
        assignee = c.obj("assignee")
        return RemoteState(
            version=_version(c.raw("updated_at")),
            status=map_status(
                c.opt_text("status_category"), c.opt_text("status"), snoozed is not None
            ),
            priority="normal",
            assignee_external_id=assignee.id() if assignee is not None else None,
            team_external_id=inbox_team.get(inboxes[0].id()) if inboxes else None,
            tags=tuple(t.text("name", "") for t in c.objects("tags")),
            snoozed_until=snoozed,
            updated_at=_moment(c.raw("updated_at")),
        )

    async def apply(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        cid = request.conversation_external_id
        p = request.payload
        action = request.action
        path = f"/conversations/{cid}"
        if action == "reply":
            text = str(p.get("text", ""))
            accepted = await self.client.request_json(
                "POST",
                f"{path}/messages",
                action="send a reply",
                idempotent=False,
                json_body={
                    "author_id": await self._my_id(),
                    "body": _as_html(text),
                    "text": text,
                    "options": {"archive": False},
                },
            )
            uid = Fields(accepted, "accepted message", self._fail("send a reply")).text(
                "message_uid"
            )
            return WriteResult(message_external_id=await self._message_id(uid))
        if action == "note":
            data = await self.client.request_json(
                "POST",
                f"{path}/comments",
                action="add an internal note",
                idempotent=False,
                json_body={"author_id": await self._my_id(), "body": str(p.get("text", ""))},
            )
            return WriteResult(message_external_id=Fields(data, "comment", self._fail("note")).id())
        if action == "status":
            await self._patch(cid, await self._status_body(str(p["status"])), "change the status")
        elif action == "tags":
            await self._tags(cid, current, p)
        elif action == "assign":
            await self._assign(cid, p)
        elif action == "snooze":
            until = p.get("until")
            moment = parse_timestamp(str(until)) if until else None
            await self.client.request(
                "PATCH",
                f"{path}/reminders",
                action="snooze the conversation",
                json_body={
                    "teammate_id": await self._my_id(),
                    "scheduled_at": moment.timestamp() if moment else None,
                },
            )
        else:
            raise Invalid(f"Front account {self.settings.name} cannot {action}: Front has none")
        c = await self._get(path, "read a conversation")
        return WriteResult(version=_version(c.raw("updated_at")))

    async def _message_id(self, uid: str) -> str | None:
        """The id of a message just sent: Front answers 202 with its `message_uid`, and the
        message is readable by the `alt:uid:` alias once Front has created it."""
        for attempt in range(3):
            try:
                m = await self._get(f"/messages/alt:uid:{uid}", "read the message just sent")
                return m.id()
            except NotFound:
                await asyncio.sleep(0.2 * (attempt + 1))
        return None  # the next pull brings it; find_sent would also recognise it

    async def _patch(self, cid: str, body: Mapping[str, object], action: str) -> None:
        await self.client.request(
            "PATCH", f"/conversations/{cid}", json_body=dict(body), action=action
        )

    async def _status_body(self, status: str) -> dict[str, object]:
        if self._statuses is None:
            try:
                rows = await self._all("/company/statuses", "list ticket statuses")
            except NotFound:  # ticketing is off for this company
                rows = []
            self._statuses = {}
            for row in rows:  # the first status of each category is its default
                self._statuses.setdefault(row.text("category", ""), row.id())
        category = {
            "solved": "resolved",
            "closed": "resolved",
            "pending": "waiting",
            "on_hold": "waiting",
        }.get(status, "open")
        if category in self._statuses:
            return {"status_id": self._statuses[category]}
        if category == "waiting":
            raise Invalid(
                f"Front account {self.settings.name} has no ticket statuses (ticketing is off), "
                "so a conversation cannot wait on the customer — snooze it instead"
            )
        return {"status": "archived" if category == "resolved" else "open"}

    async def _tags(self, cid: str, current: RemoteState, p: Mapping[str, object]) -> None:
        have = {t.lower() for t in current.tags}
        add = [str(t) for t in _seq(p.get("add")) if str(t).lower() not in have]
        remove = [str(t) for t in _seq(p.get("remove")) if str(t).lower() in have]
        if not add and not remove:
            return
        ids = {t.text("name", "").lower(): t.id() for t in await self._all("/tags", "list tags")}
        for name in add:
            if name.lower() not in ids:
                made = await self.client.request_json(
                    "POST", "/tags", json_body={"name": name}, action="create a tag"
                )
                ids[name.lower()] = Fields(made, "tag", self._fail("create a tag")).id()
        path = f"/conversations/{cid}/tags"
        if add:
            await self.client.request(
                "POST",
                path,
                action="tag the conversation",
                json_body={"tag_ids": [ids[n.lower()] for n in add]},
            )
        if remove:
            await self.client.request(
                "DELETE",
                path,
                action="untag the conversation",
                json_body={"tag_ids": [ids[n.lower()] for n in remove if n.lower() in ids]},
            )

    async def _assign(self, cid: str, p: Mapping[str, object]) -> None:
        if "team_external_id" in p:
            team_id = p["team_external_id"]
            teams = self._teams if self._teams is not None else await self._team_list()
            team = next((t for t in teams if t.id() == team_id), None)
            inboxes = team.objects("inboxes") if team is not None else []
            if not inboxes:
                raise Invalid(
                    f"Front keeps every conversation in an inbox: choose a team with a shared "
                    f"inbox on account {self.settings.name} (a team is assigned by moving the "
                    "conversation to its inbox)"
                )
            await self._patch(cid, {"inbox_id": inboxes[0].id()}, "move the conversation")
            return
        assignee = None if p.get("unassign") else str(p["agent_external_id"])
        await self.client.request(
            "PUT",
            f"/conversations/{cid}/assignee",
            json_body={"assignee_id": assignee},
            action="assign the conversation",
        )

    async def find_sent(self, request: MutationRequest) -> str | None:
        """A reply/note this request already created: by me, same text, created no earlier
        than the version (server `updated_at`) the request was based on."""
        if request.action not in ("reply", "note"):
            return None
        me = await self._my_id()
        text = " ".join(str(request.payload.get("text", "")).split())
        since = _since(request)
        cid = request.conversation_external_id
        action = "look for a reply that may already have been sent"
        if request.action == "reply":
            async for items, _ in self._results(
                f"/conversations/{cid}/messages", action, [("limit", str(PAGE_LIMIT))]
            ):
                for m in items:  # newest first
                    created = _seconds(m, "created_at")
                    if since is not None and created < since:
                        return None
                    author = m.obj("author")
                    if (
                        not m.flag("is_inbound")
                        and author is not None
                        and author.id() == me
                        and " ".join((m.opt_text("text") or "").split()) == text
                    ):
                        return m.id()
            return None
        for n in reversed(await self._all(f"/conversations/{cid}/comments", action)):
            author = n.obj("author")
            created = _seconds(n, "posted_at")
            if since is not None and created < since:
                continue
            if (
                author is not None
                and author.id() == me
                and " ".join(n.text("body", "").split()) == text
            ):
                return n.id()
        return None


def _listing(statuses: tuple[str, ...]) -> Params:
    return [*(("q[statuses][]", s) for s in statuses), ("limit", str(PAGE_LIMIT))]


def _seconds(item: Fields, key: str) -> float:
    """A Front timestamp as epoch seconds; 0 when it is not given."""
    value = item.raw(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return 0.0


def _activity(c: Fields) -> float:
    """When a listed conversation last changed."""
    return _seconds(c, "updated_at")


def _when(c: Fields) -> datetime:
    """When a listed conversation last changed, as a time (the fast lane's marks)."""
    return datetime.fromtimestamp(_activity(c), UTC)


def _recipient_contact(c: Fields) -> str | None:
    recipient = c.obj("recipient")
    links = recipient.obj("_links") if recipient is not None else None
    related = links.obj("related") if links is not None else None
    return _link_id(related.raw("contact")) if related is not None else None


def _teammate_name(t: Fields | None) -> str:
    if t is None:
        return ""
    name = f"{t.text('first_name', '')} {t.text('last_name', '')}".strip()
    return name or t.text("username", "") or t.text("email", "")


def _join_name(data: dict[str, object]) -> str:
    return f"{data.get('first_name') or ''} {data.get('last_name') or ''}".strip()


def _since(request: MutationRequest) -> float | None:
    if request.created_at is not None:
        return request.created_at.timestamp() - 1
    try:
        return float(request.base_version) - 1  # a second of slack for whole-second clocks
    except ValueError:
        return None


def _seq(value: object) -> list[object]:
    return list(value) if isinstance(value, (list, tuple)) else []
