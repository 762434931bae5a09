"""`agentdesk sim` prints its connection lines once listening; they work with `accounts add`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _start(*args: str) -> tuple[subprocess.Popen, dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentdesk", "sim", "--port", "0", "--scale", "200", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: dict[str, str] = {}
    expected = {"base_url", "user", "token"} | ({"account_id"} if "chatwoot" in args else set())
    while not expected <= lines.keys():
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(proc.stderr.read())
        key, _, value = line.strip().partition(": ")
        lines[key] = value
    return proc, lines


@pytest.mark.parametrize("dialect", [
    "zendesk", "freshdesk", "chatwoot", "zammad", "intercom", "front", "helpscout",
])
def test_sim_prints_lines_that_accounts_add_accepts(dialect):
    proc, lines = _start("--dialect", dialect)
    try:
        assert lines["base_url"].startswith("http://127.0.0.1:")
        assert not lines["base_url"].endswith(":0")
        url = lines["base_url"]
        if dialect == "chatwoot":
            url += f"/app/accounts/{lines['account_id']}"
        added = subprocess.run(
            [sys.executable, "-m", "agentdesk", "accounts", "add", "sim", "--connector", dialect,
             "--url", url, "--user", lines["user"], "--token-stdin"],
            input=lines["token"] + "\n", capture_output=True, text=True, timeout=60,
        )
        assert added.returncode == 0, added.stderr
        tested = subprocess.run(
            [sys.executable, "-m", "agentdesk", "accounts", "test", "sim", "--json"],
            capture_output=True, text=True, timeout=60,
        )
        assert tested.returncode == 0, tested.stderr
        assert json.loads(tested.stdout)["role"] == "admin"
        assert lines["token"] not in tested.stdout + tested.stderr + added.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_bad_fault_spec_is_a_usage_error():
    done = subprocess.run(
        [sys.executable, "-m", "agentdesk", "sim", "--faults", "explode=1"],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2
    assert "unknown fault 'explode'" in done.stderr


def test_sync_watch_keeps_syncing_and_stops_cleanly_on_sigterm():
    import signal
    import time

    proc, lines = _start("--dialect", "zendesk")
    try:
        subprocess.run(
            [sys.executable, "-m", "agentdesk", "accounts", "add", "sim", "--connector", "zendesk",
             "--url", lines["base_url"], "--user", lines["user"], "--token-stdin"],
            input=lines["token"] + "\n", capture_output=True, text=True, timeout=60, check=True)
        watch = subprocess.Popen(
            [sys.executable, "-m", "agentdesk", "sync", "--watch", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        kinds = []
        deadline = time.monotonic() + 60
        while "idle" not in kinds and time.monotonic() < deadline:
            line = watch.stdout.readline()
            if not line:
                break
            kinds.append(json.loads(line)["kind"])
        assert "page" in kinds and "idle" in kinds
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=30) == 0
        assert lines["token"] not in watch.stdout.read() + watch.stderr.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
