"""Sync ingest over HTTP: the simulator → ZendeskConnector + SyncEngine → a fresh store file.

Beside it, in the same run, two floors:
(a) a bare httpx client fetching and parsing (json) the very pages the product fetched
    (their URLs are recorded on the way), 4 requests in flight;
(b) raw `executemany` of the same message rows into a plain SQLite table, one transaction
    per 1,000 rows.

The simulator runs in its own process (`agentdesk sim`, loopback, no rate limit), so its
CPU is not the client's. Rates are messages/s and conversations/s; the ratio is the product's
rate over the slower floor's (target ≥ 0.5).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from agentdesk.connectors.base import AccountSettings
from agentdesk.connectors.zendesk import ZendeskConnector
from agentdesk.store import Store
from agentdesk.sync.engine import SyncEngine
from bench.scenarios import RawMessages

ACCOUNT = "acme"
CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class Sim:
    base_url: str
    user: str
    token: str


@contextmanager
def simulator(conversations: int, seed: int = 11) -> Iterator[Sim]:
    """`agentdesk sim` in a child process; stopped (by its pid) on the way out."""
    child = subprocess.Popen(
        [sys.executable, "-m", "agentdesk", "sim", "--scale", str(conversations),
         "--seed", str(seed), "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        found: dict[str, str] = {}
        while len(found) < 3:
            line = child.stdout.readline()
            if not line:
                raise RuntimeError("the simulator exited before it listened")
            key, _, value = line.strip().partition(": ")
            if key in ("base_url", "user", "token"):
                found[key] = value
        sim = Sim(found["base_url"], found["user"], found["token"])
        # The simulator indexes its generated comments by time on the first event request
        # (real Zendesk has them indexed already): do that before anything is timed.
        httpx.get(
            f"{sim.base_url}/api/v2/incremental/ticket_events.json",
            params={"start_time": 0},
            auth=(f"{sim.user}/token", sim.token),
            timeout=600,
        ).raise_for_status()
        yield sim
    finally:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()


class _Recording(httpx.AsyncBaseTransport):
    """The product's transport, noting every GET it makes (the floor replays them)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            self.urls.append(str(request.url))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _product(sim: Sim, store_path: Path) -> tuple[float, int, int, list[str]]:
    store = Store.open(store_path)
    store.upsert_account(ACCOUNT, "zendesk", sim.base_url, sim.user)
    transport = _Recording()
    # The window covers the whole simulated history, so the open-backlog and customer-history
    # passes would only fetch it again (and the floor replays every request).
    settings = AccountSettings(
        ACCOUNT, "zendesk", sim.base_url, sim.user,
        cache_days=3650, cache_open=False, cache_history=False,
    )  # fmt: skip
    connector = ZendeskConnector(settings, sim.token, transport=transport)
    try:
        started = time.perf_counter()
        result = await SyncEngine(store, {ACCOUNT: connector}).sync_account(ACCOUNT)
        elapsed = time.perf_counter() - started
    finally:
        await connector.aclose()
        store.close()
    if not result.ok:
        raise RuntimeError(f"the bench pull failed: {result.error}")
    return elapsed, result.conversations, result.messages, transport.urls


async def _http_floor(sim: Sim, urls: list[str]) -> float:
    """Fetch and parse the same URLs, CONCURRENCY at a time, with a bare httpx client."""
    pending = iter(urls)
    auth = httpx.BasicAuth(f"{sim.user}/token", sim.token)
    async with httpx.AsyncClient(auth=auth, timeout=60) as client:

        async def worker() -> None:
            for url in pending:
                response = await client.get(url)
                response.raise_for_status()
                response.json()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started


def _store_floor(store_path: Path, folder: Path) -> tuple[float, int]:
    """Raw executemany of the product's message rows, 1,000 a transaction."""
    source = sqlite3.connect(store_path)
    rows = source.execute(
        """SELECT conversation_id, account, external_id, kind, author_kind, author_name,
                  author_external_id, channel, body, attachments, created_at
           FROM messages ORDER BY id"""
    ).fetchall()
    source.close()
    raw = RawMessages(folder / "raw.db")
    started = time.perf_counter()
    for i in range(0, len(rows), 1000):
        raw.insert(rows[i : i + 1000])
    elapsed = time.perf_counter() - started
    raw.close()
    return elapsed, len(rows)


@dataclass(frozen=True, slots=True)
class Result:
    """Seconds per round (product and both floors, the store floor scaled to all messages)."""

    product: list[float]
    http_floor: list[float]
    store_floor: list[float]
    conversations: int
    messages: int
    requests: int


def run(conversations: int, rounds: int) -> Result:
    """`rounds` product pulls (each into a fresh store), each beside both floors."""
    product: list[float] = []
    http_floor: list[float] = []
    store_floor: list[float] = []
    convs = msgs = pages = 0
    folder = Path(tempfile.mkdtemp(prefix="agentdesk-bench-http-"))
    try:
        with simulator(conversations) as sim:
            for i in range(rounds):
                store_path = folder / f"store-{i}.db"
                seconds, convs, msgs, urls = asyncio.run(_product(sim, store_path))
                pages = len(urls)
                product.append(seconds)
                http_floor.append(asyncio.run(_http_floor(sim, urls)))
                seconds, rows = _store_floor(store_path, folder)
                store_floor.append(seconds * msgs / max(rows, 1))
                store_path.unlink()
                for stale in folder.glob("raw.db*"):
                    stale.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Result(product, http_floor, store_floor, convs, msgs, pages)


if __name__ == "__main__":  # `python -m bench.httpingest N`: one round, for profiling
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(run(n, 1))
