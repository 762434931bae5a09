"""`agentdesk serve --demo` in headless Chromium: the inbox, keys, the palette, a screenshot.

The terminal is drawn by xterm.js on a canvas, so the test reads xterm's own text buffer
(see TERMINAL_HOOK) and waits on it with Playwright's `wait_for_function`: no sleeps.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import CHROMIUM_ARGS, REPO, TERMINAL_HOOK, running_server

pytestmark = pytest.mark.browser

SCREENSHOT = REPO / "docs" / "screenshot-browser.png"
VIEWPORT = {"width": 1600, "height": 900}
INBOX_TIMEOUT_MS = 60_000
STEP_TIMEOUT_MS = 15_000
_THREAD_TITLE = re.compile(r"· demo #(\d+) ·")


def _screen(page) -> str:  # type: ignore[no-untyped-def]
    return page.evaluate("window.__agentdeskScreen()")


def _wait_for_screen(page, pattern: str, timeout: int = STEP_TIMEOUT_MS) -> str:  # type: ignore[no-untyped-def]
    """Wait until the terminal shows text matching `pattern` (a JS regex)."""
    try:
        page.wait_for_function(
            "pattern => new RegExp(pattern, 'u').test(window.__agentdeskScreen())",
            arg=pattern,
            timeout=timeout,
        )
    except Exception as exc:  # Playwright's TimeoutError: say what was on screen instead
        raise AssertionError(
            f"the page never showed /{pattern}/; the screen was:\n{_screen(page)}"
        ) from exc
    return _screen(page)


def _open_conversation_id(screen: str) -> str | None:
    match = _THREAD_TITLE.search(screen)
    return match.group(1) if match else None


def test_demo_inbox_in_a_browser_opens_conversations_switches_views(
    chromium: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    requested_hosts: set[str] = set()
    with running_server("--demo") as served, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh user-data dir every run
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            page = context.new_page()
            page.on("request", lambda request: requested_hosts.add(urlsplit(request.url).netloc))
            page.add_init_script(TERMINAL_HOOK)
            page.goto(served.printed_url + "&fontsize=14")

            # The inbox: views, a synced conversation list, and the first conversation open.
            screen = _wait_for_screen(page, r"All open · [1-9]", INBOX_TIMEOUT_MS)
            screen = _wait_for_screen(page, _THREAD_TITLE.pattern)
            assert "Views" in screen and "Customer" in screen
            assert "token=" not in page.url  # swapped for a cookie, gone from the address bar
            first = _open_conversation_id(screen)

            # Keys reach the app: move down the list and open the next conversation.
            page.locator("textarea.xterm-helper-textarea").focus()
            page.keyboard.press("ArrowDown")
            page.keyboard.press("Enter")
            page.wait_for_function(
                "([pattern, first]) => { const m = new RegExp(pattern, 'u')"
                ".exec(window.__agentdeskScreen()); return m && m[1] !== first; }",
                arg=[_THREAD_TITLE.pattern, first],
                timeout=STEP_TIMEOUT_MS,
            )
            second = _open_conversation_id(_screen(page))
            assert second and second != first

            # The browser does not eat ctrl+p: the command palette switches views.
            page.keyboard.press("Control+p")
            _wait_for_screen(page, r"Search for commands")
            page.keyboard.type("Recently solved")
            _wait_for_screen(page, r"View: Recently solved")
            page.keyboard.press("Enter")
            _wait_for_screen(page, r"Recently solved · \d")

            # And back to the open conversations for the README's picture.
            page.keyboard.press("Control+p")
            _wait_for_screen(page, r"Search for commands")
            page.keyboard.type("All open")
            _wait_for_screen(page, r"View: All open")
            page.keyboard.press("Enter")
            screen = _wait_for_screen(page, r"All open · [1-9]")
            _wait_for_screen(page, _THREAD_TITLE.pattern)
            assert "Search for commands" not in _screen(page)

            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
            assert SCREENSHOT.stat().st_size > 10_000
        except AssertionError as exc:
            # A crashed app process prints its traceback through the server: show it.
            output = "".join(served.output)[-4000:]
            raise AssertionError(f"{exc}\n--- agentdesk serve output ---\n{output}") from None
        finally:
            context.close()

    # Everything came from our own server: no fonts or scripts from third parties.
    assert requested_hosts == {urlsplit(served.url).netloc}
