"""The Help Scout connector against the simulator's Help Scout dialect, beyond the shared suite.

What each request and response is based on (Help Scout publishes no OpenAPI document):
* sign-in: developer.helpscout.com/mailbox-api/overview/authentication — `POST
  /v2/oauth2/token` with form fields grant_type=client_credentials, client_id, client_secret;
  answer `{"token_type", "access_token", "expires_in": 172800}` (two days). The endpoint takes
  form fields only (a JSON body is refused: hscli's API notes, tested against the real API).
* lists: .../endpoints/conversations/list — HAL `_embedded.conversations`, `page`,
  `_links.next`; `status=all`, `modifiedSince`, `sortField=modifiedAt`, `sortOrder=asc`,
  `embed=threads`; `query=(customerIds:ID)`; conversations carry `userUpdatedAt`.
* rate limits: .../overview/rate-limiting — per account and minute, 429 with
  `X-RateLimit-Retry-After`, `X-RateLimit-Limit-Minute` / `-Remaining-Minute`; writes count 2.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator

import httpx
import keyring
import pytest

from agentdesk import cli
from agentdesk.connectors.base import AccountSettings, AuthError
from agentdesk.connectors.helpscout import HelpScoutConnector, map_channel, map_status
from agentdesk.connectors.http import server_wait
from agentdesk.secrets import KEYRING_SERVICE
from agentdesk.store import Store
from agentdesk.sync.engine import SyncEngine
from tests.connectors.backend_helpscout import HelpScoutSim, helpscout_backend


@pytest.fixture
def backend() -> Iterator[HelpScoutSim]:
    with helpscout_backend(scale=80) as handle:
        handle.settings = dataclasses.replace(handle.settings, cache_open=False,
                                              cache_history=False)  # fmt: skip
        yield handle


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "cache.db")
    yield opened
    opened.close()


async def sync_once(backend: HelpScoutSim, store: Store) -> None:
    connector = backend.connector()
    try:
        result = await SyncEngine(store, {"hs": connector}).sync_account("hs")
    finally:
        await connector.aclose()
    assert result.ok, result.error


async def test_a_token_that_expires_mid_sync_is_refreshed_without_losing_a_page(backend, store):
    # Every 30 requests the live tokens expire (as a real one does after two days): the first
    # sync outlives several of them.
    backend.expire_tokens(expire_every_requests=30)
    await sync_once(backend, store)
    cached = store.conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
    assert cached == backend.conversation_count() > 25  # more than one page of the list
    tokens = backend.expire_tokens()
    assert tokens["expired_rejections"] >= 2 and tokens["issued"] >= 3


async def test_pages_after_an_expiry_continue_where_the_pull_stopped(backend):
    connector = backend.connector()
    seen: list[str] = []
    try:
        async for page in connector.pull("conversations", None):
            seen.extend(c.external_id for c in page.conversations)
            backend.expire_tokens(expire_now=True)  # expires between two pages
    finally:
        await connector.aclose()
    assert len(seen) == len(set(seen)) == backend.conversation_count()


async def test_a_revoked_app_secret_is_one_sentence_not_a_retry_loop(backend):
    connector = backend.connector()
    try:
        await connector.whoami()
        me = backend._sim.world.users[int((await connector.whoami()).external_id)]
        me.token = "rotated-by-an-admin-0000"
        backend.expire_tokens(expire_now=True)
        with pytest.raises(AuthError) as info:
            await connector.whoami()
    finally:
        await connector.aclose()
    message = str(info.value)
    assert "hs" in message and "app id and secret" in message and "\n" not in message
    assert backend.token not in message


async def test_a_second_sync_brings_only_what_changed(backend, store):
    connector = backend.connector()
    engine = SyncEngine(store, {"hs": connector})
    try:
        first = await engine.sync_account("hs")
        ticket = max(backend._sim.world.tickets.values(), key=lambda t: t.updated_at)
        backend.add_customer_message(str(ticket.id), "Still waiting for the parcel")
        again = await engine.sync_account("hs")
        quiet = await engine.sync_account("hs")
    finally:
        await connector.aclose()
    assert first.ok and again.ok and quiet.ok
    assert again.conversations == 1 and quiet.conversations == 0
    bodies = [r[0] for r in store.conn.execute("SELECT body FROM messages")]
    assert "Still waiting for the parcel" in bodies


async def test_customers_come_with_emails_phones_and_their_properties(backend, store):
    await sync_once(backend, store)
    world = backend._sim.world
    rows = store.conn.execute("SELECT external_id FROM contacts")
    cached = [world.users[int(r[0])] for r in rows]
    customer = next(u for u in cached if u.phone and u.email)
    identities = {
        (r[0], r[1])
        for r in store.conn.execute(
            "SELECT kind, value FROM identities WHERE external_id = ?", (str(customer.id),)
        )
    }
    assert {("email", customer.email), ("phone", customer.phone)} <= identities
    (attributes,) = store.conn.execute(
        "SELECT attributes FROM contacts WHERE external_id = ?", (str(customer.id),)
    ).fetchone()
    assert json.loads(attributes)["plan"] == customer.user_fields["plan"]


def test_channels_keep_help_scouts_type_and_source_apart():
    assert map_channel("email", "email") == "email"
    assert map_channel("email", "web") == "web"
    assert map_channel("chat", "beacon") == "chat"
    assert map_channel("chat", "sms") == "sms"
    assert map_channel("chat", "facebook") == "social"
    assert map_channel("phone", None) == "voice"
    assert map_status("closed") == ("solved", "closed")
    assert map_status("spam") == ("closed", "spam")


def test_help_scouts_retry_header_is_honoured():
    headers = httpx.Headers({"X-RateLimit-Retry-After": "7", "X-RateLimit-Remaining-Minute": "0"})
    assert server_wait(headers) == 7


def test_accounts_add_keeps_app_id_and_secret_in_the_keyring_only(monkeypatch, capsys):
    secret = "app-secret-5c1d9e-distinctive"
    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    code = cli.main(["accounts", "add", "hs", "--connector", "helpscout",
                     "--url", "https://api.helpscout.net/v2", "--user", "app-id-42",
                     "--token-stdin"])  # fmt: skip
    assert code == 0
    assert keyring.get_password(KEYRING_SERVICE, "hs") == f"app-id-42:{secret}"
    assert secret not in capsys.readouterr().out
    listed = cli.main(["accounts", "list", "--json"])
    out = capsys.readouterr().out
    assert listed == 0 and secret not in out and json.loads(out)[0]["user"] == "app-id-42"


def test_accounts_add_asks_for_the_app_id_and_the_secret_without_echo(monkeypatch):
    prompts: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or "app-77")
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or "s3cret-77")
    code = cli.main(["accounts", "add", "hs", "--connector", "helpscout",
                     "--url", "https://api.helpscout.net"])  # fmt: skip
    assert code == 0
    assert prompts[0].startswith("App id") and prompts[1].startswith("App secret")
    assert keyring.get_password(KEYRING_SERVICE, "hs") == "app-77:s3cret-77"


async def test_a_bare_secret_from_a_token_command_signs_in_with_the_accounts_app_id(backend):
    for token in (f"{backend.settings.user}:{backend.token}", backend.token):
        connector = HelpScoutConnector(backend.settings, token, transport=backend.faults)
        try:
            assert (await connector.whoami()).role == "admin"
        finally:
            await connector.aclose()


async def test_a_snooze_is_sent_and_the_customers_reply_wakes_it_on_the_next_pull(backend, store):
    connector = backend.connector()
    engine = SyncEngine(store, {"hs": connector})
    try:
        assert (await engine.sync_account("hs")).ok
        cid, external_id = store.conn.execute(
            "SELECT id, external_id FROM conversations WHERE status = 'open' ORDER BY id LIMIT 1"
        ).fetchone()
        store.queue(cid, "snooze", {"until": "2030-01-01T09:00:00Z"})
        pushed = await engine.push_account("hs")
        assert pushed.sent == 1, pushed
        assert (await connector.fetch_state(external_id)).snoozed_until is not None
        backend.add_customer_message(external_id, "Hello? Anyone there?")
        assert (await engine.sync_account("hs")).ok
    finally:
        await connector.aclose()
    snoozed = store.conn.execute(
        "SELECT snoozed_until FROM conversations WHERE id = ?", (cid,)
    ).fetchone()[0]
    assert snoozed is None


async def test_drafts_are_not_cached_and_deleted_conversations_leave_the_cache():
    """Conversation `state` (draft, published, deleted), per Help Scout's conversation object."""

    def conversation(cid: int, state: str) -> dict:
        return {"id": cid, "number": cid, "type": "email", "status": "active", "state": state,
                "subject": "Order", "mailboxId": 7, "createdAt": "2030-01-01T00:00:00Z",
                "userUpdatedAt": "2030-01-01T00:00:00Z",
                "primaryCustomer": {"id": 5, "type": "customer", "email": "a@b.example"},
                "_embedded": {"threads": []}}  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/oauth2/token":
            return httpx.Response(200, json={"token_type": "bearer", "access_token": "t",
                                             "expires_in": 172800})  # fmt: skip
        if request.url.path == "/v2/customers/5":
            return httpx.Response(404, json={"logRef": "x", "message": "Resource not found"})
        items = [conversation(1, "published"), conversation(2, "draft"), conversation(3, "deleted")]
        return httpx.Response(200, json={"_embedded": {"conversations": items},
                                         "page": {"size": 25, "totalElements": 3,
                                                  "totalPages": 1, "number": 1},
                                         "_links": {}})  # fmt: skip

    settings = AccountSettings("hs", "helpscout", "https://api.helpscout.net/v2", "app")
    connector = HelpScoutConnector(settings, "secret", transport=httpx.MockTransport(answer))
    try:
        pages = [page async for page in connector.pull("conversations", None)]
    finally:
        await connector.aclose()
    assert [c.external_id for p in pages for c in p.conversations] == ["1"]
    assert [d for p in pages for d in p.deleted_conversation_ids] == ["3"]
    (conversation_1,) = pages[0].conversations
    assert conversation_1.web_url == "https://secure.helpscout.net/conversation/1/1/"
    assert [i.value for c in pages[0].contacts for i in c.identities] == ["a@b.example"]
