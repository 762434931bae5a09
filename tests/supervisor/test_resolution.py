"""solved_at and reopen_count: the vendor's figures where it has them, else what the cache sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentdesk.connectors.base import AccountSettings
from agentdesk.connectors.freshdesk import FreshdeskConnector
from agentdesk.model import ConversationRecord, Page
from agentdesk.sim.server import start_in_thread
from agentdesk.store import Store
from agentdesk.sync.engine import SyncEngine
from agentdesk.timeutil import from_iso, to_iso

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _record(status: str, minutes: int, **extra: object) -> ConversationRecord:
    return ConversationRecord(
        external_id="7", channel="email", subject="Refund", status=status,  # type: ignore[arg-type]
        vendor_status=status, priority="normal", created_at=T0,
        updated_at=T0 + timedelta(minutes=minutes), version=str(minutes), **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def _pull(store: Store, record: ConversationRecord) -> tuple[str | None, int]:
    store.apply_page("acme", Page("tickets", cursor=None, more=False, conversations=(record,)))
    row = store.conn.execute(
        "SELECT solved_at, reopen_count FROM conversations WHERE external_id = '7'"
    ).fetchone()
    return row[0], row[1]


def test_without_vendor_figures_the_store_counts_the_transitions_it_sees(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.upsert_account("acme", "rt", "https://rt.example", "me@example.com")
    assert _pull(store, _record("open", 1)) == (None, 0)
    assert _pull(store, _record("solved", 30)) == (to_iso(T0 + timedelta(minutes=30)), 0)
    assert _pull(store, _record("solved", 40)) == (to_iso(T0 + timedelta(minutes=30)), 0)
    assert _pull(store, _record("open", 50)) == (to_iso(T0 + timedelta(minutes=30)), 1)
    assert _pull(store, _record("closed", 90)) == (to_iso(T0 + timedelta(minutes=90)), 1)
    store.close()


def test_a_conversation_first_seen_solved_takes_its_update_time(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.upsert_account("acme", "rt", "https://rt.example", "me@example.com")
    assert _pull(store, _record("closed", 45)) == (to_iso(T0 + timedelta(minutes=45)), 0)
    store.close()


def test_a_reopen_made_here_counts_once_and_is_undone_with_the_change(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.upsert_account("acme", "rt", "https://rt.example", "me@example.com")
    _pull(store, _record("solved", 30))
    cid = store.conversation_by_external_id("acme", "7")
    reopen = store.queue(cid, "status", {"status": "open"})
    # A pull before the push still says solved: the overlay hides it, nothing counted twice.
    assert _pull(store, _record("solved", 30))[1] == 1
    assert store.cancel(reopen.id)
    row = store.conn.execute("SELECT status, reopen_count FROM conversations").fetchone()
    assert tuple(row) == ("solved", 0)
    # Solving here sets solved_at at once; refusing it restores the previous one.
    _pull(store, _record("open", 60))
    before = store.conn.execute("SELECT solved_at FROM conversations").fetchone()[0]
    solve = store.queue(cid, "status", {"status": "solved"})
    solved_here = store.conn.execute("SELECT solved_at FROM conversations").fetchone()[0]
    assert from_iso(solved_here) > from_iso(before)
    store.mark_failed(solve.id, "no permission")
    assert store.conn.execute("SELECT solved_at FROM conversations").fetchone()[0] == before
    store.close()


def test_vendor_figures_win_and_reopen_counts_never_go_back(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.upsert_account("acme", "zendesk", "https://acme.example", "me@example.com")
    vendor_solved = T0 + timedelta(minutes=12)
    assert _pull(store, _record("solved", 30, solved_at=vendor_solved, reopens=3)) == (
        to_iso(vendor_solved),
        3,
    )
    assert _pull(store, _record("solved", 31, solved_at=vendor_solved, reopens=2))[1] == 3
    store.close()


async def test_freshdesk_stats_bring_the_worlds_solve_times_and_reopens(tmp_path):
    with start_in_thread(dialect="freshdesk", seed=9, scale=80) as sim:
        settings = AccountSettings("fd", "freshdesk", sim.base_url, sim.user, cache_days=3650)
        connector = FreshdeskConnector(settings, sim.token)
        store = Store.open(tmp_path / "c.db")
        try:
            result = await SyncEngine(store, {"fd": connector}).sync_account("fd")
            assert result.ok, result.error
            rows = {
                r[0]: (r[1], r[2])
                for r in store.conn.execute(
                    "SELECT external_id, solved_at, reopen_count FROM conversations"
                )
            }
            world = sim.world.tickets
            assert len(rows) == len(world)
            solved = [t for t in world.values() if t.status in ("solved", "closed")]
            assert solved and all(
                rows[str(t.id)][0] == to_iso(datetime.fromtimestamp(t.solved_at, UTC))
                for t in solved
            )
            assert {k for k, (_, n) in rows.items() if n} == {
                str(t.id) for t in world.values() if t.reopens
            }
        finally:
            await connector.aclose()
            store.close()
