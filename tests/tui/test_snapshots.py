"""How every screen looks, in the dark and the light theme, at 160x48 (and the inbox at an
80x24 split) with a frozen clock and UTC display
(update with `pytest tests/tui/test_snapshots.py --snapshot-update` after a
deliberate change)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from agentdesk.store import Store
from agentdesk.tui.themes import DARK, LIGHT
from tests.tui.helpers import settle, wait_for, wait_for_rows

SIZE = (160, 48)
THEMES = pytest.mark.parametrize("theme", [DARK, LIGHT])


def _still(pilot: Pilot) -> None:
    """No blinking cursors in a snapshot."""
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    for widget in pilot.app.screen.query(TextArea):
        widget.cursor_blink = False
        # TextArea caches lines without the cursor once blinking stops: a line painted in the
        # blink's "off" phase would otherwise stay cursorless (a timing-dependent snapshot).
        widget._line_cache.clear()
        widget.refresh()


def _steps(*keys: str, wait: Callable[[Pilot], object] | None = None):
    async def run(pilot: Pilot) -> None:
        await wait_for_rows(pilot)
        await settle(pilot)
        await pilot.press(*keys)
        if wait is not None:
            await wait_for(pilot, lambda: wait(pilot))
        await settle(pilot)
        _still(pilot)
        await pilot.pause()

    return run


def _snap(
    snap_compare, app, run_before: Callable[[Pilot], Awaitable[None]] | None, size=SIZE
) -> bool:
    return snap_compare(app, terminal_size=size, run_before=run_before)


@THEMES
def test_inbox_three_panes(snap_compare, fixture_store, make_app, theme):
    assert _snap(snap_compare, make_app(fixture_store, theme=theme), _steps())


@THEMES
def test_inbox_with_cross_channel_customer_open(snap_compare, fixture_store, make_app, theme):
    assert _snap(snap_compare, make_app(fixture_store, theme=theme), _steps("G", "enter", "k"))


@THEMES
def test_composer_with_a_canned_response(
    snap_compare, fixture_store, make_app, theme, tmp_path: Path
):
    config = tmp_path / "config"
    (config / "canned").mkdir(parents=True)
    (config / "canned" / "thanks.md").write_text("Thanks {{customer.first_name}}!\n")
    app = make_app(fixture_store, theme=theme, config_dir=config)
    assert _snap(snap_compare, app, _steps("c", *"thanks", "enter"))


@THEMES
def test_assign_picker(snap_compare, fixture_store, make_app, theme):
    assert _snap(snap_compare, make_app(fixture_store, theme=theme), _steps("a"))


@THEMES
def test_snooze_picker_with_typed_time(snap_compare, fixture_store, make_app, theme):
    assert _snap(snap_compare, make_app(fixture_store, theme=theme), _steps("z", "3", "d"))


@THEMES
def test_search_with_a_malformed_query(snap_compare, fixture_store, make_app, theme):
    app = make_app(fixture_store, theme=theme)
    assert _snap(snap_compare, app, _steps("slash", *"tag:vip priority:hgh", "enter"))


@THEMES
def test_help_screen(snap_compare, fixture_store, make_app, theme):
    assert _snap(snap_compare, make_app(fixture_store, theme=theme), _steps("question_mark"))


@THEMES
def test_sync_problems_view(snap_compare, fixture_store, make_app, theme):
    store = Store.open(fixture_store)
    cid = store.conversation_by_external_id("acme", "107")
    mutation = store.queue(cid, "priority", {"priority": "high"})  # type: ignore[arg-type]
    store.mark_conflict(mutation.id, {"priority": "low"}, "a supervisor changed the priority")
    store.close()
    assert _snap(snap_compare, make_app(fixture_store, theme=theme), _steps("C"))


@THEMES
def test_first_run_screen(snap_compare, tmp_path, make_app, theme):
    Store.open(tmp_path / "empty.db").close()
    assert snap_compare(make_app(tmp_path / "empty.db", theme=theme), terminal_size=SIZE)


@THEMES
def test_inbox_at_80x24(snap_compare, fixture_store, make_app, theme):
    assert _snap(snap_compare, make_app(fixture_store, theme=theme), _steps(), size=(80, 24))


@THEMES
def test_composer_at_80x24(snap_compare, fixture_store, make_app, theme):
    app = make_app(fixture_store, theme=theme)
    assert _snap(snap_compare, app, _steps("r", *"On its way"), size=(80, 24))


@THEMES
def test_side_panes_shown_at_80x24(snap_compare, fixture_store, make_app, theme):
    app = make_app(fixture_store, theme=theme)
    assert _snap(snap_compare, app, _steps("backslash"), size=(80, 24))
