"""The Front connector: every request it sends and every response it parses validates against
Front's OpenAPI document; Front's burst tier is waited out; the vendor's words map to ours.

Where the document is wrong, Front's reference docs (dev.frontapp.com) win: the corrections
are listed in `NULLABLE` (each with the doc that says so) and `FORM` (what the document means,
in a form OAS 3.0 validators read the same way), applied before validating; everything else is
checked as published.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import PathNotFound

from agentdesk.connectors.base import AuthError
from agentdesk.connectors.front import FrontConnector, map_channel, map_status
from agentdesk.connectors.http import RateLimitWait, report_waits_to
from agentdesk.model import MutationAction, MutationRequest
from agentdesk.store import Store
from agentdesk.sync.engine import SyncEngine
from tests.connectors.backend_front import FAST, FrontSim, front_backend
from tests.connectors.backends import FaultTransport
from tests.sim.test_zendesk_openapi import _Request, _Response

SPEC = Path("/work/shared/specs/front-core-api.json")

# (schema, property, why): Front sends null here although the document does not say so.
NULLABLE = (
    (
        "MessageResponse",
        "author",
        (
            "inbound messages have no teammate author: the docs' message example has "
            '`"author": null`'
        ),
    ),
    ("UpdateConversationAssignee", "assignee_id", 'the docs: "Set it to null to unassign"'),
    ("UpdateConversationReminders", "scheduled_at", 'the docs: "Set to null to cancel"'),
)
# How the document says what it means in a form OAS 3.0 validators read differently.
FORM = (
    (
        "`nullable` beside a `$ref` (conversation `assignee`, `recipient`) is ignored by OAS "
        "3.0: the referenced schema is inlined with `nullable`"
    ),
    "a nullable enum (`draft_mode`) must list null among its values",
    (
        "an event's `source.data` / `target.data` are `oneOf` schemas without required "
        "fields, so a comment also matches InboxResponse: `anyOf`, as the event docs describe"
    ),
)


@cache
def _raw_spec() -> dict[str, Any]:
    return json.loads(SPEC.read_text(encoding="utf-8"))


def _openapi(base_url: str) -> OpenAPI:
    spec = copy.deepcopy(_raw_spec())
    spec["servers"] = [{"url": base_url}]
    schemas = spec["components"]["schemas"]
    for schema, name, _why in NULLABLE:
        schemas[schema]["properties"][name]["nullable"] = True
    for schema in schemas.values():
        for name, prop in list(schema.get("properties", {}).items()):
            if prop.get("nullable") and "$ref" in prop:
                target = copy.deepcopy(schemas[prop["$ref"].rsplit("/", 1)[-1]])
                schema["properties"][name] = {**target, "nullable": True}
            elif prop.get("nullable") and "enum" in prop and None not in prop["enum"]:
                prop["enum"] = [*prop["enum"], None]
    event = schemas["EventResponse"]["properties"]
    for side in ("source", "target"):
        data = event[side]["properties"]["data"]
        data["anyOf"] = data.pop("oneOf")
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


class SpecChecked(httpx.AsyncBaseTransport):
    """Forwards to `inner`, validating each request and its response against the spec."""

    def __init__(self, inner: httpx.AsyncBaseTransport, openapi: OpenAPI) -> None:
        self.inner = inner
        self.openapi = openapi
        self.problems: list[str] = []
        self.checked: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        checked_request = _Request(request)
        where = f"{request.method} {request.url.path}"
        try:
            self.openapi.validate_request(checked_request)
        except PathNotFound:
            self.problems.append(f"{where}: not in the spec")
        except Exception as problem:  # noqa: BLE001 - every kind of mismatch is reported
            self.problems.append(f"request {where}: {problem!r} {_cause(problem)}")
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        checked = httpx.Response(response.status_code, headers=response.headers, content=body)
        if response.status_code < 300 and body:
            try:
                self.openapi.validate_response(checked_request, _Response(checked))
            except Exception as problem:  # noqa: BLE001
                self.problems.append(f"response {where}: {problem!r} {_cause(problem)}")
        self.checked[f"{request.method} {_template(request.url.path)}"] += 1
        return checked

    async def aclose(self) -> None:
        await self.inner.aclose()


def _cause(problem: BaseException) -> str:
    details = getattr(problem, "schema_errors", None) or getattr(
        problem.__cause__, "schema_errors", None
    )
    return "; ".join(
        f"{'.'.join(map(str, e.absolute_path))}: {str(e.message)[:120]}"
        for e in (details or [])[:4]
    )


def _template(path: str) -> str:
    parts = path.split("/")
    return "/".join("{id}" if "_" in p or p.startswith("alt:") else p for p in parts)


@pytest.fixture(scope="module")
def front() -> Iterator[FrontSim]:
    with front_backend() as handle:
        yield handle


async def test_every_request_and_response_of_a_sync_and_every_write_matches_the_spec(
    front: FrontSim, tmp_path
) -> None:
    checked = SpecChecked(httpx.AsyncHTTPTransport(), _openapi(front.settings.base_url))
    connector = FrontConnector(front.settings, front.token, policy=FAST, transport=checked)
    store = Store.open(tmp_path / "cache.db")
    try:
        engine = SyncEngine(store, {"fr": connector})
        first = await engine.sync_account("fr")
        assert first.ok, first.error
        cid = store.conn.execute(
            "SELECT external_id FROM conversations WHERE status = 'open' ORDER BY id LIMIT 1"
        ).fetchone()[0]
        state = await connector.fetch_state(cid)
        teams = [t[0] for t in store.conn.execute("SELECT external_id FROM teams")]
        others = [a[0] for a in store.conn.execute("SELECT external_id FROM agents")]
        writes: list[tuple[MutationAction, dict[str, object]]] = [
            ("reply", {"text": "Spec-checked reply"}),
            ("note", {"text": "Spec-checked note"}),
            ("status", {"status": "pending"}),
            ("tags", {"add": ["spec_new"], "remove": []}),
            ("tags", {"add": [], "remove": ["spec_new"]}),
            ("assign", {"agent_external_id": others[-1]}),
            ("assign", {"unassign": True}),
            ("assign", {"team_external_id": teams[-1]}),
            ("snooze", {"until": "2030-01-01T09:00:00Z"}),
            ("snooze", {"until": None}),
            ("status", {"status": "solved"}),
        ]
        for n, (action, payload) in enumerate(writes):
            request = MutationRequest(f"m{n}", action, cid, payload, state.version)
            await connector.apply(request, state)
            state = await connector.fetch_state(cid)
            assert await connector.find_sent(request) is not None or action not in ("reply", "note")
        assert await connector.set_presence("busy") == "offline"
        front.add_customer_message(cid, "A new message for the event feed")
        again = await engine.sync_account("fr")
        assert again.ok, again.error
        history = [
            p
            async for p in connector.contact_history(
                str(store.conn.execute("SELECT external_id FROM contacts LIMIT 1").fetchone()[0])
            )
        ]
        assert history
    finally:
        await connector.aclose()
        store.close()
    assert checked.problems == []
    for endpoint in (
        "GET /me",
        "GET /teammates/{id}",
        "GET /teams",
        "GET /teammates",
        "GET /conversations",
        "GET /conversations/{id}/messages",
        "GET /conversations/{id}/comments",
        "GET /conversations/{id}/events",
        "GET /conversations/{id}/inboxes",
        "GET /contacts/{id}",
        "GET /events",
        "POST /conversations/{id}/messages",
        "GET /messages/{id}",
        "POST /conversations/{id}/comments",
        "PATCH /conversations/{id}",
        "GET /company/statuses",
        "POST /tags",
        "POST /conversations/{id}/tags",
        "DELETE /conversations/{id}/tags",
        "PUT /conversations/{id}/assignee",
        "PATCH /conversations/{id}/reminders",
        "GET /contacts/{id}/conversations",
        "PATCH /teammates/{id}",
    ):
        assert checked.checked[endpoint], f"{endpoint} was not exercised"


async def test_a_burst_on_one_conversation_is_waited_out_while_the_budget_has_room(
    front: FrontSim,
) -> None:
    connector = FrontConnector(front.settings, front.token, policy=FAST, transport=FaultTransport())
    control = f"{front.settings.base_url}/_sim/ratelimit"
    waits: list[RateLimitWait] = []
    async with httpx.AsyncClient() as sim:
        (await sim.post(control, json={"per_minute": 10_000})).raise_for_status()
        try:
            with report_waits_to(waits.append):
                states = [await connector.fetch_state("cnv_1") for _ in range(4)]
        finally:
            await sim.post(control, json={"per_minute": None})
            await connector.aclose()
    assert len({s.version for s in states}) == 1
    assert waits and {w.reason for w in waits} == {"429"} and all(w.seconds == 1 for w in waits)


async def test_a_token_that_works_for_someone_else_names_the_email_to_use(front: FrontSim) -> None:
    settings = dataclasses.replace(front.settings, user="nobody@example.com")
    connector = FrontConnector(settings, front.token, policy=FAST)
    try:
        with pytest.raises(AuthError) as info:
            await connector.whoami()
    finally:
        await connector.aclose()
    message = str(info.value)
    assert "nobody@example.com" in message and "\n" not in message and front.token not in message


@pytest.mark.parametrize(
    ("category", "status", "snoozed", "ours"),
    [
        ("open", "assigned", False, "open"),
        ("waiting", "assigned", False, "pending"),
        ("resolved", "archived", False, "solved"),
        ("waiting", "unassigned", True, "on_hold"),
        (None, "archived", False, "solved"),
        (None, "deleted", False, "closed"),
        (None, "unassigned", False, "open"),
        ("resolved", "archived", True, "solved"),
    ],
)
def test_fronts_statuses_map_to_ours(category, status, snoozed, ours) -> None:
    assert map_status(category, status, snoozed) == ours


def test_fronts_message_types_map_to_our_channels() -> None:
    expected = {
        "email": "email",
        "front_chat": "chat",
        "sms": "sms",
        "whatsapp": "social",
        "tweet": "social",
        "facebook": "social",
        "call": "voice",
        "custom": "web",
    }
    assert {kind: map_channel(kind) for kind in expected} == expected
    assert map_channel(None) == "email"


async def test_a_quiet_round_reads_the_feed_again_but_no_thread_it_already_has(
    front: FrontSim, tmp_path
) -> None:
    checked = SpecChecked(httpx.AsyncHTTPTransport(), _openapi(front.settings.base_url))
    connector = FrontConnector(front.settings, front.token, policy=FAST, transport=checked)
    store = Store.open(tmp_path / "cache.db")
    try:
        engine = SyncEngine(store, {"fr": connector})
        assert (await engine.sync_account("fr")).ok
        cid = store.conn.execute(
            "SELECT external_id FROM conversations WHERE status = 'open' ORDER BY id LIMIT 1"
        ).fetchone()[0]
        front.change_as_colleague(cid, add_tags=("recent",))  # an event inside the overlap
        changed = await engine.sync_account("fr")
        checked.checked.clear()
        quiet = await engine.sync_account("fr")
    finally:
        await connector.aclose()
        store.close()
    assert changed.ok and changed.conversations == 1
    assert quiet.ok and quiet.conversations == 0
    assert checked.checked["GET /events"] >= 1  # the overlap is read again...
    assert checked.checked["GET /conversations/{id}/messages"] == 0  # ...but nothing refetched


async def test_my_presence_set_busy_is_front_unavailable_and_comes_back_offline(
    front: FrontSim, tmp_path
) -> None:
    store = Store.open(tmp_path / "cache.db")
    connector = FrontConnector(front.settings, front.token, policy=FAST)
    engine = SyncEngine(store, {"fr": connector})
    me = f"{front.settings.base_url}/teammates/alt:email:{front.settings.user}"
    headers = {"Authorization": f"Bearer {front.token}"}
    try:
        assert (await engine.sync_account("fr")).ok
        for wanted, served, shown in (("online", True, "online"), ("busy", False, "offline")):
            store.set_my_presence("fr", wanted)
            result = await engine.sync_account("fr")
            assert result.ok, result.error
            async with httpx.AsyncClient(headers=headers) as api:
                assert (await api.get(me)).json()["is_available"] is served
            (mine,) = store.my_presence("fr")
            assert mine.state == "synced" and mine.presence == shown
    finally:
        await connector.aclose()
        store.close()
