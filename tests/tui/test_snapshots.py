"""How the screens look, at 160x48 with a frozen clock and UTC display (update with
`pytest tests/tui/test_snapshots.py --snapshot-update` after a deliberate change)."""

from __future__ import annotations

from agentdesk.store import Store
from tests.tui.helpers import wait_for_rows

SIZE = (160, 48)


async def _ready(pilot) -> None:
    await wait_for_rows(pilot)


def test_inbox_three_panes(snap_compare, fixture_store, make_app):
    assert snap_compare(make_app(fixture_store), terminal_size=SIZE, run_before=_ready)


def test_inbox_with_cross_channel_customer_open(snap_compare, fixture_store, make_app):
    async def open_hanako(pilot) -> None:
        await wait_for_rows(pilot)
        await pilot.press("G", "enter", "k")

    assert snap_compare(make_app(fixture_store), terminal_size=SIZE, run_before=open_hanako)


def test_help_screen(snap_compare, fixture_store, make_app):
    async def open_help(pilot) -> None:
        await wait_for_rows(pilot)
        await pilot.press("question_mark")

    assert snap_compare(make_app(fixture_store), terminal_size=SIZE, run_before=open_help)


def test_first_run_screen(snap_compare, tmp_path, make_app):
    Store.open(tmp_path / "empty.db").close()
    assert snap_compare(make_app(tmp_path / "empty.db"), terminal_size=SIZE)
