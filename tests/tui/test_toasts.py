"""Toasts keep clear of the panes' edges: a toast drawn across a widget's edge loses the wide
(Japanese) characters there whenever that widget repaints (Textual issue 6357)."""

from __future__ import annotations

import pytest

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
