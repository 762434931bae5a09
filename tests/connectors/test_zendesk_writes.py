"""Zendesk writes as Zendesk documents them: bodies checked against Zendesk's OpenAPI document.

respx with vendor-documented payloads: every ticket update carries `safe_update` and
`updated_stamp`; a 409 is a ConflictError; tags use the tags endpoints as set operations; a
reply is never blindly re-sent, and `find_sent` finds it by its invisible marker.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import httpx
import pytest
import respx
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest

from agentdesk.connectors.base import AccountSettings, ConflictError, NotFound
from agentdesk.connectors.http import HttpPolicy, Unreachable
from agentdesk.connectors.zendesk import MUTATION_MARKER, ZendeskConnector
from agentdesk.model import MutationRequest, RemoteState
from tests.connectors.zendesk_payloads import AGENT, BASE, TOKEN, USER, comment, me, ticket

SPEC = Path("/work/shared/specs/zendesk-ticketing-oas.json")
FAST = HttpPolicy(backoff_base=0.001, backoff_max=0.002)
SETTINGS = AccountSettings(name="acme", connector="zendesk", base_url=BASE, user=USER)
STAMP = "2024-05-02T10:38:52Z"
CURRENT = RemoteState(
    version=STAMP,
    status="open",
    priority="high",
    assignee_external_id="901",
    team_external_id="70",
    tags=("enterprise", "other_tag"),
)
TICKET_URL = f"{BASE}/api/v2/tickets/42.json"
TAGS_URL = f"{BASE}/api/v2/tickets/42/tags.json"


@cache
def _openapi() -> OpenAPI:
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    spec["servers"] = [{"url": BASE}]
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def validate(request: httpx.Request) -> None:
    """The request as Zendesk's published contract describes it (path without `.json`)."""
    _openapi().validate_request(
        MockRequest(
            BASE,
            request.method.lower(),
            request.url.path.removesuffix(".json"),
            args=dict(request.url.params),
            headers=dict(request.headers),
            data=request.content or None,
            content_type="application/json",
        )
    )


def body(request: httpx.Request) -> dict:
    return json.loads(request.content)


def mutation(action: str, **payload: object) -> MutationRequest:
    return MutationRequest(
        id="3f0c9a52-0000-4000-8000-00000000abcd",
        action=action,  # type: ignore[arg-type]
        conversation_external_id="42",
        payload=payload,
        base_version=STAMP,
    )


def updated(**kw: object) -> httpx.Response:
    return httpx.Response(200, json={"ticket": ticket(42, updated_at="2024-05-02T11:00:00Z", **kw)})


@pytest.fixture
async def zendesk():
    connector = ZendeskConnector(SETTINGS, TOKEN, policy=FAST)
    yield connector
    await connector.aclose()


@pytest.mark.parametrize(
    ("action", "payload", "expected"),
    [
        ("status", {"status": "on_hold"}, {"status": "hold"}),
        ("status", {"status": "solved"}, {"status": "solved"}),
        ("priority", {"priority": "urgent"}, {"priority": "urgent"}),
        ("assign", {"agent_external_id": "905"}, {"assignee_id": 905}),
        ("assign", {"team_external_id": "71"}, {"group_id": 71}),
    ],
)
@respx.mock
async def test_field_updates_are_safe_updates_on_the_version_they_were_checked_on(
    zendesk, action, payload, expected
):
    route = respx.put(TICKET_URL).mock(return_value=updated())
    result = await zendesk.apply(mutation(action, **payload), CURRENT)
    sent = route.calls.last.request
    validate(sent)
    assert body(sent) == {"ticket": {**expected, "safe_update": True, "updated_stamp": STAMP}}
    assert result.version == "2024-05-02T11:00:00Z"


@respx.mock
async def test_a_stale_stamp_is_a_conflict(zendesk):
    respx.put(TICKET_URL).mock(return_value=httpx.Response(409, json={"error": "UpdateConflict"}))
    with pytest.raises(ConflictError):
        await zendesk.apply(mutation("status", status="solved"), CURRENT)


@pytest.mark.parametrize(("action", "public"), [("reply", True), ("note", False)])
@respx.mock
async def test_a_reply_or_note_is_a_comment_carrying_an_invisible_marker(zendesk, action, public):
    route = respx.put(TICKET_URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "ticket": ticket(42, updated_at="2024-05-02T11:00:00Z"),
                "audit": {"id": 7, "events": [{"id": 555, "type": "Comment", "public": public}]},
            },
        )
    )
    result = await zendesk.apply(mutation(action, text="Your order ships today."), CURRENT)
    sent = route.calls.last.request
    validate(sent)
    assert body(sent)["ticket"] == {
        "comment": {"body": "Your order ships today.", "public": public},
        "metadata": {MUTATION_MARKER: "3f0c9a52-0000-4000-8000-00000000abcd"},
        "safe_update": True,
        "updated_stamp": STAMP,
    }
    assert sent.headers["Idempotency-Key"] == "3f0c9a52-0000-4000-8000-00000000abcd"
    assert result.message_external_id == "555"


@respx.mock
async def test_a_lost_reply_response_is_not_blindly_resent(zendesk):
    route = respx.put(TICKET_URL).mock(side_effect=httpx.ReadError("reset"))
    with pytest.raises(Unreachable):
        await zendesk.apply(mutation("reply", text="Only once"), CURRENT)
    assert route.call_count == 1  # the push engine checks with find_sent before any retry


@respx.mock
async def test_tags_are_set_operations_on_the_tags_endpoints(zendesk):
    put = respx.put(TAGS_URL).mock(return_value=httpx.Response(200, json={"tags": ["x"]}))
    show = respx.get(TICKET_URL).mock(
        return_value=httpx.Response(
            200, json={"ticket": ticket(42, updated_at="2024-05-02T11:30:00Z")}
        )
    )
    delete = respx.delete(TAGS_URL).mock(return_value=httpx.Response(204))
    request = mutation("tags", add=["vip", "enterprise"], remove=["other_tag", "absent"])
    await zendesk.apply(request, CURRENT)
    for call in (put.calls.last, delete.calls.last):
        validate(call.request)
    # Only what is missing is added and only what is there is removed; each on the stamp
    # current at its moment (the add moved updated_at on).
    assert body(put.calls.last.request) == {
        "tags": ["vip"], "safe_update": True, "updated_stamp": STAMP,
    }  # fmt: skip
    assert body(delete.calls.last.request) == {
        "tags": ["other_tag"], "safe_update": True, "updated_stamp": "2024-05-02T11:30:00Z",
    }  # fmt: skip
    assert show.call_count == 1


@respx.mock
async def test_fetch_state_reads_the_fields_a_write_may_conflict_on(zendesk):
    respx.get(TICKET_URL).mock(
        return_value=httpx.Response(
            200, json={"ticket": ticket(42, status="hold", priority=None, assignee_id=None)}
        )
    )
    state = await zendesk.fetch_state("42")
    assert state.version == STAMP and state.status == "on_hold" and state.priority == "normal"
    assert state.assignee_external_id is None and state.team_external_id == "70"
    assert state.tags == ("enterprise", "other_tag")


@respx.mock
async def test_a_deleted_ticket_is_not_found(zendesk):
    respx.get(TICKET_URL).mock(return_value=httpx.Response(404, json={"error": "RecordNotFound"}))
    with pytest.raises(NotFound):
        await zendesk.fetch_state("42")


COMMENTS = f"{BASE}/api/v2/tickets/42/comments.json"


@respx.mock
async def test_find_sent_finds_the_comment_by_its_marker(zendesk):
    marked = comment(
        9, 901, "Hi", metadata={"system": {}, "custom": {MUTATION_MARKER: mutation("reply").id}}
    )
    respx.get(COMMENTS).mock(
        return_value=httpx.Response(
            200, json={"comments": [marked, comment(8, 901, "Hi")], "meta": {"has_more": False}}
        )
    )
    assert await zendesk.find_sent(mutation("reply", text="Hi")) == "9"


@respx.mock
async def test_find_sent_does_not_mistake_an_older_reply_with_the_same_text(zendesk):
    respx.get(f"{BASE}/api/v2/users/me.json").mock(return_value=httpx.Response(200, json=me(AGENT)))
    older = comment(8, 901, "Thanks!", created_at="2024-05-01T09:00:00Z")
    respx.get(COMMENTS).mock(
        return_value=httpx.Response(200, json={"comments": [older], "meta": {"has_more": False}})
    )
    # Without a marker and with no time bound, "Thanks!" from last week is no proof.
    assert await zendesk.find_sent(mutation("reply", text="Thanks!")) is None
    # Sent by this process a moment ago: the same author, text and visibility is.
    zendesk._first_sent[mutation("reply").id] = datetime(2024, 5, 1, 8, 59, tzinfo=UTC)
    assert await zendesk.find_sent(mutation("reply", text="Thanks!")) == "8"
    assert await zendesk.find_sent(mutation("note", text="Thanks!")) is None  # not a note
