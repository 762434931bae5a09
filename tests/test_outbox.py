from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentdesk.model import AgentRecord, ConversationRecord, Page, TeamRecord
from agentdesk.store import MutationError, Store, UnknownConversation

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _ticket(status="open", tags=("billing",), assignee="a1", version="v1") -> ConversationRecord:
    return ConversationRecord(
        external_id="100", channel="email", subject="Refund for order 4411", status=status,
        vendor_status=status, priority="normal", created_at=T0, updated_at=T0, version=version,
        assignee_external_id=assignee, tags=tags, messages=(),
    )


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.upsert_account("acme", "zendesk", "http://127.0.0.1:1", "me@acme.com")
    store.apply_page("acme", Page("tickets", "c0", False,
        teams=(TeamRecord("g1", "Billing"),),
        agents=(AgentRecord("a1", "Me Myself", "me@acme.com"), AgentRecord("a2", "Ola Nordmann", "ola@acme.com")),
        conversations=(_ticket(),)))
    store.record_sync_info("acme", user_external_id="a1")
    return store


def test_reply_is_queued_and_shown_in_the_thread_at_once(store):
    mutation = store.queue(1, "reply", {"text": "Your refund is on its way."})
    assert mutation.state == "pending"
    assert mutation.base_version == "v1"
    thread = store.thread(1)
    assert thread[-1].body == "Your refund is on its way."
    assert thread[-1].author_name == "Me Myself"
    assert store.outbox_summary().pending == 1
    assert store.conversation_sync_state([1]) == {1: "pending"}


def test_pending_change_survives_a_pull_of_the_old_server_copy(store):
    store.queue(1, "status", {"status": "solved"})
    store.queue(1, "tags", {"add": ["vip"], "remove": ["billing"]})
    store.apply_page("acme", Page("tickets", "c1", False, conversations=(_ticket(),)))
    detail = store.conversation(1)
    assert detail.status == "solved"
    assert detail.tags == ("vip",)


def test_cancel_before_sending_restores_the_conversation(store):
    mutation = store.queue(1, "assign", {"agent_email": "ola@acme.com"})
    assert store.conversation(1).assignee_name == "Ola Nordmann"
    assert store.cancel(mutation.id)
    assert store.conversation(1).assignee_name == "Me Myself"
    assert store.mutation(mutation.id).state == "cancelled"


def test_cannot_cancel_once_sending(store):
    mutation = store.queue(1, "priority", {"priority": "urgent"})
    store.mark_sending(mutation.id)
    assert not store.cancel(mutation.id)
    assert store.conversation(1).priority == "urgent"


def test_failed_reply_goes_back_to_drafts_and_leaves_the_thread(store):
    mutation = store.queue(1, "reply", {"text": "Words I typed carefully"})
    store.mark_failed(mutation.id, "Zendesk says the ticket was deleted")
    assert all(m.body != "Words I typed carefully" for m in store.thread(1))
    draft = store.conn.execute("SELECT body FROM drafts WHERE conversation_id = 1").fetchone()[0]
    assert draft == "Words I typed carefully"
    assert store.mutation(mutation.id).error == "Zendesk says the ticket was deleted"
    assert store.outbox_summary().failed == 1


def test_applied_reply_takes_the_server_message_id(store):
    mutation = store.queue(1, "note", {"text": "Carrier says delayed"})
    store.mark_applied(mutation.id, message_external_id="9001", version="v2")
    ids = {r[0] for r in store.conn.execute("SELECT external_id FROM messages")}
    assert "9001" in ids
    assert store.conn.execute("SELECT version FROM conversations").fetchone()[0] == "v2"


@pytest.mark.parametrize(
    ("action", "payload", "message"),
    [
        ("status", {"status": "done"}, "status must be one of"),
        ("priority", {"priority": "p1"}, "priority must be one of"),
        ("reply", {"text": "   "}, "needs some text"),
        ("tags", {"add": ["two words"]}, "single words"),
        ("assign", {"agent_email": "nobody@acme.com"}, "no agent nobody@acme.com"),
        ("snooze", {"until": "tomorrowish"}, "not a time"),
        ("dance", {}, "unknown action"),
    ],
)
def test_bad_actions_are_refused_with_a_reason_and_queue_nothing(store, action, payload, message):
    with pytest.raises(MutationError, match=message):
        store.queue(1, action, payload)
    assert store.mutations() == []


def test_unknown_conversation_is_its_own_error(store):
    with pytest.raises(UnknownConversation):
        store.queue(999, "note", {"text": "hi"})


def test_pull_replacing_a_sent_reply_with_the_servers_text_keeps_the_index_sound(store):
    mutation = store.queue(1, "reply", {"text": "Refund sent\n"})
    assert [r[0] for r in store.conn.execute(
        "SELECT rowid FROM search_bodies WHERE search_bodies MATCH 'refund'")]
    store.mark_applied(mutation.id, message_external_id="54")
    from agentdesk.model import MessageRecord
    server_copy = MessageRecord("54", "reply", "agent", "Me Myself", "Refund sent", T0, "email")
    store.apply_page("acme", Page("tickets", "c2", False, conversations=(
        _ticket().__class__(**{**_ticket().__dict__} if False else {}) if False else
        ConversationRecord(external_id="100", channel="email", subject="Refund for order 4411",
                           status="open", vendor_status="open", priority="normal", created_at=T0,
                           updated_at=T0, version="v2", assignee_external_id="a1",
                           tags=("billing",), messages=(server_copy,)),)))
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.conn.execute("INSERT INTO search_bodies(search_bodies) VALUES ('integrity-check')")
    assert [m.body for m in store.thread(1)] == ["Refund sent"]


def test_cancelled_reply_leaves_no_search_hit(store):
    mutation = store.queue(1, "reply", {"text": "zebra crossing"})
    store.cancel(mutation.id)
    assert store.conn.execute(
        "SELECT count(*) FROM search_bodies WHERE search_bodies MATCH 'zebra'").fetchone()[0] == 0
