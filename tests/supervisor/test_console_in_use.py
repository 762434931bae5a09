"""The supervisor consoles as a supervisor uses them: the reassignment dialog applies on
Enter, the metrics chart names its bars."""

from __future__ import annotations

from agentdesk.store import Store
from agentdesk.tui.screens.team import ReassignScreen, TeamScreen
from agentdesk.tui.widgets.picker import PickerScreen
from tests.supervisor.fixture import build
from tests.supervisor.test_screens import SIZE, SupervisorApp, _rows
from tests.tui.helpers import screen_text, wait_for


async def test_enter_in_the_reassign_dialog_queues_the_batch_and_its_footer_shows_its_keys(
    tmp_path,
):
    path = build(tmp_path / "c.db")
    app = SupervisorApp(path, "team")
    async with app.run_test(size=SIZE) as pilot:
        await _rows(pilot, "#team-agents")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        await pilot.press(*"Priya", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReassignScreen))
        await wait_for(pilot, lambda: "Enter applies" in screen_text(pilot))
        footer = screen_text(pilot).splitlines()[-1]
        assert "Apply batch" in footer and "Reassign…" not in footer
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TeamScreen))
        store = Store.open(path)
        try:
            queued = [m for m in store.mutations(states=("pending",)) if m.action == "assign"]
        finally:
            store.close()
        assert queued and all(m.payload.get("agent_email", "").startswith("priya") for m in queued)


async def test_the_metrics_chart_names_every_bar_japanese_names_included(tmp_path):
    app = SupervisorApp(build(tmp_path / "c.db"), "metrics")
    async with app.run_test(size=SIZE) as pilot:
        await _rows(pilot, "#metrics-table")
        chart = app.screen.query_one("#chart-frt")
        await wait_for(pilot, lambda: "Priya" in screen_text(pilot))
        labels = next(line for line in screen_text(pilot).splitlines() if "Priya" in line)
        assert "伊藤 遥" in labels and "#6" not in labels
        assert labels.rstrip().endswith("伊藤 遥")  # under its bar, not pushed off the edge
        assert chart.size.width > 0


async def test_the_audit_log_shows_whole_action_names(tmp_path):
    path = build(tmp_path / "c.db")
    store = Store.open(path)
    store.queue(store.conversation_by_external_id("acme", "101"), "priority", {"priority": "high"})
    store.close()
    app = SupervisorApp(path, "audit")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.app.workers.wait_for_complete()
        await wait_for(pilot, lambda: "priority" in screen_text(pilot))
        assert "priori…" not in screen_text(pilot)


def test_the_audit_log_says_on_hold_as_the_status_picker_does():
    from agentdesk.supervisor.audit import describe

    assert describe("status", {"status": "on_hold"}) == "status on hold"
    assert describe("status", {"status": "pending"}) == "status pending"
