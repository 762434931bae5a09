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


HOSTILE_TAG = "[@click=app.quit]t\x1b[2J"
HOSTILE_VIEW = "[b]View[/b] [@click=app.quit]x\x1b]0;t\x07"


def _assert_inert(pilot) -> str:
    """Nothing on screen is markup-styled or a control byte; returns the screen text."""
    shown = screen_text(pilot)
    for char in FORBIDDEN_BYTES:
        assert char not in shown
    for strip in pilot.app.screen._compositor.render_strips():
        for segment in strip:
            style = segment.style
            if style is not None:
                assert not style.link
                assert "@click" not in (style.meta or {})
    assert pilot.app.is_running
    return shown


async def test_hostile_text_is_inert_in_every_widget(tmp_path, make_app):
    import json

    from agentdesk.model import AgentRecord, ConversationRecord, Page
    from agentdesk.store import Store
    from tests.tui.conftest import HOSTILE_BODY, HOSTILE_NAME, HOSTILE_SUBJECT, NOW, T0
    from tests.tui.helpers import wait_for

    path = build_store(tmp_path / "hostile.db", hostile=True)
    store = Store.open(path)
    store.apply_page("acme", Page(
        resource="tickets", cursor="h", more=False,
        agents=(AgentRecord("a9", HOSTILE_NAME, "evil@acme.example"),),
        conversations=(ConversationRecord(
            external_id="666", channel="email", subject=HOSTILE_SUBJECT, status="open",
            vendor_status="open", priority="urgent", created_at=T0, updated_at=NOW,
            version="v9", customer_external_id="c6", tags=(HOSTILE_TAG,),
        ),),
    ))
    cid = store.conversation_by_external_id("acme", "666")
    mutation = store.queue(cid, "priority", {"priority": "low"})  # type: ignore[arg-type]
    store.mark_conflict(mutation.id, {"priority": HOSTILE_SUBJECT}, HOSTILE_NAME)
    store.close()
    config = tmp_path / "config"
    config.mkdir()
    (config / "views.json").write_text(
        json.dumps({"views": [{"name": HOSTILE_VIEW, "query": "is:open"}]}), encoding="utf-8"
    )
    app = make_app(path, config_dir=config)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("enter")
        shown = _assert_inert(pilot)
        assert "[@click=app.quit]Win[/]" in shown  # list, thread title, history
        assert "[b]View[/b]" in shown  # the views pane shows the user's view name literally
        # Pickers: assignees (an agent's name) and tags (a tag from the backend).
        for key, expected in (("a", "[link=http://x]Mallory[/link]"), ("t", "[@click=app.quit]t")):
            await pilot.press(key)
            await wait_for(pilot, lambda want=expected: want in screen_text(pilot))
            _assert_inert(pilot)
            await pilot.press("escape")
        # The views picker and the command palette list the hostile view name.
        await pilot.press("v")
        await wait_for(pilot, lambda: "[b]View[/b]" in screen_text(pilot))
        _assert_inert(pilot)
        await pilot.press("escape")
        await pilot.press("ctrl+p", *"View: ")
        await wait_for(pilot, lambda: "View: [b]View[/b]" in screen_text(pilot))
        _assert_inert(pilot)
        await pilot.press("escape")
        # The conflict view quotes the server's values and reason.
        await pilot.press("C")
        await wait_for(pilot, lambda: "theirs" in screen_text(pilot))
        shown = _assert_inert(pilot)
        assert "[link=http://x]Mallory[/link]" in shown
        await pilot.press("escape")
        # Toasts (notifications quote subjects and server errors).
        app.notify_safe(HOSTILE_BODY)
        await wait_for(pilot, lambda: "[$accent]x[/]" in screen_text(pilot))
        _assert_inert(pilot)
        # Go to customer: the customer picker shows the hostile name.
        await pilot.press("ctrl+p", *"Go to customer")
        await wait_for(pilot, lambda: "Go to customer" in screen_text(pilot))
        await pilot.press("enter")
        await pilot.press(*"mallory", "enter")
        await wait_for(pilot, lambda: "Customers" in screen_text(pilot))
        _assert_inert(pilot)
        await pilot.press("enter")
        await pilot.pause()
        _assert_inert(pilot)
