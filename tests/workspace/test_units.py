"""The workspace's pure parts: canned responses, snooze times, SLA policies, user views,
drafts and local customer merges on a real store file."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from agentdesk import canned, sla
from agentdesk.query import QueryError
from agentdesk.store import MergeError, Store
from agentdesk.tui import userviews, when
from tests.tui.conftest import NOW, build_store


def test_canned_placeholders_fill_once_and_unknown_ones_stay_visible(tmp_path: Path):
    (tmp_path / "canned").mkdir()
    (tmp_path / "canned" / "hello.md").write_text("Hi {{ customer.first_name }} {{x.y}}")
    (tmp_path / "canned" / "skip.bin").write_text("no")
    [template] = canned.load_canned(tmp_path)
    values = canned.placeholders(customer_name="{{agent.name}} Evil", agent_name="Alex")
    # A value that itself looks like a placeholder is not expanded again.
    assert canned.render(template.body, values) == "Hi {{agent.name}} {{x.y}}"
    assert canned.render("{{customer.first_name}}", canned.placeholders()) == (
        "{{customer.first_name}}"
    )


def test_snooze_times_typed_and_preset():
    now = datetime(2025, 3, 3, 11, 0, tzinfo=UTC)  # a Monday
    assert when.parse_when("2h", now, UTC) == now + timedelta(hours=2)
    assert when.parse_when("3d", now, UTC) == now + timedelta(days=3)
    assert when.parse_when("09:30", now, UTC) == datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
    assert when.parse_when("2025-03-10", now, UTC) == datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    assert when.parse_when("yesterday-ish", now, UTC) is None
    assert when.parse_when("2020-01-01", now, UTC) is None
    labels = dict(when.presets(now, UTC))
    assert labels["Next Monday 09:00"] == datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def test_sla_business_hours_and_holidays_pause_the_clock(tmp_path: Path):
    (tmp_path / "sla.toml").write_text(
        '[targets.first_response]\nhigh = 120\n'
        '[business_hours]\ntimezone = "UTC"\nmon = "09:00-17:00"\ntue = "09:00-17:00"\n'
        'wed = "09:00-17:00"\n[holidays]\ndates = ["2025-03-04"]\n'
    )
    policy = sla.load_policy(tmp_path)
    assert policy.hours is not None and policy.hours[0] == (time(9), time(17))
    assert policy.holidays == frozenset({date(2025, 3, 4)})
    sla.configure(policy)
    try:
        # Monday 16:00 + 2h of business time: 1h Monday, Tuesday is a holiday, 1h Wednesday.
        due = sla.first_response_due(datetime(2025, 3, 3, 16, 0, tzinfo=UTC), "high")
        assert due == datetime(2025, 3, 5, 10, 0, tzinfo=UTC)
    finally:
        sla.configure(sla.DEFAULT_POLICY)
    assert sla.state(NOW + timedelta(minutes=10), NOW) == "at_risk"
    assert sla.state(NOW - timedelta(minutes=1), NOW) == "breached"
    (tmp_path / "sla.toml").write_text('[business_hours]\nmon = "9-5"\n')
    with pytest.raises(sla.PolicyError, match="business_hours.mon"):
        sla.load_policy(tmp_path)


def test_user_views_are_saved_validated_and_counted(tmp_path: Path):
    path = build_store(tmp_path / "inbox.db")
    with pytest.raises(QueryError):
        userviews.save_user_view(tmp_path, "Bad", "status:nope")
    view = userviews.save_user_view(tmp_path, "Chats", "channel:chat")
    assert userviews.load_user_views(tmp_path) == [view]
    store = Store.open(path)
    try:
        assert userviews.view_counts(store, [view])[view.id] == 2
        assert len(userviews.view_ids(store, view, "priority")) == 2
    finally:
        store.close()
    assert userviews.delete_user_view(tmp_path, view.id)
    assert userviews.load_user_views(tmp_path) == []


def test_drafts_keep_their_start_and_merges_follow_and_undo(tmp_path: Path):
    from agentdesk.model import ContactRecord, Identity, Page

    path = build_store(tmp_path / "inbox.db")
    store = Store.open(path)
    try:
        cid = store.conversation_by_external_id("acme", "102")
        assert cid is not None
        store.save_draft(cid, "reply", "first", now=NOW)
        store.save_draft(cid, "reply", "second", now=NOW + timedelta(minutes=5))
        draft = store.draft(cid)
        assert draft is not None and draft.body == "second" and draft.started_at == NOW
        store.save_draft(cid, "reply", "   ")
        assert store.draft(cid) is None
        store.apply_page("acme", Page(resource="users", cursor="u", more=False, contacts=(
            ContactRecord("c9", "Tom Baker", (Identity("email", "tom@work.example"),)),
        )))
        tom = store.conversation(cid).customer_id  # type: ignore[union-attr]
        [suggestion] = store.duplicate_suggestions(tom)
        assert suggestion.reason == "same name"
        store.merge_customers(tom, suggestion.customer_id)
        assert store.canonical_customer(suggestion.customer_id) == tom
        assert any(i.value == "tom@work.example" for i in store.customer(tom).identities)
        with pytest.raises(MergeError):
            store.merge_customers(suggestion.customer_id, tom)
        store.unmerge_customer(suggestion.customer_id)
        assert store.canonical_customer(suggestion.customer_id) == suggestion.customer_id
    finally:
        store.close()
