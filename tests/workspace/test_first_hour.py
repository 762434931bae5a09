"""What a new agent meets in the first hour: actions land on the conversation on screen, undo
keeps its promise, the composer keeps the thread where it was, conflicts read in words."""

from __future__ import annotations

from datetime import timedelta

from agentdesk.model import Page
from agentdesk.store import Store
from agentdesk.tui.widgets.picker import PickerScreen
from agentdesk.tui.widgets.window import WindowedList
from tests.tui.conftest import _conversation, _message, write_newest_conversation
from tests.tui.helpers import lines, screen_text, settle, wait_for, wait_for_rows

SIZE = (160, 48)


def _toasts(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def _actions(path, external_id: str) -> list[tuple[str, dict, str]]:
    store = Store.open(path)
    try:
        cid = store.conversation_by_external_id("acme", external_id)
        return [(m.action, m.payload, m.state) for m in store.mutations(conversation_id=cid)]
    finally:
        store.close()


async def test_actions_and_the_copied_link_are_for_the_open_conversation_not_the_cursor_row(
    fixture_store, make_app
):
    other = Store.open(fixture_store)
    other.conn.execute(
        "UPDATE conversations SET web_url = 'https://acme.example.com/tickets/' || external_id"
    )
    other.close()
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await wait_for(pilot, lambda: inbox.open_conversation_id is not None)
        opened = inbox.open_conversation_id
        await pilot.press("j", "j")  # the cursor moves; the thread still shows the first one
        conversations = inbox.query_one("#conversations", WindowedList)
        assert conversations.current_key != opened and inbox.open_conversation_id == opened
        await pilot.press("p", *"urg", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, PickerScreen))
        await pilot.press("y")
        assert [a[:2] for a in _actions(fixture_store, "107")] == [
            ("priority", {"priority": "urgent"})
        ]
        assert _actions(fixture_store, "105") == []  # the row under the cursor is untouched
        assert "#107 priority urgent · queued · u undoes within 10 s" in _toasts(app)
        assert app.clipboard == "https://acme.example.com/tickets/107"


async def test_rows_arriving_above_never_change_the_open_conversation(
    fixture_store, make_app
):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await wait_for(pilot, lambda: inbox.open_conversation_id is not None)
        reading = inbox.open_conversation_id
        conversations = inbox.query_one("#conversations", WindowedList)
        new_id = write_newest_conversation(fixture_store)
        await wait_for(pilot, lambda: conversations.source.key(0) == new_id)
        await settle(pilot)
        # The agent has pressed nothing: what they read stays; the untouched cursor keeps to
        # the top, so the newest stay in view.
        assert inbox.open_conversation_id == reading
        assert conversations.cursor == 0 and conversations.scroll_offset.y == 0
        await pilot.press("p", *"urg", "enter")  # a key pressed now acts on what is read
        await wait_for(pilot, lambda: not isinstance(app.screen, PickerScreen))
        assert "priority urgent" in _toasts(app)
        assert _actions(fixture_store, "107")[0][:2] == ("priority", {"priority": "urgent"})


async def test_sorting_opens_the_new_top_row(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("j", "j")
        await pilot.press("S")  # by SLA due
        conversations = inbox.query_one("#conversations", WindowedList)
        await wait_for(pilot, lambda: inbox.open_conversation_id == conversations.source.key(0))
        assert conversations.cursor == 0


async def test_a_sent_action_waits_for_the_undo_window_so_u_takes_it_back(
    fixture_store, make_app
):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("r", *"On its way", "ctrl+r")
        store = Store.open(fixture_store)
        try:
            (reply,) = store.mutations(states=("pending",))
            # Not due for the push until the window has passed.
            assert reply.next_attempt_at is not None
            assert reply.next_attempt_at - reply.created_at >= timedelta(seconds=9)
        finally:
            store.close()
        assert "#107 reply · queued · u undoes within 10 s" in _toasts(app)
        assert "Reply queued · queued" not in _toasts(app)
        await pilot.press("u")
        assert _actions(fixture_store, "107")[-1][2] == "cancelled"
        assert "Undone: #107 reply" in _toasts(app)


async def test_a_local_snooze_can_be_woken_from_the_picker_and_the_snoozed_view_says_when(
    fixture_store, make_app
):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("z", *"2h", "enter")
        await wait_for(pilot, lambda: len(_actions(fixture_store, "107")) == 1)
        store = Store.open(fixture_store)
        store.conn.execute("UPDATE outbox SET state = 'applied'")  # sent: too late for `u`
        store.close()
        inbox.show_view("snoozed")
        conversations = inbox.query_one("#conversations", WindowedList)
        await wait_for(pilot, lambda: "z 2h" in "".join(lines(conversations)))
        await pilot.press("z")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        await pilot.press("enter")  # the first item: unsnooze
        await wait_for(pilot, lambda: len(_actions(fixture_store, "107")) == 2)
        action, payload, _ = _actions(fixture_store, "107")[-1]
        assert action == "snooze" and payload["until"] == "2025-03-03T11:00:00Z"  # now
        assert "#107 unsnoozed (locally)" in _toasts(app)
        await settle(pilot)
        await wait_for(pilot, lambda: len(conversations.source) == 0)


async def test_opening_the_composer_keeps_the_message_being_answered_on_screen(
    fixture_store, make_app
):
    store = Store.open(fixture_store)
    cid = store.conversation_by_external_id("acme", "107")
    long_thread = tuple(
        _message(f"long{n}", "customer", "Tom Baker", f"Line {n} of the story", 100 + n, "social")
        for n in range(40)
    )
    store.close()
    other = Store.open(fixture_store)
    other.apply_page("acme", Page("tickets", "c2", False, conversations=(_conversation(
        "107", "c2", "social", "@acme your app is slow", 100, long_thread),)))
    other.close()
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await wait_for(pilot, lambda: inbox.open_conversation_id == cid)
        thread = inbox.query_one("#thread", WindowedList)
        await wait_for(pilot, lambda: "Line 39 of the story" in "\n".join(lines(thread)))
        await pilot.press("r")
        await settle(pilot)
        assert inbox.query_one("#composer").display
        assert "Line 39 of the story" in "\n".join(lines(thread))


async def test_what_the_agent_just_sent_is_on_screen_at_the_end_of_the_thread(
    fixture_store, make_app
):
    store = Store.open(fixture_store)
    cid = store.conversation_by_external_id("acme", "107")
    long_thread = tuple(
        _message(f"long{n}", "customer", "Tom Baker", f"Line {n} of the story", 100 + n, "social")
        for n in range(60)
    )
    store.close()
    other = Store.open(fixture_store)
    other.apply_page("acme", Page("tickets", "c2", False, conversations=(_conversation(
        "107", "c2", "social", "@acme your app is slow", 100, long_thread),)))
    other.close()
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await wait_for(pilot, lambda: inbox.open_conversation_id == cid)
        thread = inbox.query_one("#thread", WindowedList)
        await wait_for(pilot, lambda: "Line 59 of the story" in "\n".join(lines(thread)))
        thread.scroll_to(y=0, animate=False, immediate=True)  # reading back up the thread
        await settle(pilot)
        await pilot.press("r", *"Fixed in 4.2", "ctrl+r")
        await wait_for(pilot, lambda: "Fixed in 4.2" in "\n".join(lines(thread)))
        await pilot.press("n", *"Told him about 4.2", "ctrl+r")
        await wait_for(pilot, lambda: "Told him about 4.2" in "\n".join(lines(thread)))


async def test_the_conflicts_view_speaks_the_agents_words_with_its_own_keys(
    fixture_store, make_app
):
    from agentdesk.tui.screens.conflict import ConflictScreen

    store = Store.open(fixture_store)
    cid = store.conversation_by_external_id("acme", "107")
    mutation = store.queue(cid, "status", {"status": "on_hold"})
    store.mark_sending(mutation.id)
    store.mark_conflict(mutation.id, {"status": "solved", "by": None, "at": None},
                        "changed on the server since you made this change")
    store.close()
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen))
        await pilot.pause()
        text = screen_text(app)
        assert "Changed on the server meanwhile: status → on hold" in text
        assert ("you saw status open and changed it; someone in the helpdesk set it to solved"
                in text)
        assert "{" not in text and "null" not in text and "on_hold" not in text
        footer = text.splitlines()[-1]
        assert "Apply mine again" in footer and "Keep theirs" in footer and "Reply" not in footer
        await pilot.press("m")
        sent_again = "Your change (status → on hold) will be sent again at the next sync."
        assert sent_again in _toasts(app)
        assert "kept mine" not in screen_text(app)


async def test_the_shipped_canned_responses_fill_in_the_customer_and_agent(
    fixture_store, make_app, tmp_path
):
    from agentdesk import canned
    from agentdesk.tui.widgets.composer import Composer

    config = tmp_path / "fresh-config"
    assert canned.install_examples(config) >= 5
    (config / "canned" / "thanks-resolved.md").write_text("mine, kept")
    assert canned.install_examples(config) == 0  # never over the agent's own files
    assert (config / "canned" / "thanks-resolved.md").read_text() == "mine, kept"
    app = make_app(fixture_store, config_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await wait_for(pilot, lambda: inbox.open_conversation_id is not None)
        await pilot.press("c", *"shipping-delay", "enter")
        composer = inbox.query_one(Composer)
        await wait_for(pilot, lambda: composer.text.startswith("Hi Tom,"))
        assert "Alex Agent" in composer.text and "{{" not in composer.text
        await pilot.press("escape")
        hanako = Store.open(fixture_store)
        cid = hanako.conversation_by_external_id("acme", "101")
        hanako.close()
        inbox.open_conversation(cid)
        await wait_for(pilot, lambda: inbox.open_conversation_id == cid)
        await pilot.press("c", *"ja-thanks", "enter")
        await wait_for(pilot, lambda: composer.text.startswith("佐藤様"))
        assert "（101）" in composer.text


async def test_the_search_bar_closes_when_another_view_is_chosen(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("slash", *"refund", "enter")
        await wait_for(pilot, lambda: inbox.view_id == "search")
        assert inbox.query_one("#search-bar").display
        await pilot.press("v", *"Mine", "enter")
        await wait_for(pilot, lambda: inbox.view_id == "mine")
        assert not inbox.query_one("#search-bar").display
