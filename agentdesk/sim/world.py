"""A deterministic, mutable helpdesk world: people, agents, groups, conversations, messages.

Shape of the data (vendor-neutral; a dialect such as `sim.zendesk` renders it as JSON):

* `Person` — a human being, derived from the seed ONLY (never from the instance or the scale),
  so two simulated backends started with the same seed know the same people: same names,
  emails and phones. Person `i` is the same for any scale.
* `User` — an account on one instance: an end-user (customer) for a person, an agent/admin,
  or the chat bot. Some people also have a second, phone-only end-user (an SMS or call from a
  number the helpdesk had not linked yet), as real helpdesks do.
* `Ticket` — one conversation, compact: its messages are not stored but generated on demand
  from the ticket's own seed (`World.comments`), which keeps 100k conversations / ~1M
  messages fast to build and small in memory. Messages written later (replies,
  notes, inbound) are appended to `Ticket.extra` and follow the generated ones.

Times are whole Unix seconds (ints) inside the world; dialects format them.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from random import Random

from agentdesk.sim import text
from agentdesk.sim.clock import SimClock

DAY = 86_400
HISTORY_DAYS = 120
STALE_OPEN_DAYS = 95  # old open conversations: last updated beyond 90 days (the default window)
CHANNELS = ("email", "chat", "sms", "social", "voice", "web")
RESOLVED = ("solved", "closed")
WORKING = ("new", "open", "pending", "hold")
# The vendor-neutral channel → Zendesk's `via.channel` (bot chats use native_messaging).
ZENDESK_VIA = {
    "email": "email", "chat": "chat", "sms": "sms", "social": "twitter", "voice": "voice",
    "web": "web",
}  # fmt: skip

_USER_BASE = 1_900_000_000_000  # Zendesk ids are big integers; keep them realistic
_GROUP_BASE = 360_000_100_000
_ORG_BASE = 361_000_200_000
_MEMBERSHIP_BASE = 362_000_300_000
_COMMENT_BASE = 10_000_000_000_000  # generated comment id = base + ticket_id * 1000 + index
_WRITTEN_COMMENT_BASE = 90_000_000_000_000  # comments written later count up from here
_ATTACHMENT_BASE = 20_000_000_000_000
MAX_THREAD = 999
Rand = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Person:
    index: int
    lang: str  # "ja" | "en"
    name: str
    first: str  # romanised given name (greetings in English)
    last: str  # family name as written in the person's language
    first_native: str
    email: str | None
    phone: str | None  # E.164
    twitter: str | None
    company: int | None  # index into text.COMPANIES
    locale: str
    time_zone: str
    iana_time_zone: str
    plan: str
    segment: str
    lifetime_value: int
    customer_days: int  # how long they have been a customer


@dataclass(slots=True)
class Organization:
    id: int
    name: str
    domain: str
    created_at: int


@dataclass(slots=True)
class User:
    id: int
    name: str
    email: str | None
    phone: str | None
    role: str  # "end-user" | "agent" | "admin"
    organization_id: int | None
    locale: str
    time_zone: str
    iana_time_zone: str
    created_at: int
    updated_at: int
    person: int | None = None  # Person.index for end-users
    twitter: str | None = None
    user_fields: dict[str, str | int | None] = field(default_factory=dict)
    default_group_id: int | None = None
    token: str | None = None  # API token (agents only)
    is_bot: bool = False
    last_login_at: int | None = None


@dataclass(slots=True)
class Group:
    id: int
    name: str
    description: str
    created_at: int
    updated_at: int


@dataclass(slots=True)
class Membership:
    id: int
    user_id: int
    group_id: int
    default: bool
    created_at: int


@dataclass(frozen=True, slots=True)
class Attachment:
    id: int
    file_name: str
    content_type: str
    size: int


@dataclass(slots=True)
class Comment:
    id: int
    author_id: int
    body: str
    html_body: str
    public: bool
    created_at: int
    channel: str  # the comment's own via channel
    type: str = "Comment"  # or "VoiceComment"
    attachments: tuple[Attachment, ...] = ()
    data: dict[str, str | int] | None = None  # VoiceComment call data
    marker: str | None = None  # idempotency key or marker a write carried
    custom: dict[str, object] | None = None  # the write's custom metadata (Zendesk audits)


@dataclass(slots=True)
class Ticket:
    id: int
    subject: str
    status: str  # new | open | pending | hold | solved | closed
    priority: str | None
    type: str | None
    requester_id: int
    submitter_id: int
    assignee_id: int | None
    group_id: int | None
    organization_id: int | None
    channel: str  # one of CHANNELS
    via: str  # the vendor's channel name (Zendesk via.channel)
    tags: list[str]
    lang: str
    topic: int  # index into text.TOPICS[lang]
    created_at: int
    updated_at: int
    last_comment_at: int
    n_generated: int  # how many comments the seed generates
    seed: int
    bot: bool
    satisfaction: str | None
    extra: list[Comment] = field(default_factory=list)
    description: str | None = None  # the first comment's body, cached once rendered
    # Its status history as the vendors' metrics report it: when it last became solved or
    # closed (None: never) and how often it went from solved/closed back to open work.
    solved_at: int | None = None
    reopens: int = 0
    reopened_at: int | None = None  # the last reopen (Freshdesk's stats.reopened_at)
    seen_status: str = ""  # the status the history last followed (see World.follow_status)

    def __post_init__(self) -> None:
        self.seen_status = self.status

    @property
    def generated_timestamp(self) -> int:
        return self.updated_at


@dataclass(slots=True)
class World:
    seed: int
    scale: int
    instance: str
    now: int  # the moment the world was generated for (Unix seconds)
    people: list[Person]
    organizations: dict[int, Organization]
    users: dict[int, User]
    groups: dict[int, Group]
    memberships: list[Membership]
    tickets: dict[int, Ticket]
    agent_ids: list[int]
    bot_id: int
    clock: SimClock
    # Incremental export order: (generated_timestamp, ticket id), kept sorted on every write.
    export_index: list[tuple[int, int]] = field(default_factory=list)
    ticket_ids: list[int] = field(default_factory=list)  # ascending
    by_requester: dict[int, list[int]] = field(default_factory=dict)
    users_by_email: dict[str, int] = field(default_factory=dict)
    next_comment_id: int = _WRITTEN_COMMENT_BASE
    # The oracle of writes: ticket id -> what each write did, who did it, and its marker.
    writes: dict[int, list[dict[str, object]]] = field(default_factory=dict)
    # Serialises writers that are not on the server's event loop (tests, the CLI).
    lock: threading.RLock = field(default_factory=threading.RLock)
    # Told of every change to a ticket, after it (e.g. Chatwoot's websocket hub).
    observers: list[Callable[[Ticket], None]] = field(default_factory=list)
    # While live activity plays an event that fell due in the past (the clock jumped, or the
    # server was busy), its writes carry the moment it was due: see `acting_at`.
    _acting_at: int | None = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------- time
    def timestamp(self) -> int:
        """The time a write happens at: the simulated clock's now, or the due moment of the
        live event being played."""
        acting = self._acting_at
        return self.clock.timestamp() if acting is None else acting

    @contextlib.contextmanager
    def acting_at(self, moment: int) -> Iterator[None]:
        """Writes inside happen at `moment` (never later than the clock's now).

        Why: when the clock jumps a minute, the minute's events happened DURING it, not all
        at its end. Stamped at the end (and pushed one second apart on a busy ticket) they
        looked newer than the clock itself, so the export's one-minute hold-back hid the
        conversations they touched for more than a minute of real time after the jump.
        """
        previous = self._acting_at
        self._acting_at = min(moment, self.clock.timestamp())
        try:
            yield
        finally:
            self._acting_at = previous

    # ------------------------------------------------------------- reads
    def user_by_token(self, email: str, token: str) -> User | None:
        user_id = self.users_by_email.get(email.strip().lower())
        user = self.users.get(user_id) if user_id is not None else None
        if user is None or user.token is None or not _same(user.token, token):
            return None
        return user

    def agent_with_role(self, role: str) -> User:
        for user_id in self.agent_ids:
            if self.users[user_id].role == role:
                return self.users[user_id]
        raise LookupError(f"no {role} in this world")

    def comments(self, ticket: Ticket) -> list[Comment]:
        """Every comment of the ticket, oldest first (generated ones, then written ones)."""
        out = list(_generate_comments(self, ticket, ticket.n_generated))
        out.extend(ticket.extra)
        return out

    def first_comment(self, ticket: Ticket) -> Comment | None:
        for comment in _generate_comments(self, ticket, 1):
            return comment
        return ticket.extra[0] if ticket.extra else None

    def description(self, ticket: Ticket) -> str:
        """The first comment's body (Zendesk's `description`); comments are append-only, so
        it is computed once per ticket."""
        if ticket.description is None:
            first = self.first_comment(ticket)
            ticket.description = first.body if first is not None else ""
        return ticket.description

    def comment_count(self, ticket: Ticket) -> int:
        return ticket.n_generated + len(ticket.extra)

    # ------------------------------------------------------------- writes (builds on these)
    def touch(self, ticket: Ticket, at: int | None = None) -> None:
        """Bump `updated_at` (and the export position) after a change to the ticket."""
        at = self.timestamp() if at is None else at
        # Strictly later than before, even within one second or on a frozen clock: a write
        # must always change the `updated_at` that `safe_update` compares (real Zendesk can
        # miss a collision inside one second; a test backend should not).
        at = max(at, ticket.updated_at + 1)
        self.follow_status(ticket, at)
        key = (ticket.updated_at, ticket.id)
        pos = bisect.bisect_left(self.export_index, key)
        if pos < len(self.export_index) and self.export_index[pos] == key:
            del self.export_index[pos]
        ticket.updated_at = at
        bisect.insort(self.export_index, (at, ticket.id))
        for observe in self.observers:
            try:
                observe(ticket)
            except Exception:  # an observer must never fail the write it watches
                logging.getLogger(__name__).exception("world observer failed")

    def add_comment(
        self,
        ticket: Ticket,
        author_id: int,
        body: str,
        *,
        public: bool = True,
        channel: str = "web",
        marker: str | None = None,
        custom: dict[str, object] | None = None,
        html_body: str | None = None,
    ) -> Comment:
        now = self.timestamp()
        comment = Comment(
            id=self.next_comment_id,
            author_id=author_id,
            body=body,
            html_body=html_body if html_body is not None else text.html_paragraphs(body),
            public=public,
            created_at=max(now, ticket.last_comment_at),
            channel=channel,
            marker=marker,
            custom=dict(custom) if custom else None,
        )
        self.next_comment_id += 1
        ticket.extra.append(comment)
        ticket.last_comment_at = comment.created_at
        self.touch(ticket, comment.created_at)
        return comment

    def line(self, ticket: Ticket, kind: str, rng: Random, agent_id: int | None = None) -> str:
        """A fresh message for live activity, in the ticket's language and about its topic:
        `kind` is "followup" (the customer), "reply" or "note" (an agent), or "thanks"."""
        lang = ticket.lang
        topic = text.TOPICS[lang][ticket.topic]
        requester = self.users[ticket.requester_id]
        person = self.people[requester.person] if requester.person is not None else None
        agent = self.users.get(agent_id or ticket.assignee_id or self.agent_ids[0])
        assert agent is not None
        slots = _slots_for(ticket.seed, lang, self.now)
        first = person.first if person else requester.name
        parts = agent.name.split(" ")
        org = self.organizations.get(requester.organization_id or 0)
        slots.update(
            first=first, last=person.last if person else requester.name,
            first_ja=person.first_native if person else first, email=requester.email or "",
            phone=requester.phone or "",
            company=org.name if org else ("個人" if lang == "ja" else "my company"),
            agent=agent.name, agent_first=parts[-1] if lang == "en" else parts[0],
            agent_last=parts[0], bot=text.BOT_NAME, article=text.pick(rng, text.ARTICLES[lang]),
        )  # fmt: skip
        pools = {
            "followup": topic.followups, "reply": topic.replies, "note": topic.notes,
            "thanks": text.THANKS[lang], "opening": topic.openings, "short": topic.short,
            "subject": topic.subjects,
        }  # fmt: skip
        return text.fill(text.pick(rng, pools[kind]), slots)

    def follow_status(self, ticket: Ticket, at: int) -> None:
        """Extend the ticket's status history with a status write made at `at`.

        Why here: every write path (dialects, control, live activity) ends in `touch` or
        `record_write`, so the history follows them all without each one knowing about it.
        """
        old, new = ticket.seen_status, ticket.status
        if old == new:
            return
        ticket.seen_status = new
        if new in RESOLVED and old not in RESOLVED:
            ticket.solved_at = at
        elif old in RESOLVED and new in WORKING:
            ticket.reopens += 1
            ticket.reopened_at = at

    def record_write(
        self,
        ticket: Ticket,
        actor_id: int | None,
        source: str,
        changes: dict[str, object],
        *,
        marker: str | None = None,
        comment_id: int | None = None,
    ) -> None:
        """Remember a write for the `/_sim/state` oracle ("nothing lost, nothing twice")."""
        self.follow_status(ticket, ticket.updated_at)
        self.writes.setdefault(ticket.id, []).append(
            {
                "at": self.timestamp(),
                "actor_id": actor_id,
                "source": source,  # "zendesk", "control", "activity", ...
                "marker": marker,
                "comment_id": comment_id,
                "changes": changes,
            }
        )

    def create_ticket(
        self,
        requester: User,
        *,
        subject: str,
        channel: str,
        via: str | None = None,
        status: str = "new",
        priority: str | None = None,
        ticket_type: str | None = None,
        tags: list[str] | None = None,
        assignee_id: int | None = None,
        group_id: int | None = None,
        submitter_id: int | None = None,
    ) -> Ticket:
        """A new, empty conversation (its first message comes from `add_comment`)."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        now = self.timestamp()
        number = (self.ticket_ids[-1] if self.ticket_ids else 0) + 1
        person = self.people[requester.person] if requester.person is not None else None
        lang = person.lang if person is not None else "en"
        ticket = Ticket(
            id=number, subject=subject, status=status, priority=priority, type=ticket_type,
            requester_id=requester.id, submitter_id=submitter_id or requester.id,
            assignee_id=assignee_id, group_id=group_id,
            organization_id=requester.organization_id, channel=channel,
            via=via or ZENDESK_VIA[channel], tags=list(tags or []), lang=lang, topic=0,
            created_at=now, updated_at=now, last_comment_at=now, n_generated=0,
            seed=(self.seed * 1_000_003 + number) & ((1 << 48) - 1), bot=False,
            satisfaction=None,
        )  # fmt: skip
        if status in RESOLVED:
            ticket.solved_at = now
        self.tickets[number] = ticket
        self.ticket_ids.append(number)
        self.by_requester.setdefault(requester.id, []).append(number)
        bisect.insort(self.export_index, (now, number))
        return ticket

    def add_end_user(self, email: str | None, name: str | None, phone: str | None = None) -> User:
        """The customer with this email, created if the helpdesk does not know them yet."""
        if email:
            known = self.users_by_email.get(email.strip().lower())
            if known is not None:
                return self.users[known]
        now = self.timestamp()
        person = None
        if email:  # someone of the shared population, if the email is theirs
            person = next((p for p in self.people if p.email == email.strip().lower()), None)
        user = User(
            id=max(self.users) + 1,
            name=name or (person.name if person else (email or phone or "Customer")),
            email=email.strip().lower() if email else None,
            phone=phone or (person.phone if person else None),
            role="end-user", organization_id=None,
            locale=person.locale if person else "en-US",
            time_zone=person.time_zone if person else "UTC",
            iana_time_zone=person.iana_time_zone if person else "Etc/UTC",
            created_at=now, updated_at=now, person=person.index if person else None,
        )  # fmt: skip
        self.users[user.id] = user
        if user.email:
            self.users_by_email[user.email] = user.id
        return user


def _same(a: str, b: str) -> bool:
    return hashlib.sha256(a.encode()).digest() == hashlib.sha256(b.encode()).digest()


# ===================================================================== people (seed only)
_PEOPLE_BLOCK = 1000
_PLANS = ("Free", "Free", "Plus", "Plus", "Pro", "Pro", "Business", "Enterprise")
_SEGMENTS = ("consumer", "consumer", "consumer", "smb", "smb", "mid-market", "enterprise")


def _person_block(seed: int, block: int, emails: set[str], phones: set[str]) -> list[Person]:
    rng = Random(seed * 1_000_003 + block)
    people: list[Person] = []
    r = rng.random
    for k in range(_PEOPLE_BLOCK):
        index = block * _PEOPLE_BLOCK + k
        ja = r() < 0.55
        company: int | None = None
        if r() < 0.14:
            # The first three companies are the big accounts (several hundred tickets).
            company = int(r() * 3) if r() < 0.6 else 3 + int(r() * (len(text.COMPANIES) - 3))
            ja = text.COMPANIES[company][2] == "ja"
        if ja:
            fam, fam_ro = text.JA_FAMILY[int(r() * len(text.JA_FAMILY))]
            giv, giv_ro = text.JA_GIVEN[int(r() * len(text.JA_GIVEN))]
            romaji = r() < 0.1  # some sign up with a romanised name
            name = f"{giv_ro} {fam_ro}" if romaji else f"{fam} {giv}"
            first, last, native = giv_ro, (fam_ro if romaji else fam), giv
            loc = ("ja", "Tokyo", "Asia/Tokyo")
        else:
            giv_ro = text.EN_GIVEN[int(r() * len(text.EN_GIVEN))]
            fam_ro = text.EN_FAMILY[int(r() * len(text.EN_FAMILY))]
            name, first, last, native = f"{giv_ro} {fam_ro}", giv_ro, fam_ro, giv_ro
            uk = r() < 0.3
            loc = (
                ("en-GB", "London", "Europe/London")
                if uk
                else ("en-US", "Pacific Time (US & Canada)", "America/Los_Angeles")
            )
        g, f = giv_ro.lower(), fam_ro.lower().replace("'", "")
        # Email: most people; company members use the company domain.
        email: str | None = None
        if r() < 0.93 or company is not None:
            if company is not None:
                domain = text.COMPANIES[company][1]
                local = (f"{g}.{f}", f"{f}", f"{g[0]}.{f}", f"{f}-{g}")[int(r() * 4)]
            else:
                domains = text.JA_MAIL_DOMAINS if ja else text.EN_MAIL_DOMAINS
                domain = domains[int(r() * len(domains))]
                local = (
                    f"{g}.{f}",
                    f"{g}{f}{int(r() * 90) + 10}",
                    f"{g[0]}-{f}",
                    f"{f}.{g}{int(r() * 9000) + 1000}",
                    f"{g}_{int(r() * 99) + 1}",
                )[int(r() * 5)]
            email = f"{local}@{domain}"
            n = 2
            while email in emails:  # unique, deterministically (earlier people win)
                email = f"{local}{n}@{domain}"
                n += 1
            emails.add(email)
        phone: str | None = None
        if r() < 0.82 or email is None:
            while True:
                if ja:
                    phone = f"+81{(90, 80, 70)[int(r() * 3)]}{int(r() * 90_000_000) + 10_000_000}"
                elif loc[0] == "en-GB":
                    phone = f"+447{int(r() * 900_000_000) + 100_000_000}"
                else:
                    area = (415, 212, 646, 503, 312, 617, 206, 512)[int(r() * 8)]
                    phone = f"+1{area}{int(r() * 8_000_000) + 2_000_000}"
                if phone not in phones:
                    break
            phones.add(phone)
        twitter = None
        if r() < 0.2:
            twitter = "@" + (f"{g}_{f}" if r() < 0.5 else f"{g}{int(r() * 999)}")[:15]
        plan = _PLANS[int(r() * len(_PLANS))] if company is None else "Business"
        segment = "business" if company is not None else _SEGMENTS[int(r() * len(_SEGMENTS))]
        people.append(
            Person(
                index=index, lang="ja" if ja else "en", name=name, first=first, last=last,
                first_native=native, email=email, phone=phone, twitter=twitter, company=company,
                locale=loc[0], time_zone=loc[1], iana_time_zone=loc[2], plan=plan,
                segment=segment, lifetime_value=int(rng.paretovariate(1.6) * 40) * 100,
                customer_days=int(r() * 2000) + 30,
            )
        )  # fmt: skip
    return people


def generate_people(seed: int, count: int) -> list[Person]:
    """The first `count` people of the seed's population (a prefix: same for any count)."""
    emails: set[str] = set()
    phones: set[str] = set()
    people: list[Person] = []
    block = 0
    while len(people) < count:
        people.extend(_person_block(seed, block, emails, phones))
        block += 1
    return people[:count]


def people_count(scale: int) -> int:
    return max(1250, scale // 4)  # ~86% become customers of an instance: >= 1,000


# ===================================================================== the instance
def _token(seed: int, instance: str, email: str) -> str:
    return hashlib.sha256(f"agentdesk-sim:{seed}:{instance}:{email}".encode()).hexdigest()[:40]


def generate_world(
    seed: int, scale: int, instance: str = "zendesk", now: datetime | None = None
) -> World:
    """Build the world of one simulated backend.

    `scale` is the number of conversations (about ten messages each). People come from the
    seed alone; which of them write to this instance, and about what, comes from
    (seed, instance), so two instances share most customers but not conversations.
    """
    if scale < 0:
        raise ValueError("scale must be >= 0")
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    now_ts = int(moment.timestamp())
    people = generate_people(seed, people_count(scale))
    rng = Random(f"{seed}:{instance}")
    r = rng.random
    start = now_ts - HISTORY_DAYS * DAY

    organizations = {
        _ORG_BASE + i: Organization(_ORG_BASE + i, name, domain, start - (400 + 37 * i) * DAY)
        for i, (name, domain, _lang) in enumerate(text.COMPANIES)
    }
    groups = {
        _GROUP_BASE + i: Group(_GROUP_BASE + i, name, desc, start - 700 * DAY, start - 30 * DAY)
        for i, (name, desc) in enumerate(text.GROUPS)
    }
    group_ids = list(groups)
    users: dict[int, User] = {}
    next_user = _USER_BASE

    # Staff: the same agents for every instance of a seed (they are the support team).
    agent_ids: list[int] = []
    memberships: list[Membership] = []
    members: dict[int, list[int]] = {g: [] for g in group_ids}
    for i, (name, local, lang, role) in enumerate(text.AGENTS):
        email = f"{local}@{text.AGENT_DOMAIN}"
        home = group_ids[i % len(group_ids)]
        user = User(
            id=next_user, name=name, email=email, phone=None, role=role, organization_id=None,
            locale="ja" if lang == "ja" else "en-US",
            time_zone="Tokyo" if lang == "ja" else "Pacific Time (US & Canada)",
            iana_time_zone="Asia/Tokyo" if lang == "ja" else "America/Los_Angeles",
            created_at=start - (600 - i * 20) * DAY, updated_at=start - 10 * DAY,
            token=_token(seed, instance, email), default_group_id=home,
            last_login_at=now_ts - int(r() * 3 * DAY),
        )  # fmt: skip
        users[user.id] = user
        agent_ids.append(user.id)
        next_user += 1
        # Everyone is in their home group; admins and a few seniors in a second one too.
        homes = [home] if role == "agent" and i % 3 else [home, group_ids[(i + 1) % 4]]
        for g in homes:
            memberships.append(
                Membership(_MEMBERSHIP_BASE + len(memberships), user.id, g, g == home,
                           user.created_at)
            )  # fmt: skip
            members[g].append(user.id)
    bot = User(
        id=next_user, name=text.BOT_NAME, email=f"bot@{text.AGENT_DOMAIN}", phone=None,
        role="agent", organization_id=None, locale="en-US", time_zone="UTC",
        iana_time_zone="Etc/UTC", created_at=start - 300 * DAY, updated_at=start - 300 * DAY,
        is_bot=True,
    )  # fmt: skip
    users[bot.id] = bot
    next_user += 1

    # Customers: a large, instance-specific subset of the shared people.
    customers: list[User] = []
    phone_twins: dict[int, User] = {}  # person index -> their phone-only second user
    for person in people:
        if r() >= 0.86:
            continue
        org = _ORG_BASE + person.company if person.company is not None else None
        user = User(
            id=next_user, name=person.name, email=person.email, phone=person.phone,
            role="end-user", organization_id=org, locale=person.locale,
            time_zone=person.time_zone, iana_time_zone=person.iana_time_zone,
            created_at=now_ts - person.customer_days * DAY,
            updated_at=now_ts - int(person.customer_days * r()) * DAY,
            person=person.index, twitter=person.twitter,
            user_fields={"plan": person.plan, "segment": person.segment,
                         "lifetime_value": person.lifetime_value},
        )  # fmt: skip
        users[user.id] = user
        customers.append(user)
        next_user += 1
        if person.phone and person.email and r() < 0.06:
            # An SMS or call from a number the helpdesk had not linked to the person yet.
            twin = User(
                id=next_user, name=person.phone, email=None, phone=person.phone,
                role="end-user", organization_id=None, locale=person.locale,
                time_zone=person.time_zone, iana_time_zone=person.iana_time_zone,
                created_at=now_ts - int(r() * HISTORY_DAYS) * DAY, updated_at=now_ts - DAY,
                person=person.index,
            )  # fmt: skip
            users[twin.id] = twin
            phone_twins[person.index] = twin
            next_user += 1

    # How many conversations each customer has: one each first, a few big accounts with
    # several hundred, then a long tail capped at 50 per person.
    counts = [0] * len(customers)
    if customers and scale:
        order = list(range(len(customers)))
        rng.shuffle(order)
        for i in order[:scale]:
            counts[i] = 1
        remaining = scale - min(scale, len(customers))
        big = [i for i, c in enumerate(customers)
               if c.organization_id is not None and c.organization_id - _ORG_BASE < 3]  # fmt: skip
        big_set = set(big)
        big_share = min(remaining, max(0, int(scale * 0.09)) if scale >= 3000 else remaining // 2)
        if big and big_share:
            for i in rng.choices(big, k=big_share):
                counts[i] += 1
            remaining -= big_share
        if remaining:
            weights = [min(50.0, rng.paretovariate(1.2)) for _ in customers]
            overflow = 0
            for i in rng.choices(range(len(customers)), weights=weights, k=remaining):
                if counts[i] >= 50 and i not in big_set:
                    overflow += 1
                else:
                    counts[i] += 1
            pool = big or list(range(len(customers)))
            for i in rng.choices(pool, k=overflow):
                counts[i] += 1

    # The conversations themselves.
    person_of = {p.index: p for p in people}
    drafts: list[tuple[int, User, int]] = []  # (created_at, requester, customer slot)
    for i, user in enumerate(customers):
        for _ in range(counts[i]):
            if r() < 0.22:  # the live backlog: hours to a few days old
                age = int(4 * DAY * r() ** 1.5)
            else:
                age = int(HISTORY_DAYS * DAY * (r() ** 1.3))
            drafts.append((now_ts - age, user, i))
    drafts.sort(key=lambda d: (d[0], d[1].id))  # ticket ids grow with creation time

    tickets: dict[int, Ticket] = {}
    by_requester: dict[int, list[int]] = {}
    topic_count = {lang: len(text.TOPICS[lang]) for lang in text.TOPICS}
    for number, (created, user, _slot) in enumerate(drafts, start=1):
        person = person_of[user.person] if user.person is not None else None
        lang = person.lang if person is not None else "en"
        channel = _pick_channel(r, person)
        requester = user
        twin = phone_twins.get(person.index) if person is not None else None
        if twin is not None and channel in ("sms", "voice") and r() < 0.7:
            requester = twin
        topic = int(r() * topic_count[lang])
        ticket_seed = rng.getrandbits(48)
        bot_chat = channel == "chat" and r() < 0.45
        age = now_ts - created
        status = _pick_status(r, age)
        n = _pick_length(r, status, bot_chat)
        if channel in ("sms", "social", "voice") and n > 12 and n < 100:
            n = 2 + n // 3  # short channels have short exchanges
        span = _span(r, n, age)
        lag = 0 if status in ("new", "open", "pending", "hold") else int(60 + r() * 2 * DAY)
        last_comment = created + span
        if last_comment > now_ts:  # still going on: the last word came at some point until now
            last_comment = created + int((now_ts - created) * r())
        updated = last_comment + lag
        if updated > now_ts:
            updated = last_comment + int((now_ts - last_comment) * r())
        topic_obj = text.TOPICS[lang][topic]
        group_id = group_ids[topic_obj.group] if r() < 0.92 else group_ids[0]
        assignee: int | None = None
        if status != "new" and r() < 0.93:
            pool = members[group_id]
            assignee = pool[int(r() * len(pool))]
        priority = _pick_priority(r, person)
        tags = list(topic_obj.tags)
        if bot_chat:
            tags.append("bot_handoff")
        if person is not None and person.plan == "Enterprise":
            tags.append("vip")
        if lang == "ja":
            tags.append("japanese")
        subject = text.fill(text.pick(Random(ticket_seed), topic_obj.subjects),
                            _slots_for(ticket_seed, lang, now_ts))  # fmt: skip
        if channel in ("sms", "social", "voice", "chat") and r() < 0.5:
            subject = ""  # Zendesk titles these from the first message
        satisfaction: str | None = None
        if status in ("solved", "closed"):
            x = r()
            satisfaction = ("good" if x < 0.35 else "bad" if x < 0.42
                            else "offered" if x < 0.6 else "unoffered")  # fmt: skip
        ticket = Ticket(
            id=number, subject=subject, status=status, priority=priority,
            type=_pick_type(r), requester_id=requester.id, submitter_id=requester.id,
            assignee_id=assignee, group_id=group_id, organization_id=requester.organization_id,
            channel=channel, via="native_messaging" if bot_chat else ZENDESK_VIA[channel], tags=tags,
            lang=lang, topic=topic, created_at=created, updated_at=updated,
            last_comment_at=last_comment, n_generated=n, seed=ticket_seed, bot=bot_chat,
            satisfaction=satisfaction,
        )  # fmt: skip
        ticket.solved_at, ticket.reopens, ticket.reopened_at = _status_history(ticket)
        tickets[number] = ticket
        by_requester.setdefault(requester.id, []).append(number)

    # A few old conversations are still open (a fix that takes months, a ticket forgotten in
    # a queue): the cache policy fetches those beyond the cache window. Picked with their own
    # generator, so everything else in the world stays as the seed made it.
    stale = Random(f"{seed}:{instance}:stale-open")
    old = [
        t
        for t in tickets.values()
        if t.status in ("solved", "closed") and now_ts - t.updated_at > STALE_OPEN_DAYS * DAY
    ]
    flipped = stale.sample(old, min(len(old), max(2, scale // 100)))
    for t in flipped:
        t.status = stale.choice(("open", "pending", "hold"))
        t.satisfaction = None
    # Returning customers: a few old solved conversations belong to someone who wrote again
    # lately, so a customer's history reaches beyond the cache window.
    recent = sorted({t.requester_id for t in tickets.values() if now_ts - t.updated_at < 30 * DAY})
    leftovers = [t for t in old if t not in flipped]
    returning = stale.sample(leftovers, min(len(leftovers), max(2, scale // 100)))
    for t in returning if recent else ():
        same_lang = [
            u for u in recent if u != t.requester_id and _lang_of(users[u], person_of) == t.lang
        ]
        pool = same_lang or [u for u in recent if u != t.requester_id]
        if not pool:
            continue
        newcomer = users[stale.choice(pool)]
        by_requester[t.requester_id].remove(t.id)
        t.requester_id = t.submitter_id = newcomer.id
        t.organization_id = newcomer.organization_id
        by_requester.setdefault(newcomer.id, []).append(t.id)
        by_requester[newcomer.id].sort()

    world = World(
        seed=seed, scale=scale, instance=instance, now=now_ts, people=people,
        organizations=organizations, users=users, groups=groups, memberships=memberships,
        tickets=tickets, agent_ids=agent_ids, bot_id=bot.id,
        clock=SimClock(moment), by_requester=by_requester,
    )  # fmt: skip
    world.export_index = sorted((t.updated_at, t.id) for t in tickets.values())
    world.ticket_ids = list(tickets)
    world.users_by_email = {u.email.lower(): u.id for u in users.values() if u.email}
    return world


def _lang_of(user: User, person_of: dict[int, Person]) -> str:
    person = person_of.get(user.person) if user.person is not None else None
    return person.lang if person is not None else "en"


# ---------------------------------------------------------------- choices
def _status_history(t: Ticket) -> tuple[int | None, int, int | None]:
    """When a generated ticket was last solved and how often it was reopened.

    Drawn from the ticket's own seed, not the world's stream, so every other generated value
    stays what it was before the history existed.
    """
    r = Random(t.seed ^ 0x5E1F_50_1ED).random
    reopens = 0
    if t.status != "new" and t.n_generated >= 3 and r() < 0.12:
        reopens = 1 if r() < 0.8 else 2  # the customer wrote back after it was solved
    if t.status in RESOLVED:
        # Solved once the last word was said, before the ticket's last update (the lag).
        solved = t.last_comment_at + int((t.updated_at - t.last_comment_at) * 0.5 * r())
        return solved, reopens, (t.created_at + solved) // 2 if reopens else None
    if reopens:
        # Reopened and still being worked: it was last solved part-way through the thread.
        span = t.last_comment_at - t.created_at
        solved = t.created_at + int(span * (0.2 + 0.6 * r()))
        return solved, reopens, solved + max(1, (t.last_comment_at - solved) // 2)
    return None, 0, None


def _pick_channel(r: Rand, person: Person | None) -> str:
    x = r()
    has_phone = person is not None and person.phone is not None
    has_email = person is None or person.email is not None
    if has_email and x < 0.38:
        return "email"
    if x < 0.58:
        return "chat"
    if x < 0.7:
        return "web"
    if has_phone and x < 0.8:
        return "sms"
    if has_phone and x < 0.9:
        return "voice"
    if person is not None and person.twitter and x < 0.97:
        return "social"
    return "email" if has_email else "sms"


def _pick_status(r: Rand, age: int) -> str:
    # Open work is recent (an inbox's backlog is hours to days old, SLA-relevant); old
    # conversations are almost all solved or closed.
    x = r()
    if age < DAY:
        table = ((0.3, "new"), (0.72, "open"), (0.9, "pending"), (0.95, "hold"), (1.0, "solved"))
    elif age < 4 * DAY:
        table = ((0.08, "new"), (0.45, "open"), (0.7, "pending"), (0.78, "hold"), (1.0, "solved"))
    elif age < 7 * DAY:
        table = ((0.02, "new"), (0.25, "open"), (0.4, "pending"), (0.45, "hold"),
                 (1.0, "solved"))  # fmt: skip
    elif age < 28 * DAY:
        table = ((0.04, "open"), (0.07, "pending"), (0.09, "hold"), (0.8, "solved"),
                 (1.0, "closed"))  # fmt: skip
    else:
        table = ((0.005, "open"), (0.01, "pending"), (0.15, "solved"), (1.0, "closed"))
    for bound, status in table:
        if x < bound:
            return status
    return "closed"


def _pick_length(r: Rand, status: str, bot: bool) -> int:
    rand = r
    if status == "new":
        return 4 if bot else 1  # nobody has answered yet (a bot chat ends with the hand-off)
    if rand() < 0.006:
        return 100 + int(rand() * 150)
    base = 2 + int(rand() * 7 + rand() * 7 + rand() * 3)
    return base + (4 if bot else 0)


def _span(r: Rand, n: int, age: int) -> int:
    per = 600 + r() * 8 * 3600
    return int(min(age, n * per if n < 100 else 30 * DAY * r()))


def _pick_priority(r: Rand, person: Person | None) -> str | None:
    x = r()
    if x < 0.12:
        return None
    if x < 0.3:
        return "low"
    if x < 0.75:
        return "normal"
    if x < 0.94 or (person is not None and person.plan == "Free"):
        return "high"
    return "urgent"


def _pick_type(r: Rand) -> str | None:
    x = r()
    if x < 0.15:
        return None
    return "question" if x < 0.6 else "incident" if x < 0.9 else "problem" if x < 0.95 else "task"


# ---------------------------------------------------------------- message generation
def _slots_for(seed: int, lang: str, now_ts: int) -> dict[str, str]:
    """The facts a conversation is about (order number, amount...), derived from its seed."""
    order = 100_000 + seed % 900_000
    amount_units = 12 + (seed >> 20) % 400
    day = now_ts - ((seed >> 8) % 40 + 3) * DAY
    when = datetime.fromtimestamp(day, UTC)
    products = text.PRODUCTS_JA if lang == "ja" else text.PRODUCTS_EN
    month = text.MONTHS[lang][(when.month - 2) % 12]
    if lang == "ja":
        amount = f"{amount_units * 250:,}円"
        date = f"{when.month}月{when.day}日"
    else:
        amount = f"${amount_units * 2 - 0.01:,.2f}"
        date = when.strftime("%b %-d")
    return {
        "order": str(order),
        "tracking": f"{(seed >> 4) % 10**12:012d}",
        "amount": amount,
        "date": date,
        "product": products[(seed >> 12) % len(products)],
        "invoice": f"INV-{when.year}-{(seed >> 16) % 100_000:05d}",
        "month": month,
        "wait": str(2 + seed % 6),
    }


def _generate_comments(world: World, t: Ticket, limit: int) -> Iterator[Comment]:
    """Up to `limit` generated comments of `t`, deterministic from the ticket's seed."""
    n = min(t.n_generated, limit)
    if n <= 0:
        return
    rng = Random(t.seed)
    r = rng.random
    lang = t.lang
    topic = text.TOPICS[lang][t.topic]
    requester = world.users[t.requester_id]
    person = world.people[requester.person] if requester.person is not None else None
    if t.assignee_id is not None:
        agent = world.users[t.assignee_id]
    else:
        agent = world.users[world.agent_ids[t.seed % len(world.agent_ids)]]
    slots = _slots_for(t.seed, lang, world.now)
    org = world.organizations.get(requester.organization_id or 0)
    first = person.first if person else requester.name
    agent_parts = agent.name.split(" ")
    slots.update(
        first=first,
        last=person.last if person else requester.name,
        first_ja=person.first_native if person else first,
        email=requester.email or "",
        phone=requester.phone or "",
        company=org.name if org else ("個人" if lang == "ja" else "my company"),
        agent=agent.name,
        agent_first=agent_parts[-1] if lang == "en" else agent_parts[0],
        agent_last=agent_parts[0],
        bot=text.BOT_NAME,
        article=text.pick(rng, text.ARTICLES[lang]),
    )
    span = max(0, t.last_comment_at - t.created_at)
    denominator = max(1.0, t.n_generated - 1 + 0.8)
    base_id = _COMMENT_BASE + t.id * 1000
    solved = t.status in ("solved", "closed")
    casual = t.channel in ("chat", "sms", "social")
    emoji_chance = 0.25 if casual else 0.03
    others = [a for a in world.agent_ids if a != agent.id]

    def at(i: int) -> int:
        if i == 0:
            return t.created_at
        if i == t.n_generated - 1:
            return t.last_comment_at
        return t.created_at + int(span * (i + r() * 0.8) / denominator)

    def make(i: int, author: int, body: str, public: bool = True, channel: str | None = None,
             html: str | None = None) -> Comment:  # fmt: skip
        attachments: tuple[Attachment, ...] = ()
        if public and r() < (0.09 if author == requester.id else 0.03):
            name, ctype = text.ATTACHMENTS[int(r() * len(text.ATTACHMENTS))]
            if topic.key == "invoice" and author != requester.id:
                name, ctype = f"{slots['invoice']}.pdf", "application/pdf"
            attachments = (Attachment(_ATTACHMENT_BASE + base_id % 10**12 * 10 + i % 10,
                                      name, ctype, 2_000 + int(r() * 3_000_000)),)  # fmt: skip
        return Comment(
            id=base_id + i, author_id=author, body=body,
            html_body=html or text.html_paragraphs(body), public=public, created_at=at(i),
            channel=channel or ("web" if author != requester.id else t.via),
            attachments=attachments,
        )  # fmt: skip

    i = 0
    # -- the opening
    if t.channel == "voice":
        minutes, seconds = 1 + int(r() * 14), int(r() * 60)
        body = text.fill(
            text.VOICE[lang],
            {
                **slots,
                "minutes": str(minutes),
                "seconds": str(seconds),
                "line": text.fill(text.pick(rng, topic.short), slots),
            },
        )
        comment = make(0, requester.id, body, channel="voice")
        comment.type = "VoiceComment"
        comment.data = {
            "from": requester.phone or "",
            "to": "+81345678900",
            "call_duration": minutes * 60 + seconds,
            "recording_url": f"https://voice.kumomart.example/recordings/{base_id}",
        }
        yield comment
    elif t.channel in ("sms", "social"):
        yield make(
            0,
            requester.id,
            text.sprinkle_emoji(rng, text.fill(text.pick(rng, topic.short), slots), emoji_chance),
        )
    elif t.channel == "chat":
        opener = (
            text.pick(rng, text.GREETING_CHAT[lang])
            + " "
            + text.fill(text.pick(rng, topic.short), slots)
        )
        yield make(0, requester.id, text.sprinkle_emoji(rng, opener, emoji_chance))
    else:
        body = text.fill(text.pick(rng, topic.openings), slots)
        html = None
        if t.channel == "email":
            if r() < 0.5:
                body += text.fill(text.pick(rng, text.SIGNATURES[lang]), slots)
            if r() < 0.3:  # a rich HTML mail: keep Zendesk's plain body, richer html_body
                html = ('<div dir="ltr">' + text.html_paragraphs(body)
                        + '<div class="gmail_signature"><span style="color:#888">'
                        + "--</span></div></div>")  # fmt: skip
        yield make(0, requester.id, body, html=html)
    i = 1
    if i >= n:
        return
    # -- a bot conversation ending in the hand-off to a person
    if t.bot:
        lines = text.BOT_LINES[lang]
        script = [
            (world.bot_id, text.fill(lines[0], slots)),
            (world.bot_id, text.fill(lines[1 + int(r() * 2)], slots)),
            (requester.id, text.pick(rng, text.BOT_NO[lang])),
            (world.bot_id, text.fill(text.BOT_HANDOFF[lang], slots)),
        ]
        for author, body in script:
            if i >= n:
                return
            yield make(i, author, body, channel=t.via)
            i += 1
        if i < n:
            yield make(i, agent.id, text.fill(text.pick(rng, text.CHAT_AGENT_OPEN[lang]), slots))
            i += 1
    # -- the exchange
    closing = 2 if solved and n - i >= 3 else 0
    agent_turn = True
    replies_used = 0
    while i < n - closing:
        if r() < 0.1 and others:
            note_author = agent.id if r() < 0.7 else others[int(r() * len(others))]
            yield make(i, note_author, text.fill(text.pick(rng, topic.notes), slots), public=False)
        elif agent_turn:
            pool = topic.replies if replies_used < 3 else text.LONG_REPLIES[lang]
            yield make(i, agent.id, text.fill(text.pick(rng, pool), slots))
            replies_used += 1
            agent_turn = False
        else:
            pool = topic.followups if replies_used < 3 else text.LONG_FOLLOWUPS[lang]
            body = text.sprinkle_emoji(rng, text.fill(text.pick(rng, pool), slots), emoji_chance)
            yield make(i, requester.id, body)
            agent_turn = True
        i += 1
    if closing:
        thanks = text.sprinkle_emoji(rng, text.pick(rng, text.THANKS[lang]), emoji_chance)
        yield make(i, requester.id, thanks)
        yield make(i + 1, agent.id, text.fill(text.pick(rng, text.CLOSINGS[lang]), slots))
