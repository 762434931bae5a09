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

import contextlib
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.rt.backend import RTServer, launch_rt, rt_installed, run_script

__all__ = ["RTServer", "rt", "rt_clean"]

INSTALL_HINT = (
    "run `sudo sh scripts/rt-fixture.sh install` (Debian/Ubuntu), or set AGENTDESK_RT_INSTALL=1 "
    "and run the tests as root"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rt: needs a real Request Tracker 5 server (tests/rt)")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"Request Tracker is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"Request Tracker not available: {reason}")


def _may_install() -> bool:
    """Only root may apt-get, only when asked (CI or AGENTDESK_RT_INSTALL=1), never with =0."""
    wanted = os.environ.get("AGENTDESK_RT_INSTALL")
    return (
        hasattr(os, "geteuid")
        and os.geteuid() == 0
        and wanted != "0"
        and (_in_ci() or wanted == "1")
    )


@pytest.fixture(scope="session")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RTServer]:
    env = dict(os.environ)
    if not rt_installed(env):
        where = env.get("AGENTDESK_RT_SERVER")
        missing = (
            f"AGENTDESK_RT_SERVER={where} is not an rt-server program"
            if where
            else "the Debian packages request-tracker5 are not installed"
        )
        if not _may_install():
            _unavailable(f"{missing} — {INSTALL_HINT}")
        try:
            run_script("install", env, timeout=900)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            _unavailable(f"installing it failed: {exc}")
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(launch_rt(tmp_path_factory.mktemp("rt-instance"), env))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            _unavailable(f"it did not start: {exc}")
        yield server


@pytest.fixture
def rt_clean(rt: RTServer) -> Iterator[RTServer]:
    """For tests that write: the pristine database is restored once the test is done."""
    try:
        yield rt
    finally:
        rt.script("reset")
