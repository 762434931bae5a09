"""The simulator's Help Scout dialect speaks the Mailbox API 2.0 as Help Scout documents it.

Based on developer.helpscout.com/mailbox-api: authentication (client credentials, form fields,
`expires_in`), endpoints/conversations/list (HAL paging, `modifiedSince`, `sortField`),
endpoints/conversations/update (one JSON-patch operation, 204), threads/reply and notes
(201 + `Resource-ID`), tags/update (PUT replaces, 204), overview/errors (vnd.error bodies),
overview/rate-limiting (429 + `X-RateLimit-Retry-After`, writes count double).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from agentdesk.sim.server import SimHandle, start_in_thread
from tests.sim.conftest import NOW


@pytest.fixture(scope="module")
def hs() -> Iterator[SimHandle]:
    with start_in_thread("helpscout", seed=5, scale=70, now=NOW) as handle:
        yield handle


def token_for(hs: SimHandle) -> str:
    response = httpx.post(
        f"{hs.base_url}/v2/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": hs.user, "client_secret": hs.token},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 172_800
    return body["access_token"]


@pytest.fixture
def api(hs: SimHandle) -> Iterator[httpx.Client]:  # a fresh token: tests expire them
    with httpx.Client(
        base_url=hs.base_url, headers={"Authorization": f"Bearer {token_for(hs)}"}, timeout=10
    ) as client:
        yield client


def test_the_token_endpoint_takes_form_fields_and_refuses_a_wrong_secret(hs):
    url = f"{hs.base_url}/v2/oauth2/token"
    as_json = httpx.post(url, json={"grant_type": "client_credentials", "client_id": hs.user,
                                    "client_secret": hs.token})  # fmt: skip
    assert as_json.status_code == 400
    wrong = httpx.post(url, data={"grant_type": "client_credentials", "client_id": hs.user,
                                  "client_secret": "nope"})  # fmt: skip
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    anonymous = httpx.get(f"{hs.base_url}/v2/users/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/vnd.error+json")
    assert "logRef" in anonymous.json()


def test_conversations_page_in_hal_with_next_links_until_the_last_page(api):
    seen: list[int] = []
    url: str | None = "/v2/conversations?status=all&sortField=modifiedAt&sortOrder=asc"
    while url:
        body = api.get(url).json()
        items = body["_embedded"]["conversations"]
        assert len(items) <= 25 and body["page"]["totalElements"] == 70
        seen.extend(c["id"] for c in items)
        url = body["_links"].get("next", {}).get("href")
    assert len(seen) == len(set(seen)) == 70
    stamps = [c["userUpdatedAt"] for c in api.get("/v2/conversations?status=all&sortField="
                                                  "modifiedAt&sortOrder=asc").json()
              ["_embedded"]["conversations"]]  # fmt: skip
    assert stamps == sorted(stamps)
    empty = api.get("/v2/conversations?status=all&page=9").json()
    assert "_embedded" not in empty and "next" not in empty["_links"]


def test_modified_since_keeps_only_conversations_modified_after_the_moment(api):
    items = api.get("/v2/conversations?status=all&sortField=modifiedAt&sortOrder=desc").json()
    newest = items["_embedded"]["conversations"][0]
    after = api.get(
        "/v2/conversations", params={"status": "all", "modifiedSince": newest["userUpdatedAt"]}
    ).json()
    assert "_embedded" not in after  # strictly after: the newest itself is not repeated
    bad = api.get("/v2/conversations", params={"modifiedSince": "yesterday"})
    assert bad.status_code == 400
    assert bad.json()["_embedded"]["errors"][0]["path"] == "modifiedSince"


def test_a_reply_is_created_with_its_id_in_resource_id_and_listed_first(api):
    c = api.get("/v2/conversations?status=active").json()["_embedded"]["conversations"][0]
    created = api.post(f"/v2/conversations/{c['id']}/reply",
                       json={"customer": {"id": c["primaryCustomer"]["id"]},
                             "text": "<p>On its way</p>"})  # fmt: skip
    assert created.status_code == 201 and created.content == b""
    thread_id = int(created.headers["Resource-ID"])
    threads = api.get(f"/v2/conversations/{c['id']}/threads").json()["_embedded"]["threads"]
    assert threads[0]["id"] == thread_id and threads[0]["type"] == "message"
    without_customer = api.post(f"/v2/conversations/{c['id']}/reply", json={"text": "Hi"})
    assert without_customer.status_code == 400
    note = api.post(f"/v2/conversations/{c['id']}/notes", json={"text": "internal"})
    assert note.status_code == 201
    assert api.get(f"/v2/conversations/{c['id']}/threads").json()["_embedded"]["threads"][0][
        "type"] == "note"  # fmt: skip


def test_one_json_patch_operation_changes_status_assignee_and_mailbox(api, hs):
    c = api.get("/v2/conversations?status=active").json()["_embedded"]["conversations"][1]
    path = f"/v2/conversations/{c['id']}"
    users = api.get("/v2/users").json()["_embedded"]["users"]
    mailboxes = api.get("/v2/mailboxes").json()["_embedded"]["mailboxes"]
    other = next(m["id"] for m in mailboxes if m["id"] != c["mailboxId"])
    for operation in ({"op": "replace", "path": "/status", "value": "pending"},
                      {"op": "replace", "path": "/assignTo", "value": users[1]["id"]},
                      {"op": "move", "path": "/mailboxId", "value": other}):  # fmt: skip
        assert api.patch(path, json=operation).status_code == 204
    after = api.get(path).json()
    assert (after["status"], after["assignee"]["id"], after["mailboxId"]) == (
        "pending", users[1]["id"], other)  # fmt: skip
    assert api.patch(path, json={"op": "remove", "path": "/assignTo"}).status_code == 204
    assert "assignee" not in api.get(path).json()
    refused = api.patch(path, json={"op": "replace", "path": "/priority", "value": "high"})
    assert refused.status_code == 400 and refused.json()["_embedded"]["errors"]
    assert api.put(f"{path}/tags", json={"tags": ["vip", "Refund"]}).status_code == 204
    assert [t["tag"] for t in api.get(path).json()["tags"]] == ["vip", "refund"]


def test_customers_carry_emails_and_phones_in_embedded(api):
    c = api.get("/v2/conversations?status=all").json()["_embedded"]["conversations"][0]
    customer = api.get(f"/v2/customers/{c['primaryCustomer']['id']}").json()
    assert customer["_embedded"]["emails"][0]["value"] == c["primaryCustomer"]["email"]
    assert api.get("/v2/customers/1").status_code == 404


def test_rate_limit_answers_in_help_scouts_style_and_writes_count_double(hs, api):
    c = api.get("/v2/conversations?status=all").json()["_embedded"]["conversations"][0]
    httpx.post(f"{hs.base_url}/_sim/clock", json={"freeze": True})
    httpx.post(f"{hs.base_url}/_sim/ratelimit", json={"per_minute": 3})
    try:
        first = api.get("/v2/users/me")
        assert first.headers["X-RateLimit-Limit-Minute"] == "3"
        assert first.headers["X-RateLimit-Remaining-Minute"] == "2"
        write = api.put(f"/v2/conversations/{c['id']}/tags", json={"tags": ["x"]})
        assert write.status_code == 204 and write.headers["X-RateLimit-Remaining-Minute"] == "0"
        throttled = api.get("/v2/users/me")
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["X-RateLimit-Retry-After"]) <= 60
        assert "retry-after" not in throttled.headers
    finally:
        httpx.post(f"{hs.base_url}/_sim/ratelimit", json={"per_minute": None})
        httpx.post(f"{hs.base_url}/_sim/clock", json={"freeze": False})


def test_the_control_api_expires_tokens_now_or_every_n_requests(hs):
    with httpx.Client(base_url=hs.base_url, timeout=10) as client:
        bearer = {"Authorization": f"Bearer {token_for(hs)}"}
        assert client.get("/v2/users/me", headers=bearer).status_code == 200
        client.post("/_sim/tokens", json={"expire_now": True})
        assert client.get("/v2/users/me", headers=bearer).status_code == 401
        client.post("/_sim/tokens", json={"expire_every_requests": 2})
        try:
            bearer = {"Authorization": f"Bearer {token_for(hs)}"}
            codes = [client.get("/v2/users/me", headers=bearer).status_code for _ in range(2)]
            assert codes == [200, 401]
        finally:
            state = client.post("/_sim/tokens", json={"expire_every_requests": None}).json()
        assert state["expired_rejections"] >= 2
        refused = client.post("/_sim/tokens", json={"expire_every_requests": 0})
        assert refused.status_code == 400


def test_a_snooze_shows_on_the_conversation_until_the_customer_replies(hs, api):
    c = api.get("/v2/conversations?status=active").json()["_embedded"]["conversations"][2]
    path = f"/v2/conversations/{c['id']}"
    past = api.put(f"{path}/snooze", json={"snoozedUntil": "2001-01-01T00:00:00Z",
                                           "unsnoozeOnCustomerReply": True})  # fmt: skip
    assert past.status_code == 400
    snoozed = api.put(f"{path}/snooze", json={"snoozedUntil": "2030-01-01T09:00:00Z",
                                              "unsnoozeOnCustomerReply": True})  # fmt: skip
    assert snoozed.status_code == 204
    assert api.get(path).json()["snooze"]["snoozedUntil"] == "2030-01-01T09:00:00Z"
    customer = c["primaryCustomer"]
    httpx.post(f"{hs.base_url}/_sim/inbound", json={
        "conversation_id": c["id"], "customer_email": customer["email"], "text": "any news?",
    }).raise_for_status()  # fmt: skip
    assert "snooze" not in api.get(path).json()
    assert api.delete(f"{path}/snooze").status_code == 204
