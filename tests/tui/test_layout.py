"""The inbox at the sizes agents work in: 160x48, an 80x24 split, and a cramped 60x20."""

from __future__ import annotations

import threading

import pytest

from agentdesk.syncapi import SyncEvent
from agentdesk.tui.widgets.composer import Composer
from agentdesk.tui.widgets.window import WindowedList
from tests.tui.helpers import lines, screen_text, settle, wait_for, wait_for_rows


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_a_narrow_terminal_gives_the_list_thread_and_composer_the_width(
    fixture_store, make_app, size
):
    app = make_app(fixture_store)
    width, _height = size
    async with app.run_test(size=size) as pilot:
        inbox = await wait_for_rows(pilot)
        await settle(pilot)
        conversations = inbox.query_one("#conversations", WindowedList)
        thread = inbox.query_one("#thread", WindowedList)
        assert conversations.size.width >= width - 2 and thread.size.width >= width - 2
        assert not inbox.query_one("#customer-pane").display
        assert "Where is my parcel?" in "\n".join(lines(conversations))
        assert "App takes 30s to load." in "\n".join(lines(thread))
        await pilot.press("r", *"Looking into it")
        composer = inbox.query_one(Composer)
        assert composer.text_area.size.height >= 3 and thread.size.height >= 3
        assert "Looking into it" in screen_text(app)


async def test_backslash_shows_the_side_panes_when_narrow_and_hides_them_when_wide(
    fixture_store, make_app
):
    app = make_app(fixture_store)
    async with app.run_test(size=(80, 24)) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("backslash")
        await settle(pilot)
        assert inbox.query_one("#customer-pane").display
        assert "Tom Baker" in str(inbox.query_one("#customer-profile").render())
        assert inbox.query_one("#views").display
        await pilot.resize_terminal(160, 48)
        await wait_for(pilot, lambda: inbox.has_class("-wide"))
        assert not inbox.query_one("#customer-pane").display
        await pilot.press("backslash")
        await settle(pilot)
        assert inbox.query_one("#customer-pane").display


async def test_the_views_pane_shows_long_names_with_their_counts_whole(fixture_store, make_app):
    app = make_app(fixture_store)
    async with app.run_test(size=(160, 48)) as pilot:
        inbox = await wait_for_rows(pilot)
        await settle(pilot)
        views = inbox.query_one("#views", WindowedList)
        views.source.counts = {view.id: 1083 for view in inbox.all_views()}
        views.invalidate()
        shown = "\n".join(lines(views))
        recent = next(line for line in shown.splitlines() if "Recently" in line)
        assert recent.split() == ["Recently", "solved", "1,083"]
        assert "…" not in shown


class FirstSync:
    """A SyncRunner whose first round brings two pages of an open backlog, then finishes."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def run(self, on_event, stop: threading.Event) -> None:
        on_event(SyncEvent("started", "acme"))
        for _ in range(2):
            on_event(SyncEvent("page", "acme", "acme: older open conversations +60",
                               records=60, extra={"resource": "open_backlog",
                                                  "conversations": 60, "more": True}))
        self.release.wait(10)
        on_event(SyncEvent("page", "acme", "acme: older open conversations +35", records=35,
                           extra={"resource": "open_backlog", "conversations": 35,
                                  "more": False}))
        on_event(SyncEvent("idle", "acme"))
        stop.wait(30)


async def test_the_status_bar_shows_what_a_first_sync_is_still_fetching(fixture_store, make_app):
    sync = FirstSync()
    app = make_app(fixture_store, sync=sync)
    async with app.run_test(size=(160, 48)) as pilot:
        inbox = await wait_for_rows(pilot)
        status = inbox.query_one("#sync-status")
        await wait_for(pilot, lambda: "acme: fetching older open conversations… 120 so far"
                       in str(status.render()))
        sync.release.set()
        await wait_for(pilot, lambda: "fetching" not in str(status.render()))


async def test_the_first_run_screen_promises_what_the_demo_has(tmp_path, make_app):
    from agentdesk.cli import build_parser
    from agentdesk.store import Store

    Store.open(tmp_path / "empty.db").close()
    demo_scale = build_parser().parse_args(["demo"]).scale
    app = make_app(tmp_path / "empty.db")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        shown = " ".join(screen_text(app).replace("│", " ").split())
        assert f"a simulated Zendesk with {demo_scale:,} realistic conversations" in shown
