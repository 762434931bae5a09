"""The real `agentdesk` entry point in a child process, in the test's profile (AGENTDESK_HOME)."""

from __future__ import annotations

import os
import subprocess
import sys

from agentdesk.sim.server import SimHandle

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
"""The keyring library's own backend for a machine without one: every call raises."""


def agentdesk(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentdesk", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        start_new_session=True,  # no controlling terminal: getpass falls back to stdin
    )


def add_account(name: str, sim: SimHandle) -> None:
    """`accounts add` with the simulator's token on stdin (stored in the test keyring)."""
    done = agentdesk("accounts", "add", name, "--connector", "zendesk", "--url", sim.base_url,
                     "--user", sim.user, "--token-stdin", stdin=sim.token + "\n")
    assert done.returncode == 0, done.stderr
