"""Every theme's text is readable: WCAG AA contrast (4.5:1 for text, 3:1 for borders), computed
from what the theme draws — each list component class over the pane and the cursor row, and
every cell of the inbox, a conversation, the composer and a picker."""

from __future__ import annotations

import pytest
from rich.color import Color as RichColor
from rich.segment import Segment
from textual.color import Color

from agentdesk.tui.themes import BUILTIN_THEMES, DARK, LIGHT
from agentdesk.tui.widgets.window import WindowedList
from tests.tui.helpers import settle, wait_for, wait_for_rows

TEXT = 4.5
NON_TEXT = 3.0
"""WCAG 1.4.11: borders and other non-text parts."""
THEMES = pytest.mark.parametrize("theme", [t.name for t in BUILTIN_THEMES])
BOX = range(0x2500, 0x25A0)
"""Box drawing and block elements: borders, scrollbars."""
DECORATION = {"▏"}
"""The footer's separator between keys: it carries no information."""
DIM = 0.5
"""How much of the colour a terminal keeps for `dim` text (Textual's DimFilter blends 50%)."""


def luminance(color: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast(one: Color, two: Color) -> float:
    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _color(rich: RichColor | None, fallback: Color) -> Color:
    if rich is None or rich.triplet is None:
        return fallback
    return Color(*rich.triplet)


def cell_problems(app, where: str, region=None) -> list[str]:
    """Each run of visible characters whose colour does not stand out from its background
    (within `region` only: what is behind a dialog is dimmed on purpose)."""
    variables = app.get_css_variables()
    default_fg = Color.parse(variables["foreground"])
    default_bg = Color.parse(variables["background"])
    found = []
    for y, strip in enumerate(app.screen._compositor.render_strips()):
        x = 0
        for segment in strip:
            text, style = segment.text, segment.style
            left, x = x, x + segment.cell_length
            if region is not None and not (
                region.y <= y < region.bottom and region.x <= left < region.right
            ):
                continue
            if not text.strip() or style is None or text.strip() in DECORATION:
                continue
            fg = _color(style.color, default_fg)
            bg = _color(style.bgcolor, default_bg)
            if style.reverse:
                fg, bg = bg, fg
            if style.dim:
                fg = bg.blend(fg, DIM)
            border = all(ord(ch) in BOX or ch == " " for ch in text)
            need = NON_TEXT if border else TEXT
            ratio = contrast(fg, bg)
            if ratio < need:
                found.append(f"{where} row {y} {text.strip()[:24]!r}: {fg.hex} on {bg.hex} "
                             f"{ratio:.2f} < {need}")
    return found


def component_problems(app) -> list[str]:
    """Every list component class, over the pane's background and under the cursor."""
    found = []
    for widget in app.screen.query(WindowedList):
        backgrounds = {"pane": widget.background_colors[1]}
        for cursor in ("wl--cursor", "wl--cursor-blurred"):
            under = widget.paint(cursor).bgcolor
            if under is not None:
                backgrounds[cursor] = Color(*under.triplet)
        for name in sorted(WindowedList.COMPONENT_CLASSES - {"wl--cursor", "wl--cursor-blurred"}):
            style = widget.paint(name)
            for label, background in backgrounds.items():
                fg = _color(style.color, Color(*widget.rich_style.color.triplet))
                if style.reverse:
                    fg, background = background, fg
                ratio = contrast(fg, background)
                if ratio < TEXT:
                    found.append(f"#{widget.id} .{name} on {label}: {fg.hex} on "
                                 f"{background.hex} {ratio:.2f}")
    return found


@THEMES
async def test_every_text_colour_of_the_inbox_reaches_wcag_aa(fixture_store, make_app, theme):
    app = make_app(fixture_store, theme=theme)
    async with app.run_test(size=(160, 48)) as pilot:
        inbox = await wait_for_rows(pilot)
        await settle(pilot)
        problems = component_problems(app) + cell_problems(app, "inbox")
        await pilot.press("r")  # the composer under the thread
        await settle(pilot)
        problems += cell_problems(app, "composer")
        await pilot.press("escape", "a")  # a picker over the inbox
        await settle(pilot)
        problems += cell_problems(app, "picker", app.screen.query_one("#picker-box").region)
        assert inbox is not None
    assert problems == []


async def test_switching_back_to_dark_repaints_with_dark_colours(fixture_store, make_app):
    app = make_app(fixture_store, theme=DARK)
    async with app.run_test(size=(160, 48)) as pilot:
        inbox = await wait_for_rows(pilot)
        await settle(pilot)
        views = inbox.query_one("#views", WindowedList)
        dark_row = views.render_line(1)
        app.theme = LIGHT
        await settle(pilot)
        views.render_lines(views.region)
        assert views.render_line(1) != dark_row
        app.theme = DARK
        await settle(pilot)
        views.render_lines(views.region)
        assert [s.style for s in views.render_line(1) if isinstance(s, Segment)] == [
            s.style for s in dark_row
        ]
