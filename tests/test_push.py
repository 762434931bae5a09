"""The push engine's decisions, against an in-memory backend double.

Loopback tests against the simulator (tests/sync) prove the same over real HTTP; these pin
the per-field conflict rules and retry decisions one by one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from agentdesk.connectors.base import BackendError, Capabilities, ConflictError, NotFound, RateLimited
from agentdesk.model import AgentRecord, ConversationRecord, MutationRequest, Page, RemoteState, TeamRecord, WriteResult
from agentdesk.store import Store
from agentdesk.sync.push import PushEngine

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Backend:
    """A tiny helpdesk: one ticket, a message list, scripted failures."""

    capabilities = Capabilities(can_snooze=False, can_safe_update=True)

    def __init__(self):
        self.state = RemoteState(version="v1", status="open", priority="normal",
                                 assignee_external_id="me", team_external_id=None, tags=("billing",))
        self.messages: list[tuple[str, str]] = []  # (mutation id, text)
        self.fail_next: list[Exception] = []
        self.lose_response_once = False
        self.stale_once = False

    async def fetch_state(self, external_id):
        if external_id != "100":
            raise NotFound("gone")
        return self.state

    async def apply(self, request: MutationRequest, current: RemoteState) -> WriteResult:
        if self.fail_next:
            raise self.fail_next.pop(0)
        if self.stale_once:
            self.stale_once = False
            self.state = replace(self.state, version="v9")
            raise ConflictError("stale")
        p = request.payload
        if request.action in ("reply", "note"):
            self.messages.append((request.id, p["text"]))
            if self.lose_response_once:
                self.lose_response_once = False
                raise BackendError("connection dropped after the write")
            return WriteResult(message_external_id=f"srv-{len(self.messages)}")
        if request.action == "status":
            self.state = replace(self.state, status=p["status"])
        if request.action == "tags":
            tags = (set(self.state.tags) | set(p["add"])) - set(p["remove"])
            self.state = replace(self.state, tags=tuple(sorted(tags)))
        if request.action == "assign":
            self.state = replace(self.state, assignee_external_id=p.get("agent_external_id"))
        return WriteResult(version="v2")

    async def find_sent(self, request):
        for index, (mid, _) in enumerate(self.messages):
            if mid == request.id:
                return f"srv-{index + 1}"
        return None


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.upsert_account("acme", "zendesk", "http://127.0.0.1:1", "me@acme.com")
    store.apply_page("acme", Page("tickets", "c", False,
        agents=(AgentRecord("me", "Me", "me@acme.com"), AgentRecord("ola", "Ola", "ola@acme.com")),
        teams=(TeamRecord("g1", "Billing"),),
        conversations=(ConversationRecord("100", "email", "Refund", "open", "open", "normal", T0, T0,
                                          "v1", assignee_external_id="me", tags=("billing",), messages=()),)))
    return store


async def _push(store, backend):
    return await PushEngine(store, {"acme": backend}).push_account("acme")


async def test_queued_actions_are_sent_in_order_and_applied(store):
    backend = Backend()
    store.queue(1, "reply", {"text": "On its way"})
    store.queue(1, "status", {"status": "solved"})
    result = await _push(store, backend)
    assert result.applied == 2
    assert backend.messages[0][1] == "On its way"
    assert backend.state.status == "solved"
    assert {m.state for m in store.mutations()} == {"applied"}


async def test_colleague_changed_the_same_field_is_a_conflict_not_an_overwrite(store):
    backend = Backend()
    store.queue(1, "assign", {"agent_email": "ola@acme.com"})
    backend.state = replace(backend.state, assignee_external_id="sup", updated_by="Supervisor Sam")
    result = await _push(store, backend)
    assert result.conflicts == 1
    assert backend.state.assignee_external_id == "sup"
    mutation = store.mutations()[0]
    assert mutation.state == "conflict"
    assert '"assignee": "sup"' in mutation.error and "Supervisor Sam" in mutation.error


async def test_another_fields_change_is_no_conflict(store):
    backend = Backend()
    store.queue(1, "status", {"status": "pending"})
    backend.state = replace(backend.state, priority="urgent", version="v5")
    assert (await _push(store, backend)).applied == 1
    assert backend.state.status == "pending"


async def test_tags_merge_as_sets_with_a_colleagues_tags(store):
    backend = Backend()
    store.queue(1, "tags", {"add": ["vip"], "remove": []})
    backend.state = replace(backend.state, tags=("billing", "escalated"))
    await _push(store, backend)
    assert set(backend.state.tags) == {"billing", "escalated", "vip"}


async def test_lost_response_does_not_post_the_reply_twice(store):
    backend = Backend()
    backend.lose_response_once = True
    store.queue(1, "reply", {"text": "Only once please"})
    first = await _push(store, backend)
    assert first.retrying == 1
    # The retry is due after its back-off; make it due now.
    store.conn.execute("UPDATE outbox SET next_attempt_at = NULL")
    second = await _push(store, backend)
    assert second.applied == 1
    assert [text for _, text in backend.messages] == ["Only once please"]
    assert store.mutations()[0].state == "applied"


async def test_stale_version_is_reread_and_retried_when_the_field_is_free(store):
    backend = Backend()
    backend.stale_once = True
    store.queue(1, "status", {"status": "solved"})
    assert (await _push(store, backend)).applied == 1
    assert backend.state.status == "solved"


async def test_rate_limit_backs_off_and_blocks_only_that_conversation_order(store):
    backend = Backend()
    backend.fail_next = [RateLimited("slow down", retry_after=30)]
    store.queue(1, "status", {"status": "solved"})
    store.queue(1, "reply", {"text": "after the status"})
    result = await _push(store, backend)
    assert result.retrying == 1 and result.applied == 0
    assert [m.state for m in store.mutations()] == ["pending", "pending"]
    assert backend.messages == []


async def test_deleted_ticket_fails_the_mutation_and_keeps_the_text(store):
    backend = Backend()
    store.queue(1, "note", {"text": "Important note"})
    store.conn.execute("UPDATE conversations SET external_id = '404'")
    result = await _push(store, backend)
    assert result.failed == 1
    assert store.mutations()[0].state == "failed"
    assert store.conn.execute("SELECT body FROM drafts").fetchone()[0] == "Important note"


async def test_snooze_is_local_where_the_vendor_has_none(store):
    backend = Backend()
    store.queue(1, "snooze", {"until": "2026-12-01T09:00:00Z"})
    assert (await _push(store, backend)).applied == 1
    assert store.conn.execute("SELECT snoozed_until FROM conversations").fetchone()[0] == "2026-12-01T09:00:00Z"


async def test_conflict_resolved_as_mine_is_sent_on_the_servers_current_value(store):
    backend = Backend()
    store.queue(1, "assign", {"agent_email": "ola@acme.com"})
    backend.state = replace(backend.state, assignee_external_id="sup")
    await _push(store, backend)
    conflict = store.mutations()[0]
    assert conflict.state == "conflict"
    again = store.resolve_conflict(conflict.id, "mine")
    assert again.base["assignee_external_id"] == "sup"
    assert (await _push(store, backend)).applied == 1
    assert backend.state.assignee_external_id == "ola"
    assert store.mutation(conflict.id).state == "cancelled"


async def test_conflict_resolved_as_theirs_shows_the_servers_value_and_sends_nothing(store):
    backend = Backend()
    store.queue(1, "status", {"status": "pending"})
    backend.state = replace(backend.state, status="solved")
    await _push(store, backend)
    conflict = store.mutations()[0]
    assert store.resolve_conflict(conflict.id, "theirs") is None
    assert store.conversation(1).status == "solved"
    assert (await _push(store, backend)).applied == 0
    assert backend.state.status == "solved"
