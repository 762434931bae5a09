"""A real Request Tracker 5 on loopback for the RT connector tests.

One server per test session (scripts/rt-fixture.sh: fresh SQLite instance, token for root,
queues Support/Billing, agents alice/bob, customer carol@example.com with two tickets), shared
with the behaviour suite (tests/connectors/test_behaviour.py, registered in backend.py).
Tests that write use `rt_clean`, which restores the pristine database afterwards (~1-3 s);
read-only tests use `rt` and see the pristine data.

Without RT installed the tests are skipped with the reason; under CI (`CI=true`) a missing or
unstartable RT fails them instead, so CI can never pass by skipping. RT is installed on the
fly only as root with `CI=true` or `AGENTDESK_RT_INSTALL=1`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.rt.backend import RTServer, ensure_pristine, mark_pristine, shared_rt_server

__all__ = ["RTServer", "rt", "rt_clean"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rt: needs a real Request Tracker 5 server (tests/rt)")


@pytest.fixture
def rt() -> RTServer:
    """The session's one RT (started on first use, stopped at exit) with its pristine seed:
    reset first only if the behaviour suite left its own world in it."""
    server = shared_rt_server()
    ensure_pristine(server)
    return server


@pytest.fixture
def rt_clean(rt: RTServer) -> Iterator[RTServer]:
    """For tests that write: the pristine database is restored once the test is done."""
    try:
        yield rt
    finally:
        rt.script("reset")
        mark_pristine(rt)
