"""What the CLI prints, as a terminal or a pipe shows it: aligned columns, quiet pipes, usage."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rich.cells import cell_len

from agentdesk.paths import current_profile
from agentdesk.sim.server import start_in_thread
from agentdesk.store import Store
from tests.support.cli import add_account, agentdesk
from tests.supervisor.fixture import build


def _supervisor_cache() -> Store:
    return Store.open(build(current_profile().ensure().store_file, role="admin"))


def test_report_columns_line_up_after_japanese_names():
    _supervisor_cache().close()
    done = agentdesk("report", "--period", "520w")  # the fixture's team worked in 2025
    assert done.returncode == 0, done.stderr
    tables = done.stdout.split("\n\n")[1:-1]  # after the period line, before the backlog
    assert any("伊藤 遥" in table for table in tables)
    for table in tables:
        _title, header, *rows = table.splitlines()
        assert rows
        for row in rows:
            assert cell_len(row) == cell_len(header), row


def test_reassign_preview_columns_line_up_after_japanese_names():
    _supervisor_cache().close()
    done = agentdesk("reassign", "--query", "is:open", "--to", "team:Billing", "--spread",
                     "least_load", "--dry-run")
    assert done.returncode == 0, done.stderr
    _summary, header, *rest = done.stdout.splitlines()
    rows = [line for line in rest if "(acme)" in line]
    assert any("伊藤 遥" in row for row in rows)
    for row in rows:
        assert cell_len(row.removesuffix("  OVER CAPACITY")) == cell_len(header), row


@pytest.mark.parametrize("form", [["--json"], []])
def test_audit_into_a_pipe_closed_early_ends_quietly(form):
    store = _supervisor_cache()
    for cid in store.search_ids("is:open"):
        for n in range(16):  # output beyond a pipe's 64 KiB: the writer meets the closed end
            store.queue(cid, "tags", {"add": [f"checked-{n}"], "remove": []})
    store.close()
    reader = subprocess.Popen([sys.executable, "-m", "agentdesk", "audit", *form],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout.readline()  # like `| head -1`
    reader.stdout.close()
    assert reader.wait(timeout=60) == 141
    assert reader.stderr.read() == b""


def test_sync_watch_into_a_pipe_closed_early_stops_quietly():
    with start_in_thread("zendesk", seed=6, scale=60) as sim:
        add_account("sim1", sim)
        watch = subprocess.Popen([sys.executable, "-m", "agentdesk", "sync", "--watch", "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert watch.stdout.readline()  # the first event, then the reader leaves
            watch.stdout.close()
            assert watch.wait(timeout=60) == 141  # the next event finds the pipe closed
        finally:
            watch.kill()
    assert watch.stderr.read() == b""


@pytest.mark.parametrize(
    ("argv", "usage", "hint"),
    [
        (["demo", "--sede", "3"], "usage: agentdesk demo ", "(did you mean --seed?)"),
        (["accounts", "add", "x", "--connector", "zendesk", "--url", "http://127.0.0.1:9",
          "--user", "u", "--token-stdn"], "usage: agentdesk accounts add ",
         "(did you mean --token-stdin?)"),
        (["report", "--perod=7d"], "usage: agentdesk report ", "(did you mean --period?)"),
        (["reprot"], "usage: agentdesk ", "(did you mean report?)"),
        (["sim", "--dialect", "zendsk"], "usage: agentdesk sim ", "(did you mean zendesk?)"),
    ],
)
def test_mistyped_option_or_choice_gets_the_commands_usage_and_the_nearest_one(argv, usage, hint):
    done = agentdesk(*argv)
    assert done.returncode == 2
    assert done.stderr.startswith(usage)
    assert done.stderr.strip().splitlines()[-1].endswith(hint)
