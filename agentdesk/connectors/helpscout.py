"""Help Scout (Mailbox API 2.0): vendor JSON in, agentdesk records out; writes back.

Sign-in: OAuth 2 client credentials. The account's `user` is the app id, its secret the app
secret (Help Scout: Your Profile → My Apps); `POST /v2/oauth2/token` (form-encoded) trades them
for an access token that expires (`expires_in`, two days). Only that access token travels with
API calls. A token that expires mid-sync answers 401: it is renewed (once, however many requests
were in flight) and the SAME request sent again, so no page is lost; an app id and secret the
token endpoint refuses is a real sign-in failure, one sentence.

Read: mailboxes (agentdesk's teams: Help Scout's queue), users (agents), then
`GET /v2/conversations?mailbox=…&status=all&modifiedSince=…&sortField=modifiedAt&sortOrder=asc
&embed=threads&page=N` (HAL: `_embedded.conversations`, `page`, `_links.next`), customers by id
(`_embedded` emails, phones, social profiles). A page-numbered list ordered by modification
shifts when a conversation changes mid-walk, so after each page that moves the cursor the walk
starts again at page 1 from the newest `userUpdatedAt` seen; `modifiedSince` is asked one second
early and the conversations of the boundary second already delivered are skipped, which is right
whether the server's bound is inclusive or strict.

Cursor: `<ISO second>|<ids delivered at that second>`. The fast lane (`recent`) reads the same
list sorted `modifiedAt` descending, from `modifiedSince` one second early.

Write: reply and note are `POST /conversations/{id}/reply|notes` (201, the thread id in
`Resource-ID`); status, assignee and mailbox moves are one JSON-patch operation each on `PATCH
/conversations/{id}`; tags are `PUT /conversations/{id}/tags` with the whole list. Help Scout has
no priority, no version check and no idempotency key: a field write re-reads the conversation and
refuses (ConflictError) when `userUpdatedAt` moved since the state the push engine checked, tags
are set operations on the server's current tags, and an ambiguous reply is looked for
(`find_sent`) before it is sent again. Snooze is `PUT /conversations/{id}/snooze` (ended by the
customer's next reply, like a snooze set in Help Scout's own inbox), `DELETE` to wake it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from datetime import datetime, timedelta
from typing import ClassVar

import httpx

from agentdesk.connectors.base import (
    AccountSettings,
    AuthError,
    Capabilities,
    ConflictError,
    ConnectorError,
    Delivered,
    FastLane,
    Invalid,
    NotFound,
    PermissionDenied,
    Recent,
    pick_recent,
    reads_on,
)
from agentdesk.connectors.freshdesk import text_to_html
from agentdesk.connectors.http import (
    DEFAULT_POLICY,
    ApiClient,
    Fields,
    HttpPolicy,
    Params,
    count_requests,
    decode_json,
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
    IdentityKind,
    MessageKind,
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
from agentdesk.timeutil import parse_timestamp, to_iso, utcnow

log = logging.getLogger(__name__)

TOKEN_PATH = "/v2/oauth2/token"
WEB_URL = "https://secure.helpscout.net/conversation"  # + /{id}/{number}/ in Help Scout's app
REFRESH_MARGIN = 60.0  # seconds before `expires_in` runs out that a token is renewed
SIGN_IN_ATTEMPTS = 4  # a request that meets more expired tokens than this is refused for real

_STATUS: dict[str, tuple[Status, str]] = {
    "active": ("open", "active"),
    "pending": ("pending", "pending"),
    "closed": ("solved", "closed"),  # Help Scout's closed reopens on a reply: agentdesk's solved
    "spam": ("closed", "spam"),
}
# agentdesk status → Help Scout status written (Help Scout has no new, hold or final close).
_STATUS_CODE: dict[str, str] = {
    "new": "active", "open": "active", "pending": "pending", "on_hold": "pending",
    "solved": "closed", "closed": "closed",
}  # fmt: skip
# Conversation `type` and `source.type` → channel.
_CHAT_SOURCES: dict[str, Channel] = {
    "sms": "sms", "whatsapp": "social", "facebook": "social", "messenger": "social",
    "instagram": "social", "twitter": "social",
}  # fmt: skip
_WEB_SOURCES = frozenset({"web", "form"})  # the contact form / Beacon's form
_SOCIAL: dict[str, IdentityKind] = {
    "twitter": "twitter", "facebook": "facebook", "instagram": "instagram",
}  # fmt: skip
_RATING = {"great": "good", "okay": "neutral", "not-good": "bad"}


def map_status(status: str) -> tuple[Status, str]:
    """Help Scout's status → (agentdesk status, Help Scout's own word)."""
    return _STATUS.get(status, ("open", status))


def status_code(status: str) -> str:
    return _STATUS_CODE[status]


def map_channel(kind: str, source: str | None) -> Channel:
    """A conversation's `type` (email, chat, phone) and `source.type` → agentdesk's channel."""
    if kind == "phone":
        return "voice"
    if kind == "chat":
        return _CHAT_SOURCES.get(source or "", "chat")
    return "web" if source in _WEB_SOURCES else "email"


def map_role(role: str | None) -> Role:
    return "admin" if role in ("owner", "admin") else "agent"


def _name(person: Fields, first: str = "first", last: str = "last") -> str:
    return " ".join(p for p in (person.text(first, ""), person.text(last, "")) if p).strip()


class _AccessToken(httpx.Auth):
    """Bearer auth with the current access token (never the app secret), attached when the
    request is sent; a 401 for the very token still current marks it expired."""

    def __init__(self) -> None:
        self.value: str | None = None
        self.renew_at = 0.0  # monotonic: a little before `expires_in` runs out

    def __repr__(self) -> str:
        return "_AccessToken()"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        used = self.value
        if used is not None and request.url.path != TOKEN_PATH:
            request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code == 401 and used is not None and used == self.value:
            self.renew_at = 0.0  # expired (or revoked): the next sign-in renews it

    @property
    def due(self) -> bool:
        return self.value is None or time.monotonic() >= self.renew_at


class HelpScoutConnector:
    kind: ClassVar[str] = "helpscout"
    label: ClassVar[str] = "Help Scout"
    capabilities: ClassVar[Capabilities] = Capabilities(
        can_set_priority=False,  # Help Scout conversations have no priority
        can_snooze=True,  # PUT/DELETE /conversations/{id}/snooze
        can_safe_update=False,  # no version check: userUpdatedAt compared before writing
        has_idempotency_keys=False,  # check-before-resend (find_sent)
        has_incremental_export=False,  # modifiedSince on the list, not an export
    )
    resources: ClassVar[tuple[str, ...]] = ("mailboxes", "users", "conversations")
    # Help Scout's Mailbox API: 200 requests a minute on the Standard plan (its "Rate
    # Limiting" page; Plus 400, Pro 800).
    fast_lane: ClassVar[FastLane] = FastLane("poll", rate_limit_per_minute=200)
    user_prompt: ClassVar[str] = "app id"
    secret_prompt: ClassVar[str] = "app secret"
    """What `accounts add` asks for: the account's user is the app id, its secret the app's."""

    @staticmethod
    def keyring_secret(user: str, secret: str) -> str:
        """What `accounts add` keeps in the keyring: the app id with its secret."""
        return f"{user}:{secret}"

    def __init__(
        self,
        settings: AccountSettings,
        token: str,
        *,
        policy: HttpPolicy = DEFAULT_POLICY,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._app_id, self._secret = app_credentials(settings.user, token)
        base = settings.base_url.rstrip("/")
        self.base_url = base[: -len("/v2")] if base.endswith("/v2") else base
        self._auth = _AccessToken()
        self._refreshing = asyncio.Lock()
        self._http = ApiClient(
            dataclasses.replace(settings, base_url=self.base_url),
            vendor=self.label, auth=self._auth, policy=policy, transport=transport, sleep=sleep,
        )  # fmt: skip
        self._me: WhoAmI | None = None
        self._mailboxes: list[str] = []
        self._contacts_seen: set[str] = set()
        self._customer_of: dict[str, str] = {}  # conversation id → primary customer id
        self._delivered = Delivered()

    def __repr__(self) -> str:
        return f"HelpScoutConnector(account={self.settings.name!r}, url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------ sign-in
    async def _sign_in(self) -> None:
        """A new access token when the current one is due (another request may have renewed
        it while this one waited)."""
        async with self._refreshing:
            if not self._auth.due:
                return
            try:
                data = await self._http.request_json(
                    "POST", TOKEN_PATH, action="sign in with the app id and secret",
                    form={"grant_type": "client_credentials", "client_id": self._app_id,
                          "client_secret": self._secret},
                    idempotent=True,
                )  # fmt: skip
            except (AuthError, Invalid):
                raise AuthError(
                    f"Help Scout rejected the app id and secret of account {self.settings.name}"
                    f" — run `agentdesk accounts add {self.settings.name} --connector helpscout`"
                    " again with the app's id and secret (Help Scout: Your Profile → My Apps)"
                ) from None
            body = self._fields(data, "access token")
            self._auth.value = body.text("access_token")
            lifetime = float(body.number("expires_in", 7200))
            self._auth.renew_at = time.monotonic() + lifetime - min(REFRESH_MARGIN, lifetime / 2)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        action: str,
        params: Params | None = None,
        json_body: object = None,
    ) -> httpx.Response:
        """One API call with a live access token: renewed when due and after a 401."""
        for attempt in range(SIGN_IN_ATTEMPTS):
            if self._auth.due:
                await self._sign_in()
            try:
                return await self._http.request(
                    method, path, params=params, json_body=json_body, action=action
                )
            except PermissionDenied:
                raise
            except AuthError:
                # Expired since it was issued. A 401 applied nothing, so the same request goes
                # again with a new token; refused again and again, it is a real failure.
                if attempt == SIGN_IN_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _get(self, path: str, *, action: str, params: Params | None = None) -> Fields:
        response = await self._send("GET", path, params=params, action=action)
        try:
            data = decode_json(response)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise self._http.malformed(action, "a body that is not JSON") from None
        return self._fields(data, action)

    # ------------------------------------------------------------ plumbing
    def _fields(self, data: object, what: str) -> Fields:
        return read_fields(self._http, data, what)

    def _time(self, fields: Fields, key: str) -> datetime:
        return read_time(self._http, fields, key)

    async def _pages(
        self, path: str, params: dict[str, str | int], key: str, *, action: str
    ) -> AsyncIterator[tuple[list[Fields], bool]]:
        """Each page of a HAL list (`_embedded.<key>`) and whether `_links.next` follows."""
        number = 1
        while True:
            body = await self._get(path, params={**params, "page": number}, action=action)
            items, more = hal_page(body, key)
            yield items, more
            if not more:
                return
            number += 1

    # ------------------------------------------------------------ who am I
    async def whoami(self) -> WhoAmI:
        me = await self._get("/v2/users/me", action="check who is signed in")
        self._me = WhoAmI(
            external_id=me.id(),
            name=_name(me, "firstName", "lastName"),
            email=normalise_email(me.opt_text("email")) or "",
            role=map_role(me.opt_text("role")),
        )
        return self._me

    # ------------------------------------------------------------ pull
    def pull(self, resource: str, cursor: str | None) -> AsyncIterator[Page]:
        if resource == "mailboxes":
            return self._pull_mailboxes()
        if resource == "users":
            return self._pull_users()
        if resource == "conversations":
            return self._pull_conversations(cursor)
        raise ConnectorError(
            f"the Help Scout connector has no resource {resource!r} "
            f"(it has {', '.join(self.resources)})"
        )

    async def _pull_mailboxes(self) -> AsyncIterator[Page]:
        teams: list[TeamRecord] = []
        pages = self._pages("/v2/mailboxes", {}, "mailboxes", action="list mailboxes")
        async for items, _ in pages:
            teams.extend(TeamRecord(m.id(), m.text("name", "")) for m in items)
        self._mailboxes = [t.external_id for t in teams]
        yield Page("mailboxes", cursor=None, more=False, teams=tuple(teams))

    async def _pull_users(self) -> AsyncIterator[Page]:
        agents: list[AgentRecord] = []
        async for items, _ in self._pages("/v2/users", {}, "users", action="list users"):
            agents.extend(
                AgentRecord(
                    external_id=u.id(),
                    name=_name(u, "firstName", "lastName"),
                    email=normalise_email(u.opt_text("email")) or "",
                    role=map_role(u.opt_text("role")),
                    presence=None,  # the Mailbox API has no agent presence
                )
                for u in items
                if u.text("type", "user") == "user"
            )
        yield Page("users", cursor=None, more=False, agents=tuple(agents))

    def _since(self, cursor: str | None) -> tuple[datetime, set[str]]:
        if cursor:
            moment, _, ids = cursor.partition("|")
            try:
                return parse_timestamp(moment), {i for i in ids.split(",") if i}
            except ValueError:
                log.warning("%s: unreadable conversations cursor, restarting", self.settings.name)
        return utcnow() - timedelta(days=max(1, self.settings.cache_days)), set()

    def _list_params(self, status: str) -> dict[str, str | int]:
        params: dict[str, str | int] = {
            "status": status, "sortField": "modifiedAt", "sortOrder": "asc", "embed": "threads",
        }  # fmt: skip
        if self._mailboxes:
            params["mailbox"] = ",".join(self._mailboxes)
        return params

    async def _pull_conversations(self, cursor: str | None) -> AsyncIterator[Page]:
        since, boundary = self._since(cursor)
        action = "list conversations"
        number = 1
        while True:
            params = self._list_params("all")
            params["modifiedSince"] = to_iso(since - timedelta(seconds=1))
            params["page"] = number
            body = await self._get("/v2/conversations", params=params, action=action)
            items, more = hal_page(body, "conversations")
            fresh: list[Fields] = []
            moved = False
            for c in items:
                stamp = self._time(c, "userUpdatedAt")
                if stamp < since or (stamp == since and c.id() in boundary):
                    continue  # delivered already (the early second, or the boundary's ids)
                if stamp > since:
                    since, boundary, moved = stamp, set(), True
                boundary.add(c.id())
                fresh.append(c)
            cursor_text = to_iso(since) + "|" + ",".join(sorted(boundary))
            if fresh:
                yield await self._page("conversations", fresh, cursor_text)
            if not more:
                break
            # The cursor moved: walk again from its first page, which no change can shift.
            number = 1 if moved else number + 1
        yield Page("conversations", cursor=to_iso(since) + "|" + ",".join(sorted(boundary)),
                   more=False)  # fmt: skip

    async def recent(self, since: datetime | None) -> Recent:
        """Conversations modified lately, newest first (`sortField=modifiedAt&sortOrder=desc`,
        `modifiedSince` one second early as the pull asks, threads embedded: a quiet poll is
        one request), changed at or after `since`. The pull confirms them later."""
        with count_requests() as sent:
            params = {**self._list_params("all"), "sortOrder": "desc"}
            if since is not None:
                params["modifiedSince"] = to_iso(since - timedelta(seconds=1))
            listed: list[Fields] = []
            pages = 0
            async for items, more in self._pages(
                "/v2/conversations", params, "conversations",
                action="list recently modified conversations",
            ):  # fmt: skip
                pages += 1
                listed += items
                times = [self._time(c, "userUpdatedAt") for c in items]
                if not reads_on(since, times, more, pages):
                    break
            pick = pick_recent(
                since, listed, self._delivered, version=lambda c: c.text("userUpdatedAt"),
                updated=lambda c: self._time(c, "userUpdatedAt"),
            )  # fmt: skip
            page = await self._page("conversations", pick.changed, None)
            return Recent(dataclasses.replace(page, more=False), pick.handed_on(), sent())

    async def _page(self, resource: str, found: list[Fields], cursor: str | None) -> Page:
        # Deleted ones leave the cache; drafts are not conversations with a customer yet.
        deleted = tuple(c.id() for c in found if c.text("state", "published") == "deleted")
        items = [c for c in found if c.text("state", "published") == "published"]
        customers: dict[str, Fields] = {}
        for c in items:
            primary = c.obj("primaryCustomer")
            if primary is not None and primary.has("id"):
                customers.setdefault(primary.id(), primary)
                self._customer_of[c.id()] = primary.id()
        missing = sorted(set(customers) - self._contacts_seen)
        fetched = await asyncio.gather(*(self._customer(i, customers[i]) for i in missing))
        threads = await asyncio.gather(*(self._threads(c) for c in items))
        conversations = tuple(
            self._conversation(c, messages) for c, messages in zip(items, threads, strict=True)
        )
        return Page(resource, cursor=cursor, more=True, conversations=conversations,
                    contacts=tuple(fetched), deleted_conversation_ids=deleted)  # fmt: skip

    # ------------------------------------------------------------ customers
    async def _customer(self, customer_id: str, ref: Fields) -> ContactRecord:
        """The customer with their emails and phones; the conversation's reference to them
        when the customer cannot be read (deleted, or not visible to this app)."""
        self._contacts_seen.add(customer_id)
        try:
            c = await self._get(f"/v2/customers/{customer_id}", action="read a customer")
        except (NotFound, PermissionDenied):
            email = normalise_email(ref.opt_text("email"))
            return ContactRecord(
                external_id=customer_id,
                name=_name(ref) or email or f"Help Scout customer {customer_id}",
                identities=(Identity("email", email),) if email else (),
            )
        return self._contact(c)

    def _contact(self, c: Fields) -> ContactRecord:
        language = c.opt_text("language")
        identities: list[Identity] = []

        def add(identity: Identity) -> None:
            if identity not in identities:
                identities.append(identity)

        embedded = c.obj("_embedded")
        for entry in embedded.objects("emails") if embedded else []:
            email = normalise_email(entry.opt_text("value"))
            if email:
                add(Identity("email", email))
        for entry in embedded.objects("phones") if embedded else []:
            phone = normalise_phone(entry.opt_text("value"), language)
            if phone:
                add(Identity("phone", phone))
        for entry in embedded.objects("social_profiles") if embedded else []:
            kind = _SOCIAL.get(entry.text("type", ""))
            value = (entry.opt_text("value") or "").strip()
            if kind and value:
                add(Identity(kind, "@" + value.lstrip("@").lower() if kind == "twitter" else value))
        attributes: dict[str, AttributeValue] = {}
        for prop in c.objects("properties"):
            value = prop.raw("value")
            if isinstance(value, (str, int, float, bool)) and value != "":
                attributes[prop.text("slug", prop.text("name", "property"))] = value
        for key, name in (("jobTitle", "job_title"), ("organization", "organization"),
                          ("location", "location"), ("background", "background")):  # fmt: skip
            if c.opt_text(key):
                attributes[name] = c.text(key)
        if language:
            attributes["language"] = language
        customer_id = c.id()
        name = _name(c, "firstName", "lastName") or (identities[0].value if identities else "")
        return ContactRecord(
            external_id=customer_id,
            name=name or f"Help Scout customer {customer_id}",
            identities=tuple(identities),
            attributes=attributes,
            created_at=self._time(c, "createdAt") if c.has("createdAt") else None,
            updated_at=self._time(c, "updatedAt") if c.has("updatedAt") else None,
        )

    # ------------------------------------------------------------ conversations
    def _conversation(self, c: Fields, items: list[Fields]) -> ConversationRecord:
        conversation_id = c.id()
        status, vendor_status = map_status(c.text("status", "active"))
        source = c.obj("source")
        channel = map_channel(c.text("type", "email"), source.opt_text("type") if source else None)
        assignee = c.obj("assignee")
        primary = c.obj("primaryCustomer")
        # Help Scout lists threads newest first: reversed, a stable sort keeps same-second order.
        messages = tuple(
            sorted(
                (m for m in (self._message(t, channel) for t in reversed(items)) if m is not None),
                key=lambda m: m.created_at,
            )
        )
        return ConversationRecord(
            external_id=conversation_id,
            channel=channel,
            subject=c.text("subject", ""),
            status=status,
            vendor_status=vendor_status,
            priority="normal",  # Help Scout has no priority
            created_at=self._time(c, "createdAt"),
            updated_at=self._time(c, "userUpdatedAt"),
            version=c.text("userUpdatedAt"),
            customer_external_id=primary.id() if primary and primary.has("id") else None,
            assignee_external_id=_assignee(assignee),
            team_external_id=c.opt_id("mailboxId"),
            tags=tuple(t.text("tag") for t in c.objects("tags") if t.opt_text("tag")),
            web_url=_href(c, "web") or f"{WEB_URL}/{conversation_id}/{c.text('number', '')}/",
            satisfaction=_satisfaction(items),
            snoozed_until=self._snoozed_until(c),
            messages=messages,
            solved_at=self._time(c, "closedAt") if status == "solved" and c.opt_text("closedAt")
            else None,
        )  # fmt: skip

    async def _threads(self, c: Fields) -> list[Fields]:
        """The conversation's threads: embedded in the list, else read page by page."""
        embedded = c.obj("_embedded")
        if embedded is not None and embedded.has("threads"):
            return embedded.objects("threads")
        return await self._read_threads(c.id())

    async def _read_threads(self, conversation_id: str) -> list[Fields]:
        out: list[Fields] = []
        async for items, _ in self._pages(
            f"/v2/conversations/{conversation_id}/threads", {}, "threads",
            action=f"read the threads of conversation {conversation_id}",
        ):  # fmt: skip
            out.extend(items)
        return out

    def _message(self, t: Fields, channel: Channel) -> MessageRecord | None:
        if t.text("state", "published") != "published":
            return None  # drafts and threads held for review are not part of the thread yet
        kind_word = t.text("type", "message")
        author = t.obj("createdBy")
        author_type = author.text("type", "user") if author else "user"
        kind: MessageKind = "reply"
        author_kind: AuthorKind = "customer" if author_type == "customer" else "agent"
        body = html_to_text(t.text("body", "")) if t.opt_text("body") else ""
        if kind_word == "note":
            kind = "note"
        elif kind_word in ("lineitem", "forwardparent", "forwardchild"):
            kind, author_kind = "event", "system"
            action = t.obj("action")
            body = body or (action.text("text", "") if action else "") or kind_word
        elif kind_word == "customer":
            author_kind = "customer"
        name = (_name(author) or author.text("email", "")) if author else ""
        embedded = t.obj("_embedded")
        attachments = tuple(
            Attachment(
                name=a.text("filename", "attachment"),
                size=a.number("size"),
                content_type=a.text("mimeType", "application/octet-stream"),
                url=_href(a, "web") or _href(a, "data"),
            )
            for a in (embedded.objects("attachments") if embedded else [])
        )
        return MessageRecord(
            external_id=t.id(),
            kind=kind,
            author_kind=author_kind,
            author_name=name or ("Help Scout" if author_kind == "system" else author_type),
            body=body.strip(),
            created_at=self._time(t, "createdAt"),
            channel="voice" if kind_word == "phone" else channel,
            author_external_id=author.opt_id("id") if author and author_kind != "system" else None,
            attachments=attachments,
        )

    # ------------------------------------------------------------ cache policy
    async def open_backlog(self) -> AsyncIterator[Page]:
        """Active and pending conversations last modified before the cache window: each list
        oldest first, read until the window starts."""
        before = self.settings.backlog_before()
        for status in ("active", "pending"):
            async for items, _ in self._pages(
                "/v2/conversations", self._list_params(status), "conversations",
                action=f"list {status} conversations",
            ):  # fmt: skip
                old = [c for c in items if self._time(c, "userUpdatedAt") < before]
                if old:
                    yield await self._page("open_backlog", old, None)
                if len(old) < len(items):
                    break  # the rest is inside the window: the incremental pull has it

    async def contact_history(self, contact_external_id: str) -> AsyncIterator[Page]:
        """Every conversation of the customer, across mailboxes, with its threads."""
        if not contact_external_id.isdigit():
            raise NotFound(f"Help Scout has no customer {contact_external_id!r}")
        params: dict[str, str | int] = {
            "status": "all", "query": f"(customerIds:{contact_external_id})",
            "sortField": "createdAt", "sortOrder": "asc", "embed": "threads",
        }  # fmt: skip
        async for items, _ in self._pages(
            "/v2/conversations", params, "conversations",
            action=f"list the conversations of customer {contact_external_id}",
        ):  # fmt: skip
            if items:
                yield await self._page("history", items, None)

    # ------------------------------------------------------------ writes
    async def _conversation_fields(self, external_id: str) -> Fields:
        c = await self._get(f"/v2/conversations/{external_id}", action="read a conversation")
        primary = c.obj("primaryCustomer")
        if primary is not None and primary.has("id"):
            self._customer_of[external_id] = primary.id()
        return c

    def _state(self, c: Fields) -> RemoteState:
        return RemoteState(
            version=c.text("userUpdatedAt"),
            status=map_status(c.text("status", "active"))[0],
            priority="normal",
            assignee_external_id=_assignee(c.obj("assignee")),
            team_external_id=c.opt_id("mailboxId"),
            tags=tuple(t.text("tag") for t in c.objects("tags") if t.opt_text("tag")),
            snoozed_until=self._snoozed_until(c),
            updated_at=self._time(c, "userUpdatedAt"),
        )

    def _snoozed_until(self, c: Fields) -> datetime | None:
        snooze = c.obj("snooze")
        if snooze is None or not snooze.opt_text("snoozedUntil"):
            return None
        return self._time(snooze, "snoozedUntil")

    async def fetch_state(self, external_id: str) -> RemoteState:
        return self._state(await self._conversation_fields(external_id))

    async def apply(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        conversation_id = request.conversation_external_id
        payload = request.payload
        if request.action in ("reply", "note"):
            return await self._post_thread(request)
        if request.action == "priority":
            raise Invalid(
                f"Help Scout has no priority (account {self.settings.name}); agentdesk does not "
                "send it — this is a bug in agentdesk if you see it, please report it"
            )
        # Help Scout checks no version: compare it ourselves right before writing.
        fresh = await self._conversation_fields(conversation_id)
        if fresh.text("userUpdatedAt") != current.version:
            raise ConflictError(
                f"conversation {conversation_id} changed on Help Scout (account "
                f"{self.settings.name}) since it was checked — agentdesk re-reads it and tries "
                "again"
            )
        path = f"/v2/conversations/{conversation_id}"
        if request.action == "snooze":
            until = payload.get("until")
            if until is None:
                await self._send("DELETE", f"{path}/snooze", action="wake the conversation")
            else:
                body = {"snoozedUntil": to_iso(parse_timestamp(str(until))),
                        "unsnoozeOnCustomerReply": True}  # fmt: skip
                await self._send("PUT", f"{path}/snooze", json_body=body, action="snooze it")
            return WriteResult()
        if request.action == "tags":
            add = [str(t) for t in payload.get("add", []) or []]  # type: ignore[union-attr]
            remove = {str(t) for t in payload.get("remove", []) or []}  # type: ignore[union-attr]
            tags = [t for t in self._state(fresh).tags if t not in remove]
            tags += [t for t in add if t not in tags]
            await self._send("PUT", f"{path}/tags", json_body={"tags": tags}, action="set the tags")
            return WriteResult()
        operation: dict[str, object]
        if request.action == "status":
            operation = {"op": "replace", "path": "/status",
                         "value": status_code(str(payload["status"]))}  # fmt: skip
        elif request.action == "assign" and payload.get("unassign"):
            operation = {"op": "remove", "path": "/assignTo"}
        elif request.action == "assign" and "agent_external_id" in payload:
            operation = {"op": "replace", "path": "/assignTo",
                         "value": int(str(payload["agent_external_id"]))}  # fmt: skip
        elif request.action == "assign" and payload.get("team_external_id") is not None:
            operation = {"op": "move", "path": "/mailboxId",
                         "value": int(str(payload["team_external_id"]))}  # fmt: skip
        else:
            raise Invalid(
                f"Help Scout cannot {request.action} this way (account {self.settings.name}): "
                "a conversation always sits in a mailbox"
            )
        await self._send("PATCH", path, json_body=operation, action=f"set the {request.action}")
        return WriteResult()

    async def _post_thread(self, request: MutationRequest) -> WriteResult:
        conversation_id = request.conversation_external_id
        body: dict[str, object] = {"text": text_to_html(str(request.payload.get("text", "")))}
        if request.action == "reply":
            customer = self._customer_of.get(conversation_id)
            if customer is None:
                await self._conversation_fields(conversation_id)
                customer = self._customer_of.get(conversation_id)
            if customer is None:
                raise Invalid(
                    f"conversation {conversation_id} on Help Scout (account "
                    f"{self.settings.name}) has no customer to reply to"
                )
            body["customer"] = {"id": int(customer)}
        tail = "reply" if request.action == "reply" else "notes"
        response = await self._send(
            "POST", f"/v2/conversations/{conversation_id}/{tail}", json_body=body,
            action=f"send a {request.action}",
        )  # fmt: skip
        return WriteResult(message_external_id=response.headers.get("resource-id") or None)

    async def find_sent(self, request: MutationRequest) -> str | None:
        """The thread this reply/note already created: by the signed-in user, of the same
        kind, with the same text, created no earlier than the mutation itself."""
        if request.action not in ("reply", "note"):
            return None
        me = self._me or await self.whoami()
        floor: datetime | None = request.created_at
        if floor is None:
            try:
                floor = parse_timestamp(request.base_version)
            except ValueError:
                floor = None
        wanted = " ".join(str(request.payload.get("text", "")).split())
        kind = "note" if request.action == "note" else "message"
        found: str | None = None
        for t in await self._read_threads(request.conversation_external_id):
            author = t.obj("createdBy")
            if t.text("type", "") != kind or author is None:
                continue
            if author.opt_id("id") != me.external_id:
                continue
            if floor is not None and self._time(t, "createdAt") < floor - timedelta(seconds=1):
                continue
            if " ".join(html_to_text(t.text("body", "")).split()) == wanted:
                found = t.id()
        return found


# ---------------------------------------------------------------- helpers
# `read_fields`, `read_time` and `hal_page` are what every connector repeats privately
# (freshdesk/zendesk `_fields`, `_time`): candidates for `connectors.http`.
def read_fields(http: ApiClient, data: object, what: str) -> Fields:
    """Typed reads from a vendor object; a wrong shape names what was being read."""
    return Fields(data, what, lambda problem: http.malformed(f"read {what}", problem))


def read_time(http: ApiClient, fields: Fields, key: str) -> datetime:
    """A vendor timestamp as an aware UTC datetime; unreadable is a MalformedResponse."""
    value = fields.text(key)
    try:
        return parse_timestamp(value)
    except ValueError:
        raise http.malformed("read a timestamp", f"{key}={value[:40]!r}") from None


def hal_page(body: Fields, key: str) -> tuple[list[Fields], bool]:
    """A HAL page's items (`_embedded.<key>`, absent when empty) and whether a next follows."""
    embedded = body.obj("_embedded")
    items = embedded.objects(key) if embedded is not None else []
    links = body.obj("_links")
    return items, bool(items) and links is not None and links.obj("next") is not None


def app_credentials(user: str, token: str) -> tuple[str, str]:
    """(app id, app secret) from the account's user and stored secret.

    `accounts add` keeps both in the keyring as `APP_ID:APP_SECRET`; a
    token command or environment variable may give the bare secret, the app id then being
    the account's user.
    """
    prefix = f"{user}:"
    return (user, token[len(prefix) :]) if token.startswith(prefix) else (user, token)


def _assignee(assignee: Fields | None) -> str | None:
    if assignee is None or assignee.text("type", "user") != "user" or not assignee.has("id"):
        return None  # unassigned (or assigned to a team, which agentdesk shows as unassigned)
    value = assignee.id()
    return None if value in ("0", "") else value


def _href(item: Fields, name: str) -> str:
    links = item.obj("_links")
    link = links.obj(name) if links else None
    return link.text("href", "") if link else ""


def _satisfaction(threads: list[Fields]) -> str | None:
    for t in threads:  # newest first: the latest rating counts
        rating = t.obj("rating")
        if rating is not None:
            return _RATING.get(rating.text("rating", ""))
    return None


__all__ = [
    "HelpScoutConnector",
    "app_credentials",
    "map_channel",
    "map_role",
    "map_status",
    "status_code",
]
