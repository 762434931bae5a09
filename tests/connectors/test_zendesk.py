"""The Zendesk connector maps every documented field; failures are typed sentences."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import httpx
import pytest
import respx

from agentdesk.connectors import registry
from agentdesk.connectors.base import (
    AccountSettings,
    AuthError,
    MalformedResponse,
    NotFound,
)
from agentdesk.connectors.http import HttpPolicy
from agentdesk.connectors.normalise import normalise_phone
from agentdesk.connectors.zendesk import ZendeskConnector, map_channel
from agentdesk.model import Attachment, Identity, Page
from tests.connectors.zendesk_payloads import (
    AGENT,
    BASE,
    BOT,
    GROUPS,
    HANAKO,
    TOKEN,
    TOMB,
    USER,
    comment,
    comments_page,
    export_page,
    me,
    mount_world,
    ticket,
)

FAST = HttpPolicy(backoff_base=0.001, backoff_max=0.002)
SETTINGS = AccountSettings(name="acme", connector="zendesk", base_url=BASE + "/", user=USER)
EXPORT = re.compile(rf"{re.escape(BASE)}/api/v2/incremental/tickets/cursor\.json.*")
COMMENTS = re.compile(rf"{re.escape(BASE)}/api/v2/tickets/(?P<ticket_id>\d+)/comments\.json.*")


@pytest.fixture
async def zendesk():
    connector = ZendeskConnector(SETTINGS, TOKEN, policy=FAST)
    yield connector
    await connector.aclose()


async def collect(connector: ZendeskConnector, resource: str, cursor: str | None = None):
    return [page async for page in connector.pull(resource, cursor)]


def test_zendesk_is_registered_through_the_entry_point_group():
    assert registry.get("zendesk") is ZendeskConnector
    assert "zendesk" in registry.available()


def test_unknown_connector_kind_names_the_known_ones():
    with pytest.raises(registry.UnknownConnector, match="available: .*zendesk"):
        registry.get("jira")


def test_capabilities_say_snooze_is_local_and_writes_are_safe():
    flags = ZendeskConnector.capabilities.as_flags()
    assert flags["can_snooze"] is False
    assert flags["can_safe_update"]
    # Idempotency-Key is honoured on ticket create only; comments use check-before-resend.
    assert flags["has_idempotency_keys"] is False
    assert flags["has_incremental_export"]
    assert ZendeskConnector.resources == ("groups", "agents", "tickets")


@respx.mock
async def test_whoami_sends_zendesk_token_auth_and_maps_roles(zendesk):
    route = respx.get(f"{BASE}/api/v2/users/me.json").respond(json=me(AGENT))
    who = await zendesk.whoami()
    assert (who.external_id, who.name, who.role) == ("901", "Tom Agent", "agent")
    sent = route.calls.last.request.headers["authorization"]
    assert sent == "Basic " + base64.b64encode(f"{USER}/token:{TOKEN}".encode()).decode()

    respx.get(f"{BASE}/api/v2/users/me.json").respond(json=me({**AGENT, "role": "admin"}))
    assert (await zendesk.whoami()).role == "admin"


@respx.mock
async def test_whoami_as_end_user_is_an_auth_error_that_says_why(zendesk):
    respx.get(f"{BASE}/api/v2/users/me.json").respond(json=me(HANAKO))
    with pytest.raises(AuthError, match="end-user, not an agent") as info:
        await zendesk.whoami()
    assert TOKEN not in str(info.value)


@respx.mock
async def test_bad_token_is_one_sentence_naming_account_and_fix_never_the_token(zendesk):
    respx.get(f"{BASE}/api/v2/users/me.json").respond(
        401, json={"error": "Couldn't authenticate you"}
    )
    with pytest.raises(AuthError) as info:
        await zendesk.whoami()
    message = str(info.value)
    assert "agent@acme.com" in message and "agentdesk accounts add acme" in message
    assert TOKEN not in message and "Basic" not in message
    assert TOKEN not in repr(zendesk) and TOKEN not in repr(zendesk._http)


@respx.mock
async def test_ticket_fields_are_mapped(zendesk):
    tickets = [
        ticket(1),
        ticket(
            2,
            status="hold",
            priority=None,
            via={"channel": "native_messaging"},
            assignee_id=None,
            group_id=None,
            tags=[],
            satisfaction_rating=None,
        ),
        ticket(
            3,
            status="new",
            priority="urgent",
            via={"channel": "sms"},
            subject=None,
            raw_subject=None,
            description="Call me back please\nsecond line",
        ),
        ticket(4, status="pending", priority="low", via={"channel": "twitter"}),
        ticket(5, status="solved", via={"channel": "voice"}, satisfaction_rating={"score": "bad"}),
        ticket(
            6, status="closed", via={"channel": "web"}, satisfaction_rating={"score": "unoffered"}
        ),
        ticket(7, status="deleted"),
    ]
    respx.get(url__regex=EXPORT).respond(
        json=export_page(tickets, [HANAKO, TOMB, AGENT], after="C1", end=True)
    )
    respx.get(url__regex=COMMENTS).respond(json=comments_page([], []))

    (page,) = await collect(zendesk, "tickets")
    assert page.cursor == "C1" and page.more is False
    assert page.deleted_conversation_ids == ("7",)
    by_id = {c.external_id: c for c in page.conversations}
    one = by_id["1"]
    assert (one.status, one.vendor_status, one.priority, one.channel) == (
        "open",
        "open",
        "high",
        "email",
    )
    assert one.tags == ("enterprise", "other_tag")
    assert (one.assignee_external_id, one.team_external_id) == ("901", "70")
    assert one.customer_external_id == "1001"
    assert one.version == "2024-05-02T10:38:52Z"
    assert one.updated_at == datetime(2024, 5, 2, 10, 38, 52, tzinfo=UTC)
    assert one.web_url == "https://acme.zendesk.com/agent/tickets/1"
    assert one.satisfaction == "good"
    assert one.subject == "Ticket 1"
    two = by_id["2"]
    assert (two.status, two.vendor_status, two.priority, two.channel) == (
        "on_hold",
        "hold",
        "normal",
        "chat",
    )
    assert two.assignee_external_id is None and two.team_external_id is None
    assert two.tags == () and two.satisfaction is None
    assert (by_id["3"].status, by_id["3"].priority, by_id["3"].channel) == ("new", "urgent", "sms")
    assert by_id["3"].subject == "Call me back please"
    assert (by_id["4"].status, by_id["4"].priority, by_id["4"].channel) == (
        "pending",
        "low",
        "social",
    )
    assert (by_id["5"].status, by_id["5"].channel, by_id["5"].satisfaction) == (
        "solved",
        "voice",
        "bad",
    )
    assert (by_id["6"].status, by_id["6"].channel, by_id["6"].satisfaction) == (
        "closed",
        "web",
        None,
    )
    assert {t.external_id: t.name for t in page.teams} == {
        "70": "First Level Support",
        "71": "Billing",
    }


@pytest.mark.parametrize(
    ("via", "channel"),
    [
        ("email", "email"),
        ("web", "web"),
        ("chat", "chat"),
        ("native_messaging", "chat"),
        ("sms", "sms"),
        ("text", "sms"),
        ("twitter", "social"),
        ("facebook", "social"),
        ("instagram_dm", "social"),
        ("whatsapp", "social"),
        ("voice", "voice"),
        ("phone", "voice"),
        ("api", "web"),
        ("rule", "email"),
        (None, "email"),
    ],
)
def test_via_channels_map_to_agentdesk_channels(via, channel):
    assert map_channel(via) == channel


@respx.mock
async def test_customers_come_from_sideloads_with_normalised_identities_and_attributes(zendesk):
    respx.get(url__regex=EXPORT).respond(
        json=export_page(
            [ticket(1), ticket(2, requester_id=1002)], [HANAKO, TOMB, AGENT], after="C", end=True
        )
    )
    respx.get(url__regex=COMMENTS).respond(json=comments_page([], []))
    (page,) = await collect(zendesk, "tickets")
    contacts = {c.external_id: c for c in page.contacts}
    assert set(contacts) == {"1001", "1002"}  # the agent is not a customer
    hanako = contacts["1001"]
    assert hanako.name == "佐藤 花子"
    assert hanako.identities == (
        Identity("email", "hanako@example.jp"),
        Identity("phone", "+819012345678"),  # national number read in the ja locale's country
    )
    assert hanako.attributes == {
        "plan": "Pro",
        "segment": "VIP",
        "lifetime_value": 120000,
        "language": "ja",
        "time_zone": "Tokyo",
    }
    assert contacts["1002"].identities == (
        Identity("email", "tom.baker@example.com"),
        Identity("phone", "+14155550100"),
    )
    assert [a.external_id for a in page.agents] == ["901"]
    assert page.agents[0].email == "tom@acme.com"


def test_unparseable_phone_is_dropped_not_invented():
    assert normalise_phone("call me maybe") is None
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"


@respx.mock
async def test_messages_public_private_bot_html_and_attachments(zendesk):
    respx.get(url__regex=EXPORT).respond(
        json=export_page([ticket(1)], [HANAKO, AGENT], after="C", end=True)
    )
    first = [
        comment(1, 1001, "注文番号 4411 がまだ届いていません"),
        comment(2, 902, "I found order 4411: shipped 11/20"),
        comment(3, 901, "Carrier says delayed (internal)", public=False),
    ]
    html_only = comment(
        4, 901, None, html_body="<p>Hi <b>Hanako</b>,</p><p>it ships <i>today</i>.</p>"
    )
    with_file = comment(
        5,
        1001,
        "Here is the receipt",
        attachments=[
            {
                "id": 498483,
                "file_name": "receipt.pdf",
                "content_url": f"{BASE}/attachments/r.pdf",
                "content_type": "application/pdf",
                "size": 2532,
                "thumbnails": [],
            }
        ],
    )
    answer_bot = comment(6, 903, "Maybe this article helps", via={"channel": "answer_bot"})
    pages = [
        comments_page(first, [HANAKO, BOT, AGENT], after="P2"),
        comments_page([html_only, with_file, answer_bot], [{**AGENT, "id": 903, "name": "Help"}]),
    ]
    calls: list[httpx.Request] = []

    def thread(request: httpx.Request, ticket_id: str) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=pages[len(calls) - 1])

    respx.get(url__regex=COMMENTS).mock(side_effect=thread)
    (page,) = await collect(zendesk, "tickets")
    messages = {m.external_id: m for m in page.conversations[0].messages}
    assert len(calls) == 2 and calls[1].url.params["page[after]"] == "P2"
    assert (messages["1"].kind, messages["1"].author_kind, messages["1"].author_name) == (
        "reply",
        "customer",
        "佐藤 花子",
    )
    assert messages["1"].inbound and messages["1"].channel == "email"
    assert messages["2"].author_kind == "bot"
    assert (messages["3"].kind, messages["3"].author_kind) == ("note", "agent")
    assert messages["4"].body == "Hi Hanako,\nit ships today."
    assert messages["5"].attachments == (
        Attachment("receipt.pdf", 2532, "application/pdf", f"{BASE}/attachments/r.pdf"),
    )
    assert messages["6"].author_kind == "bot"
    created = [m.created_at for m in page.conversations[0].messages]
    assert created == sorted(created)


@respx.mock
async def test_export_follows_after_cursor_until_end_of_stream(zendesk):
    route = respx.get(url__regex=EXPORT)
    route.side_effect = [
        httpx.Response(200, json=export_page([ticket(1)], [HANAKO], after="C1", end=False)),
        httpx.Response(200, json=export_page([ticket(2)], [HANAKO], after="C2", end=True)),
    ]
    respx.get(url__regex=COMMENTS).respond(json=comments_page([], []))
    pages = await collect(zendesk, "tickets", "C0")
    assert [(p.cursor, p.more) for p in pages] == [("C1", True), ("C2", False)]
    first, second = (call.request.url.params for call in route.calls)
    assert first["cursor"] == "C0" and first["include"] == "users,groups,metric_sets"
    assert "start_time" not in first
    assert second["cursor"] == "C1"


@respx.mock
async def test_first_pull_starts_from_the_cache_window(zendesk):
    route = respx.get(url__regex=EXPORT).respond(json=export_page([], [], after="C1", end=True))
    await collect(zendesk, "tickets")
    start = int(route.calls.last.request.url.params["start_time"])
    age_days = (datetime.now(UTC).timestamp() - start) / 86400
    assert 89.9 < age_days < 90.1


@respx.mock
async def test_agent_token_refused_the_export_falls_back_to_search(zendesk):
    respx.get(url__regex=EXPORT).respond(
        403, json={"error": "Forbidden", "description": "You do not have access to this page."}
    )
    search = respx.get(url__regex=rf"{re.escape(BASE)}/api/v2/search\.json.*")
    search.side_effect = [
        httpx.Response(
            200,
            json={
                "results": [
                    {**ticket(1, updated_at="2024-05-02T10:00:00Z"), "result_type": "ticket"}
                ],
                "users": [HANAKO],
                "count": 2,
                "facets": None,
                "previous_page": None,
                "next_page": f"{BASE}/api/v2/search.json?query=x&page=2",
            },
        ),
        httpx.Response(
            200,
            json={
                "results": [
                    {**ticket(2, updated_at="2024-05-03T11:00:00Z"), "result_type": "ticket"}
                ],
                "users": [HANAKO],
                "count": 2,
                "facets": None,
                "previous_page": None,
                "next_page": None,
            },
        ),
    ]
    respx.get(url__regex=COMMENTS).respond(json=comments_page([], []))
    pages = await collect(zendesk, "tickets", "search:2024-05-01T00:00:00Z")
    assert [c.external_id for p in pages for c in p.conversations] == ["1", "2"]
    assert [(p.cursor, p.more) for p in pages] == [
        ("search:2024-05-02T10:00:00Z", True),
        ("search:2024-05-03T11:00:00Z", False),
    ]
    query = search.calls[0].request.url.params["query"]
    assert query == "type:ticket updated>2024-04-30T23:59:59Z"
    assert search.calls[0].request.url.params["sort_by"] == "updated_at"

    # Next sync: the stored search cursor is honoured and the 403 is not asked again.
    search.side_effect = None
    search.return_value = httpx.Response(200, json={"results": [], "count": 0, "next_page": None})
    exports = respx.routes[0].call_count if respx.routes else 0
    pages = await collect(zendesk, "tickets", "search:2024-05-03T11:00:00Z")
    assert (
        search.calls.last.request.url.params["query"] == "type:ticket updated>2024-05-03T10:59:59Z"
    )
    assert pages[-1].more is False and pages[-1].cursor == "search:2024-05-03T11:00:00Z"
    assert exports == (respx.routes[0].call_count if respx.routes else 0)


@respx.mock
async def test_groups_and_agents_with_memberships(zendesk):
    mount_world(respx.mock)
    groups = await collect(zendesk, "groups")
    assert [t.name for p in groups for t in p.teams] == [g["name"] for g in GROUPS]
    assert groups[-1].more is False
    agents = {a.external_id: a for p in await collect(zendesk, "agents") for a in p.agents}
    assert agents["901"].team_external_ids == ("70", "71")
    assert agents["900"].role == "admin" and agents["900"].team_external_ids == ("71",)
    assert agents["901"].email == "tom@acme.com"


@respx.mock
async def test_malformed_payloads_are_typed_not_key_errors(zendesk):
    respx.get(url__regex=EXPORT).respond(
        json={"tickets": [{"subject": "no id"}], "end_of_stream": True}
    )
    with pytest.raises(MalformedResponse, match="acme.zendesk.com") as info:
        await collect(zendesk, "tickets")
    assert "tickets[0].id" in str(info.value)

    respx.get(url__regex=EXPORT).respond(json={"tickets": "nope"})
    with pytest.raises(MalformedResponse):
        await collect(zendesk, "tickets")

    respx.get(url__regex=EXPORT).respond(text="<html>Help Center</html>")
    with pytest.raises(MalformedResponse, match="not JSON"):
        await collect(zendesk, "tickets")

    respx.get(url__regex=EXPORT).respond(
        json=export_page([ticket(1, updated_at="yesterday")], [HANAKO], after="C", end=True)
    )
    respx.get(url__regex=COMMENTS).respond(json=comments_page([], []))
    with pytest.raises(MalformedResponse, match="timestamp"):
        await collect(zendesk, "tickets")


@respx.mock
async def test_a_ticket_deleted_between_export_and_comments_keeps_its_thread(zendesk):
    respx.get(url__regex=EXPORT).respond(
        json=export_page([ticket(1)], [HANAKO], after="C", end=True)
    )
    respx.get(url__regex=COMMENTS).respond(404, json={"error": "RecordNotFound"})
    (page,) = await collect(zendesk, "tickets")
    assert page.conversations[0].messages is None  # None: messages untouched in the store


@respx.mock
async def test_unknown_resource_is_a_clear_error(zendesk):
    with pytest.raises(Exception, match="has no resource 'macros'"):
        zendesk.pull("macros", None)


@respx.mock
async def test_404_names_what_was_missing(zendesk):
    respx.get(f"{BASE}/api/v2/users/me.json").respond(404, json={"error": "InvalidEndpoint"})
    with pytest.raises(NotFound, match="account URL https://acme.zendesk.com"):
        await zendesk.whoami()


def test_page_type_is_the_model_page():
    assert Page.__module__ == "agentdesk.model"
