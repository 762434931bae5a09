"""An agent-role account sees no supervisor features and cannot reassign, even from the CLI."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from agentdesk.cli import CliError
from agentdesk.model import AgentRecord, ConversationRecord, Page
from agentdesk.paths import current_profile
from agentdesk.store import Store
from agentdesk.supervisor import cli as supervisor_cli
from agentdesk.supervisor.roles import any_supervisor, supervised_accounts

T = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


def _cache(role: str) -> None:
    store = Store.open(current_profile().ensure().store_file)
    store.upsert_account("acme", "zendesk", "https://acme.example", "me@acme.example")
    store.record_sync_info("acme", role=role, user_external_id="1")
    store.apply_page("acme", Page(
        resource="tickets", cursor="c", more=False,
        agents=(AgentRecord("1", "Me", "me@acme.example", role=role),
                AgentRecord("2", "Ana", "ana@acme.example")),
        conversations=(ConversationRecord(
            external_id="10", channel="email", subject="Help", status="open",
            vendor_status="open", priority="normal", created_at=T, updated_at=T, version="v1",
            assignee_external_id="1"),),
    ))
    store.close()


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    supervisor_cli.add_reassign_arguments(parser)
    try:
        return supervisor_cli.cmd_reassign(parser.parse_args(argv))
    except CliError as exc:
        return exc.code


def test_agent_role_sees_no_supervisor_features_and_reassign_exits_4(capsys):
    _cache("agent")
    store = Store.open(current_profile().store_file)
    assert not any_supervisor(store) and supervised_accounts(store) == []
    store.close()
    assert _run("--query", "is:open", "--to", "ana@acme.example", "--dry-run") == 4
    assert _run("--query", "is:open", "--to", "ana@acme.example") == 4
    store = Store.open(current_profile().store_file)
    assert store.mutations() == []  # nothing was queued
    store.close()


def test_admin_role_can_dry_run_and_apply(capsys):
    _cache("admin")
    assert _run("--query", "is:open", "--to", "ana@acme.example", "--dry-run", "--json") == 0
    assert '"dry_run": true' in capsys.readouterr().out
    assert _run("--query", "is:open", "--to", "ana@acme.example") == 0
    store = Store.open(current_profile().store_file)
    (mutation,) = store.mutations()
    assert mutation.payload["agent_email"] == "ana@acme.example" and mutation.payload["batch"]
    store.close()


def test_backend_refusal_is_a_failed_mutation_with_the_reason():
    _cache("admin")
    store = Store.open(current_profile().store_file)
    cid = store.conversation_by_external_id("acme", "10")
    mutation = store.queue(cid, "assign", {"agent_email": "ana@acme.example", "batch": "b1"})
    store.mark_failed(mutation.id, "the backend refused: you may not assign (403)")
    from agentdesk.supervisor.audit import audit_entries

    (entry,) = audit_entries(store)
    assert entry.outcome == "refused" and "403" in (entry.reason or "")
    assert store.conversation(cid).assignee_name == "Me"  # reverted
    store.close()


async def test_supervisor_keys_tell_an_agent_why_nothing_opens():
    from agentdesk.tui.app import AgentDeskApp
    from agentdesk.tui.screens.inbox import InboxScreen
    from tests.tui.helpers import wait_for, wait_for_rows

    _cache("agent")
    app = AgentDeskApp(current_profile().store_file, account_labels="acme (zendesk)")
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for_rows(pilot)
        for key, console in (("T", "team console"), ("L", "audit log")):
            await pilot.press(key)
            await wait_for(pilot, lambda c=console: any(
                c in str(n.message) for n in app._notifications))
            assert isinstance(app.screen, InboxScreen)  # the console stayed closed
        (sentence, *_) = [str(n.message) for n in app._notifications]
        assert sentence == ("The team console is for supervisors and admins; your role on every "
                            "account is agent (or not yet known).")
