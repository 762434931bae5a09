"""Live sync as the agent sees it: the first sync's backfill is not news, later events are,
bursts become one line, a colleague's typing shows on the conversation, the footer says how
fresh each account is, and no notification carries the customer's escape sequences."""

from __future__ import annotations

import threading
from datetime import timedelta

from agentdesk.model import ConversationRecord, Page
from agentdesk.store import Store
from agentdesk.store.uiqueries import WatchSnapshot
from agentdesk.syncapi import SyncEvent
from agentdesk.tui import notices
from agentdesk.tui.app import SyncNotice
from tests.tui.conftest import NOW, T0
from tests.tui.helpers import screen_text, wait_for, wait_for_rows

SIZE = (160, 48)


def _toasts(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def _assign_to_me(path, external_id: str, subject: str) -> None:
    other = Store.open(path)
    try:
        record = ConversationRecord(
            external_id=external_id, channel="chat", subject=subject, status="open",
            vendor_status="open", priority="normal", created_at=T0 + timedelta(minutes=20),
            updated_at=NOW, version=f"v-{external_id}", customer_external_id="c2",
            assignee_external_id="a1",
        )  # fmt: skip
        other.apply_page("acme", Page("tickets", "c9", False, conversations=(record,)))
    finally:
        other.close()


class _ScriptedSync:
    """A SyncRunner whose first round brings conversations assigned to me (a backfill)."""

    def __init__(self, path) -> None:
        self.path = path
        self.attention: list[str] = []

    def run(self, on_event, stop: threading.Event) -> None:
        for n in range(5):
            _assign_to_me(self.path, f"9{n}", f"Backfilled {n}")
            on_event(SyncEvent("page", "acme", "acme: tickets +1", records=1))
        on_event(SyncEvent("idle", None, "up to date", extra={"online": True, "full": True}))
        stop.wait()

    def nudge(self) -> None:
        pass

    def set_attention(self, attention: str) -> None:
        self.attention.append(attention)


async def test_the_first_syncs_backfill_shows_no_toasts_and_a_later_assignment_does(
    fixture_store, make_app
):
    app = make_app(fixture_store, sync=_ScriptedSync(fixture_store))
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await wait_for(pilot, lambda: app.first_round_done and inbox._watch is not None)
        await pilot.pause(0.3)
        assert "Backfilled" not in _toasts(app) and "Assigned" not in _toasts(app)
        _assign_to_me(fixture_store, "99", "Now: refund \x1b]52;c;aGk=\x07please")
        await wait_for(pilot, lambda: "Assigned to you" in _toasts(app))
        toast = _toasts(app)
        assert "Now: refund" in toast and "\x1b" not in toast and "\x07" not in toast


async def test_a_colleague_typing_shows_on_the_open_conversation_and_the_footer_says_live(
    fixture_store, make_app
):
    app = make_app(fixture_store)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await wait_for_rows(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: inbox.open_conversation_id is not None)
        detail = inbox._title[0]  # the open conversation's account and id
        app.post_message(SyncNotice(SyncEvent(
            "lane", "acme", "live", extra={"mode": "live", "every": 0})))  # fmt: skip
        app.post_message(SyncNotice(SyncEvent(
            "typing", detail.account, "Marcus is typing",
            extra={"conversation": detail.external_id, "who": "Marcus", "typing": True},
        )))  # fmt: skip
        await wait_for(pilot, lambda: "Marcus is typing" in screen_text(pilot))
        assert "acme live" in screen_text(pilot)
        app.post_message(SyncNotice(SyncEvent(
            "typing", detail.account, "", extra={"conversation": detail.external_id,
                                                 "typing": False},
        )))  # fmt: skip
        await wait_for(pilot, lambda: "Marcus is typing" not in screen_text(pilot))


def _snapshot(mine: dict[int, int], risk: set[int] = frozenset()) -> WatchSnapshot:  # type: ignore[assignment]
    return WatchSnapshot(
        mine=frozenset(mine), last_customer_message=dict(mine), at_risk=frozenset(risk),
        subjects={cid: f"subject {cid}" for cid in {*mine, *risk}},
    )  # fmt: skip


def test_a_burst_of_changes_is_one_line_and_the_desktop_text_has_no_customer_words() -> None:
    before = _snapshot({1: 10, 2: 20})
    after = _snapshot({1: 11, 2: 21, 3: 30, 4: 40}, risk={5})
    found = notices.changes(before, after)
    assert [n.kind for n in found] == ["assigned", "assigned", "replied", "replied", "sla"]
    assert notices.toast_lines(found) == [
        "2 new assignments · 2 customer replies · 1 SLA about to breach"
    ]
    assert notices.toast_lines(found[:1]) == ["Assigned to you: subject 3"]
    text = notices.attention_text(found)
    assert text is not None and "subject" not in text
    assert notices.changes(None, after) == []  # the baseline is not news
    assert notices.changes(before, after, self_assigned={3, 4})[0].kind == "replied"
