"""The supervisor commands answer to the role each helpdesk reports, over loopback."""

from __future__ import annotations

import json

import pytest

from agentdesk.paths import current_profile
from agentdesk.sim.server import start_in_thread
from agentdesk.store import Store
from tests.support.cli import add_account, agentdesk


@pytest.fixture(scope="module")
def agent_sim():
    with start_in_thread("zendesk", seed=3, scale=60, role="agent") as sim:
        yield sim


@pytest.fixture(scope="module")
def admin_sim():
    with start_in_thread("zendesk", seed=4, scale=60, role="admin") as sim:
        yield sim


def _a_cached_conversation(account: str) -> str:
    store = Store.open(current_profile().store_file)
    try:
        return store.conversation(store.search_ids(f"account:{account}")[0]).external_id
    finally:
        store.close()


def _sync() -> None:
    done = agentdesk("sync", "--once")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", [["report"], ["report", "--csv"], ["audit", "--json"]])
def test_agent_role_account_is_refused_the_supervisor_commands(agent_sim, command):
    add_account("desk", agent_sim)
    _sync()
    done = agentdesk(*command)
    assert done.returncode == 4
    assert done.stdout == ""  # not one of the team's figures
    assert done.stderr.strip().splitlines() == [
        f"agentdesk: the {'report' if command[0] == 'report' else 'audit log'} needs a "
        "supervisor or admin role; you are not one on desk (role agent)"
    ]


def test_role_not_yet_known_is_refused_with_the_way_to_learn_it(agent_sim):
    add_account("desk", agent_sim)  # never synced: the helpdesk has not said the role yet
    done = agentdesk("report")
    assert done.returncode == 4
    assert "desk (role unknown)" in done.stderr
    assert "`agentdesk accounts test desk`" in done.stderr


def test_supervisor_commands_show_only_accounts_where_the_role_allows(agent_sim, admin_sim):
    add_account("desk", agent_sim)
    add_account("boss", admin_sim)
    _sync()
    for account in ("boss", "desk"):
        queued = agentdesk("do", f"{account}:{_a_cached_conversation(account)}", "tag", "+checked")
        assert queued.returncode == 0, queued.stderr

    report = agentdesk("report", "--period", "4w", "--json")
    assert report.returncode == 0, report.stderr
    by_account = {row["key"] for row in json.loads(report.stdout)["by"]["account"]}
    assert by_account == {"boss"}
    assert "leaves out desk" in report.stderr

    audit = agentdesk("audit", "--json")
    assert audit.returncode == 0, audit.stderr
    assert [entry["account"] for entry in json.loads(audit.stdout)] == ["boss"]

    assert agentdesk("audit", "--account", "desk").returncode == 4
    assert agentdesk("report", "--account", "boss").returncode == 0
