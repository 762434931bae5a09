"""Write a simulated world straight into a store file, with no HTTP in between.

The benchmarks need a cache of 100k conversations / ~1M messages; syncing that over loopback
takes minutes, and most scenarios only need the cache. This builds one world with the
simulator's generator and deals its tickets round-robin to several accounts, mapping them to
the same records the Zendesk connector produces (vendor-neutral channel, `hold` → `on_hold`,
public comments → replies), then lets `Store.apply_page` write them page by page, exactly as
sync would. Customers with the same email or phone link across the accounts, as in real use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agentdesk.model import (
    AgentRecord,
    Attachment,
    AuthorKind,
    Channel,
    ContactRecord,
    ConversationRecord,
    Identity,
    MessageRecord,
    Page,
    Priority,
    Status,
    TeamRecord,
)
from agentdesk.sim.world import Ticket, User, World, generate_world
from agentdesk.store import Store

DEFAULT_ACCOUNTS: tuple[str, ...] = ("acme", "globex", "initech")
_STATUS: dict[str, Status] = {
    "new": "new", "open": "open", "pending": "pending", "hold": "on_hold",
    "solved": "solved", "closed": "closed",
}  # fmt: skip
_ROLES = {"admin": "admin", "agent": "agent"}


@dataclass(frozen=True, slots=True)
class BuiltStore:
    path: Path
    conversations: int
    messages: int
    customers: int
    accounts: tuple[str, ...]


def _ts(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _contact(user: User) -> ContactRecord:
    identities: list[Identity] = []
    if user.email:
        identities.append(Identity("email", user.email.lower()))
    if user.phone:
        identities.append(Identity("phone", user.phone))
    attributes: dict[str, str | int | float | bool | None] = {
        k: v for k, v in user.user_fields.items() if v not in (None, "")
    }
    attributes["language"] = user.locale
    attributes["time_zone"] = user.time_zone
    return ContactRecord(
        external_id=str(user.id),
        name=user.name or user.email or f"user {user.id}",
        identities=tuple(identities),
        attributes=attributes,
        created_at=_ts(user.created_at),
        updated_at=_ts(user.updated_at),
    )


def _messages(world: World, ticket: Ticket) -> tuple[MessageRecord, ...]:
    channel: Channel = ticket.channel  # type: ignore[assignment]  # CHANNELS are model's
    out: list[MessageRecord] = []
    for comment in world.comments(ticket):
        author = world.users.get(comment.author_id)
        kind: AuthorKind
        if author is None:
            kind = "system"
        elif author.is_bot:
            kind = "bot"
        elif author.role == "end-user":
            kind = "customer"
        else:
            kind = "agent"
        out.append(
            MessageRecord(
                external_id=str(comment.id),
                kind="reply" if comment.public else "note",
                author_kind=kind,
                author_name=author.name if author is not None else "Zendesk",
                body=comment.body.strip(),
                created_at=_ts(comment.created_at),
                channel="voice" if comment.type == "VoiceComment" else channel,
                author_external_id=str(comment.author_id),
                attachments=tuple(
                    Attachment(a.file_name, a.size, a.content_type, f"https://files/{a.id}")
                    for a in comment.attachments
                ),
            )
        )
    return tuple(out)


def _conversation(world: World, ticket: Ticket, base_url: str) -> ConversationRecord:
    subject = ticket.subject or world.description(ticket).strip().split("\n", 1)[0][:120]
    priority: Priority = (ticket.priority or "normal")  # type: ignore[assignment]
    return ConversationRecord(
        external_id=str(ticket.id),
        channel=ticket.channel,  # type: ignore[arg-type]
        subject=subject,
        status=_STATUS.get(ticket.status, "open"),
        vendor_status=ticket.status,
        priority=priority,
        created_at=_ts(ticket.created_at),
        updated_at=_ts(ticket.updated_at),
        version=str(ticket.updated_at),
        customer_external_id=str(ticket.requester_id),
        assignee_external_id=str(ticket.assignee_id) if ticket.assignee_id else None,
        team_external_id=str(ticket.group_id) if ticket.group_id else None,
        tags=tuple(ticket.tags),
        web_url=f"{base_url}/agent/tickets/{ticket.id}",
        satisfaction=ticket.satisfaction
        if ticket.satisfaction not in (None, "unoffered")
        else None,
        messages=_messages(world, ticket),
    )


def world_pages(
    world: World, tickets: Sequence[Ticket], base_url: str, per_page: int = 100
) -> Iterator[Page]:
    """The pages a full pull of `tickets` would yield: teams and agents first, then tickets
    oldest-updated first with their requesters, `per_page` at a time."""
    teams = tuple(TeamRecord(str(g.id), g.name) for g in world.groups.values())
    member_of: dict[int, list[str]] = {}
    for m in world.memberships:
        member_of.setdefault(m.user_id, []).append(str(m.group_id))
    agents = tuple(
        AgentRecord(
            str(u.id), u.name, u.email or "", _ROLES.get(u.role, "agent"),  # type: ignore[arg-type]
            team_external_ids=tuple(member_of.get(u.id, ())),
        )
        for u in (world.users[a] for a in [*world.agent_ids, world.bot_id])
    )  # fmt: skip
    yield Page("groups", None, False, teams=teams)
    yield Page("agents", None, False, agents=agents)
    ordered = sorted(tickets, key=lambda t: (t.updated_at, t.id))
    for start in range(0, len(ordered), per_page):
        chunk = ordered[start : start + per_page]
        requesters = {t.requester_id for t in chunk}
        yield Page(
            "tickets",
            cursor=f"bench:{start + len(chunk)}",
            more=start + per_page < len(ordered),
            conversations=tuple(_conversation(world, t, base_url) for t in chunk),
            contacts=tuple(_contact(world.users[r]) for r in sorted(requesters)),
        )


REGULARS = 3  # customers given REGULAR_CONVERSATIONS conversations each
REGULAR_CONVERSATIONS = 200


def _make_regulars(world: World) -> None:
    """Give REGULARS customers REGULAR_CONVERSATIONS conversations each, spread over time and
    (dealt round-robin) over the accounts: the issue's "customer with 200 conversations" whose
    history panel must still open instantly. The generator alone tops out near 60 at 10k."""
    ids = world.ticket_ids
    stride = len(ids) // REGULAR_CONVERSATIONS
    if stride <= REGULARS:
        return  # too small a world to hold them apart
    regulars = list(dict.fromkeys(world.tickets[i].requester_id for i in ids))[:REGULARS]
    for n, requester in enumerate(regulars):
        for k in range(REGULAR_CONVERSATIONS):
            ticket = world.tickets[ids[n + k * stride]]
            # Comments are generated from the ticket, so the customer's own messages follow.
            ticket.requester_id = ticket.submitter_id = requester


def build_store(
    path: Path | str,
    *,
    conversations: int,
    seed: int = 7,
    accounts: Sequence[str] = DEFAULT_ACCOUNTS,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BuiltStore:
    """Generate `conversations` tickets (about ten messages each) into a new store file.

    The tickets of one world are dealt round-robin to `accounts`; `progress(done, total)` is
    called after each page.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; build into a fresh file")
    world = generate_world(seed, conversations, "zendesk", now)
    _make_regulars(world)
    store = Store.open(path)
    try:
        shares: dict[str, list[Ticket]] = {name: [] for name in accounts}
        for i, ticket_id in enumerate(world.ticket_ids):
            shares[accounts[i % len(accounts)]].append(world.tickets[ticket_id])
        done = 0
        messages = 0
        for name in accounts:
            base_url = f"https://{name}.zendesk.example"
            store.upsert_account(name, "zendesk", base_url, "admin@kumomart.example")
            for page in world_pages(world, shares[name], base_url):
                stats = store.apply_page(name, page)
                messages += stats.messages
                done += stats.conversations
                if progress is not None and stats.conversations:
                    progress(done, conversations)
        store.conn.execute("PRAGMA optimize")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        customers = store.conn.execute("SELECT count(*) FROM customers").fetchone()[0]
    finally:
        store.close()
    return BuiltStore(path, len(world.tickets), messages, customers, tuple(accounts))
