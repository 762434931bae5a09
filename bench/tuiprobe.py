"""Child process for the screen scenarios: keypress → frame, held key, open, memory.

`python -m bench.tuiprobe STORE PRESSES` prints one JSON object. Keys are posted on a schedule
through the driver (as a terminal would deliver them), not with Pilot.press, which waits for
the app to go idle; latency is from posting a key to the first composed frame that shows its
effect (the probed widget's state changed).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
import sys
import time
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import OptionList

from bench.frames import FrameLog

LOG = FrameLog()
SIZE = (160, 48)


def _post(app: App, key: str) -> float:
    event = events.Key(key, None)
    event.set_sender(app)
    at = time.perf_counter()
    app._driver.send_message(event)  # type: ignore[union-attr]
    return at


async def _settle(app: App, quiet: float = 0.15, limit: float = 10.0) -> None:
    """Wait until no frame has been composed for `quiet` seconds."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        await asyncio.sleep(quiet / 3)
        last = LOG.frames[-1][0] if LOG.frames else 0.0
        if time.perf_counter() - last > quiet:
            return


async def _presses(app: App, keys: list[str], gap: float) -> dict[str, object]:
    """Post `keys` `gap` apart; latency per press to the first frame showing a new state."""
    await _settle(app)
    LOG.frames.clear()
    posted: list[tuple[float, object]] = []
    start = time.perf_counter()
    for i, key in enumerate(keys):
        target = start + i * gap
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        before = LOG.probe(app) if LOG.probe else None
        posted.append((_post(app, key), before))
    await _settle(app)
    latencies: list[float] = []
    for at, before in posted:
        for t, state in LOG.frames:
            if t > at and state != before:
                latencies.append(t - at)
                break
    last_press = posted[-1][0]
    final = LOG.frames[-1][1] if LOG.frames else None
    final_at = next((t for t, s in LOG.frames if t > last_press and s == final), last_press)
    return {"latencies": latencies, "presses": len(keys), "last_frame_after": final_at - last_press}


def _pattern(length: int, count: int, first: str, back: str) -> list[str]:
    """`count` keys that move `first` then `back` within a list of `length` rows."""
    span = max(1, min(length - 1, count // 2))
    keys: list[str] = []
    while len(keys) < count:
        keys += [first] * span + [back] * span
    return keys[:count]


class Floor(App[None]):
    def compose(self) -> ComposeResult:
        yield OptionList(*[f"line {i}" for i in range(50)])


def _rss_peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_floor(presses: int) -> dict[str, object]:
    app = Floor()
    async with app.run_test(size=SIZE):
        gc.freeze()
        option_list = app.query_one(OptionList)
        option_list.focus()
        option_list.highlighted = 0
        LOG.probe = lambda a: a.query_one(OptionList).highlighted
        result = {
            "keys": await _presses(app, _pattern(50, presses, "down", "up"), 0.025),
            "held": await _presses(app, _pattern(50, 90, "down", "up"), 1 / 30),
        }
        LOG.probe = None
        gc.unfreeze()
    return result


def _pick(store: Path) -> dict[str, int]:
    """The longest thread and a customer with about 200 conversations."""
    conn = sqlite3.connect(store)
    longest = conn.execute(
        "SELECT id FROM conversations ORDER BY message_count DESC LIMIT 1"
    ).fetchone()[0]
    customer, count = conn.execute(
        """SELECT customer_id, count(*) n FROM conversations WHERE customer_id IS NOT NULL
           GROUP BY customer_id ORDER BY abs(count(*) - 200) LIMIT 1"""
    ).fetchone()
    open_id = conn.execute(
        "SELECT id FROM conversations WHERE customer_id = ? ORDER BY message_count DESC LIMIT 1",
        (customer,),
    ).fetchone()[0]
    conn.close()
    return {"longest": longest, "customer": customer, "customer_conversations": count,
            "open": open_id}  # fmt: skip


async def run_app(store: Path, presses: int) -> dict[str, object]:
    from agentdesk.tui.app import AgentDeskApp
    from agentdesk.tui.widgets.window import WindowedList

    picked = _pick(store)
    app = AgentDeskApp(store)
    result: dict[str, object] = {"picked": picked}
    async with app.run_test(size=SIZE):
        screen = app.screen
        rows = screen.query_one("#conversations", WindowedList)
        deadline = time.perf_counter() + 60
        while not len(rows.source) and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        await _settle(app, 0.3)
        gc.collect()
        gc.freeze()  # the app's start-up objects: out of the collector's way (issue 7 note)

        def state(widget: WindowedList):  # type: ignore[no-untyped-def]
            return lambda a: (widget.cursor, widget.scroll_offset.y)

        rows.focus()
        LOG.probe = state(rows)
        result["inbox"] = await _presses(
            app, _pattern(len(rows.source), presses, "down", "up"), 0.025
        )
        result["inbox_held"] = await _presses(app, ["down"] * 90, 1 / 30)

        # Open: the customer's busiest conversation, from the inbox (enter → painted).
        thread = screen.query_one("#thread", WindowedList)
        history = screen.query_one("#history", WindowedList)
        opens: list[float] = []
        for _ in range(5):
            await _settle(app)
            LOG.frames.clear()
            LOG.probe = lambda a: (app.screen.open_conversation_id, len(history.source))
            at = time.perf_counter()
            screen.open_conversation(picked["open"])
            await _settle(app)
            done = next((t for t, s in LOG.frames if s[0] == picked["open"]), None)
            if done is not None:
                opens.append(done - at)
            screen.open_conversation(picked["longest"])
            await _settle(app)
        result["open"] = opens

        screen.open_conversation(picked["longest"])
        await _settle(app)
        thread.focus()
        LOG.probe = state(thread)
        result["thread"] = await _presses(
            app, _pattern(len(thread.source), presses, "up", "down"), 0.025
        )
        screen.open_conversation(picked["open"])
        await _settle(app)
        history.focus()
        # Start at the top, so every press of the down/up pattern moves the cursor (presses
        # against the end of the list change nothing and would be timed until the next change).
        history.move_to(0)
        await _settle(app)
        LOG.probe = state(history)
        result["history"] = await _presses(
            app, _pattern(len(history.source), presses, "down", "up"), 0.025
        )
        LOG.probe = None
    result["rss_peak_mb"] = _rss_peak_mb()
    return result


def main() -> None:
    LOG.install()
    store, presses = Path(sys.argv[1]), int(sys.argv[2])
    which = sys.argv[3] if len(sys.argv) > 3 else "app"
    out = asyncio.run(run_floor(presses) if which == "floor" else run_app(store, presses))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
