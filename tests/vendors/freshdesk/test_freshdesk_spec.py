"""Freshdesk's dialect and connector checked against `shared/specs/freshdesk-rest-api-openapi.yml`.

Every request the connector sends in a full sync, a whoami and every write, and every response
the dialect gives it, is validated with openapi-core. The spec is a community OpenAPI file, not
Freshdesk's own; where it disagrees with Freshdesk's API documentation
(https://developers.freshdesk.com/api/) the docs win, and the spec is corrected in memory here
(`_corrected`), one documented fix each:

* `openapi: 3.1.0`, yet nullability is written OAS 3.0-style (`nullable: true`), which 3.1
  ignores: every such schema is read as `type: [T, "null"]` (Freshdesk sends `null` for unset
  fields such as `support_email`, `group_id`, `responder_id`).
* Ticket `status` lists only 2–5; Freshdesk's default helpdesk also has 6 "Waiting on
  Customer" and 7 "Waiting on Third Party" (custom statuses are numbered from 6).
* Ticket `source` lists 1, 2, 3, 7, 9, 10; the docs also have 5 Twitter and 6 Facebook (and
  8 Mobihelp, 11 Ecommerce, 12 Bot, 13 WhatsApp).
* `Contact.email` is a non-null string; the docs make email optional (a contact may have only
  a phone, mobile or twitter_id), and Freshdesk then sends `null`.
* `SatisfactionRating` has one integer `rating`; Freshdesk sends a `ratings` object (question
  id → score, `default_question` first), which the connector reads.
* `GET /tickets` `include` is a single enum value; the docs embed several at once, comma
  separated (`include=requester,stats`, each costing a credit): read as a comma list.
* `GET /agents/me` (the signed-in agent, documented as "View Me") is missing: it would match
  `/agents/{agent_id}` with a non-integer id. It is added with the Agent response.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import httpx
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from agentdesk.model import MutationRequest
from agentdesk.store import Store
from agentdesk.sync import SyncEngine
from tests.vendors.freshdesk.conftest import FreshdeskSim

SPEC = Path("/work/shared/specs/freshdesk-rest-api-openapi.yml")
if not SPEC.exists():  # the specs live beside the checkout
    SPEC = Path(__file__).resolve().parents[4] / "shared" / "specs" / SPEC.name
HOST = "https://acme.freshdesk.com"  # the spec's server is https://{domain}.freshdesk.com/api/v2


def _nullable_as_31(node: object) -> None:
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        for value in node.values():
            _nullable_as_31(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_as_31(value)


@cache
def _corrected() -> OpenAPI:
    spec = yaml.safe_load(SPEC.read_text())
    schemas = spec["components"]["schemas"]
    ticket = schemas["Ticket"]["properties"]
    for name in ("Ticket", "TicketCreate", "TicketUpdate"):
        status = schemas[name]["properties"].get("status", {})
        if "enum" in status:
            status["enum"] = sorted({*status["enum"], 6, 7})
    ticket["source"]["enum"] = sorted({*ticket["source"]["enum"], 5, 6, 8, 11, 12, 13})
    schemas["Contact"]["properties"]["email"]["nullable"] = True
    schemas["SatisfactionRating"]["properties"]["ratings"] = {
        "type": "object", "additionalProperties": {"type": "integer"},
    }  # fmt: skip
    for parameter in spec["paths"]["/tickets"]["get"]["parameters"]:
        if parameter.get("name") == "include":
            names = "|".join(parameter["schema"].pop("enum"))
            parameter["schema"]["pattern"] = f"^({names})(,({names}))*$"
    me = copy.deepcopy(spec["paths"]["/agents/{agent_id}"]["get"])
    me.pop("parameters", None)
    me["operationId"] = "viewMe"
    spec["paths"] = {"/agents/me": {"get": me}, **spec["paths"]}  # before /agents/{agent_id}
    _nullable_as_31(spec)
    return OpenAPI.from_dict(spec)


class _Recorder(httpx.AsyncHTTPTransport):
    """The real loopback transport, keeping every exchange for validation afterwards."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        await response.aread()
        self.exchanges.append((request, response))
        return response


def _problems(openapi: OpenAPI, request: httpx.Request, response: httpx.Response) -> list[str]:
    where = f"{request.method} {request.url.path}"
    mock = MockRequest(
        HOST, request.method.lower(), request.url.path,
        args=dict(request.url.params.multi_items()),
        data=request.content.decode() if request.content else None,
        headers={"authorization": "Basic eDpY"}, content_type="application/json",
    )  # fmt: skip
    out = []
    try:
        openapi.validate_request(mock)
    except Exception as problem:  # noqa: BLE001 - openapi-core raises many kinds; report all
        out.append(f"request {where}: {_why(problem)}")
    answer = MockResponse(response.content, status_code=response.status_code,
                          content_type="application/json")  # fmt: skip
    try:
        openapi.validate_response(mock, answer)
    except Exception as problem:  # noqa: BLE001
        out.append(f"response {where}: {_why(problem)}")
    return out


def _why(problem: Exception) -> str:
    errors = getattr(problem.__cause__, "schema_errors", None) or []
    return "; ".join(str(e).split("\n", 1)[0] for e in errors[:2]) or str(problem)[:200]


async def test_connector_requests_and_dialect_responses_validate_against_freshdesks_spec(
    tmp_path, fd_sim: FreshdeskSim
):
    recorder = _Recorder()
    connector = fd_sim.connector(transport=recorder)
    store = Store.open(tmp_path / "c.db")
    store.upsert_account("fd", "freshdesk", fd_sim.base_url, fd_sim.user)
    ticket = next(t for t in fd_sim.world.tickets.values() if t.status == "open")
    other = next(a for a in fd_sim.world.agent_ids if a != ticket.assignee_id)
    group = next(g for g in sorted(fd_sim.world.groups) if g != ticket.group_id)
    try:
        result = await SyncEngine(store, {"fd": connector}).sync_account("fd")
        assert result.ok, result.error
        writes = [
            ("reply", {"text": "On its way <b>today</b> & tracked"}),
            ("note", {"text": "carrier delayed"}),
            ("status", {"status": "pending"}),
            ("priority", {"priority": "urgent"}),
            ("tags", {"add": ["vip"], "remove": list(ticket.tags[:1])}),
            ("assign", {"agent_external_id": str(other)}),
            ("assign", {"team_external_id": str(group)}),
        ]
        for n, (action, payload) in enumerate(writes):
            state = await connector.fetch_state(str(ticket.id))
            request = MutationRequest(f"m-{n}", action, str(ticket.id), payload, state.version)  # type: ignore[arg-type]
            await connector.apply(request, state)
        await connector.find_sent(MutationRequest("m-0", "reply", str(ticket.id),
                                                  writes[0][1], state.version))  # fmt: skip
    finally:
        await connector.aclose()
        store.close()
    openapi = _corrected()
    seen = {(r.method, r.url.path.split("/")[3]) for r, _ in recorder.exchanges}
    assert {("GET", "tickets"), ("PUT", "tickets"), ("POST", "tickets"), ("GET", "contacts"),
            ("GET", "agents"), ("GET", "groups"), ("GET", "surveys")} <= seen  # fmt: skip
    bodies = [json.loads(r.content) for r, _ in recorder.exchanges if r.method != "GET"]
    assert {"body": "<p>On its way &lt;b&gt;today&lt;/b&gt; &amp; tracked</p>"} in bodies
    problems = sorted(
        {
            p
            for request, response in recorder.exchanges
            for p in _problems(openapi, request, response)
        }
    )
    assert problems == [], "\n".join(problems)


def test_the_known_disagreements_are_still_in_the_spec():
    """If the spec is fixed upstream, drop the matching correction (and its docstring line)."""
    spec = yaml.safe_load(SPEC.read_text())
    schemas = spec["components"]["schemas"]
    assert spec["openapi"].startswith("3.1") and "nullable" in SPEC.read_text()
    assert schemas["Ticket"]["properties"]["status"]["enum"] == [2, 3, 4, 5]
    assert not {5, 6} & set(schemas["Ticket"]["properties"]["source"]["enum"])
    assert "nullable" not in schemas["Contact"]["properties"]["email"]
    assert "ratings" not in schemas["SatisfactionRating"]["properties"]
    assert "/agents/me" not in spec["paths"]


# ---------------------------------------------------------------- one world, two backends
async def test_a_customer_of_zendesk_and_freshdesk_is_one_person_with_both_histories(tmp_path):
    """Same seed, two helpdesks: people who wrote to both are one customer in the panel."""
    from agentdesk.connectors.base import AccountSettings
    from agentdesk.connectors.freshdesk import FreshdeskConnector
    from agentdesk.connectors.zendesk import ZendeskConnector
    from agentdesk.sim.server import start_in_thread

    seed, scale = 5, 150  # enough conversations on each side that some people wrote to both
    with (
        start_in_thread(dialect="zendesk", seed=seed, scale=scale) as zd,
        start_in_thread(dialect="freshdesk", seed=seed, scale=scale) as fd,
    ):
        store = Store.open(tmp_path / "two.db")
        zconn = ZendeskConnector(AccountSettings("acme", "zendesk", zd.base_url, zd.user), zd.token)
        fconn = FreshdeskConnector(
            AccountSettings("desk", "freshdesk", fd.base_url, fd.user), fd.token
        )
        try:
            store.upsert_account("acme", "zendesk", zd.base_url, zd.user)
            store.upsert_account("desk", "freshdesk", fd.base_url, fd.user)
            results = await SyncEngine(store, {"acme": zconn, "desk": fconn}).sync_all()
            assert all(r.ok for r in results), [r.error for r in results]
            rows = store.conn.execute(
                """SELECT c.customer_id FROM conversations c GROUP BY c.customer_id
                   HAVING count(DISTINCT c.account) = 2"""
            ).fetchall()
            assert rows, "no customer has conversations on both helpdesks"
            person = rows[0][0]
            detail = store.customer(person)
            history = store.customer_history(person)
        finally:
            await zconn.aclose()
            await fconn.aclose()
            store.close()
    assert detail is not None
    assert {i.account for i in detail.identities} == {"acme", "desk"}
    assert {h.account for h in history} == {"acme", "desk"}
    assert detail.conversation_count == len(history)
    assert [h.created_at for h in history] == sorted((h.created_at for h in history), reverse=True)
