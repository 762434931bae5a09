"""A small deterministic team for the screen snapshots, written through the store's own API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

from agentdesk.model import AgentRecord, ConversationRecord, MessageRecord, Page, TeamRecord
from agentdesk.store import Store

NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
AGENTS = (("1", "Sarah Connors", "admin"), ("2", "Marcus Webb", "agent"),
          ("3", "伊藤 遥", "agent"), ("4", "Priya Raman", "agent"), ("5", "Diego Alvarez", "agent"),
          ("6", "[b]Mallory[/b]", "agent"))
TEAMS = (("10", "Billing"), ("11", "Technical Support"), ("12", "配送 Shipping"))
CHANNELS = ("email", "chat", "sms", "voice", "web")


def build(path: Path, *, role: str = "admin", count: int = 90) -> Path:
    rng = Random(42)
    store = Store.open(path)
    store.upsert_account("acme", "zendesk", "https://acme.example", "sarah@acme.example")
    store.record_sync_info("acme", role=role, user_external_id="1")
    agents = tuple(
        AgentRecord(eid, name, f"{name.split()[0].lower().strip('[]/b')}{eid}@acme.example",
                    role=r, presence=("online", "away", "offline")[int(eid) % 3],
                    capacity=8 if eid in ("2", "4") else None,
                    team_external_ids=(TEAMS[int(eid) % 3][0],))
        for eid, name, r in AGENTS
    )
    conversations = []
    for n in range(count):
        created = NOW - timedelta(minutes=rng.randint(30, 10 * 24 * 60))
        status = rng.choice(("new", "open", "open", "pending", "solved", "solved", "closed"))
        assignee = rng.choice([None, *[a[0] for a in AGENTS]])
        messages = [MessageRecord(f"m{n}-0", "reply", "customer", "Customer", "Hello", created,
                                  "email")]
        if status != "new" and assignee:
            reply_at = created + timedelta(minutes=rng.randint(3, 600))
            if reply_at < NOW:
                messages.append(MessageRecord(f"m{n}-1", "reply", "agent", "Agent", "On it",
                                              reply_at, "email", author_external_id=assignee))
        conversations.append(ConversationRecord(
            external_id=str(100 + n), channel=rng.choice(CHANNELS), subject=f"Case {n}",
            status=status, vendor_status=status,
            priority=rng.choice(("low", "normal", "normal", "high", "urgent")),
            created_at=created, updated_at=max(m.created_at for m in messages), version=f"v{n}",
            assignee_external_id=assignee, team_external_id=rng.choice(TEAMS)[0],
            satisfaction=rng.choice((None, "good", "good", "bad", "offered"))
            if status in ("solved", "closed") else None,
            messages=tuple(messages),
        ))
    store.apply_page("acme", Page(
        resource="tickets", cursor="c", more=False,
        teams=tuple(TeamRecord(e, n) for e, n in TEAMS), agents=agents,
        conversations=tuple(conversations),
    ))
    store.close()
    return path
