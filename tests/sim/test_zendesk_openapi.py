"""The Zendesk dialect's responses validate against Zendesk's own OpenAPI document.

The vendor document is strict in places where Zendesk itself sends `null` (an unassigned
ticket's `assignee_id`, an unset `priority`, a phone-only user's `email`...); its own examples
carry such nulls (`group_id`, `organization_id`, `external_id`, `phone`). Those few properties
are marked nullable below, by name, so that everything else is checked as published.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from agentdesk.sim.server import SimHandle
from tests.sim.conftest import client_for

SPEC = Path("/work/shared/specs/zendesk-ticketing-oas.json")

# Properties Zendesk sends as null although the document omits `nullable: true`.
NULLABLE = {
    "TicketObject": ("assignee_id", "group_id", "organization_id", "priority", "type",
                     "external_id", "problem_id", "forum_topic_id", "recipient"),
    "UserForAdmin": ("email", "default_group_id", "signature", "last_login_at"),
}  # fmt: skip


@cache
def _raw_spec() -> dict[str, Any]:
    return json.loads(SPEC.read_text(encoding="utf-8"))


def _openapi(base_url: str) -> OpenAPI:
    spec = copy.deepcopy(_raw_spec())
    spec["servers"] = [{"url": base_url}]
    schemas = spec["components"]["schemas"]
    for schema, names in NULLABLE.items():
        for name in names:
            prop = schemas[schema]["properties"][name]
            prop["nullable"] = True
            if "enum" in prop:  # a nullable enum must list null among its values
                prop["enum"] = [*prop["enum"], None]
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


class _Request:
    """openapi-core's request protocol over an httpx request (paths without `.json`)."""

    def __init__(self, request: httpx.Request) -> None:
        self._request = request
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(request.url.params.multi_items()),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        url = self._request.url
        return f"{url.scheme}://{url.netloc.decode()}"

    @property
    def path(self) -> str:
        return self._request.url.path.removesuffix(".json")

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._request.content or None

    @property
    def content_type(self) -> str:
        return self._request.headers.get("content-type", "application/octet-stream")


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def content_type(self) -> str:
        return self._response.headers.get("content-type", "").lower()

    @property
    def headers(self) -> Headers:
        return Headers(list(self._response.headers.items()))

    @property
    def data(self) -> bytes:
        return self._response.content


@pytest.fixture(scope="module")
def checked(sim: SimHandle) -> Iterator[tuple[httpx.Client, OpenAPI]]:
    with client_for(sim) as client:
        yield client, _openapi(sim.base_url)


def _validate(checked: tuple[httpx.Client, OpenAPI], url: str, **params: Any) -> dict[str, Any]:
    client, openapi = checked
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    openapi.validate_response(_Request(response.request), _Response(response))
    return response.json()


def test_incremental_export_matches_the_spec(checked: tuple[httpx.Client, OpenAPI]) -> None:
    body = _validate(
        checked,
        "/api/v2/incremental/tickets/cursor.json",
        start_time=0,
        per_page=200,
        include="users,groups",
    )
    assert len(body["tickets"]) == 200


def test_ticket_endpoints_match_the_spec(
    sim: SimHandle, checked: tuple[httpx.Client, OpenAPI]
) -> None:
    _validate(checked, "/api/v2/tickets.json", **{"page[size]": 100})
    _validate(checked, "/api/v2/tickets.json", per_page=100, page=3)
    # one ticket of each channel, and its comments (voice comments, attachments, notes)
    by_channel = {t.channel: t for t in sim.world.tickets.values()}
    for ticket in by_channel.values():
        _validate(checked, f"/api/v2/tickets/{ticket.id}.json")
        _validate(checked, f"/api/v2/tickets/{ticket.id}/comments.json", include="users")
    _validate(checked, "/api/v2/tickets/show_many.json", ids="1,2,3")


def test_comments_with_attachments_match_the_spec(
    sim: SimHandle, checked: tuple[httpx.Client, OpenAPI]
) -> None:
    for ticket in list(sim.world.tickets.values())[:300]:
        if any(c.attachments for c in sim.world.comments(ticket)):
            _validate(checked, f"/api/v2/tickets/{ticket.id}/comments.json")
            return
    pytest.fail("no attachments in the first 300 tickets")


def test_people_endpoints_match_the_spec(
    sim: SimHandle, checked: tuple[httpx.Client, OpenAPI]
) -> None:
    _validate(checked, "/api/v2/users/me.json")
    _validate(checked, "/api/v2/users.json", **{"page[size]": 100})
    _validate(checked, "/api/v2/users.json", role="end-user", per_page=100)
    twin = next(u for u in sim.world.users.values() if u.role == "end-user" and not u.email)
    _validate(checked, f"/api/v2/users/{twin.id}.json")
    _validate(checked, "/api/v2/users/show_many.json", ids=f"{twin.id},{sim.world.agent_ids[0]}")
    _validate(checked, "/api/v2/groups.json")
    _validate(checked, "/api/v2/group_memberships.json")


def test_search_matches_the_spec(checked: tuple[httpx.Client, OpenAPI]) -> None:
    body = _validate(
        checked,
        "/api/v2/search.json",
        query="type:ticket updated>2025-01-01T00:00:00Z",
        sort_by="updated_at",
        sort_order="asc",
    )
    assert body["results"]


def _validate_write(
    checked: tuple[httpx.Client, OpenAPI], method: str, url: str, body: dict[str, Any], status: int
) -> dict[str, Any]:
    client, openapi = checked
    response = client.request(method, url, json=body)
    assert response.status_code == status, response.text
    openapi.validate_response(_Request(response.request), _Response(response))
    return response.json()


def test_writes_match_the_spec(sim: SimHandle, checked: tuple[httpx.Client, OpenAPI]) -> None:
    ticket = next(t for t in sim.world.tickets.values() if t.status == "open")
    path = f"/api/v2/tickets/{ticket.id}"
    update = {"ticket": {"priority": "high", "comment": {"body": "On it", "public": True}}}
    body = _validate_write(checked, "PUT", f"{path}.json", update, 200)
    assert body["ticket"]["priority"] == "high"
    _validate_write(checked, "PUT", f"{path}/tags.json", {"tags": ["spec"]}, 200)
    _validate_write(checked, "POST", f"{path}/tags.json", {"tags": ["only"]}, 201)
