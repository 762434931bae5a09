"""A colleague's note that mentions the signed-in agent is news: "Marcus mentioned you in a
note on #77", never the note's words, never its markup or escapes; what the first sync brings
is not news; the agent's own notes are not either; several at once are one line."""

from __future__ import annotations

import threading
from datetime import timedelta

from agentdesk.model import ConversationRecord, MessageRecord, Page
from agentdesk.store import Store
from agentdesk.syncapi import SyncEvent
from agentdesk.tui import notices
from tests.tui.conftest import NOW, T0
from tests.tui.helpers import wait_for, wait_for_rows

SIZE = (160, 48)


def _toasts(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def _note(path, conversation: str, body: str, *, author: str = "Marcus Colleague",
          author_id: str | None = "a2", minutes: int = 30) -> None:  # fmt: skip
    """Another process (the sync thread) stores a note on a conversation."""
    other = Store.open(path)
    try:
        note = MessageRecord(
            external_id=f"n-{conversation}-{minutes}", kind="note", author_kind="agent",
            author_name=author, body=body, created_at=T0 + timedelta(minutes=minutes),
            channel="chat", author_external_id=author_id,
        )  # fmt: skip
        record = ConversationRecord(
            external_id=conversation, channel="chat", subject="Customer's secret subject",
            status="open", vendor_status="open", priority="normal",
            created_at=T0 + timedelta(minutes=20), updated_at=NOW, version=f"v{minutes}",
            customer_external_id="c2", messages=(note,),
        )  # fmt: skip
        other.apply_page("acme", Page("tickets", "c9", False, conversations=(record,)))
    finally:
        other.close()


class _BackfillWithAMention:
    """A SyncRunner whose first round brings an old note that mentions me."""

    def __init__(self, path) -> None:
        self.path = path

    def run(self, on_event, stop: threading.Event) -> None:
        _note(self.path, "70", "@Alex Agent did you see this last week?", minutes=21)
        on_event(SyncEvent("page", "acme", "acme: tickets +1", records=1))
        on_event(SyncEvent("idle", None, "up to date", extra={"online": True, "full": True}))
        stop.wait()

    def nudge(self) -> None:
        pass


async def test_a_colleagues_note_mentioning_me_notifies_without_its_text_or_escapes(
    fixture_store, make_app
):
    app = make_app(fixture_store, sync=_BackfillWithAMention(fixture_store))
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await wait_for(pilot, lambda: app.first_round_done and inbox._watch is not None)
        await pilot.pause(0.3)
        assert not any("mention" in t for t in _toasts(app))  # the backfill is not news

        _note(fixture_store, "71", "@Alex Agent I wrote this myself", author="Alex Agent",
              author_id="a1", minutes=31)  # fmt: skip
        _note(fixture_store, "72", "ping alex@acme.example about it", minutes=32)  # no mention
        _note(fixture_store, "77", "@Alex Agent can you take this? \x1b]52;c;aGk=\x07[b]now[/b]",
              author="Marcus \x1b[31m[b]Colleague[/b]", minutes=33)  # fmt: skip
        await wait_for(pilot, lambda: any("mentioned you" in t for t in _toasts(app)))
        await pilot.pause(0.5)
        lines = [t for t in _toasts(app) if "mention" in t]
        assert len(lines) == 1
        line = lines[0]
        assert line.startswith("Marcus") and line.endswith("mentioned you in a note on #77")
        assert "\x1b" not in line and "\x07" not in line
        assert "take this" not in line and "secret subject" not in line

        # Two more while that toast is up: one line, recounted.
        _note(fixture_store, "78", "cc @agent — the refund is yours", minutes=34)
        _note(fixture_store, "79", "[@Alex Agent](mention://user/a1/Alex%20Agent) look",
              minutes=35)  # fmt: skip
        await wait_for(pilot, lambda: any("3 mentions of you" in t for t in _toasts(app)))
        assert len([t for t in _toasts(app) if "mention" in t]) == 1


def test_mentions_are_the_agents_name_handle_or_the_vendors_markup() -> None:
    names = ("Alex Agent", "agent")
    assert notices.mentions_me("@alex agent please look", names)
    assert notices.mentions_me("thanks @agent.", names)
    assert notices.mentions_me("[@Alex](mention://user/a1/Alex) hi", (), "a1")
    assert not notices.mentions_me("[@Al](mention://user/a12/Al) hi", (), "a1")
    assert not notices.mentions_me("mail agent@acme.example", names)  # an address, not a mention
    assert not notices.mentions_me("@agents, all of you", names)  # a longer name
    assert not notices.mentions_me("Alex Agent, see above", names)  # no @
