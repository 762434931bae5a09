"""Waiting on app state without sleeping, and reading what is on screen."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot
from textual.worker import WorkerState

from agentdesk.tui.screens.inbox import InboxScreen
from agentdesk.tui.widgets.window import WindowedList


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the app process messages until `condition()` holds (fails after `timeout`)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.01)


async def wait_for_rows(pilot: Pilot) -> InboxScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, InboxScreen))
    inbox = pilot.app.screen
    assert isinstance(inbox, InboxScreen)
    await wait_for(pilot, lambda: inbox.first_rows_at is not None and inbox.counts)
    await pilot.pause()
    return inbox


async def settle(pilot: Pilot) -> None:
    """Wait until no worker is reading the cache and what they posted has been handled
    (a conversation opens in a worker: a snapshot must not catch it half way)."""

    def idle() -> bool:
        return not any(
            w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers
        )

    for _ in range(3):  # a handled message may start another worker
        await wait_for(pilot, idle)
        await pilot.pause()


def lines(widget: WindowedList) -> list[str]:
    """The widget's visible lines as text."""
    return [widget.render_line(y).text for y in range(widget.scrollable_content_region.height)]


def screen_text(pilot: Pilot) -> str:
    """Everything on the terminal as plain text (the compositor's current frame)."""
    strips = pilot.app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)
