"""Deterministic fixture stores for the TUI tests, built through the store's own write API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentdesk.model import (
    AgentRecord,
    ContactRecord,
    ConversationRecord,
    Identity,
    MessageRecord,
    Page,
    TeamRecord,
)
from agentdesk.store import Store

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
"""Fixture conversations start here (in the past, so SLA filters using the real clock agree)."""
NOW = T0 + timedelta(hours=3)
"""The app's frozen clock in the tests."""

HOSTILE_SUBJECT = "[@click=app.quit]Win[/] [bold \x1b[2J\x1b]0;pwned\x07"
HOSTILE_NAME = "[link=http://x]Mallory[/link] \u202eevil\u200b"
HOSTILE_BODY = "Click [@click=app.quit]here[/]\n[$accent]x[/] [/ \x1b]52;c;aGk=\x07 \x9b31m red"


def frozen_clock() -> datetime:
    return NOW


def _message(
    eid: str, author_kind: str, name: str, body: str, minutes: int, channel: str, kind="reply"
) -> MessageRecord:
    return MessageRecord(
        external_id=eid,
        kind=kind,
        author_kind=author_kind,
        author_name=name,
        body=body,
        created_at=T0 + timedelta(minutes=minutes),
        channel=channel,
    )


def _conversation(
    eid: str,
    customer: str,
    channel: str,
    subject: str,
    minutes: int,
    messages: tuple[MessageRecord, ...],
    *,
    priority: str = "normal",
    status: str = "open",
    assignee: str | None = None,
) -> ConversationRecord:
    created = T0 + timedelta(minutes=minutes)
    return ConversationRecord(
        external_id=eid,
        channel=channel,
        subject=subject,
        status=status,
        vendor_status=status,
        priority=priority,
        created_at=created,
        updated_at=created + timedelta(minutes=len(messages)),
        version="v1",
        customer_external_id=customer,
        assignee_external_id=assignee,
        team_external_id="t1",
        messages=messages,
    )


def build_store(path: Path, *, hostile: bool = False) -> Path:
    """English and Japanese customers over several channels; Hanako wrote by email and chat."""
    store = Store.open(path)
    store.upsert_account("acme", "zendesk", "https://acme.example.com", "agent@acme.example")
    store.record_sync_info(
        "acme", role="agent", user_external_id="a1", synced_at=NOW - timedelta(minutes=2)
    )
    contacts = (
        ContactRecord(
            "c1",
            "佐藤 花子",
            (Identity("email", "hanako@example.jp"), Identity("phone", "+819012345678")),
            {"plan": "Pro", "language": "ja"},
        ),
        ContactRecord("c2", "Tom Baker", (Identity("email", "tom@example.com"),), {"vip": True}),
        ContactRecord("c3", "Acme Corp", (Identity("phone", "+14155550100"),)),
        # The same person as c1 on chat: linked by the shared email address.
        ContactRecord("c4", "Hanako Sato", (Identity("email", "hanako@example.jp"),)),
        ContactRecord("c5", "Ana Lima", (Identity("email", "ana@example.br"),)),
    )
    if hostile:
        contacts += (ContactRecord("c6", HOSTILE_NAME, (Identity("email", "m@evil.test"),)),)
    conversations = [
        _conversation(
            "101",
            "c1",
            "email",
            "注文が届きません",
            0,
            (
                _message(
                    "m1",
                    "customer",
                    "佐藤 花子",
                    "注文番号 4411 がまだ届いていません。いつ届きますか？確認をお願いします。",
                    0,
                    "email",
                ),
                _message("m2", "bot", "Bot", "I found order 4411: shipped 11/20.", 2, "email"),
                _message(
                    "m3", "agent", "Alex Agent", "Carrier says delayed.", 5, "email", kind="note"
                ),
                _message(
                    "m4", "system", "system", "Priority changed to high", 6, "email", kind="event"
                ),
            ),
            priority="high",
        ),
        _conversation(
            "102",
            "c2",
            "chat",
            "Refund for #4411",
            20,
            (_message("m5", "customer", "Tom Baker", "I'd like a refund please.", 20, "chat"),),
        ),
        _conversation(
            "103",
            "c3",
            "voice",
            "Call back re: VPN",
            40,
            (
                _message(
                    "m6", "customer", "Acme Corp", "VPN down for the whole office.", 40, "voice"
                ),
            ),
            priority="urgent",
        ),
        _conversation(
            "104",
            "c4",
            "chat",
            "配送先の変更",
            60,
            (
                _message("m7", "customer", "Hanako Sato", "配送先を変更したいです。", 60, "chat"),
                _message(
                    "m8",
                    "agent",
                    "Alex Agent",
                    "承知しました。新しい住所を教えてください。",
                    65,
                    "chat",
                ),
            ),
            assignee="a1",
        ),
        _conversation(
            "105",
            "c5",
            "sms",
            "Where is my parcel?",
            80,
            (
                _message(
                    "m9", "customer", "Ana Lima", "Still nothing, tracking says pending.", 80, "sms"
                ),
            ),
            priority="low",
        ),
        _conversation(
            "106",
            "c1",
            "web",
            "返品について",
            -3000,
            (_message("m10", "customer", "佐藤 花子", "返品したいです。", -3000, "web"),),
            status="solved",
        ),
        _conversation(
            "107",
            "c2",
            "social",
            "@acme your app is slow",
            100,
            (_message("m11", "customer", "Tom Baker", "App takes 30s to load.", 100, "social"),),
        ),
    ]
    if hostile:
        conversations.append(
            _conversation(
                "666",
                "c6",
                "email",
                HOSTILE_SUBJECT,
                170,
                (_message("m66", "customer", HOSTILE_NAME, HOSTILE_BODY, 170, "email"),),
                priority="urgent",
            )
        )
    store.apply_page(
        "acme",
        Page(
            resource="tickets",
            cursor="c1",
            more=False,
            conversations=tuple(conversations),
            contacts=contacts,
            agents=(AgentRecord("a1", "Alex Agent", "agent@acme.example"),),
            teams=(TeamRecord("t1", "Support"),),
        ),
    )
    store.close()
    return path


def write_newest_conversation(path: Path, *, assignee: str | None = None) -> int:
    """Another process (e.g. `agentdesk sync` in another terminal) stores a conversation newer
    than every fixture one; returns its id."""
    other = Store.open(path)
    try:
        newest = _conversation(
            "900", "c9", "email", "Brand new question", 175,
            (_message("m900", "customer", "Zoe New", "Hello?", 175, "email"),),
            assignee=assignee,
        )
        other.apply_page("acme", Page("tickets", "c2", False, conversations=(newest,),
                                      contacts=(ContactRecord("c9", "Zoe New"),)))
        return other.conversation_by_external_id("acme", "900")  # type: ignore[return-value]
    finally:
        other.close()


@pytest.fixture
def fixture_store(tmp_path: Path) -> Path:
    return build_store(tmp_path / "inbox.db")


@pytest.fixture
def make_app() -> Callable[..., object]:
    from agentdesk.tui.app import AgentDeskApp

    def make(path: Path, **kw: object) -> AgentDeskApp:
        kw.setdefault("clock", frozen_clock)
        kw.setdefault("tz", UTC)
        return AgentDeskApp(path, **kw)  # type: ignore[arg-type]

    return make
