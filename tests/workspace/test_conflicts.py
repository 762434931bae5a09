"""A colleague changed the same field while the agent was offline: the agent sees both sides
and decides, from the conflicts view (`C`)."""

from __future__ import annotations

from agentdesk.store import Store
from agentdesk.tui.screens.conflict import ConflictScreen
from tests.tui.helpers import screen_text, wait_for, wait_for_rows

SIZE = (160, 48)


def _conflict_on_first_row(path, conversation_id: int) -> str:
    store = Store.open(path)
    try:
        mutation = store.queue(conversation_id, "status", {"status": "pending"})
        store.mark_sending(mutation.id)
        store.mark_conflict(
            mutation.id, {"status": "solved", "by": "Supervisor Sam", "at": "2025-03-03T10:00:00Z"},
            "changed on the server since you made this change")
        return mutation.id
    finally:
        store.close()


async def test_agent_applies_their_change_again_after_seeing_both_sides(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        first = inbox.target_ids()[0]
        conflict_id = _conflict_on_first_row(fixture_store, first)
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen))
        text = screen_text(app)
        assert "you saw status open and changed it; Supervisor Sam set it to solved" in text
        await pilot.press("m")
        store = Store.open(fixture_store)
        try:
            states = [(m.id == conflict_id, m.state) for m in store.mutations(conversation_id=first)]
            again = store.mutations(conversation_id=first)[-1]
        finally:
            store.close()
        assert (True, "cancelled") in states
        assert again.state == "pending" and again.payload == {"status": "pending"}
        assert again.base["status"] == "solved"  # what the re-applied change is based on


async def test_agent_keeps_the_colleagues_change(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        first = inbox.target_ids()[0]
        _conflict_on_first_row(fixture_store, first)
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen))
        await pilot.press("t")
        store = Store.open(fixture_store)
        try:
            assert store.conversation(first).status == "solved"
            assert [m.state for m in store.mutations(conversation_id=first)] == ["cancelled"]
        finally:
            store.close()
