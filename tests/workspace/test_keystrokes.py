"""The fastest path through the queue is short: counted keystrokes, not a stopwatch."""

from __future__ import annotations

from agentdesk.store import Store
from agentdesk.tui.widgets.window import WindowedList
from tests.tui.helpers import wait_for, wait_for_rows

TEMPLATE = "refund-approved"


async def test_canned_reply_resolve_and_next_takes_at_most_four_keys(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=(160, 48)) as pilot:
        inbox = await wait_for_rows(pilot)
        conversations = inbox.query_one("#conversations", WindowedList)
        first = conversations.current_key
        second = conversations.source.key(conversations.cursor + 1)
        keys = ["c", *TEMPLATE, "enter", "ctrl+g"]
        await pilot.press(*keys)
        beyond_template = len(keys) - len(TEMPLATE)
        assert beyond_template <= 4
        await wait_for(pilot, lambda: inbox.open_conversation_id == second)
        await wait_for(pilot, lambda: first not in conversations.source.ids)  # type: ignore[attr-defined]
        assert conversations.current_key == second
        store = Store.open(fixture_store)
        try:
            done = store.mutations(conversation_id=first)  # type: ignore[arg-type]
            assert [m.action for m in done] == ["reply", "status"]
            assert done[1].payload == {"status": "solved"}
            text = str(done[0].payload["text"])
            assert text.startswith("Hi Tom,")  # {{customer.first_name}} filled
            assert "Alex Agent" in text  # {{agent.name}}
            assert "{{unknown.thing}}" in text  # unknown placeholders stay visible
        finally:
            store.close()
