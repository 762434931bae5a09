"""Sync under faults (issue 9 §3): randomised 429/500/drop/timeout/latency and lost responses
from the simulator's own fault injection (`POST /_sim/faults`), several seeds. The faulty
cache converges to the same state as a clean run, and every queued action reaches the server
exactly once (`/_sim/state`). A server that never recovers leaves a clear offline status.

Default: 3 seeds. `-m slow` runs 12 seeds at higher fault rates:
    /work/venv/bin/pytest tests/adversarial/test_faults.py -m slow
"""

from __future__ import annotations

import socket
import sqlite3
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agentdesk.connectors.http import HttpPolicy
from agentdesk.sim.server import SimHandle, start_in_thread
from agentdesk.store import Store
from agentdesk.store.outbox import LIVE_STATES
from agentdesk.sync import SyncEngine
from agentdesk.timeutil import utcnow
from tests.adversarial.support import add_account, cli_env, run_cli, sim_post, sim_state

# Short waits: a fault must cost milliseconds, not the production back-offs.
FAST = HttpPolicy(
    connect_timeout=1.0, read_timeout=1.0, max_attempts=3, backoff_base=0.01,
    backoff_max=0.05, max_wait=0.2,
)  # fmt: skip


class LaterEachRound:
    """The push engine's clock: each round an hour later, so every back-off is due."""

    def __init__(self) -> None:
        self.moment = utcnow()

    def __call__(self) -> datetime:
        return self.moment

    def advance(self) -> None:
        self.moment += timedelta(hours=1)


def _connector(sim: SimHandle):
    from agentdesk.connectors.base import AccountSettings
    from agentdesk.connectors.zendesk import ZendeskConnector

    settings = AccountSettings("acme", "zendesk", sim.base_url, sim.user, cache_days=3650)
    return ZendeskConnector(settings, sim.token, policy=FAST)


def _projection(path: Path) -> dict[str, tuple]:
    """What an agent sees of each conversation (no local ids, no sync bookkeeping)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        out = {}
        for row in conn.execute("SELECT * FROM conversations"):
            bodies = sorted(
                r[0]
                for r in conn.execute(
                    "SELECT body FROM messages WHERE conversation_id = ?", (row["id"],)
                )
            )
            keys = ("status", "priority", "subject", "tags", "assignee_id", "team_id")
            out[row["external_id"]] = tuple(row[k] for k in keys if k in row) + (tuple(bodies),)
        return out
    finally:
        conn.close()


async def _until_clean(engine: SyncEngine, store: Store, clock: LaterEachRound, rounds: int):
    for attempt in range(rounds):
        (result,) = await engine.sync_all()
        live = store.conn.execute(
            f"SELECT count(*) FROM outbox WHERE state IN ({','.join('?' * len(LIVE_STATES))})",
            LIVE_STATES,
        ).fetchone()[0]
        if result.ok and not live:
            return attempt + 1
        clock.advance()
    raise AssertionError(f"no clean round in {rounds}: {result.error}; {live} still live")


async def converge(tmp_path: Path, seed: int, spec: str, actions: int) -> dict[str, object]:
    with start_in_thread("zendesk", seed=seed, scale=40) as sim:
        sim.world.clock.advance(120)
        clean_path, faulty_path = tmp_path / f"clean{seed}.db", tmp_path / f"faulty{seed}.db"
        clean, faulty = Store.open(clean_path), Store.open(faulty_path)
        c_conn, f_conn = _connector(sim), _connector(sim)
        clock = LaterEachRound()
        try:
            clean_engine = SyncEngine(clean, {"acme": c_conn})
            faulty_engine = SyncEngine(faulty, {"acme": f_conn})
            faulty_engine.pusher.now = clock
            assert (await faulty_engine.sync_all())[0].ok
            rows = faulty.conn.execute(
                "SELECT id, external_id FROM conversations"
                " WHERE status IN ('new','open','pending') ORDER BY id LIMIT 6"
            ).fetchall()
            assert len(rows) >= 3
            texts: dict[str, str] = {}
            for i in range(actions):
                cid, ext = rows[i % len(rows)]
                text = f"fault seed {seed} action {i}"
                faulty.queue(cid, "reply" if i % 2 else "note", {"text": text})
                if i % 3 == 0:
                    faulty.queue(cid, "tags", {"add": [f"f{seed}x{i}"], "remove": []})
                texts[text] = ext
            sim_post(sim.base_url, "faults", {"spec": f"{spec},seed={seed}"})
            rounds = await _until_clean(faulty_engine, faulty, clock, rounds=40)
            injected = sim_state(sim.base_url)["faults"]
            sim_post(sim.base_url, "faults", {"spec": ""})
            # Both caches read the same server state after the writes.
            sim.world.clock.advance(120)
            assert (await faulty_engine.sync_all())[0].ok
            assert (await clean_engine.sync_all())[0].ok
            assert _projection(faulty_path) == _projection(clean_path)
            failed = faulty.conn.execute(
                "SELECT count(*) FROM outbox WHERE state IN ('failed','conflict')"
            ).fetchone()[0]
            assert failed == 0
            state = sim_state(sim.base_url, sorted(set(texts.values())))
            bodies: Counter[str] = Counter(
                m["body"].strip() for c in state["conversations"] for m in c["messages"]
            )
            assert {t: bodies[t] for t in texts} == {t: 1 for t in texts}
            return {"rounds": rounds, "injected": injected}
        finally:
            await c_conn.aclose()
            await f_conn.aclose()
            clean.close()
            faulty.close()


SPEC = "429=0.08,500=0.08,drop=0.05,timeout=0.02,lost=0.05,latency=2ms"


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_sync_under_random_faults_converges_and_sends_each_action_once(tmp_path, seed):
    figures = await converge(tmp_path, seed, SPEC, actions=10)
    assert sum(figures["injected"].get("injected", {}).values()) > 0, figures


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 22))
async def test_sync_under_heavy_faults_many_seeds(tmp_path, seed):
    spec = "429=0.12,500=0.12,drop=0.08,timeout=0.03,lost=0.08,latency=5ms"
    await converge(tmp_path, seed, spec, actions=30)


# ---------------------------------------------------------------- never recovers
def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


def test_sync_against_a_dead_server_exits_non_zero_with_a_sentence(tmp_path) -> None:
    env = cli_env(tmp_path / "home", {"acme": "tok"})
    add_account(env, "acme", "zendesk", _dead_url(), "a@b.example")
    done = run_cli(env, "sync", "--once", timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "unexpected" not in done.stderr
    assert "acme" in done.stderr and done.stderr.strip().splitlines()[-1].strip()


def test_a_server_that_always_fails_leaves_the_cli_usable_offline(tmp_path) -> None:
    with start_in_thread("zendesk", seed=6, scale=30) as sim:
        env = cli_env(tmp_path / "home", {"acme": sim.token})
        add_account(env, "acme", "zendesk", sim.base_url, sim.user)
        assert run_cli(env, "sync", "--once").returncode == 0
        sim_post(sim.base_url, "faults", {"spec": "drop=1"})
        conn = sqlite3.connect(tmp_path / "home" / "data" / "agentdesk.db")
        ext = conn.execute(
            "SELECT external_id FROM conversations WHERE status IN ('new','open','pending')"
        ).fetchone()[0]
        conn.close()
        queued = run_cli(env, "do", f"acme:{ext}", "note", "--text", "written offline")
        assert queued.returncode == 0, queued.stderr
        done = run_cli(env, "sync", "--once", "--json")
        assert done.returncode != 0
        summary = done.stdout and __import__("json").loads(done.stdout)
        account = summary["accounts"][0]
        assert not account["ok"] and account["error"], account
        assert "unexpected" not in account["error"]
        sim_post(sim.base_url, "faults", {"spec": ""})
        assert run_cli(env, "sync", "--once").returncode == 0
        state = sim_state(sim.base_url, [ext])
        bodies = [m["body"].strip() for c in state["conversations"] for m in c["messages"]]
        assert bodies.count("written offline") == 1


async def test_the_tui_footer_says_offline_when_the_server_is_gone(tmp_path) -> None:
    from agentdesk.connectors.base import AccountSettings
    from agentdesk.sync import BackgroundSync
    from agentdesk.tui.app import AgentDeskApp
    from tests.tui.conftest import build_store
    from tests.tui.helpers import screen_text, wait_for

    store_path = build_store(tmp_path / "cache.db")  # a cache with conversations in it
    settings = AccountSettings("acme", "zendesk", _dead_url(), "a@b.example")
    runner = BackgroundSync(store_path, [(settings, "tok")], interval=30)
    app = AgentDeskApp(store_path, sync=runner, account_labels="acme (zendesk)")
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: "offline" in screen_text(pilot).lower(), timeout=10)
        # Still usable: the keyboard works (help opens and closes).
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.press("escape")
        assert app.is_running
        assert "offline" in screen_text(pilot).lower()
