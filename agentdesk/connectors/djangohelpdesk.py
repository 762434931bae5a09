"""django-helpdesk (2.6) over its Django REST Framework API (`/api/`, `Authorization: Token`).

django-helpdesk facts this module is built around (checked against 2.6.1, see
tests/connectors/backend_djangohelpdesk.py):

* `/api/tickets/` pages with `page`/`page_size`, has no changed-since filter, no modified
  time, no ETag, and carries each ticket's whole thread inline (`followup_set`). Change is
  therefore detected by content: the cursor keeps a short hash of every open ticket, and a
  round lists the open tickets and returns only those whose hash moved.
* The only filter is `?status=` with *numbers* (`1,2`); a name (`?status=Open`) is silently
  ignored and every ticket comes back, so each listed ticket's status is checked again here.
* There is no list of agents or queues in the API. The API's own browsable HTML form (the
  one DRF renders for `POST /api/tickets/`) holds both as `<select>` options (pk and
  username; pk and title), and that is where they are read from. Users have no email there,
  so an agent's username stands where other connectors use an email.
* PATCH saves the whole row, so a colleague's edit racing ours would be lost silently: every
  field change re-reads the ticket, compares the one field with what the push engine's check
  was based on, sends only that field, and reads it back.
* A follow-up's `title` overwrites the ticket's title: none is ever sent. Its comment is
  rendered as a Django template (`{{ x }}` substituted; a stray `%}` or `{%` is a 500), so
  every `{` and every `%}` is sent as a template expression that prints exactly itself.
* Status goes by PATCH too, not by a follow-up's `new_status`: that path re-saves owner,
  priority and queue from its own read of the ticket (racing a colleague's edit) and adds
  a message to the thread.
* A follow-up POST can answer 500 after the follow-up was saved (a disallowed attachment
  extension does): a 5xx on a reply is never retried blindly, check-before-resend decides.
* A follow-up is a reply when `public` is true and an internal note when false; a
  follow-up without a user came from the customer (mail or the public form).
* No tags and no snooze (agentdesk snoozes locally).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import ClassVar

import httpx

from agentdesk.connectors.base import (
    AccountSettings,
    Capabilities,
    ConflictError,
    ConnectorError,
    FastLane,
    Invalid,
    MalformedResponse,
    NotFound,
    PermissionDenied,
)
from agentdesk.connectors.http import DEFAULT_POLICY, ApiClient, Fields, HttpPolicy, TokenAuth
from agentdesk.model import (
    AgentRecord,
    Attachment,
    ContactRecord,
    ConversationRecord,
    Identity,
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
from agentdesk.timeutil import parse_timestamp, utcnow

log = logging.getLogger(__name__)

API = "/api"
PAGE_SIZE = 1000
"""django-helpdesk walks every ticket on every list request (custom-field values), so a round
costs about as many full walks as pages: big pages. Measured with 10k open tickets: 11
requests and 53 s a round at 1000, 21 and 70 s at 500 (at 100, 1k took 11 requests, 8 s)."""
OPEN, REOPENED, RESOLVED, CLOSED, DUPLICATE = 1, 2, 3, 4, 5
OPEN_CODES = (OPEN, REOPENED)
DONE_CODES = (RESOLVED, CLOSED, DUPLICATE)
VENDOR_STATUS = {1: "Open", 2: "Reopened", 3: "Resolved", 4: "Closed", 5: "Duplicate"}
STATUS_FROM_DJH: dict[int, Status] = {
    OPEN: "open", REOPENED: "open", RESOLVED: "solved", CLOSED: "closed", DUPLICATE: "closed",
}  # fmt: skip
# django-helpdesk's priorities: 1 Critical, 2 High, 3 Normal, 4 Low, 5 Very Low.
PRIORITY_FROM_DJH: dict[int, Priority] = {1: "urgent", 2: "high", 3: "normal", 4: "low", 5: "low"}
PRIORITY_TO_DJH: dict[Priority, int] = {"urgent": 1, "high": 2, "normal": 3, "low": 4}
SENT_CLOCK_SKEW = timedelta(minutes=5)
"""How far before a request's creation check-before-resend still looks (server clock skew)."""
REUSE_SECONDS = 60.0
"""How long one read of the agents/queues form, or one listing of every ticket (for
customer histories), is reused: one request per round serves both teams and agents, one
scan serves a whole batch of histories."""


def status_from(code: int, on_hold: bool) -> Status:
    status = STATUS_FROM_DJH.get(code, "open")
    return "on_hold" if on_hold and status == "open" else status


def priority_from(code: int) -> Priority:
    return PRIORITY_FROM_DJH.get(code, "normal")


def literal_comment(text: str) -> str:
    """The comment to send so that django-helpdesk's template pass stores exactly `text`.

    Every `{` becomes `{{ "{" }}` (so no `{{`, `{%` or `{#` tag can start), and every `%}` is
    split the same way (django-helpdesk itself rewrites `%}`, which breaks without a `{%`).
    """
    return text.replace("{", '{{ "{" }}').replace("%}", '%{{ "}" }}')


def content_hash(ticket: object) -> str:
    """A short fingerprint of everything the API says about one ticket (thread included)."""
    data = json.dumps(ticket, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(data.encode(), digest_size=8).hexdigest()


def _comparable(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


# ---------------------------------------------------------------- cursor
@dataclass(frozen=True, slots=True)
class OpenTicketHashes:
    """The cursor: the content hash of every ticket the last round saw open (id -> hash)."""

    hashes: dict[str, str]

    def encode(self) -> str:
        return json.dumps({"open": self.hashes}, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> OpenTicketHashes | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            hashes = data["open"]
            if not isinstance(hashes, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            log.warning("django-helpdesk cursor is not understood; syncing from the start")
            return None
        return cls({str(k): str(v) for k, v in hashes.items()})


# ---------------------------------------------------------------- the API form's <select>s
class _SelectOptions(HTMLParser):
    """(value, label) of every <option> of the named <select>s of an HTML page."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__(convert_charrefs=True)
        self._names = names
        self._in: str | None = None
        self._value: str | None = None
        self._label: list[str] = []
        self.options: dict[str, dict[str, str]] = {name: {} for name in names}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "select" and found.get("name") in self._names:
            self._in = found["name"]
        elif tag == "option" and self._in is not None:
            self._value, self._label = found.get("value") or "", []

    def handle_data(self, data: str) -> None:
        if self._value is not None:
            self._label.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self._in is not None and self._value is not None:
            label = "".join(self._label).strip()
            if self._value:
                self.options[self._in].setdefault(self._value, label)
            self._value = None
        elif tag == "select":
            self._in = None


@dataclass(frozen=True, slots=True)
class _Directory:
    users: dict[str, str]
    """pk -> username (every user the site lets a ticket be assigned to)."""
    queues: dict[str, str]
    """pk -> title."""


class DjangoHelpdeskConnector:
    kind: ClassVar[str] = "djangohelpdesk"
    label: ClassVar[str] = "django-helpdesk"
    capabilities: ClassVar[Capabilities] = Capabilities(
        can_reply=True,
        can_note=True,
        can_set_status=True,
        can_set_priority=True,
        can_tag=False,  # django-helpdesk has no tags
        can_assign_agent=True,
        can_assign_team=True,  # the queue
        can_snooze=False,  # nor snooze: agentdesk snoozes locally
        can_safe_update=False,  # no version the server checks: read, compare, write, read back
        has_idempotency_keys=False,
        has_incremental_export=False,
    )
    resources: ClassVar[tuple[str, ...]] = ("teams", "agents", "tickets")
    # No fast lane: with no changed-since filter, sort or modified time, "what just changed"
    # is the complete round itself (every open ticket with its whole thread; measured on the
    # fixture with 1,004 open tickets: 2 requests, ~480 KB and 2-3 s of server time a poll).
    fast_lane: ClassVar[FastLane | None] = None

    def __init__(
        self,
        settings: AccountSettings,
        token: str,
        *,
        policy: HttpPolicy = DEFAULT_POLICY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        web = settings.base_url.rstrip("/").removesuffix("/api")
        self.settings = settings
        self.web_url = web
        self._api = ApiClient(
            AccountSettings(
                settings.name, settings.connector, web, settings.user, settings.ca_bundle,
                settings.cache_days,
            ),
            vendor=self.label,
            auth=TokenAuth("Token", token),
            policy=policy,
            transport=transport,
        )  # fmt: skip
        self._directory: tuple[float, _Directory] | None = None
        self._checked = False
        self._all_tickets: tuple[float, list[Fields]] | None = None

    def __repr__(self) -> str:
        return f"DjangoHelpdeskConnector(account={self.settings.name!r}, url={self.web_url!r})"

    async def aclose(self) -> None:
        await self._api.aclose()

    # ------------------------------------------------------------ reading helpers
    def _f(self, data: object, what: str) -> Fields:
        return Fields(data, what, lambda problem: self._api.malformed(what, problem))

    async def _listing(
        self, statuses: tuple[int, ...] | None, *, action: str
    ) -> AsyncIterator[tuple[list[Fields], bool]]:
        """Pages of `/api/tickets/` as (tickets, more), only those whose status is wanted."""
        page = 1
        while True:
            params: dict[str, str | int] = {"page": page, "page_size": PAGE_SIZE}
            if statuses:
                params["status"] = ",".join(str(s) for s in statuses)
            data = await self._api.get_json(f"{API}/tickets/", params=params, action=action)
            body = self._f(data, action)
            items = body.objects("results")
            if statuses:  # the server ignores a filter it does not understand
                items = [t for t in items if t.number("status", OPEN) in statuses]
            more = body.has("next") and bool(body.objects("results"))
            yield items, more
            if not more:
                return
            page += 1

    async def _ticket_json(self, ident: str) -> object:
        return await self._api.get_json(
            f"{API}/tickets/{int(ident)}/", action=f"read ticket {ident}"
        )

    async def _read_ticket(self, ident: str) -> Fields:
        if not ident.isdigit():
            raise NotFound(f"ticket {ident!r} is not a django-helpdesk ticket number")
        return self._f(await self._ticket_json(ident), f"ticket {ident}")

    # ------------------------------------------------------------ who am I, directory
    async def whoami(self) -> WhoAmI:
        await self._check_token()
        if not self.settings.user:
            raise ConnectorError(
                f"account {self.settings.name} has no django-helpdesk user name — its API "
                "cannot say whose token it is; add it with `agentdesk accounts add NAME "
                "--connector djangohelpdesk --user USERNAME`"
            )
        name = self.settings.user
        try:
            pk = await self._my_pk()
        except (MalformedResponse, NotFound, PermissionDenied) as exc:
            # The form is auxiliary: tickets still sync (the agents pull says what is
            # missing), only "assigned to me" cannot match until it can be read again.
            log.warning("%s: users could not be read (%s)", self.settings.name, exc)
            return WhoAmI(f"user:{name}", name, name.lower(), "agent")
        if pk is None:
            raise ConnectorError(
                f"django-helpdesk at {self.web_url} lists no user {self.settings.user!r} for "
                f"account {self.settings.name} — check the account's user name"
            )
        return WhoAmI(pk, name, name.lower(), "agent")

    async def _check_token(self) -> None:
        if not self._checked:
            await self._api.get_json(
                f"{API}/tickets/", params={"page_size": 1}, action="check the token"
            )
            self._checked = True

    async def _my_pk(self) -> str | None:
        directory = await self._directory_once()
        wanted = self.settings.user.lower()
        return next((pk for pk, name in directory.users.items() if name.lower() == wanted), None)

    async def _directory_once(self) -> _Directory:
        """Users and queues from the API's browsable form (the API lists neither)."""
        now = asyncio.get_running_loop().time()
        if self._directory is None or now - self._directory[0] >= REUSE_SECONDS:
            action = "read the user and queue choices of the ticket form"
            response = await self._api.request(
                "GET",
                f"{API}/tickets/",
                params={"page_size": 1},
                headers={"Accept": "text/html"},
                action=action,
            )
            parser = _SelectOptions(("assigned_to", "queue"))
            parser.feed(response.text)
            if not parser.options["queue"]:
                raise self._api.malformed(
                    action, "no queue choices: the site may have turned DRF's browsable API off"
                )
            users, queues = parser.options["assigned_to"], parser.options["queue"]
            self._directory = (now, _Directory(users, queues))
        return self._directory[1]

    # ------------------------------------------------------------ pull
    async def pull(self, resource: str, cursor: str | None) -> AsyncIterator[Page]:  # type: ignore[override]
        if resource == "teams":
            directory = await self._directory_once()
            teams = tuple(TeamRecord(pk, title) for pk, title in directory.queues.items())
            yield Page("teams", None, False, teams=teams)
        elif resource == "agents":
            directory = await self._directory_once()
            agents = tuple(
                AgentRecord(external_id=pk, name=name, email=name.lower())
                for pk, name in directory.users.items()
            )
            yield Page("agents", None, False, agents=agents)
        elif resource == "tickets":
            async for page in self._pull_tickets(OpenTicketHashes.decode(cursor)):
                yield page
        else:
            raise ValueError(f"django-helpdesk has no resource {resource!r}")

    async def _pull_tickets(self, cursor: OpenTicketHashes | None) -> AsyncIterator[Page]:
        """One polling round: every open ticket is listed, the changed ones are returned.

        Tickets that were open last round and are no longer listed are read one by one
        (resolved: their new state; 404: deleted). The first round also brings the tickets
        resolved within the cache window (one listing of the resolved ones).
        """
        known = dict(cursor.hashes) if cursor else {}
        seen: dict[str, str] = {}
        since = utcnow() - timedelta(days=self.settings.cache_days)
        async for items, _ in self._listing(OPEN_CODES, action="list open tickets"):
            changed: list[Fields] = []
            for item in items:
                ident = item.id()
                fingerprint = content_hash(item.whole())
                if (
                    ident not in known
                    and not self.settings.cache_open
                    and _last_activity(item) < since
                ):
                    continue  # an old open ticket: the cache policy leaves it out
                seen[ident] = fingerprint
                if known.get(ident) != fingerprint:
                    changed.append(item)
            # Tickets not listed yet keep their old hash until the round is over.
            yield self._page(changed, OpenTicketHashes({**known, **seen}).encode(), more=True)
        left = [ident for ident in known if ident not in seen]
        if cursor is None:
            async for items, _ in self._listing(DONE_CODES, action="list resolved tickets"):
                recent = [t for t in items if _last_activity(t) >= since]
                if recent:
                    yield self._page(recent, OpenTicketHashes(seen).encode(), more=True)
        gone: list[str] = []
        resolved: list[Fields] = []
        for ident in left:
            try:
                resolved.append(await self._read_ticket(ident))
            except NotFound:
                gone.append(ident)
        page = self._page(resolved, OpenTicketHashes(seen).encode(), more=False)
        yield Page(
            page.resource, page.cursor, False, conversations=page.conversations,
            contacts=page.contacts, deleted_conversation_ids=tuple(gone),
        )  # fmt: skip

    def _page(self, tickets: list[Fields], cursor: str | None, *, more: bool) -> Page:
        contacts: dict[str, ContactRecord] = {}
        for ticket in tickets:
            contact = _contact(ticket)
            if contact is not None:
                contacts.setdefault(contact.external_id, contact)
        return Page(
            "tickets",
            cursor,
            more,
            conversations=tuple(self._conversation(t) for t in tickets),
            contacts=tuple(contacts.values()),
        )

    def _conversation(self, ticket: Fields) -> ConversationRecord:
        ident = ticket.id()
        followups = ticket.objects("followup_set")
        submitter = _submitter(ticket)
        messages = tuple(self._message(f, submitter) for f in followups if _shown(f))
        dates = [parse_timestamp(f.text("date")) for f in followups if f.has("date")]
        now = utcnow()
        code = ticket.number("status", OPEN)
        on_hold = ticket.flag("on_hold")
        solved = [
            parse_timestamp(f.text("date"))
            for f in followups
            if f.number("new_status", 0) in DONE_CODES and f.has("date")
        ]
        vendor_status = VENDOR_STATUS.get(code, str(code)) + (" (on hold)" if on_hold else "")
        return ConversationRecord(
            external_id=ident,
            channel="email",
            subject=ticket.text("title", ""),
            status=status_from(code, on_hold),
            vendor_status=vendor_status,
            priority=priority_from(ticket.number("priority", 3)),
            created_at=min(dates, default=now),
            updated_at=max(dates, default=now),
            version=content_hash(ticket.whole()),
            customer_external_id=submitter,
            assignee_external_id=ticket.opt_id("assigned_to"),
            team_external_id=ticket.opt_id("queue"),
            tags=(),
            web_url=f"{self.web_url}/tickets/{ident}/",
            messages=messages,
            solved_at=max(solved) if solved and code in DONE_CODES else None,
        )

    def _message(self, followup: Fields, submitter: str | None) -> MessageRecord:
        user = followup.opt_id("user")
        comment = followup.opt_text("comment") or ""
        names = self._directory[1].users if self._directory else {}
        attachments = tuple(
            Attachment(
                name=a.text("filename", ""),
                size=a.number("size", 0),
                content_type=a.opt_text("mime_type") or "",
                url=self._api.same_origin(a.opt_text("file") or ""),
            )
            for a in followup.objects("followupattachment_set")
        )
        common = {
            "external_id": followup.id(),
            "created_at": parse_timestamp(followup.text("date")),
            "channel": "email",
            "attachments": attachments,
        }
        new = followup.number("new_status", 0)
        if not comment.strip() and new:
            return MessageRecord(
                kind="event",
                author_kind="agent" if user else "system",
                author_name=names.get(user or "", "django-helpdesk"),
                body=f"Status changed to {VENDOR_STATUS.get(new, new)}",
                author_external_id=user,
                **common,  # type: ignore[arg-type]
            )
        if user is None:  # from the customer's mail or the public form
            return MessageRecord(
                kind="reply",
                author_kind="customer",
                author_name=submitter or "customer",
                body=comment.strip(),
                author_external_id=submitter,
                **common,  # type: ignore[arg-type]
            )
        return MessageRecord(
            kind="reply" if followup.flag("public") else "note",
            author_kind="agent",
            author_name=names.get(user, f"user {user}"),
            body=comment.strip(),
            author_external_id=user,
            **common,  # type: ignore[arg-type]
        )

    # ------------------------------------------------------------ cache policy
    async def open_backlog(self) -> AsyncIterator[Page]:
        """Open tickets whose last follow-up is older than the cache window."""
        bound = self.settings.backlog_before()
        async for items, more in self._listing(OPEN_CODES, action="list older open tickets"):
            old = [t for t in items if _last_activity(t) < bound]
            yield self._page(old, None, more=more)

    async def contact_history(self, contact_external_id: str) -> AsyncIterator[Page]:
        """Every ticket submitted from the contact's email (their external id).

        The API cannot filter by submitter, so one listing of all tickets (kept for a minute)
        serves a whole batch of customers."""
        email = contact_external_id.strip().lower()
        tickets = [t for t in await self._every_ticket() if _submitter(t) == email]
        yield self._page(tickets, None, more=False)

    async def _every_ticket(self) -> list[Fields]:
        loop = asyncio.get_running_loop()
        if self._all_tickets is not None and loop.time() - self._all_tickets[0] < REUSE_SECONDS:
            return self._all_tickets[1]
        tickets: list[Fields] = []
        async for items, _ in self._listing(None, action="list tickets for customer histories"):
            tickets.extend(items)
        self._all_tickets = (loop.time(), tickets)
        return tickets

    # ------------------------------------------------------------ writes (push)
    async def fetch_state(self, external_id: str) -> RemoteState:
        return _state(await self._read_ticket(external_id))

    async def apply(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        ident = request.conversation_external_id
        payload = request.payload
        if request.action in ("reply", "note"):
            text = payload.get("text")
            if not isinstance(text, str) or not text.strip():
                raise Invalid(f"a {request.action} to ticket {ident} needs some text")
            message = await self._post_followup(ident, text, public=request.action == "reply")
            after = await self._read_ticket(ident)
            return WriteResult(version=content_hash(after.whole()), message_external_id=message)
        if request.action == "tags":
            raise Invalid(f"django-helpdesk has no tags, so agentdesk cannot tag ticket {ident}")
        if request.action not in ("status", "priority", "assign"):
            raise Invalid(f"django-helpdesk has no {request.action}; agentdesk keeps it locally")
        field, changes = _changes(request)
        return WriteResult(version=await self._update(ident, field, changes, current))

    async def _post_followup(self, ident: str, text: str, *, public: bool) -> str:
        # No title: a follow-up's title replaces the ticket's.
        what = "reply to" if public else "add a note to"
        data = await self._api.request_json(
            "POST",
            f"{API}/followups/",
            json_body={"ticket": int(ident), "comment": literal_comment(text), "public": public},
            action=f"{what} ticket {ident}",
        )
        return self._f(data, f"{what} ticket {ident}").id()

    async def _update(
        self, ident: str, field: str, changes: dict[str, object], current: RemoteState
    ) -> str:
        """PATCH only `changes`, guarded by a fresh read of the one field (`field` of
        RemoteState) and verified by reading it back; the ticket's new content hash."""
        before = _state(await self._read_ticket(ident))
        if getattr(before, field) != getattr(current, field):
            # A colleague changed it since the push engine's check: let it look again.
            raise ConflictError(f"ticket {ident} changed on django-helpdesk while sending")
        await self._api.request_json(
            "PATCH", f"{API}/tickets/{int(ident)}/", json_body=changes,
            action=f"update ticket {ident}", idempotent=True,
        )  # fmt: skip
        after = await self._read_ticket(ident)
        failed = [k for k, v in changes.items() if after.raw(k) != v]
        if failed:
            raise ConflictError(
                f"django-helpdesk did not keep {', '.join(failed)} of ticket {ident}: someone "
                "changed it at the same moment"
            )
        return content_hash(after.whole())

    async def find_sent(self, request: MutationRequest) -> str | None:
        """Check-before-resend: the follow-up a lost reply/note already created, or None.

        Matched by visibility, author (this user), text (stored exactly, see
        `literal_comment`) and a date no earlier than the request (less clock skew)."""
        if request.action not in ("reply", "note"):
            return None
        text = request.payload.get("text")
        if not isinstance(text, str):
            return None
        ticket = await self._read_ticket(request.conversation_external_id)
        try:
            me = await self._my_pk()
        except ConnectorError:  # the user list is unreadable: match without the author
            me = None
        after = (request.created_at - SENT_CLOCK_SKEW) if request.created_at else None
        wanted = _comparable(text)
        for followup in ticket.objects("followup_set"):
            if followup.flag("public") is not (request.action == "reply"):
                continue
            if me is not None and followup.opt_id("user") != me:
                continue
            if after is not None and parse_timestamp(followup.text("date")) < after:
                continue
            if _comparable(followup.opt_text("comment") or "") == wanted:
                return followup.id()
        return None


# ---------------------------------------------------------------- helpers
def _changes(request: MutationRequest) -> tuple[str, dict[str, object]]:
    """(the RemoteState field guarded, the ticket fields to PATCH) for one field change."""
    payload, ident = request.payload, request.conversation_external_id
    if request.action == "status":
        status = payload.get("status")
        if status in ("new", "open"):
            return "status", {"status": OPEN, "on_hold": False}
        if status in ("pending", "on_hold"):
            return "status", {"status": OPEN, "on_hold": True}
        if status == "solved":
            return "status", {"status": RESOLVED, "on_hold": False}
        if status == "closed":
            return "status", {"status": CLOSED, "on_hold": False}
        raise Invalid(f"{status!r} is not a status agentdesk can set in django-helpdesk")
    if request.action == "priority":
        priority = payload.get("priority")
        if priority not in PRIORITY_TO_DJH:
            raise Invalid(f"{priority!r} is not a priority")
        return "priority", {"priority": PRIORITY_TO_DJH[priority]}  # type: ignore[index]
    if payload.get("unassign"):
        return "assignee_external_id", {"assigned_to": None}
    if agent := payload.get("agent_external_id"):
        return "assignee_external_id", {"assigned_to": int(str(agent))}
    if team := payload.get("team_external_id"):
        return "team_external_id", {"queue": int(str(team))}
    raise Invalid(f"an assignment of ticket {ident} needs an agent or a queue")


def _state(ticket: Fields) -> RemoteState:
    dates = [parse_timestamp(f.text("date")) for f in ticket.objects("followup_set")]
    return RemoteState(
        version=content_hash(ticket.whole()),
        status=status_from(ticket.number("status", OPEN), ticket.flag("on_hold")),
        priority=priority_from(ticket.number("priority", 3)),
        assignee_external_id=ticket.opt_id("assigned_to"),
        team_external_id=ticket.opt_id("queue"),
        tags=(),
        updated_by=None,  # the API does not say who changed a ticket's fields
        updated_at=max(dates, default=None),
    )


def _last_activity(ticket: Fields) -> datetime:
    """The last follow-up's date: the API has no modified time (a ticket without any
    follow-up counts as active now, so it is never left out)."""
    dates = [parse_timestamp(f.text("date")) for f in ticket.objects("followup_set")]
    return max(dates, default=utcnow())


def _shown(followup: Fields) -> bool:
    """A follow-up that says something: a comment, a status change or an attachment."""
    return bool(
        (followup.opt_text("comment") or "").strip()
        or followup.number("new_status", 0)
        or followup.objects("followupattachment_set")
    )


def _submitter(ticket: Fields) -> str | None:
    email = (ticket.opt_text("submitter_email") or "").strip().lower()
    return email or None


def _contact(ticket: Fields) -> ContactRecord | None:
    email = _submitter(ticket)
    if email is None:
        return None
    return ContactRecord(external_id=email, name=email, identities=(Identity("email", email),))
