"""Child process of the freshness scenario: how soon a customer's message is on the agent's screen.

`python -m bench.freshness DIALECT MESSAGES SPAN [--storm N [WAIT]]` prints one JSON object.

A simulator of DIALECT serves over loopback (`start_in_thread`); the real app runs headless
(`run_test`) with its real `BackgroundSync` at the default settings (30 s complete rounds,
the fast lane at its default share), exactly as `agentdesk` runs it. Once the first round is
done, MESSAGES customers write in (sim control `inbound`, each a new conversation with its own
subject) at random moments over SPAN seconds, from another thread. For each, two delays from
the moment it was sent: until its row is in the store (a separate reader polls the file) and
until its row is in a composed frame of the screen (the subject in the compositor's text: what
the agent sees). Requests are counted per lane at the connector's transport: a request made
from the fast lane's task is the fast lane's.

`--storm N` (websocket dialects): then N customer messages at once (sim control `cable`
storm) while keys are posted through the driver every 25 ms, as `bench.tuiprobe` does:
keypress → frame latency during the storm, whether the cursor stayed on its row, how many
toast lines the storm made, and how long until all N were in the store.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.frames import FrameLog

LOG = FrameLog()
SIZE = (160, 48)
SEED = 4
SCALE = 120
HOLD_BACK = {"zendesk": 60.0}
"""Seconds a dialect's complete lane leaves out on purpose (Zendesk's incremental export
excludes the last minute); the old design's baseline waits for it."""


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts requests per lane: those the fast lane sends (`FAST_LANE_ACCOUNT` is set in its
    tasks) and the rest, with when the fast lane's were sent."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.fast: list[float] = []
        self.complete = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        from agentdesk.sync.fastlane import FAST_LANE_ACCOUNT

        if FAST_LANE_ACCOUNT.get() is not None:
            self.fast.append(time.monotonic())
        else:
            self.complete += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _control(base_url: str, route: str, body: dict[str, object]) -> dict[str, Any]:
    response = httpx.post(f"{base_url}/_sim/{route}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


class StoreWatch(threading.Thread):
    """Polls the store file (its own read-only connection) for message bodies, every 20 ms."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.wanted: dict[str, float | None] = {}
        self.prefix = ""
        self.seen_count = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        last = 0
        try:
            while not self.stop.wait(0.02):
                try:
                    rows = conn.execute(
                        "SELECT id, body FROM messages WHERE id > ? ORDER BY id", (last,)
                    ).fetchall()
                except sqlite3.OperationalError:
                    continue
                now = time.monotonic()
                with self.lock:
                    for message_id, body in rows:
                        last = max(last, message_id)
                        if body in self.wanted and self.wanted[body] is None:
                            self.wanted[body] = now
                        if self.prefix and body.startswith(self.prefix):
                            self.seen_count += 1
        finally:
            conn.close()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _figures(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(_pct(values, 0.5), 3),
        "p95": round(_pct(values, 0.95), 3),
        "max": round(max(values), 3) if values else float("nan"),
    }


def old_design_delay(sent_after_round: float, interval: float, hold_back: float) -> float:
    """When the old design (complete lane only) brings a message sent `sent_after_round` s
    after a complete round ended: at the first round, every `interval` s, that starts once
    the vendor's hold-back has passed (the round's own duration not counted)."""
    due = sent_after_round + hold_back
    rounds = max(1, -(-due // interval))  # ceil: the next round at or after `due`
    return rounds * interval - sent_after_round


async def run(
    dialect: str, messages: int, span: float, storm: int = 0, storm_wait: float = 60.0
) -> dict[str, object]:
    from agentdesk.connectors import registry
    from agentdesk.connectors.base import AccountSettings, Connector
    from agentdesk.sim.server import start_in_thread
    from agentdesk.store import Store
    from agentdesk.sync import BackgroundSync
    from agentdesk.tui.app import AgentDeskApp
    from agentdesk.tui.screens.inbox import InboxScreen

    folder = Path(tempfile.mkdtemp(prefix="agentdesk-freshness-"))
    path = folder / "cache.db"
    transport = CountingTransport()
    rng = random.Random(f"{dialect}-{messages}")
    with start_in_thread(dialect, seed=SEED, scale=SCALE) as sim:
        url = sim.base_url + (f"/app/accounts/{sim.account_id}" if sim.account_id else "")
        settings = AccountSettings("live", dialect, url, sim.user, cache_days=3650)
        store = Store.open(path)
        store.upsert_account(settings.name, dialect, url, sim.user)
        store.close()

        def build(account: AccountSettings, token: str) -> Connector:
            return registry.get(account.connector)(account, token, transport=transport)  # type: ignore[call-arg]

        sync = BackgroundSync(path, [(settings, sim.token)], connector_factory=build)
        lane = getattr(registry.get(dialect), "fast_lane", None)
        app = AgentDeskApp(path, sync)
        shown: dict[str, float | None] = {}

        def on_frame(frame_app: object) -> None:
            waiting = [s for s, t in shown.items() if t is None]
            if not waiting:
                return
            text = "\n".join(s.text for s in app.screen._compositor.render_strips())
            now = time.monotonic()
            for subject in waiting:
                if subject in text:
                    shown[subject] = now

        LOG.on_frame = on_frame
        watch = StoreWatch(path)
        result: dict[str, object] = {"dialect": dialect, "mode": lane.mode if lane else "off"}
        async with app.run_test(size=SIZE) as pilot:
            deadline = time.monotonic() + 120
            while not (app.first_round_done and isinstance(app.screen, InboxScreen)):
                if time.monotonic() > deadline:
                    raise RuntimeError("the first sync round never finished")
                await pilot.pause(0.05)
            round_done_at = time.monotonic()
            watch.start()
            await pilot.pause(1.0)  # the lane settles into its pace
            fast_before = len(transport.fast)
            started = time.monotonic()
            sent: dict[str, tuple[str, float]] = {}  # body -> (subject, sent at)

            def inject() -> None:
                moments = sorted(rng.uniform(0, span) for _ in range(messages))
                for n, moment in enumerate(moments):
                    delay = started + moment - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    token = f"{n:03d}-{rng.randrange(16**6):06x}"
                    subject, body = f"Fresh {token}", f"Is anyone there? {token}"
                    with watch.lock:
                        watch.wanted[body] = None
                    shown[subject] = None
                    at = time.monotonic()
                    sent[body] = (subject, at)
                    _control(sim.base_url, "inbound", {
                        "channel": "chat", "customer_email": f"fresh{n}@example.com",
                        "customer_name": f"Fresh {n}", "subject": subject, "text": body,
                    })  # fmt: skip

            injector = threading.Thread(target=inject, daemon=True)
            injector.start()
            wait_until = started + span + 60
            while time.monotonic() < wait_until:
                done = not injector.is_alive() and all(
                    shown.get(s) is not None and watch.wanted.get(b) is not None
                    for b, (s, _) in sent.items()
                )
                if done:
                    break
                await pilot.pause(0.1)
            ended = time.monotonic()
            to_store = [watch.wanted[b] - at for b, (_, at) in sent.items()
                        if watch.wanted.get(b) is not None]  # fmt: skip
            to_screen = [shown[s] - at for s, at in sent.values() if shown.get(s) is not None]
            fast = [t for t in transport.fast[fast_before:] if t <= ended]
            minutes = max(1e-9, (ended - started) / 60)
            # What the vendor's limiter counts: the lane's requests in its busiest minute
            # (from the app's start, so the first round's catch-up polls count too).
            every = sorted(t for t in transport.fast if t <= ended)
            busiest = max((sum(1 for u in every if t <= u < t + 60) for t in every), default=0)
            interval = sync.interval
            baseline = [
                old_design_delay(at - round_done_at, interval, HOLD_BACK.get(dialect, 0.0))
                for _, at in sent.values()
            ]
            result |= {
                "messages": len(sent), "in_store": len(to_store), "on_screen": len(to_screen),
                "store": _figures(to_store), "screen": _figures(to_screen),
                "store_samples": to_store, "screen_samples": to_screen,
                "fast_requests": len(fast), "busiest_minute": busiest,
                "mean_per_minute": round(len(fast) / minutes, 1),
                "rate_limit_per_minute": lane.rate_limit_per_minute if lane else None,
                "share": sync.fast_lane_share, "seconds": round(ended - started, 1),
                "complete_rounds": sync.rounds, "interval": interval,
                "hold_back": HOLD_BACK.get(dialect, 0.0),
                "baseline": _figures(baseline), "baseline_samples": baseline,
                "lane_at_end": list(app.lanes.get(settings.name, ("unknown", 0.0))),
            }  # fmt: skip
            if storm:
                result["storm"] = await _storm(app, pilot, sim.base_url, watch, storm, storm_wait)
        LOG.on_frame = None
        watch.stop.set()
        watch.join(5)
    shutil.rmtree(folder, ignore_errors=True)
    return result


async def _storm(
    app: Any, pilot: Any, base_url: str, watch: StoreWatch, count: int, wait: float
) -> dict[str, object]:
    """N messages at once over the websocket while keys go in every 25 ms; then up to `wait`
    seconds for all N to be in the store."""
    from textual import events

    from agentdesk.tui.widgets.window import WindowedList

    rows = app.screen.query_one("#conversations", WindowedList)
    rows.focus()
    await pilot.press("down", "down")  # the agent is on a row of their choosing
    await pilot.pause(0.3)
    toasts_before = {n.identity for n in app._notifications}
    LOG.probe = lambda a: rows.current_key
    tag = f"storm-{random.randrange(16**6):06x}"
    with watch.lock:
        watch.prefix, watch.seen_count = f"{tag} ", 0
    LOG.frames.clear()
    fired = time.monotonic()
    threading.Thread(
        target=_control, args=(base_url, "cable", {"storm": {"messages": count, "tag": tag}}),
        daemon=True,
    ).start()  # fmt: skip
    posted: list[tuple[float, object]] = []
    keys = ["down", "up"] * 60  # 3 s of presses, each moving the cursor one row
    for n, key in enumerate(keys):
        delay = fired + n * 0.025 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        before = rows.current_key
        event = events.Key(key, None)
        event.set_sender(app)
        posted.append((time.perf_counter(), before))
        app._driver.send_message(event)
    last_at, last_before = posted[-1]
    while time.monotonic() < fired + 30 and not any(
        t > last_at and state != last_before for t, state in LOG.frames
    ):
        await pilot.pause(0.02)  # the last press is on screen: that row is the agent's
    cursor_key_after_keys = rows.current_key
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with watch.lock:
            if watch.seen_count >= count:
                break
        await pilot.pause(0.1)
    with watch.lock:
        stored = watch.seen_count
    all_stored_after = time.monotonic() - fired if stored >= count else None
    await pilot.pause(1.0)  # the refresh after the last page
    LOG.probe = None
    latencies = []
    for at, before in posted:
        for t, state in LOG.frames:
            if t > at and state != before:
                latencies.append((t - at) * 1000)
                break
    new_toasts = [str(n.message) for n in app._notifications if n.identity not in toasts_before]
    return {
        "events": count, "stored": stored, "waited_s": wait,
        "all_stored_after_s": None if all_stored_after is None else round(all_stored_after, 2),
        "presses": len(posted), "answered": len(latencies),
        "key_ms": {"p50": round(_pct(latencies, 0.5), 2), "p99": round(_pct(latencies, 0.99), 2),
                   "max": round(max(latencies), 2) if latencies else float("nan")},
        "key_samples_ms": latencies,
        "cursor_stayed": rows.current_key == cursor_key_after_keys,
        "toast_lines": len(new_toasts), "toasts": new_toasts,
    }  # fmt: skip


def main() -> None:
    import faulthandler

    faulthandler.enable()  # a crash of the child leaves its stack in the run's log
    LOG.install()
    dialect, messages, span = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    storm, storm_wait = 0, 60.0
    if "--storm" in sys.argv:
        at = sys.argv.index("--storm")
        storm = int(sys.argv[at + 1])
        if len(sys.argv) > at + 2:
            storm_wait = float(sys.argv[at + 2])
    json.dump(asyncio.run(run(dialect, messages, span, storm, storm_wait)), sys.stdout)


if __name__ == "__main__":
    main()
