"""The shared HTTP policy: retries, Retry-After, rate-limit budget, typed human errors."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from agentdesk.connectors.base import (
    AccountSettings,
    BackendError,
    ConflictError,
    ConnectorError,
    Invalid,
    MalformedResponse,
    PermissionDenied,
    RateLimited,
)
from agentdesk.connectors.http import (
    ApiClient,
    HttpPolicy,
    RateLimitWait,
    Unreachable,
    parse_retry_after,
    report_waits_to,
)

BASE = "https://acme.zendesk.com"
TOKEN = "tok-9f8e7d6c5b4a"
SETTINGS = AccountSettings(name="acme", connector="zendesk", base_url=BASE, user="agent@acme.com")
URL = f"{BASE}/api/v2/groups.json"


class Clock:
    """Records the pauses the policy takes instead of sleeping through them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(clock: Clock):
    api = ApiClient(
        SETTINGS,
        vendor="Zendesk",
        auth=httpx.BasicAuth("agent@acme.com/token", TOKEN),
        policy=HttpPolicy(backoff_base=0.5, backoff_max=4, max_attempts=4),
        sleep=clock.sleep,
    )
    yield api
    await api.aclose()


@respx.mock
async def test_429_with_retry_after_seconds_waits_that_long_then_succeeds(client, clock):
    respx.get(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json={"groups": []}),
        ]
    )
    seen: list[RateLimitWait] = []
    with report_waits_to(seen.append):
        assert await client.get_json(URL, action="list groups") == {"groups": []}
    assert clock.waits == [7.0]
    assert seen == [RateLimitWait("acme", 7.0, "429")]


@respx.mock
async def test_429_with_retry_after_http_date_is_honoured(client, clock):
    later = datetime.now(UTC) + timedelta(seconds=30)
    respx.get(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": format_datetime(later, usegmt=True)}),
            httpx.Response(200, json={}),
        ]
    )
    await client.get_json(URL, action="list groups")
    assert 27 <= clock.waits[0] <= 30


def test_retry_after_parsing():
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@respx.mock
async def test_429_with_ratelimit_reset_header_waits_for_the_reset(client, clock):
    respx.get(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"ratelimit-reset": "41"}),
            httpx.Response(200, json={}),
        ]
    )
    await client.get_json(URL, action="list groups")
    assert clock.waits == [41.0]


@respx.mock
async def test_bare_429_backs_off_exponentially_then_fails_as_rate_limited(client, clock):
    respx.get(URL).respond(429, text="Too Many Requests")
    with pytest.raises(RateLimited, match="rate-limiting account acme") as info:
        await client.get_json(URL, action="list groups")
    assert len(clock.waits) == 3 and all(w >= 1.0 for w in clock.waits)  # 4 attempts, 3 pauses
    assert info.value.retry_after is not None and TOKEN not in str(info.value)


@respx.mock
async def test_retry_after_longer_than_the_cap_fails_fast_with_the_wait(client, clock):
    respx.get(URL).respond(429, headers={"Retry-After": "3600"})
    with pytest.raises(RateLimited) as info:
        await client.get_json(URL, action="list groups")
    assert info.value.retry_after == 3600 and clock.waits == []


@respx.mock
async def test_500_is_retried_with_jittered_backoff_then_succeeds(client, clock):
    route = respx.get(URL).mock(
        side_effect=[
            httpx.Response(500),
            httpx.Response(503),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    assert await client.get_json(URL, action="list groups") == {"ok": True}
    assert route.call_count == 3
    assert 0 <= clock.waits[0] <= 0.5 and 0 <= clock.waits[1] <= 1.0


@respx.mock
async def test_persistent_5xx_is_a_backend_error_sentence(client):
    respx.get(URL).respond(502)
    with pytest.raises(BackendError, match=r"failed to list groups \(HTTP 502\)"):
        await client.get_json(URL, action="list groups")


@respx.mock
async def test_network_failure_is_unreachable_and_retried(client, clock):
    route = respx.get(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(Unreachable, match="cannot reach Zendesk at acme.zendesk.com") as info:
        await client.get_json(URL, action="list groups")
    assert route.call_count == 4 and info.value.transient


@respx.mock
async def test_post_without_idempotency_key_is_not_resent_after_a_lost_response(client):
    route = respx.post(URL).mock(side_effect=httpx.ReadTimeout("lost"))
    with pytest.raises(Unreachable):
        await client.request_json("POST", URL, json_body={}, action="post a reply")
    assert route.call_count == 1
    route.reset()
    with pytest.raises(Unreachable):
        await client.request_json(
            "POST", URL, json_body={}, headers={"Idempotency-Key": "u-1"}, action="post a reply"
        )
    assert route.call_count == 4


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (403, PermissionDenied, "does not allow agent@acme.com on account acme to list groups"),
        (409, ConflictError, "changed on the server"),
        (412, ConflictError, "changed on the server"),
        (400, Invalid, "as invalid"),
        (422, Invalid, "RecordInvalid"),
    ],
)
@respx.mock
async def test_client_errors_map_to_typed_errors(client, status, error, words):
    respx.get(URL).respond(status, json={"error": "RecordInvalid", "description": "Nope"})
    with pytest.raises(error, match=words) as info:
        await client.get_json(URL, action="list groups")
    assert TOKEN not in str(info.value)


@respx.mock
async def test_non_json_and_non_object_bodies_are_malformed(client):
    respx.get(URL).respond(200, text="<html>login</html>")
    with pytest.raises(MalformedResponse, match="not JSON"):
        await client.get_json(URL, action="list groups")
    respx.get(URL).respond(200, json=[1, 2])
    with pytest.raises(MalformedResponse, match="JSON list instead of an object"):
        await client.get_json(URL, action="list groups")


@respx.mock
async def test_low_remaining_budget_spreads_the_next_requests(client, clock):
    respx.get(URL).respond(
        200, json={}, headers={"X-Rate-Limit-Remaining": "1", "ratelimit-reset": "30"}
    )
    await client.get_json(URL, action="list groups")
    assert clock.waits == []
    await client.get_json(URL, action="list groups")
    assert len(clock.waits) == 1 and 14 < clock.waits[0] <= 15  # 30 s over 2 slots


@respx.mock
async def test_token_never_reaches_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    respx.get(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(401, json={"error": "Couldn't authenticate you"}),
        ]
    )
    with pytest.raises(ConnectorError):
        await client.get_json(URL, action="list groups")
    assert TOKEN not in caplog.text


def test_missing_ca_bundle_is_a_sentence_naming_the_setting(tmp_path):
    settings = AccountSettings(
        name="acme", connector="zendesk", base_url=BASE, user="u", ca_bundle=str(tmp_path / "x.pem")
    )
    with pytest.raises(ConnectorError, match="CA bundle .* account acme"):
        ApiClient(settings, vendor="Zendesk")


async def test_proxy_environment_is_honoured(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "")
    api = ApiClient(SETTINGS, vendor="Zendesk")
    try:
        transport = api._client._transport_for_url(httpx.URL(BASE + "/api/v2/groups.json"))
        assert transport._pool._proxy_url.host == b"proxy.internal"  # type: ignore[attr-defined]
    finally:
        await api.aclose()


def test_next_links_are_rebased_onto_the_account_host():
    api = ApiClient(SETTINGS, vendor="Zendesk")
    assert api.same_origin("https://evil.example/api/v2/x.json?page=2") == (
        f"{BASE}/api/v2/x.json?page=2"
    )
    assert api.same_origin("/api/v2/x.json") == f"{BASE}/api/v2/x.json"


@respx.mock
@pytest.mark.parametrize("wbits", [31, 15, -15], ids=["gzip", "zlib-deflate", "raw-deflate"])
async def test_a_compressed_answer_is_decoded_within_the_size_cap(client, wbits):
    import json
    import zlib

    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = packer.compress(json.dumps({"groups": ["ü"] * 1000}).encode()) + packer.flush()
    encoding = "gzip" if wbits == 31 else "deflate"
    respx.get(URL).respond(200, content=body, headers={"Content-Encoding": encoding})
    assert await client.get_json(URL, action="list groups") == {"groups": ["ü"] * 1000}

    class Corrupt(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield body[:20] + b"corrupt" + body[20:]

    headers = {"Content-Encoding": encoding}
    respx.get(URL).mock(return_value=httpx.Response(200, headers=headers, stream=Corrupt()))
    with pytest.raises(MalformedResponse, match="does not decompress"):
        await client.get_json(URL, action="list groups")


async def test_a_server_that_hangs_up_mid_answer_is_a_sentence_without_a_class_name(clock):
    import asyncio

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"gro")
        await writer.drain()
        writer.close()  # the answer stops short

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    api = ApiClient(
        AccountSettings(name="acme", connector="zendesk", base_url=base, user="a@acme.com"),
        vendor="Zendesk", auth=httpx.BasicAuth("a", "b"),
        policy=HttpPolicy(backoff_base=0.01, backoff_max=0.02, max_attempts=2), sleep=clock.sleep,
    )  # fmt: skip
    try:
        with pytest.raises(Unreachable) as info:
            await api.get_json("/api/v2/groups.json", action="list groups")
    finally:
        await api.aclose()
        server.close()
        await server.wait_closed()
    message = str(info.value)
    assert "the connection" in message and "Error" not in message, message
