"""Starting and stopping simulators: in a thread for tests, in the foreground for the CLI."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx
import pytest

from agentdesk.sim.server import build_app, start_in_thread


def test_port_zero_picks_a_free_port_and_stop_releases_it() -> None:
    with start_in_thread(scale=100) as sim:
        port = int(sim.base_url.rsplit(":", 1)[1])
        assert port > 0
        assert httpx.get(f"{sim.base_url}/_sim/clock").status_code == 200
    with socket.socket() as probe:  # the port is free again once stopped
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_build_app_gives_admin_or_agent_credentials() -> None:
    _app, admin = build_app("zendesk", seed=3, scale=50)
    _app, agent = build_app("zendesk", seed=3, scale=50, role="agent")
    assert admin.user != agent.user and admin.token != agent.token
    assert admin.token not in repr(admin)
    with pytest.raises(ValueError, match="dialect"):
        build_app("kayako", seed=3, scale=50)


def test_serve_forever_prints_where_it_listens_then_stops_on_sigterm() -> None:
    code = (
        "from agentdesk.sim.server import serve_forever; "
        "serve_forever('zendesk', '127.0.0.1', 0, seed=5, scale=200)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(3)]
        info = dict(line.split(": ", 1) for line in lines)
        assert list(info) == ["base_url", "user", "token"]
        me = httpx.get(
            f"{info['base_url']}/api/v2/users/me.json",
            auth=(f"{info['user']}/token", info["token"]),
        )
        assert me.status_code == 200 and me.json()["user"]["email"] == info["user"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == ""  # exactly three lines, nothing else
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
