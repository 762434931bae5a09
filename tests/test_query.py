from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentdesk.model import (
    AgentRecord,
    ContactRecord,
    ConversationRecord,
    Identity,
    MessageRecord,
    Page,
    TeamRecord,
)
from agentdesk.query import QueryError, parse
from agentdesk.store import Store

NOW = datetime.now(UTC).replace(microsecond=0)


def test_parse_filters_phrases_and_words():
    q = parse(
        'status:open,pending channel:chat assignee:me tag:vip priority:high account:acme "refund please" late'
    )
    assert [(f.key, f.values) for f in q.filters] == [
        ("status", ("open", "pending")),
        ("channel", ("chat",)),
        ("assignee", ("me",)),
        ("tag", ("vip",)),
        ("priority", ("high",)),
        ("account", ("acme",)),
    ]
    assert q.terms == ("refund please", "late")


def test_negation_and_sort():
    q = parse("-tag:spam sort:sla 返品")
    assert q.filters[0].negated and q.filters[0].key == "tag"
    assert q.sort == "sla"
    assert q.terms == ("返品",)


@pytest.mark.parametrize(
    ("text", "reason", "column"),
    [
        ("status:sleeping", "status:sleeping is not known", 8),
        ('refund "broken', "never closed", 8),
        ("colour:red", "unknown filter colour:", 1),
        ("tag: vip", "tag: needs a value", 5),
        ("priority:p1", "priority:p1 is not known", 10),
        ("sort:random", "sort:random is not known", 6),
        ("status:open,,closed", "empty value", 8),
    ],
)
def test_malformed_queries_say_what_and_where(text, reason, column):
    with pytest.raises(QueryError) as info:
        parse(text)
    assert reason in str(info.value)
    assert f"column {column}" in str(info.value)


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path / "q.db")
    store.upsert_account("acme", "zendesk", "http://127.0.0.1:1", "me@acme.com")
    store.upsert_account("chat", "chatwoot", "http://127.0.0.1:2", "me@acme.com")

    def conv(
        eid,
        subject,
        body,
        channel="email",
        status="open",
        priority="normal",
        tags=(),
        assignee=None,
        minutes=0,
        account="acme",
        customer="u1",
    ):
        t = NOW - timedelta(days=1) + timedelta(minutes=minutes)
        return account, ConversationRecord(
            eid,
            channel,
            subject,
            status,
            status,
            priority,
            t,
            t,
            "v",
            customer_external_id=customer,
            assignee_external_id=assignee,
            tags=tags,
            messages=(MessageRecord(f"m{eid}", "reply", "customer", "C", body, t, channel),),
        )

    rows = [
        conv(
            "1",
            "注文が届きません",
            "配送状況を教えてください",
            tags=("vip",),
            assignee="me",
            minutes=1,
        ),
        conv(
            "2",
            "Refund for #4411",
            "I want a refund please",
            channel="chat",
            priority="high",
            minutes=2,
        ),
        conv("3", "返品について", "返品したいです", status="solved", minutes=3),
        conv(
            "4",
            "VPN down",
            "refund? no, the VPN is down",
            priority="urgent",
            assignee="ola",
            minutes=4,
        ),
        conv(
            "9",
            "Chat refund",
            "refund via chat",
            channel="chat",
            account="chat",
            customer="c9",
            minutes=5,
        ),
    ]
    store.apply_page(
        "acme",
        Page(
            "t",
            "c",
            False,
            teams=(TeamRecord("g", "Billing"),),
            agents=(
                AgentRecord("me", "Me", "me@acme.com"),
                AgentRecord("ola", "Ola", "ola@acme.com"),
            ),
            contacts=(ContactRecord("u1", "Hanako", (Identity("email", "hanako@example.jp"),)),),
            conversations=tuple(r for a, r in rows if a == "acme"),
        ),
    )
    store.apply_page(
        "chat", Page("t", "c", False, conversations=tuple(r for a, r in rows if a == "chat"))
    )
    store.record_sync_info("acme", user_external_id="me")
    return store


def _ext(store, ids):
    return [store.conversation(i).external_id for i in ids]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("refund", ["9", "4", "2"]),
        ('"refund please"', ["2"]),
        ("返品", ["3"]),
        ("配送", ["1"]),
        ("届", ["1"]),
        ("refund channel:chat", ["9", "2"]),
        ("refund account:acme", ["4", "2"]),
        ("refund -priority:urgent", ["9", "2"]),
        ("assignee:me", ["1"]),
        ("assignee:ola@acme.com", ["4"]),
        ("assignee:none is:open", ["9", "2"]),
        ("tag:VIP", ["1"]),
        ("status:solved", ["3"]),
        ("customer:hanako@example.jp status:open", ["4", "2", "1"]),
        ("is:open sort:priority", ["4", "2", "9", "1"]),
        ("", ["9", "4", "3", "2", "1"]),
    ],
)
def test_queries_find_exactly_the_matching_conversations(store, text, expected):
    assert _ext(store, store.search_ids(text)) == expected


def test_best_match_ranks_the_closest_first(store):
    ids = store.search_ids("refund sort:best")
    assert set(_ext(store, ids)) == {"9", "4", "2"}
    assert _ext(store, ids)[-1] == "4"  # only a passing mention


def test_builtin_views_count_what_they_list(store):
    counts = store.view_counts()
    for view in store.views():
        assert counts[view.id] == len(store.view_conversation_ids(view.id)), view.id
    assert counts["mine"] == 1 and counts["solved"] == 1


@pytest.mark.parametrize(
    "text",
    [
        " ".join(f"word{i}" for i in range(1000)),
        " ".join(f"tag:t{i}" for i in range(1000)),
        " ".join(f"-tag:t{i} w{i}" for i in range(500)),
    ],
    ids=["words", "filters", "mixed"],
)
def test_a_huge_query_is_refused_in_one_sentence_on_the_command_line(text, capsys):
    from agentdesk.cli import main

    code = main(["reassign", "--query", text, "--to", "someone@example.com"])
    err = capsys.readouterr().err
    assert code == 2
    assert "a search can hold at most 64 terms" in err
    assert "unexpected" not in err and "Expression tree" not in err


def test_sixty_four_terms_still_search(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    text = " ".join(f"w{i}" for i in range(32)) + " " + " ".join(f"tag:t{i}" for i in range(32))
    assert store.search_ids(text + " sort:best") == []
    with pytest.raises(QueryError, match="at most 64 terms"):
        store.search_ids(text + " one-more")
    store.close()
