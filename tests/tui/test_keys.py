"""One key, one action: no key is bound to two different actions in scopes active together."""

from __future__ import annotations

import pytest
from textual.dom import DOMNode
from textual.widgets import Input, TextArea

from agentdesk.store import Store
from tests.tui.helpers import settle, wait_for, wait_for_rows

SIZE = (160, 48)


def _target(namespace: DOMNode, action: str, app) -> tuple[int, str]:
    """Where an action runs: `app.quit` bound on a screen is the app's `quit`."""
    prefix, _, name = action.partition(".")
    if name and prefix == "app":
        return id(app), name
    if name and prefix == "screen":
        return id(app.screen), name
    return id(namespace), action


def collisions(app) -> list[str]:
    """Keys bound to different actions along the focused widget's binding chain, for each
    widget of the current screen that can take the focus (text fields type their keys)."""
    screen = app.screen
    focusable = [
        w for w in screen.query("*")
        if w.focusable and not isinstance(w, Input | TextArea)
    ]
    found: set[str] = set()
    for widget in focusable or [None]:
        if widget is not None:
            screen.set_focus(widget)
        bound: dict[str, tuple[tuple[int, str], str]] = {}
        for namespace, bindings in screen._modal_binding_chain:
            for key, binding in bindings:
                target = _target(namespace, binding.action, app)
                where = f"{type(namespace).__name__}.{binding.action}"
                if key in bound and bound[key][0] != target:
                    found.add(f"{key!r}: {bound[key][1]} and {where} ({type(screen).__name__})")
                bound.setdefault(key, (target, where))
    return sorted(found)


@pytest.fixture
def supervisor_store(fixture_store):
    store = Store.open(fixture_store)
    store.record_sync_info("acme", role="supervisor", user_external_id="a1")
    store.close()
    return fixture_store


async def test_no_key_is_bound_twice_on_the_inbox_or_the_supervisor_screens(
    supervisor_store, make_app
):
    app = make_app(supervisor_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await settle(pilot)
        problems = collisions(app)
        for action in ("team", "metrics", "audit"):
            await app.run_action(action)
            await wait_for(pilot, lambda: app.screen is not app.inbox)
            await pilot.pause()
            problems += collisions(app)
            app.pop_screen()
            await pilot.pause()
    assert problems == []


async def test_the_metrics_key_opens_metrics_from_the_inbox(supervisor_store, make_app):
    from agentdesk.tui.screens.metrics import MetricsScreen

    app = make_app(supervisor_store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, MetricsScreen))
