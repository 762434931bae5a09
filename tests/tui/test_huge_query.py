"""A search too big for SQLite is refused where the user typed it; the list is left as it was."""

from __future__ import annotations

import sqlite3

from textual.widgets import Input, Static

from agentdesk.tui.widgets.window import WindowedList
from tests.tui.helpers import settle, wait_for, wait_for_rows

SIZE = (160, 48)


async def test_a_thousand_word_search_is_refused_and_the_list_keeps_its_title(
    fixture_store, make_app
):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        conversations = inbox.query_one("#conversations", WindowedList)
        await settle(pilot)
        title_before = str(conversations.border_title)
        ids_before = list(conversations.source.ids)
        await pilot.press("slash")
        field = inbox.query_one("#search-input", Input)
        field.value = " ".join(f"word{i}" for i in range(1000))
        await pilot.press("enter")
        error = inbox.query_one("#search-error", Static)
        await wait_for(pilot, lambda: "at most 64 terms" in str(error.render()))
        await settle(pilot)
        assert "Expression tree" not in str(error.render())
        assert str(conversations.border_title) == title_before
        assert list(conversations.source.ids) == ids_before
        assert not [n for n in app._notifications if "Expression tree" in n.message]


async def test_a_view_the_cache_cannot_read_shows_no_rows_of_the_view_before(
    fixture_store, make_app, monkeypatch
):
    from agentdesk.tui import userviews

    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        conversations = inbox.query_one("#conversations", WindowedList)
        await settle(pilot)
        assert list(conversations.source.ids)

        def broken(*_args, **_kwargs):  # the cache failing under the query
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(userviews, "view_ids", broken)
        await pilot.press("slash")
        inbox.query_one("#search-input", Input).value = "printer"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "could not be read" in str(conversations.border_title))
        assert "Search: printer" in str(conversations.border_title)
        assert list(conversations.source.ids) == []
        await wait_for(
            pilot, lambda: any("Could not read the cache" in n.message for n in app._notifications)
        )
