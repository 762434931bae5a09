"""Backend text that looks like markup or terminal control is shown literally and does nothing."""

from __future__ import annotations

from agentdesk.tui.widgets.window import WindowedList
from tests.tui.conftest import build_store
from tests.tui.helpers import lines, screen_text, wait_for_rows

FORBIDDEN_BYTES = ("\x1b", "\x07", "\x9b", "\u202e", "\u200b")


async def test_hostile_subject_name_and_body_show_literally_and_run_nothing(tmp_path, make_app):
    path = build_store(tmp_path / "hostile.db", hostile=True)
    app = make_app(path)
    async with app.run_test(size=(160, 48)) as pilot:
        inbox = await wait_for_rows(pilot)
        conversations = inbox.query_one("#conversations", WindowedList)
        await pilot.press("enter")  # the hostile conversation is the newest one
        shown = screen_text(pilot)
        # Markup shown as typed, in the list, the thread title, the thread and the customer.
        assert "[@click=app.quit]Win[/] [bold ␛[2J␛]0;pwned␇" in shown
        assert "[link=http://x]Mallory[/link] �evil�" in shown
        assert "Click [@click=app.quit]here[/]" in shown
        assert "[$accent]x[/] [/ ␛]52;c;aGk=␇ �31m red" in shown
        for char in FORBIDDEN_BYTES:
            assert char not in shown
        # Nothing on screen carries a link or a click action.
        for strip in app.screen._compositor.render_strips():
            for segment in strip:
                style = segment.style
                if style is not None:
                    assert not style.link
                    assert "@click" not in (style.meta or {})
        # Clicking the hostile text runs no action.
        await pilot.click(conversations, offset=(25, 0))
        await pilot.click("#thread", offset=(12, 2))
        await pilot.click("#customer-profile", offset=(3, 0))
        await pilot.pause()
        assert app.is_running
        assert "[@click=app.quit]" in lines(conversations)[0]
