"""A full disk, a read-only data dir and a corrupt or foreign cache file (issue 9 §4).

Each gives a clear sentence on stderr, a non-zero exit and no traceback, and loses nothing
that was already queued; a file that is not an agentdesk cache is never overwritten.

The full disk is `PRAGMA max_page_count` set on the app's own connection (a wrapper around the
real CLI shrinks it to the current size); the read-only data dir is a read-only bind mount in
a private mount namespace (`unshare -m`; skipped where that is not allowed).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agentdesk.sim.server import start_in_thread
from agentdesk.store import Store, StoreError
from tests.adversarial.support import add_account, cli_argv, cli_env, integrity, run_cli

ACCOUNT = "acme"

# The real CLI, with every store connection capped at its current size: the disk is "full".
FULL_DISK = """
import sys
import agentdesk.store.db as db
_connect = db._connect
def capped(path):
    conn = _connect(path)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
    return conn
db._connect = capped
from agentdesk.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines, "failed without saying why"
    for line in lines:
        assert "unexpected" not in line, f"not a clear sentence: {line}"


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory):
    """A simulator and a profile that synced once; yields (sim, env, store path, targets)."""
    with start_in_thread("zendesk", seed=20, scale=60) as sim:
        home = tmp_path_factory.mktemp("storage-home")
        env = cli_env(home, {ACCOUNT: sim.token})
        add_account(env, ACCOUNT, "zendesk", sim.base_url, sim.user)
        done = run_cli(env, "sync", "--once")
        assert done.returncode == 0, done.stderr
        store = home / "data" / "agentdesk.db"
        conn = sqlite3.connect(store)
        targets = [
            r[0]
            for r in conn.execute(
                "SELECT external_id FROM conversations WHERE status IN ('new','open','pending')"
                " ORDER BY id LIMIT 3"
            )
        ]
        conn.close()
        assert len(targets) == 3, "the simulated world has too few open conversations"
        yield sim, env, store, targets


def _queue(env: dict[str, str], target: str, text: str) -> None:
    done = run_cli(env, "do", f"{ACCOUNT}:{target}", "note", "--text", text)
    assert done.returncode == 0, done.stderr


def _outbox_texts(store: Path) -> list[str]:
    conn = sqlite3.connect(store)
    try:
        return [r[0] for r in conn.execute("SELECT payload FROM outbox ORDER BY seq")]
    finally:
        conn.close()


def _full_disk(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        [sys.executable, "-c", FULL_DISK, *args], env=env, capture_output=True, text=True,
        timeout=120, input=stdin,
    )  # fmt: skip


def test_full_disk_while_queueing_says_so_and_keeps_what_was_queued(synced) -> None:
    _sim, env, store, targets = synced
    _queue(env, targets[0], "queued before the disk filled up")
    before = _outbox_texts(store)
    # Enough text that the page the outbox row needs cannot fit.
    done = _full_disk(
        env, "do", f"{ACCOUNT}:{targets[1]}", "note", "--text-stdin", stdin="x" * 400_000
    )
    assert done.returncode != 0
    assert integrity(store) == "ok"
    assert _outbox_texts(store) == before  # nothing lost, nothing half-queued
    _no_traceback(done)
    assert "full" in done.stderr.lower()


def test_full_disk_during_sync_says_so_and_keeps_the_outbox(synced) -> None:
    sim, env, store, targets = synced
    _queue(env, targets[2], "queued before a sync on a full disk")
    before = _outbox_texts(store)
    # A new conversation on the server: the pull has something to write and no room.
    import json
    import urllib.request

    for i in range(20):
        body = json.dumps(
            {
                "channel": "email",
                "customer_email": f"f{i}@example.com",
                "subject": f"disk {i}",
                "text": "y" * 20000,
            }
        ).encode()
        urllib.request.urlopen(urllib.request.Request(
            f"{sim.base_url}/_sim/inbound", data=body, method="POST",
            headers={"Content-Type": "application/json"}), timeout=30).read()  # fmt: skip
    sim.world.clock.advance(120)  # the incremental export holds back the last minute
    done = _full_disk(env, "sync", "--once")
    assert done.returncode != 0
    assert integrity(store) == "ok"
    remaining = _outbox_texts(store)
    assert all(text in remaining for text in before)
    _no_traceback(done)
    assert "full" in done.stderr.lower(), done.stderr


def _unshare_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def _read_only(env: dict[str, str], data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI with the data dir mounted read-only (only for this one process)."""
    quoted = " ".join(f"'{a}'" for a in cli_argv(*args))
    script = (
        f"mount --bind '{data_dir}' '{data_dir}' && "
        f"mount -o remount,ro,bind '{data_dir}' '{data_dir}' && exec {quoted}"
    )
    return subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        ["unshare", "-m", "sh", "-c", script], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


@pytest.mark.skipif(not _unshare_ok(), reason="no private mount namespace here (unshare -m)")
@pytest.mark.parametrize(
    "args",
    [("do", "NOTE"), ("sync", "--once")],
    ids=["do", "sync"],
)
def test_read_only_data_dir_gives_a_sentence_and_loses_nothing(synced, args) -> None:
    _sim, env, store, targets = synced
    _queue(env, targets[0], f"queued before the data dir went read-only {args[0]}")
    before = _outbox_texts(store)
    argv = (
        ["do", f"{ACCOUNT}:{targets[0]}", "note", "--text", "read-only attempt"]
        if args[0] == "do"
        else list(args)
    )
    done = _read_only(env, store.parent, *argv)
    assert done.returncode != 0, done.stdout
    _no_traceback(done)
    assert _outbox_texts(store) == before
    assert integrity(store) == "ok"


# ---------------------------------------------------------------- corrupt / foreign files
def _corrupt(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)


def _foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, caption TEXT)")
    conn.execute("INSERT INTO photos (caption) VALUES ('holiday')")
    conn.commit()
    conn.close()


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is my tax return, not a database\n" * 100)


@pytest.mark.parametrize("make", [_corrupt, _foreign, _garbage], ids=["corrupt", "foreign", "text"])
def test_a_file_that_is_not_our_cache_is_detected_and_left_untouched(tmp_path: Path, make) -> None:
    home = tmp_path / "home"
    store = home / "data" / "agentdesk.db"
    store.parent.mkdir(parents=True)
    make(store)
    original = store.read_bytes()
    with pytest.raises(StoreError) as caught:
        Store.open(store)
    assert str(caught.value).strip()
    env = cli_env(home, {ACCOUNT: "tok-unused"})
    add = run_cli(
        env, "accounts", "add", ACCOUNT, "--connector", "zendesk", "--url",
        "http://127.0.0.1:9", "--user", "a@b.example", "--token-command", "false",
    )  # fmt: skip
    runs = [
        add,
        run_cli(env, "sync", "--once"),
        run_cli(env, "do", f"{ACCOUNT}:1", "note", "--text", "hi"),
        run_cli(env, "accounts", "list"),
        run_cli(env),  # the TUI path: refuses before drawing anything
    ]
    for done in runs:
        assert done.returncode != 0, (done.args, done.stdout)
        _no_traceback(done)
        assert str(store) in done.stderr or "cache" in done.stderr, done.stderr
    assert store.read_bytes() == original
    assert not Path(f"{store}-wal").exists() or Path(f"{store}-wal").stat().st_size == 0
