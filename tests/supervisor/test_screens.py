"""Snapshots of the team and metrics screens (160x48, frozen clock, UTC), and their behaviour.

Update with `pytest tests/supervisor/test_screens.py --snapshot-update` after a deliberate
change. The screens are mounted in a tiny app exposing what AgentDeskApp gives them.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from textual.app import App

from agentdesk.store import Store
from agentdesk.tui.screens.audit import AuditScreen
from agentdesk.tui.screens.metrics import MetricsScreen
from agentdesk.tui.screens.team import TeamScreen
from agentdesk.tui.widgets.window import WindowedList
from tests.supervisor.fixture import NOW, build

SIZE = (160, 48)
APP_CSS = Path(__file__).resolve().parents[2] / "agentdesk" / "tui" / "app.tcss"


class SupervisorApp(App[None]):
    CSS_PATH = str(APP_CSS)

    def __init__(self, store_path: Path, screen: str) -> None:
        super().__init__()
        self.store_path = store_path
        self.store = Store.open(store_path)
        self.clock = lambda: NOW
        self.tz = UTC
        self.which = screen

    def on_mount(self) -> None:
        screens = {"team": TeamScreen, "metrics": MetricsScreen, "audit": AuditScreen}
        self.push_screen(screens[self.which]())

    def on_unmount(self) -> None:
        self.store.close()


async def _rows(pilot, selector: str) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    for chart in pilot.app.screen.query("BarChart"):
        chart.refresh()  # plotext redraws on the next frame after its data: settle it
    pilot.app.screen.query_one(selector, WindowedList).focus()
    await pilot.pause()
    assert len(pilot.app.screen.query_one(selector, WindowedList).source) > 0


def test_team_screen_snapshot(snap_compare, tmp_path):
    app = SupervisorApp(build(tmp_path / "c.db"), "team")

    async def ready(pilot) -> None:
        await _rows(pilot, "#team-agents")

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_metrics_screen_snapshot(snap_compare, tmp_path):
    app = SupervisorApp(build(tmp_path / "c.db"), "metrics")

    async def ready(pilot) -> None:
        await _rows(pilot, "#metrics-table")
        # The charts redraw once their final size is known: wait until two frames agree.
        previous = None
        for _ in range(50):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause(0.05)
            current = pilot.app.export_screenshot()
            if current == previous:
                break
            previous = current

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


async def test_team_screen_updates_when_sync_changes_the_store(tmp_path):
    path = build(tmp_path / "c.db")
    app = SupervisorApp(path, "team")
    async with app.run_test(size=SIZE) as pilot:
        await _rows(pilot, "#team-queues")
        screen = app.screen
        assert isinstance(screen, TeamScreen)
        before = {q.name: q.backlog for q in screen.snapshot.queues}
        writer = Store.open(path)  # another connection, as the sync thread is
        writer.conn.execute("UPDATE conversations SET status = 'solved' WHERE team_id = "
                            "(SELECT id FROM teams WHERE name = 'Billing')")
        writer.close()
        screen._poll()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        after = {q.name: q.backlog for q in screen.snapshot.queues}
        assert before["Billing"] > 0 and after["Billing"] == 0


async def test_agent_role_sees_an_empty_team_screen(tmp_path):
    app = SupervisorApp(build(tmp_path / "c.db", role="agent"), "team")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.snapshot.agents == ()  # no account to supervise: nothing shown
