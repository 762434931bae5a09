"""Replies queued offline reach a real django-helpdesk exactly once, SIGKILLs included.

The real path end to end: `agentdesk do` queues, `agentdesk sync --once` pushes (a separate
process, killed with SIGKILL at moments spread over its run), and django-helpdesk's own
follow-ups (its API, not agentdesk's store) are the count.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adversarial.support import add_account, cli_argv, cli_env, integrity, run_cli
from tests.connectors.backend_djangohelpdesk import (
    ACCOUNT,
    USER,
    HelpdeskSuiteBackend,
    helpdesk_backend,
)

KILLS = 12


@pytest.fixture
def backend() -> Iterator[HelpdeskSuiteBackend]:
    with helpdesk_backend() as handle:
        handle.colleague_wrote = True  # this test writes outside the fault transport: reset
        yield handle


def outbox_states(store: Path) -> Counter[str]:
    conn = sqlite3.connect(store)
    try:
        return Counter(dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state")))
    finally:
        conn.close()


def follow_up_counts(backend: HelpdeskSuiteBackend, tickets: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for ticket in tickets:
        for message in backend.oracle(ticket).messages:
            counts[message.body.strip()] += 1
    return counts


def queue(env: dict[str, str], ticket: str, action: str, text: str) -> None:
    done = run_cli(env, "do", f"{ACCOUNT}:{ticket}", action, "--text", text)
    assert done.returncode == 0 and "queued" in done.stdout, done.stderr


def test_replies_queued_offline_land_once_after_reconnect_despite_sigkills_mid_push(
    backend: HelpdeskSuiteBackend, tmp_path: Path
) -> None:
    server = backend._server
    home = tmp_path / "home"
    env = cli_env(home, {ACCOUNT: server.token})
    add_account(env, ACCOUNT, "djangohelpdesk", server.url, USER)
    assert run_cli(env, "sync", "--once").returncode == 0
    store = home / "data" / "agentdesk.db"
    tickets = ["1", "2", "3"]
    texts: dict[str, str] = {}

    # Offline: the server is down while the agent answers three tickets.
    server.script("stop")
    try:
        for ticket in tickets:
            text = f"Offline answer {{{{ not a variable }}}} {uuid.uuid4().hex[:8]}"
            queue(env, ticket, "reply", text)
            texts[text] = ticket
        offline = run_cli(env, "sync", "--once")
        assert outbox_states(store)["pending"] == len(tickets), offline.stdout + offline.stderr
    finally:
        server.script("start")

    # Back online: every sync is SIGKILLed somewhere in its ~1 s run, more replies and notes
    # queued between the kills, so kills land before, during and after the POSTs.
    rng = random.Random(14)
    killed = mid_push = 0
    for cycle in range(KILLS):
        text = f"Between kills {cycle} {uuid.uuid4().hex[:8]}"
        ticket = rng.choice(tickets)
        queue(env, ticket, rng.choice(("reply", "note")), text)
        texts[text] = ticket
        proc = subprocess.Popen(
            cli_argv("sync", "--once"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            proc.wait(timeout=0.15 + cycle * 0.08)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.communicate()
        mid_push += outbox_states(store)["sending"] > 0  # died between the POST and its record
        assert integrity(store) == "ok", f"after kill {cycle}"

    for _ in range(4):  # clean rounds until nothing is live
        done = run_cli(env, "sync", "--once")
        states = outbox_states(store)
        if done.returncode == 0 and not (states["pending"] or states["sending"]):
            break
    assert done.returncode == 0, done.stderr
    assert states == Counter({"applied": len(texts)}), states
    assert killed >= KILLS // 2, f"only {killed} syncs were still running when killed"

    counts = follow_up_counts(backend, tickets)
    lost = [t for t in texts if counts[t] == 0]
    twice = [t for t in texts if counts[t] > 1]
    assert not lost and not twice, (lost, twice)
    print(f"SIGKILLs: {killed} of {KILLS} syncs, {mid_push} mid-push; {len(texts)} messages once")
