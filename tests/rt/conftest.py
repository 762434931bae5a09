"""A real Request Tracker 5 on loopback for the RT connector tests.

One server per test session (scripts/rt-fixture.sh: fresh SQLite instance, token for root,
queues Support/Billing, agents alice/bob, customer carol@example.com with two tickets).
Tests that write use `rt_clean`, which restores the pristine database afterwards (~1-3 s);
read-only tests use `rt` and see the pristine data.

Without RT installed the tests are skipped with the reason; under CI (`CI=true`) a missing or
unstartable RT fails them instead, so CI can never pass by skipping. RT is installed on the
fly only as root with `CI=true` or `AGENTDESK_RT_INSTALL=1`.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "rt-fixture.sh"
INSTALL_HINT = (
    "run `sudo sh scripts/rt-fixture.sh install` (Debian/Ubuntu), or set AGENTDESK_RT_INSTALL=1 "
    "and run the tests as root"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rt: needs a real Request Tracker 5 server (tests/rt)")


@dataclass(frozen=True, slots=True)
class RTServer:
    url: str
    token: str
    directory: Path
    port: int
    env: dict[str, str]

    def script(self, command: str, timeout: float = 120) -> None:
        _run(command, self.env, timeout)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"Request Tracker is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"Request Tracker not available: {reason}")


def _run(command: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["sh", str(SCRIPT), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"rt-fixture.sh {command} failed (exit {result.returncode}):\n{tail}")
    return result


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RTServer]:
    env = dict(os.environ)
    if subprocess.run(["sh", str(SCRIPT), "check"], env=env, check=False).returncode != 0:
        may_install = (
            hasattr(os, "geteuid")
            and os.geteuid() == 0
            and (_in_ci() or os.environ.get("AGENTDESK_RT_INSTALL") == "1")
        )
        if not may_install:
            _unavailable(f"the Debian packages request-tracker5 are not installed — {INSTALL_HINT}")
        try:
            _run("install", env, timeout=900)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            _unavailable(f"installing it failed: {exc}")
    directory = tmp_path_factory.mktemp("rt-instance")
    port = _free_port()
    env.update(RT_DIR=str(directory), RT_PORT=str(port))
    try:
        _run("init", env, timeout=180)
        _run("start", env, timeout=120)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        try:
            _run("stop", env, timeout=30)
        finally:
            _unavailable(f"it did not start: {exc}")
    server = RTServer(
        url=(directory / "url").read_text().strip(),
        token=(directory / "token").read_text().strip(),
        directory=directory,
        port=port,
        env=env,
    )
    try:
        yield server
    finally:
        _run("stop", env, timeout=30)


@pytest.fixture
def rt_clean(rt: RTServer) -> Iterator[RTServer]:
    """For tests that write: the pristine database is restored once the test is done."""
    try:
        yield rt
    finally:
        rt.script("reset")
