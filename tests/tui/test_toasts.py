"""Toasts keep clear of the panes' edges: a toast drawn across a widget's edge loses the wide
(Japanese) characters there whenever that widget repaints (Textual issue 6357)."""

from __future__ import annotations

import threading

import pytest

from agentdesk.syncapi import SyncEvent
from tests.tui.conftest import write_newest_conversation
from tests.tui.helpers import settle, wait_for, wait_for_rows

SUBJECT = "ビジネスプランへの変更について質問があります"


def crossed_edges(app) -> list[str]:
    screen = app.screen
    toasts = list(screen.query("Toast"))
    assert toasts
    found = []
    for toast in toasts:
        left, right = toast.region.x, toast.region.right
        for widget in screen.query("#panes *, #panes, #topbar, #sync-status"):
            if not widget.display or widget.region.height == 0:
                continue
            overlaps = (widget.region.y < toast.region.bottom
                        and toast.region.y < widget.region.bottom)
            for edge in (widget.region.x, widget.region.right):
                if overlaps and left < edge < right:
                    found.append(f"{widget.id or type(widget).__name__} edge at {edge}")
    return found


@pytest.mark.parametrize(
    ("size", "keys"), [((160, 48), ()), ((130, 40), ()), ((80, 24), ()), ((80, 24), ("backslash",))]
)
async def test_a_toast_with_japanese_text_crosses_no_pane_edge(
    fixture_store, make_app, size, keys
):
    app = make_app(fixture_store)
    async with app.run_test(size=size, notifications=True) as pilot:
        await wait_for_rows(pilot)
        await pilot.press(*keys)
        await settle(pilot)
        app.notify_safe(f"Customer replied: {SUBJECT}")
        await wait_for(pilot, lambda: list(app.screen.query("Toast")))
        await pilot.pause()
        assert crossed_edges(app) == []


class FirstRoundAssigns:
    """A SyncRunner whose first round brings a conversation already assigned to the agent."""

    def __init__(self, path) -> None:
        self.path = path
        self.go = threading.Event()

    def run(self, on_event, stop) -> None:
        self.go.wait(10)  # after the inbox has taken its first look
        write_newest_conversation(self.path, assignee="a1")
        on_event(SyncEvent("page", "acme", "acme: tickets +1", records=1,
                           extra={"resource": "tickets", "conversations": 1, "more": False}))
        stop.wait(0.5)
        on_event(SyncEvent("idle", "acme"))
        stop.wait(30)


async def test_what_the_first_sync_brings_is_not_toasted_as_news(fixture_store, make_app):
    sync = FirstRoundAssigns(fixture_store)
    app = make_app(fixture_store, sync=sync)
    async with app.run_test(size=(160, 48)) as pilot:
        inbox = await wait_for_rows(pilot)
        await wait_for(pilot, lambda: inbox._watch is not None)
        sync.go.set()
        await wait_for(pilot, lambda: app.first_round_done)
        await wait_for(pilot, lambda: len(inbox._watch.mine) == 2)  # 104 and the new one
        await pilot.pause()
        assert "Assigned to you" not in "\n".join(str(n.message) for n in app._notifications)
