"""Every request the Intercom connector sends, and every response it parses, validates against
Intercom's own OpenAPI document (2.16), while it syncs and writes against the simulator.

One correction, applied by `_nullable_refs` to the whole document: 21 properties say
`nullable: true` beside a `$ref` (or an `allOf` of one), e.g. a part's `assigned_to`, a
tag's `applied_by`, a conversation's `conversation_rating`. OpenAPI 3.0 ignores every
sibling of a `$ref`, so as published they refuse the `null` that Intercom sends and that the
document's own examples show (`assigned_to:` empty, `conversation_rating:` empty in the
`/conversations` examples). The examples and Intercom's API reference win: the referenced
schema is inlined there with `nullable: true` kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import Config, OpenAPI

from agentdesk.connectors.base import AccountSettings
from agentdesk.connectors.http import HttpPolicy
from agentdesk.connectors.intercom import IntercomConnector
from agentdesk.model import MutationRequest
from agentdesk.sim.server import SimHandle, start_in_thread
from agentdesk.store import Store
from agentdesk.sync.engine import SyncEngine
from tests.sim.test_zendesk_openapi import _Request, _Response

SPEC = Path("/work/shared/specs/intercom-2.16.yaml")
FAST = HttpPolicy(max_attempts=1)


@cache
def _raw_spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(SPEC.read_text(encoding="utf-8"), Loader=loader)


def _nullable_refs(node: Any, schemas: dict[str, Any]) -> Any:
    """A copy of `node` where `{nullable: true, $ref | allOf: [$ref]}` is the referenced
    schema itself, nullable (see the module docstring)."""
    if isinstance(node, list):
        return [_nullable_refs(item, schemas) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("nullable") is True:
        refs = [node] if "$ref" in node else node.get("allOf") or []
        if len(refs) == 1 and "$ref" in refs[0]:
            target = schemas[refs[0]["$ref"].rsplit("/", 1)[-1]]
            extra = {k: v for k, v in node.items() if k not in ("$ref", "allOf", "type")}
            return {**_nullable_refs(target, schemas), **extra, "nullable": True}
    return {key: _nullable_refs(value, schemas) for key, value in node.items()}


def openapi_for(base_url: str) -> OpenAPI:
    raw = _raw_spec()
    spec = _nullable_refs(raw, raw["components"]["schemas"])
    spec["servers"] = [{"url": base_url}]
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def _explain(exc: BaseException) -> str:
    """openapi-core's nested schema errors as `path: message` lines (the leaves only)."""
    found: list[str] = []

    def walk(error: Any) -> None:
        context = getattr(error, "context", None)
        if context:
            for child in context:
                walk(child)
            return
        path = "/".join(str(x) for x in getattr(error, "absolute_path", ()))
        found.append(f"{path}: {getattr(error, 'message', error)}"[:200])

    for error in getattr(exc.__cause__, "schema_errors", None) or [exc.__cause__ or exc]:
        walk(error)
    return f"{type(exc).__name__}: " + "; ".join(sorted(set(found)))


class ValidatingTransport(httpx.AsyncBaseTransport):
    """Forwards to the simulator and checks each exchange against the spec; collects what
    fails (a test asserts the list is empty, naming every mismatch)."""

    def __init__(self, openapi: OpenAPI) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.openapi = openapi
        self.problems: list[str] = []
        self.checked: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        response = httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )
        where = f"{request.method} {request.url.path}"
        self.checked.append(where)
        try:
            self.openapi.validate_request(_Request(request))
        except Exception as exc:  # noqa: BLE001 - collected, reported by the test
            self.problems.append(f"request {where}: {_explain(exc)}")
        if response.status_code < 300:
            try:
                self.openapi.validate_response(_Request(request), _Response(response))
            except Exception as exc:  # noqa: BLE001
                self.problems.append(f"response {where}: {_explain(exc)}")
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_in_thread("intercom", seed=5, scale=40) as handle:
        yield handle


@pytest.fixture
def checked(sim: SimHandle) -> Iterator[tuple[IntercomConnector, ValidatingTransport]]:
    transport = ValidatingTransport(openapi_for(sim.base_url))
    settings = AccountSettings("ic", "intercom", sim.base_url, sim.user, history_batch=5)
    yield IntercomConnector(settings, sim.token, policy=FAST, transport=transport), transport


async def test_a_full_sync_sends_and_parses_only_what_the_spec_describes(checked, tmp_path):
    connector, transport = checked
    store = Store.open(tmp_path / "cache.db")
    try:
        result = await SyncEngine(store, {"ic": connector}).sync_account("ic")
    finally:
        store.close()
        await connector.aclose()
    assert result.ok, result.error
    assert result.conversations > 0 and result.histories > 0 and result.backlog > 0
    paths = {p.split(" ", 1)[1].rsplit("/", 1)[0] for p in transport.checked}
    assert {"/conversations", "/contacts"} <= paths
    assert transport.problems == []


async def test_every_write_body_matches_the_spec(checked, sim: SimHandle):
    connector, transport = checked
    ticket = next(t for t in sim.world.tickets.values() if t.status == "open")
    cid = str(ticket.id)
    other = next(a for a in sim.world.agent_ids if a != ticket.assignee_id
                 and not sim.world.users[a].is_bot)  # fmt: skip
    team = next(g for g in sim.world.groups if g != ticket.group_id)
    removed = ticket.tags[:1]
    writes = [
        ("reply", {"text": "On its way <b>today</b>"}),
        ("note", {"text": "Carrier says delayed"}),
        ("tags", {"add": ["spec_check"], "remove": removed}),
        ("assign", {"agent_external_id": str(other)}),
        ("assign", {"team_external_id": str(team)}),
        ("assign", {"unassign": True}),
        ("snooze", {"until": "2030-01-01T09:00:00Z"}),
        ("status", {"status": "solved"}),
        ("status", {"status": "open"}),
    ]
    try:
        for n, (action, payload) in enumerate(writes):
            state = await connector.fetch_state(cid)
            request = MutationRequest(f"m-{n}", action, cid, payload, state.version)  # type: ignore[arg-type]
            await connector.apply(request, state)
        assert await connector.set_presence("busy") == "busy"
    finally:
        await connector.aclose()
    assert transport.problems == []
    assert f"POST /conversations/{cid}/parts" in transport.checked
    assert any(p.startswith("DELETE ") for p in transport.checked) == bool(removed)
