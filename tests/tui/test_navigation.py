"""Pilot tests: the inbox driven by keyboard, as an agent uses it."""

from __future__ import annotations

import io
import threading
from dataclasses import replace

from rich.cells import cell_len

from agentdesk.model import Page
from agentdesk.store import Store
from agentdesk.syncapi import SyncEvent
from agentdesk.tui.screens.first_run import FirstRunScreen
from agentdesk.tui.screens.help import HelpScreen, all_bindings
from agentdesk.tui.widgets.window import WindowedList
from tests.tui.conftest import T0, _conversation, _message, write_newest_conversation
from tests.tui.helpers import lines, screen_text, wait_for, wait_for_rows

SIZE = (160, 48)


def _ids(inbox) -> list[int]:
    return inbox.query_one("#conversations", WindowedList).source.ids


def _external(app, conversation_id: int) -> str:
    detail = app.store.conversation(conversation_id)
    assert detail is not None
    return detail.external_id


async def test_first_screen_shows_views_with_counts_and_rows_newest_first(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        views = lines(inbox.query_one("#views", WindowedList))
        assert views[0].split() == ["Mine", "1"]
        assert views[1].split() == ["Unassigned", "5"]
        assert views[2].split() == ["▸", "All", "open", "6"]  # the view shown
        rows = lines(inbox.query_one("#conversations", WindowedList))
        assert rows[0].startswith("  SOCL Tom Baker") and "@acme your app is slow" in rows[0]
        assert "URG!" in rows[3] and "⚠ -1h" in rows[3]  # the VPN call is overdue
        assert "佐藤 花子" in rows[5] and "注文が届きません" in rows[5]
        # Wide characters line up: every row fills exactly the same number of cells.
        widths = {cell_len(row) for row in rows}
        assert len(widths) == 1


async def test_j_k_move_and_enter_opens_thread_and_customer(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        conversations = inbox.query_one("#conversations", WindowedList)
        assert conversations.has_focus
        await pilot.press("j", "j", "down", "k")
        assert conversations.cursor == 2
        await pilot.press("j", "j", "j")
        assert conversations.cursor == 5
        await pilot.press("enter")
        assert _external(app, inbox.open_conversation_id) == "101"
        thread = "\n".join(lines(inbox.query_one("#thread", WindowedList)))
        assert "注文番号 4411 がまだ届いていません" in thread
        assert "NOTE (internal)" in thread and "▌ Carrier says delayed." in thread
        assert "Bot · BOT (automated) · email · acme" in thread
        assert "· 08:06 Priority changed to high" in thread  # an event, with its time
        profile = str(inbox.query_one("#customer-profile").render())
        assert "佐藤 花子" in profile and "hanako@example.jp" in profile
        assert "+819012345678" in profile and "plan: Pro" in profile


async def test_customer_history_spans_channels_and_enter_opens_that_conversation(
    fixture_store, make_app
):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("G", "enter")  # the oldest open one: Hanako's email
        history = inbox.query_one("#history", WindowedList)
        rows = [r for r in lines(history) if r.strip()]
        # Newest first, on chat, email and web form, with the open one marked.
        assert [r.split()[0] for r in rows] == ["CHAT", "MAIL", "WEB"]
        assert "配送先の変更" in rows[0] and rows[1].rstrip().endswith("◀")
        await pilot.press("tab", "tab")
        assert history.has_focus
        await pilot.press("k", "enter")
        assert _external(app, inbox.open_conversation_id) == "104"
        thread = "\n".join(lines(inbox.query_one("#thread", WindowedList)))
        assert "配送先を変更したいです。" in thread
        assert lines(history)[0].rstrip().endswith("◀")


async def test_tab_and_shift_tab_cycle_the_panes(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        order = []
        for _ in range(4):
            await pilot.press("tab")
            order.append(app.focused.id)
        assert order == ["thread", "history", "views", "conversations"]
        await pilot.press("shift+tab")
        assert app.focused.id == "views"


async def test_G_end_g_home_and_paging_reach_both_ends(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        conversations = inbox.query_one("#conversations", WindowedList)
        last = len(_ids(inbox)) - 1
        await pilot.press("G")
        assert conversations.cursor == last
        await pilot.press("g")
        assert conversations.cursor == 0
        await pilot.press("end")
        assert conversations.cursor == last
        await pilot.press("home")
        assert conversations.cursor == 0
        await pilot.press("pagedown")
        assert conversations.cursor == last  # fewer rows than a page
        await pilot.press("pageup")
        assert conversations.cursor == 0


async def test_views_pane_enter_switches_the_list(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("shift+tab")
        assert app.focused.id == "views"
        await pilot.press("g", "enter")  # Mine
        await wait_for(pilot, lambda: inbox.view_id == "mine" and len(_ids(inbox)) == 1)
        assert app.focused.id == "conversations"
        assert "Mine · 1" in str(inbox.query_one("#conversations").border_title)
        assert "配送先の変更" in lines(inbox.query_one("#conversations", WindowedList))[0]


async def test_palette_lists_views_and_quit_and_switches_view(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette")
        await pilot.press(*"quit")
        await wait_for(pilot, lambda: "Quit" in screen_text(pilot))
        await pilot.press(*(["backspace"] * 4), *"recently solved")
        await wait_for(pilot, lambda: "View: Recently solved" in screen_text(pilot))
        await pilot.press("enter")
        await wait_for(pilot, lambda: inbox.view_id == "solved" and len(_ids(inbox)) == 1)
        assert "返品について" in lines(inbox.query_one("#conversations", WindowedList))[0]


async def test_help_lists_every_binding_with_its_id(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        # The table is taller than the screen now: read all of it, not just what is visible.
        from rich.console import Console

        from agentdesk.tui.screens.help import binding_table

        console = Console(width=160, record=True, file=io.StringIO())
        console.print(binding_table(app))
        shown = console.export_text()
        ids = [row[3] for row in all_bindings(app)]
        expected = {
            "app.quit",
            "app.help",
            "app.command_palette",
            "pane.next",
            "pane.previous",
            "list.down",
            "list.up",
            "list.first",
            "list.last",
            "list.page_up",
            "list.page_down",
            "list.open",
            "help.close",
        }
        assert expected <= set(ids)
        for binding_id in ids:
            assert binding_id in shown
        assert "j, down" in shown and "G, end" in shown
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_every_binding_has_an_id_and_ctrl_q_is_not_bound(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        for node in (app, inbox, *inbox.query(WindowedList)):
            for bindings in node._bindings.key_to_bindings.values():
                for binding in bindings:
                    assert binding.id, binding
        assert "ctrl+q" not in app.active_bindings
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.is_running


async def test_q_quits(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_keymap_rebinds_by_id(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        app.set_keymap({"list.down": "n"})
        await pilot.press("n", "n")
        assert inbox.query_one("#conversations", WindowedList).cursor == 2


async def test_first_run_screen_offers_the_demo_when_no_account(tmp_path, make_app):
    Store.open(tmp_path / "empty.db").close()
    app = make_app(tmp_path / "empty.db")
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, FirstRunScreen)
        shown = screen_text(pilot)
        assert "agentdesk demo" in shown
        assert "agentdesk accounts add NAME --connector zendesk --url URL --user EMAIL" in shown
        await pilot.press("d")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_value == "demo"


async def test_another_process_writing_refreshes_the_list_and_keeps_the_cursor(
    fixture_store, make_app
):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        conversations = inbox.query_one("#conversations", WindowedList)
        await pilot.press("j", "j")
        held = conversations.current_key
        write_newest_conversation(fixture_store)
        await wait_for(pilot, lambda: len(_ids(inbox)) == 7)
        await wait_for(pilot, lambda: inbox.counts.get("open") == 7)
        assert conversations.current_key == held and conversations.cursor == 3
        assert "Brand new question" in lines(conversations)[0]
        assert lines(inbox.query_one("#views", WindowedList))[2].split()[-1] == "7"


class FakeSync:
    """A SyncRunner that writes one page, reports it, then idles until stopped."""

    def __init__(self, path) -> None:
        self.path = path
        self.stopped = threading.Event()

    def run(self, on_event, stop: threading.Event) -> None:
        store = Store.open(self.path)
        on_event(SyncEvent("started", "acme"))
        record = _conversation(
            "901",
            "c2",
            "chat",
            "Synced while you watched",
            178,
            (_message("m901", "customer", "Tom Baker", "Anyone there?", 178, "chat"),),
        )
        store.apply_page("acme", Page("tickets", "c3", False, conversations=(record,)))
        store.close()
        on_event(SyncEvent("page", "acme", records=1, at=T0))
        on_event(SyncEvent("idle", "acme"))
        stop.wait(30)
        self.stopped.set()


async def test_sync_runs_in_background_and_quitting_stops_it(fixture_store, make_app):
    sync = FakeSync(fixture_store)
    app = make_app(fixture_store, sync=sync)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await wait_for(pilot, lambda: len(_ids(inbox)) == 7)
        assert "Synced while you watched" in lines(inbox.query_one("#conversations"))[0]
        await wait_for(pilot, lambda: "● online" in screen_text(pilot))
        assert "0 pending" in screen_text(pilot)
        await pilot.press("q")
    assert sync.stopped.wait(5)


def test_fixture_helpers_are_deterministic():
    first = _conversation("1", "c1", "email", "s", 0, ())
    assert replace(first) == first
