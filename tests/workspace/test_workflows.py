"""Pilot walks through an agent's day on a real store file: every action is a queued mutation."""

from __future__ import annotations

from datetime import timedelta

from agentdesk.model import ConversationRecord, MessageRecord, Page
from agentdesk.store import Store
from agentdesk.tui.widgets.composer import Composer
from agentdesk.tui.widgets.picker import PickerScreen
from agentdesk.tui.widgets.window import WindowedList
from tests.tui.conftest import NOW, T0
from tests.tui.helpers import lines, screen_text, wait_for, wait_for_rows

SIZE = (160, 48)


def _mutations(path, external_id: str):
    store = Store.open(path)
    try:
        cid = store.conversation_by_external_id("acme", external_id)
        return store.mutations(conversation_id=cid)
    finally:
        store.close()


def _toasts(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def test_triage_tag_assign_priority_status_snooze_and_undo(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        conversations = inbox.query_one("#conversations", WindowedList)
        assert conversations.current_key == inbox.target_ids()[0]
        # Tag: type a new tag, Enter.
        await pilot.press("t", *"vip", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, PickerScreen))
        # Assign to me through the fuzzy picker.
        await pilot.press("a", *"alex", "enter")
        # Priority and status.
        await pilot.press("p", *"urg", "enter")
        await pilot.press("s", *"pend", "enter")
        # Snooze with a typed time.
        await pilot.press("z", *"2h", "enter")
        await wait_for(pilot, lambda: len(_mutations(fixture_store, "107")) == 5)
        done = _mutations(fixture_store, "107")
        assert [m.action for m in done] == ["tags", "assign", "priority", "status", "snooze"]
        assert done[0].payload == {"add": ["vip"]}
        assert done[1].payload["agent_email"] == "agent@acme.example"
        assert done[2].payload == {"priority": "urgent"}
        assert done[3].payload == {"status": "pending"}
        assert done[4].payload == {"until": "2025-03-03T13:00:00Z"}  # NOW + 2h
        snoozed = "#107 snoozed (locally) until 13:00 · queued · u undoes within 10 s"
        assert snoozed in _toasts(app)
        assert "#107 assigned to you · queued" in _toasts(app)  # a name, never the address
        assert "agent@acme.example" not in _toasts(app)
        # The list shows the pending sync state of the row.
        await wait_for(pilot, lambda: "↑" in "".join(lines(conversations)))
        # Undo the snooze while it is still pending.
        await pilot.press("u")
        assert [m.state for m in _mutations(fixture_store, "107")][-1] == "cancelled"
        assert "Undone: #107 snoozed" in _toasts(app)


async def test_note_is_queued_and_shown_as_internal_in_the_thread(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("n")
        composer = inbox.query_one(Composer)
        assert composer.display and composer.kind == "note"
        assert "ctrl+r send" in str(composer.query_one("#composer-hint").render())
        await pilot.press(*"Checked with the carrier", "ctrl+r")
        await wait_for(pilot, lambda: not composer.display)
        assert [m.action for m in _mutations(fixture_store, "107")] == ["note"]
        thread = "\n".join(lines(inbox.query_one("#thread", WindowedList)))
        assert "NOTE (internal)" in thread and "▌ Checked with the carrier" in thread


async def test_resolve_and_next_lands_on_the_next_conversation(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        conversations = inbox.query_one("#conversations", WindowedList)
        first, second = conversations.source.ids[:2]  # type: ignore[attr-defined]
        await pilot.press("e")
        assert inbox.open_conversation_id == second
        await wait_for(pilot, lambda: first not in conversations.source.ids)  # type: ignore[attr-defined]
        assert conversations.current_key == second
        assert inbox.counts.get("open") == 5 or await _counts(pilot, inbox, 5)


async def _counts(pilot, inbox, expected: int) -> bool:
    await wait_for(pilot, lambda: inbox.counts.get("open") == expected)
    return True


async def test_bulk_marks_then_resolve_applies_to_each(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("x", "x")
        assert len(inbox.marked) == 2
        assert "2 marked" in str(inbox.query_one("#conversations").border_title)
        await pilot.press("e")
        await wait_for(pilot, lambda: inbox.counts.get("open") == 4)
        assert not inbox.marked
        await pilot.press("x", "escape")
        assert not inbox.marked


async def test_search_shows_where_a_query_is_wrong_then_windows_every_match(
    fixture_store, make_app
):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("slash", *"status:nope", "enter")
        error = str(inbox.query_one("#search-error").render())
        assert "^ status:nope is not known" in error
        assert error.splitlines()[1].index("^") == len("status:")
        await pilot.press(*(["backspace"] * 4), *"solved 返品", "enter")
        await wait_for(pilot, lambda: inbox.view_id == "search" and
                       len(inbox.query_one("#conversations", WindowedList).source) == 1)
        await pilot.press("slash", "ctrl+u", *"channel:chat", "enter")
        await wait_for(pilot, lambda: inbox.view_id == "search" and
                       len(inbox.query_one("#conversations", WindowedList).source) == 2)
        assert "Search: channel:chat" in str(inbox.query_one("#conversations").border_title)
        await pilot.press("escape")


async def test_switch_views_sort_and_save_a_search_as_a_view(fixture_store, make_app, config_dir):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("v", *"unassig", "enter")
        await wait_for(pilot, lambda: inbox.view_id == "unassigned")
        await pilot.press("S")
        assert inbox.sort == "sla"
        await wait_for(pilot, lambda: "sort: SLA due" in str(
            inbox.query_one("#conversations").border_title))
        conversations = inbox.query_one("#conversations", WindowedList)
        await wait_for(pilot, lambda: "URG!" in lines(conversations)[0])  # the overdue call
        await pilot.press("slash", *"priority:urgent,high", "enter")
        await wait_for(pilot, lambda: inbox.view_id == "search")
        inbox.save_search_as_view()
        await pilot.pause()
        await pilot.press(*"Hot", "enter")
        await wait_for(pilot, lambda: inbox.view_id == "user:hot")
        await wait_for(pilot, lambda: inbox.counts.get("user:hot") == 2)
        assert (config_dir / "views.json").exists()
        assert "Hot" in "".join(lines(inbox.query_one("#views", WindowedList)))


async def test_draft_is_kept_across_a_restart_and_sent_later(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("r", *"Dear Tom, about the app")
        await pilot.press("escape")  # closes the composer; the draft stays
        await pilot.press("q")
    store = Store.open(fixture_store)
    cid = store.conversation_by_external_id("acme", "107")
    assert store.draft(cid).body == "Dear Tom, about the app"  # type: ignore[union-attr]
    store.close()
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("r")
        composer = inbox.query_one(Composer)
        assert composer.text == "Dear Tom, about the app"
        await pilot.press(*" being slow.", "ctrl+r")
        await wait_for(pilot, lambda: not composer.display)
    done = _mutations(fixture_store, "107")
    assert done[0].payload["text"] == "Dear Tom, about the app being slow."
    store = Store.open(fixture_store)
    assert store.draft(cid) is None
    store.close()


async def test_typing_then_quitting_at_once_still_saves_the_draft(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("r", *"unsaved", "ctrl+c")
        await app.action_quit()
    store = Store.open(fixture_store)
    cid = store.conversation_by_external_id("acme", "107")
    assert store.draft(cid).body == "unsaved"  # type: ignore[union-attr]
    store.close()


async def test_warns_before_sending_when_the_customer_wrote_after_the_draft(
    fixture_store, make_app
):
    store = Store.open(fixture_store)
    cid = store.conversation_by_external_id("acme", "107")
    store.save_draft(cid, "reply", "Old answer", now=NOW - timedelta(minutes=30))
    store.close()
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        other = Store.open(fixture_store)
        record = ConversationRecord(
            external_id="107", channel="social", subject="@acme your app is slow",
            status="open", vendor_status="open", priority="normal", created_at=T0,
            updated_at=NOW - timedelta(minutes=1), version="v2", customer_external_id="c2",
            messages=(MessageRecord("m12", "reply", "customer", "Tom Baker", "Still slow!",
                                    NOW - timedelta(minutes=5), "social"),),
        )
        other.apply_page("acme", Page(resource="tickets", cursor="c2", more=False,
                                      conversations=(record,)))
        other.close()
        await pilot.press("r", "ctrl+r")
        assert "The customer wrote again" in _toasts(app)
        assert _mutations(fixture_store, "107") == []
        await pilot.press("ctrl+r")  # sending anyway is a deliberate second press
        await wait_for(pilot, lambda: len(_mutations(fixture_store, "107")) == 1)


async def test_tags_disabled_when_the_account_cannot_tag(fixture_store, make_app):
    store = Store.open(fixture_store)
    store.record_sync_info("acme", capabilities={"can_tag": False})
    store.close()
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("t")
        assert not isinstance(app.screen, PickerScreen)
        assert "does not let agentdesk change tags" in _toasts(app)


async def test_user_keymap_rebinds_reply(fixture_store, make_app):
    app = make_app(fixture_store, keymap={"conversation.reply": "R"})
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("r")
        assert not inbox.query_one(Composer).display
        await pilot.press("R")
        assert inbox.query_one(Composer).display


async def test_new_assignment_from_sync_is_notified(fixture_store, make_app):
    app = make_app(fixture_store, bell=True)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await wait_for(pilot, lambda: inbox._watch is not None)
        other = Store.open(fixture_store)
        record = ConversationRecord(
            external_id="102", channel="chat", subject="Refund for #4411", status="open",
            vendor_status="open", priority="normal", created_at=T0 + timedelta(minutes=20),
            updated_at=NOW, version="v3", customer_external_id="c2", assignee_external_id="a1",
        )
        other.apply_page("acme", Page(resource="tickets", cursor="c3", more=False,
                                      conversations=(record,)))
        other.close()
        await wait_for(pilot, lambda: "Assigned to you: Refund for #4411" in _toasts(app))


async def test_merge_and_unmerge_a_duplicate_customer(fixture_store, make_app):
    from agentdesk.model import ContactRecord, Identity

    other = Store.open(fixture_store)
    other.apply_page("acme", Page(resource="users", cursor="u", more=False, contacts=(
        ContactRecord("c9", "Tom Baker", (Identity("email", "tom.b@work.example"),)),
    )))
    other.close()
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        profile = inbox.query_one("#customer-profile")
        await wait_for(pilot, lambda: "possible duplicate" in str(profile.render()))
        await pilot.press("M", "enter")
        await wait_for(pilot, lambda: "merged here: Tom Baker" in str(profile.render()))
        assert "tom.b@work.example" in str(profile.render())
        await pilot.press("U", "enter")
        await wait_for(pilot, lambda: "tom.b@work.example" not in str(profile.render()))


async def test_open_and_copy_the_vendor_url(fixture_store, make_app):
    other = Store.open(fixture_store)
    other.conn.execute("UPDATE conversations SET web_url = 'https://acme.example.com/agent/tickets/107'")
    other.close()
    app = make_app(fixture_store)
    opened: list[str] = []
    app.open_url = lambda url, new_tab=True: opened.append(url)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("o", "y")
        assert opened == ["https://acme.example.com/agent/tickets/107"]
        assert app.clipboard == "https://acme.example.com/agent/tickets/107"


async def test_palette_runs_conversation_and_view_commands(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("colon", *"View: Unassigned")
        await wait_for(pilot, lambda: "View: Unassigned" in screen_text(pilot))
        await pilot.press("enter")
        await wait_for(pilot, lambda: inbox.view_id == "unassigned")
        await pilot.press("ctrl+p", *"Conversation: priority")
        await wait_for(pilot, lambda: "Conversation: priority" in screen_text(pilot))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        await pilot.press("escape")
