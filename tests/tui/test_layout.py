"""The inbox at the sizes agents work in: 160x48, an 80x24 split, and a cramped 60x20."""

from __future__ import annotations

import pytest

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
