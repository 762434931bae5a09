"""Crash safety (issue 5 §7, reused by issue 9 §4): SIGKILL `agentdesk sync --once` at random
moments many times in a row, and `agentdesk do` mid-queue, then let sync finish.

Every reply or note the CLI reported as queued reaches the simulator exactly once (its
`/_sim/state` oracle), no reply is duplicated, a killed `do` leaves at most one copy, and
`PRAGMA integrity_check` is ok after every kill.

Default: 50 SIGKILLs of a running sync (about a minute). `-m slow` runs 300 kills with more `do` traffic:
    /work/venv/bin/pytest tests/crash/test_kill_loops.py -m slow
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from agentdesk.sim.server import start_in_thread
from tests.adversarial.support import (
    add_account,
    cli_argv,
    cli_env,
    integrity,
    run_cli,
    sim_state,
)

ACCOUNT = "acme"


def _open_conversations(store: Path, n: int) -> list[str]:
    conn = sqlite3.connect(store)
    try:
        rows = conn.execute(
            "SELECT external_id FROM conversations WHERE status IN ('new', 'open', 'pending')"
            " ORDER BY id LIMIT ?",
            (n,),
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def _live(store: Path) -> dict[str, int]:
    conn = sqlite3.connect(store)
    try:
        return dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
    finally:
        conn.close()


def _spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_argv(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _kill_after(proc: subprocess.Popen[str], delay: float) -> bool:
    """SIGKILL `proc` after `delay` s unless it finished first; True when it was killed."""
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        return True
    proc.communicate()
    return False


def kill_loop(tmp_path: Path, kills: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    # Latency stretches each sync so that kills land mid-pull, mid-push and mid-commit.
    with start_in_thread("zendesk", seed=seed, scale=60, faults="latency=15ms") as sim:
        home = tmp_path / "home"
        env = cli_env(home, {ACCOUNT: sim.token})
        add_account(env, ACCOUNT, "zendesk", sim.base_url, sim.user)
        first = run_cli(env, "sync", "--once")
        assert first.returncode == 0, first.stderr
        store = home / "data" / "agentdesk.db"
        targets = _open_conversations(store, 8)
        assert len(targets) >= 4, "the simulated world has too few open conversations"

        queued: dict[str, str] = {}  # text -> external id: the CLI said "queued"
        maybe: dict[str, str] = {}  # text -> external id: `do` was killed, may or may not exist
        killed_syncs = killed_dos = 0
        durations: list[float] = []
        cycle = 0
        # Until `kills` syncs really died mid-run (a sync that finished first does not count).
        while killed_syncs < kills and cycle < 4 * kills:
            cycle += 1
            if rng.random() < 0.6:
                target = rng.choice(targets)
                text = f"kill-loop {cycle} {uuid.uuid4().hex[:10]}"
                action = rng.choice(("reply", "note"))
                proc = _spawn(env, "do", f"{ACCOUNT}:{target}", action, "--text", text)
                if rng.random() < 0.3 and _kill_after(proc, rng.uniform(0.05, 0.4)):
                    killed_dos += 1
                    maybe[text] = target
                else:
                    out, err = proc.communicate(timeout=60)
                    assert proc.returncode == 0, err
                    assert "queued" in out
                    queued[text] = target
                assert integrity(store) == "ok", f"after `do` in cycle {cycle}"
            started = time.monotonic()
            proc = _spawn(env, "sync", "--once")
            if _kill_after(proc, rng.uniform(0.05, 0.9)):
                killed_syncs += 1
            durations.append(time.monotonic() - started)
            assert integrity(store) == "ok", f"integrity after kill {cycle}"

        # Let sync finish: a few clean rounds until nothing is live in the outbox.
        for _ in range(5):
            done = run_cli(env, "sync", "--once")
            live = {k: v for k, v in _live(store).items() if k in ("pending", "sending")}
            if done.returncode == 0 and not live:
                break
        assert done.returncode == 0, done.stderr
        assert not live, f"still live after sync: {live}"
        assert integrity(store) == "ok"
        outbox = _live(store)
        assert not outbox.get("failed") and not outbox.get("conflict"), outbox

        ids = sorted(set(queued.values()) | set(maybe.values()))
        state = sim_state(sim.base_url, ids)
        bodies: Counter[str] = Counter()
        for conversation in state["conversations"]:
            for message in conversation.get("messages", []):
                bodies[str(message.get("body", "")).strip()] += 1
        lost = [t for t in queued if bodies[t] == 0]
        duplicated = [t for t in list(queued) + list(maybe) if bodies[t] > 1]
        assert not lost, f"{len(lost)} queued actions never reached the server: {lost[:3]}"
        assert not duplicated, f"{len(duplicated)} duplicated: {duplicated[:3]}"
        return {
            "killed_syncs": killed_syncs,
            "killed_dos": killed_dos,
            "queued": len(queued),
            "killed_do_landed": sum(1 for t in maybe if bodies[t] == 1),
        }


def test_sigkill_loop_over_sync_and_do_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    figures = kill_loop(tmp_path, kills=50, seed=20)
    assert figures["killed_syncs"] >= 50, figures
    print("kill loop figures:", figures)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_loop_long(tmp_path: Path, seed: int) -> None:
    figures = kill_loop(tmp_path, kills=300, seed=seed)
    assert figures["killed_syncs"] >= 300, figures
