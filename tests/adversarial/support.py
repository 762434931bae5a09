"""Shared helpers for the adversarial and crash suites: in-process simulators, CLI subprocesses,
read-only snapshots of a store file and the `/_sim/state` oracle.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import httpx

from agentdesk.connectors.base import AccountSettings, Connector

REPO = Path(__file__).resolve().parents[2]
TOKEN_PREFIX = "AGENTDESK_TOKEN_"


def build_connector(
    dialect: str,
    base_url: str,
    user: str,
    token: str,
    account_id: int | None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    name: str = "acct",
) -> Connector:
    """The real connector for a simulator dialect, optionally over a test transport."""
    settings = AccountSettings(name, dialect, base_url, user, cache_days=3650)
    if dialect == "zendesk":
        from agentdesk.connectors.zendesk import ZendeskConnector

        return ZendeskConnector(settings, token, transport=transport)
    if dialect == "freshdesk":
        from agentdesk.connectors.freshdesk import FreshdeskConnector

        return FreshdeskConnector(settings, token, transport=transport)
    if dialect == "zammad":
        from agentdesk.connectors.zammad import ZammadConnector

        return ZammadConnector(settings, token, transport=transport)
    if dialect == "front":
        from agentdesk.connectors.front import FrontConnector

        return FrontConnector(settings, token, transport=transport)
    if dialect == "intercom":
        from agentdesk.connectors.intercom import IntercomConnector

        return IntercomConnector(settings, token, transport=transport)
    if dialect == "helpscout":
        from agentdesk.connectors.helpscout import HelpScoutConnector

        return HelpScoutConnector(settings, token, transport=transport)
    from agentdesk.connectors.chatwoot import ChatwootConnector

    return ChatwootConnector(settings, token, account_id=account_id, transport=transport)


def snapshot(path: Path) -> dict[str, object]:
    """What a user could see in the cache: row counts and every cursor (a separate reader)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out: dict[str, object] = {}
        for table in ("conversations", "messages", "customers", "agents", "teams"):
            try:
                out[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            except sqlite3.OperationalError:
                continue
        out["cursors"] = sorted(
            tuple(r) for r in conn.execute("SELECT account, resource, cursor FROM sync_state")
        )
        return out
    finally:
        conn.close()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def sim_state(base_url: str, ids: Sequence[str] | None = None) -> dict:
    query = "?ids=" + ",".join(ids) if ids else ""
    with urllib.request.urlopen(f"{base_url}/_sim/state{query}", timeout=30) as response:
        return json.loads(response.read())


def sim_post(base_url: str, route: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{base_url}/_sim/{route}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def cli_env(home: Path, tokens: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(TOKEN_PREFIX)}
    env["AGENTDESK_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("PYTHON_KEYRING_BACKEND", "tests.support.keyring_backend.FileTestKeyring")
    env.setdefault("AGENTDESK_TEST_KEYRING", str(home / "test-keyring.json"))
    for name, token in (tokens or {}).items():
        env[TOKEN_PREFIX + name.upper().replace("-", "_")] = token
    env.update(extra)
    return env


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "agentdesk", *args]


def run_cli(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        cli_argv(*args), env=env, input=stdin, capture_output=True, text=True, timeout=timeout
    )


def add_account(env: dict[str, str], name: str, dialect: str, url: str, user: str) -> None:
    """`agentdesk accounts add` with the token in the environment (never in the keyring)."""
    done = run_cli(
        env, "accounts", "add", name, "--connector", dialect, "--url", url, "--user", user,
        "--token-command", "false",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
