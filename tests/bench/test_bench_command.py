"""The benchmark command runs end to end at a tiny size and prints its table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench.dataset
from bench.__main__ import main


def test_bench_prints_a_table_and_writes_json_for_store_scenarios(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench.dataset, "CACHE", tmp_path / "cache")
    out = tmp_path / "result.json"
    main(["--size", "150", "--only", "search", "--only", "outbox", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "scenario" in printed and "baseline" in printed and "verdict" in printed
    assert "search: 20 queries" in printed and "outbox: action" in printed
    rows = json.loads(out.read_text())["rows"]
    assert {r["scenario"] for r in rows} == {
        "search: 20 queries, top 50 shown",
        "outbox: action → durable commit",
    }
    assert all(r["baseline"] > 0 and r["ratio"] is not None for r in rows)
    # The dataset is cached: a second run reuses the same file.
    assert len(list((tmp_path / "cache").glob("store-150-*.db"))) == 1


def test_dataset_builder_links_customers_across_accounts(tmp_path: Path) -> None:
    from agentdesk.sim.storefile import build_store
    from agentdesk.store import Store

    built = build_store(tmp_path / "s.db", conversations=3000)
    assert built.conversations == 3000 and built.messages > 10_000
    store = Store.open(built.path)
    accounts = {a.name for a in store.accounts()}
    assert accounts == {"acme", "globex", "initech"}
    # One customer, several accounts: contacts link by email like a real sync.
    shared = store.conn.execute(
        "SELECT count(*) FROM (SELECT customer_id FROM contacts GROUP BY customer_id "
        "HAVING count(DISTINCT account) > 1)"
    ).fetchone()[0]
    assert shared > 0
    assert store.search_ids("order")
    store.close()
