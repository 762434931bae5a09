"""Canned-response placeholders are backend text: they reach the composer and its draft inert."""

from __future__ import annotations

import sqlite3

from agentdesk.store import Store
from tests.tui.helpers import wait_for, wait_for_rows

CLIPBOARD = "\x1b]52;c;cHduZWQ=\x07"
TITLE = "\x1b]2;PWNTITLE\x07"
CLEAR = "\x1b[2J"
C1_CSI = "\x9b31m"
BIDI = "\u202e"
RAW = (CLIPBOARD, TITLE, CLEAR, C1_CSI, BIDI, "\x1b", "\x07")


def _make_backend_text_hostile(path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE customers SET name = name || ?", (f" {CLIPBOARD}{BIDI}x",))
        conn.execute("UPDATE conversations SET subject = subject || ?", (f" {TITLE}{CLEAR}",))
        conn.execute("UPDATE agents SET name = name || ?", (f" {C1_CSI}",))
    conn.close()


async def test_canned_placeholders_put_no_escape_sequence_into_the_composer_or_draft(
    fixture_store, make_app, config_dir
):
    (config_dir / "canned" / "echo.md").write_text(
        "To {{customer.name}} re {{conversation.subject}} from {{agent.name}}", encoding="utf-8"
    )
    _make_backend_text_hostile(fixture_store)
    app = make_app(fixture_store)
    async with app.run_test(size=(160, 48)) as pilot:
        inbox = await wait_for_rows(pilot)
        cid = inbox.open_conversation_id
        await pilot.press("c", *"echo", "enter")
        composer = inbox.composer
        await wait_for(pilot, lambda: composer.text.startswith("To "))
        text = composer.text
        assert "PWNTITLE" in text and "cHduZWQ=" in text  # the names are there, made visible
        assert [seq for seq in RAW if seq in text] == []
        store = Store.open(fixture_store)
        try:
            await wait_for(pilot, lambda: store.draft(cid) is not None)
            draft = store.draft(cid).body  # type: ignore[union-attr]
        finally:
            store.close()
        assert draft == text


async def test_a_stored_draft_with_escape_sequences_reopens_inert(fixture_store, make_app):
    store = Store.open(fixture_store)
    try:  # as an older version saved them, on every conversation
        for (cid,) in store.conn.execute("SELECT id FROM conversations").fetchall():
            store.save_draft(cid, "reply", f"before {CLIPBOARD}{CLEAR} after")
    finally:
        store.close()
    app = make_app(fixture_store)
    async with app.run_test(size=(160, 48)) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("r")
        await wait_for(pilot, lambda: "after" in inbox.composer.text)
        assert [seq for seq in RAW if seq in inbox.composer.text] == []
