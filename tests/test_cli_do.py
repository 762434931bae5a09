from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from agentdesk.cli import main
from agentdesk.model import AgentRecord, ConversationRecord, Page, TeamRecord
from agentdesk.paths import current_profile
from agentdesk.store import Store

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def store():
    profile = current_profile().ensure()
    store = Store.open(profile.store_file)
    store.upsert_account("acme", "zendesk", "http://127.0.0.1:1", "me@acme.com")
    store.apply_page("acme", Page("tickets", "c0", False,
        teams=(TeamRecord("g1", "Billing"),),
        agents=(AgentRecord("a1", "Me", "me@acme.com"),),
        conversations=(ConversationRecord("18233", "email", "Refund", "open", "open", "normal",
                                          T0, T0, "v1", tags=("billing",), messages=()),)))
    yield store
    store.close()


def test_do_queues_each_action_like_the_inbox(store, capsys):
    assert main(["do", "acme:18233", "reply", "--text", "On its way", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["state"] == "pending"
    assert main(["do", "acme:18233", "tag", "+vip", "-billing"]) == 0
    assert main(["do", "acme:18233", "assign", "team:billing"]) == 0
    assert main(["do", "acme:18233", "snooze", "4h"]) == 0
    assert main(["do", "acme:18233", "status", "pending"]) == 0
    actions = [m.action for m in store.mutations()]
    assert actions == ["reply", "tags", "assign", "snooze", "status"]
    assert store.mutation(out["id"]).payload == {"text": "On its way"}
    assert store.conversation(1).tags == ("vip",)


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["do", "acme:404", "status", "open"], 3),
        (["do", "acme18233", "status", "open"], 2),
        (["do", "acme:18233", "status", "sleeping"], 2),
        (["do", "acme:18233", "reply"], 2),
        (["do", "acme:18233", "tag", "vip"], 2),
        (["do", "acme:18233", "fly"], 2),
        (["do", "acme:18233", "snooze", "someday"], 2),
    ],
)
def test_do_exit_codes(store, argv, code, capsys):
    assert main(argv) == code
    assert capsys.readouterr().err.startswith("agentdesk: ")
    assert store.mutations() == []


def test_do_reads_reply_text_from_stdin_in_a_real_process(store):
    done = subprocess.run(
        [sys.executable, "-m", "agentdesk", "do", "acme:18233", "note", "--text-stdin", "--json"],
        input="配送業者に確認中です\nline two", capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    mutation = store.mutation(json.loads(done.stdout)["id"])
    assert mutation.payload["text"] == "配送業者に確認中です\nline two"
