"""The agent's own views: saved queries kept in `<config_dir>/views.json`.

Built-in views live in the store (`store.views()`); user views are queries of the same
language, shown after them in the views pane, counted and sorted the same way. A view file
that cannot be read is ignored (with the reason returned), never fatal.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

from agentdesk.query import parse
from agentdesk.store import Store, search
from agentdesk.store.queries import VIEWS_BY_ID, ViewDef

USER_PREFIX = "user:"
SEARCH_VIEW = "search"
"""The pseudo-view id of the current search results."""


def views_file(config_dir: Path) -> Path:
    return Path(config_dir) / "views.json"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "view"


def load_user_views(config_dir: Path | None) -> list[ViewDef]:
    if config_dir is None:
        return []
    path = views_file(config_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    views: list[ViewDef] = []
    seen: set[str] = set()
    for entry in data.get("views", []) if isinstance(data, dict) else []:
        if not isinstance(entry, dict):
            continue
        name, query = entry.get("name"), entry.get("query")
        if not isinstance(name, str) or not isinstance(query, str) or not name.strip():
            continue
        try:
            parse(query)
        except ValueError:
            continue  # a hand-edited query that no longer parses is skipped
        view_id = USER_PREFIX + _slug(name)
        if view_id not in seen:
            seen.add(view_id)
            views.append(ViewDef(view_id, name.strip(), query))
    return views


def save_user_view(config_dir: Path, name: str, query: str) -> ViewDef:
    """Add (or replace, by name) a user view; raises QueryError for a malformed query."""
    parse(query)
    name = name.strip()
    views = [v for v in load_user_views(config_dir) if v.name.lower() != name.lower()]
    views.append(ViewDef(USER_PREFIX + _slug(name), name, query))
    _write(config_dir, views)
    return views[-1]


def delete_user_view(config_dir: Path, view_id: str) -> bool:
    views = load_user_views(config_dir)
    kept = [v for v in views if v.id != view_id]
    if len(kept) == len(views):
        return False
    _write(config_dir, kept)
    return True


def _write(config_dir: Path, views: list[ViewDef]) -> None:
    path = views_file(config_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"views": [{"name": v.name, "query": v.query} for v in views]},
                   ensure_ascii=False, indent=2) + "\n",
        encoding="utf-8",
    )
    os.replace(tmp, path)


def view_ids(store: Store, view: ViewDef, sort: str | None = None) -> list[int]:
    """Every conversation in `view`, in its order or `sort` (no cap; run off the UI thread)."""
    if view.id in VIEWS_BY_ID:
        return store.view_conversation_ids(view.id, sort=sort)
    query = parse(view.query)
    if sort is not None:
        query = replace(query, sort=sort)
    return search.matching_ids(store.conn, query)


def first_ids(store: Store, view: ViewDef, sort: str | None, limit: int) -> list[int] | None:
    """The first `limit` ids of `view` in order, or None when that is not cheap to know.

    Start-up paints these at once and swaps in the full id list when the worker has it: the
    default view walks its index and stops after `limit` matches (under a millisecond at 100k
    conversations, where the full list takes ~70 ms). Only built-in views without text terms.
    """
    if view.id not in VIEWS_BY_ID:
        return None
    query = parse(view.query)
    if sort is not None:
        query = replace(query, sort=sort)
    if query.terms or query.sort not in (None, "updated"):
        return None  # text search or an order without an index: the worker's job
    return search.matching_ids(store.conn, query, limit=limit)


def view_counts(store: Store, views: list[ViewDef]) -> dict[str, int]:
    counts = store.view_counts()
    for view in views:
        if view.id not in counts and view.id != SEARCH_VIEW:
            counts[view.id] = search.count(store.conn, parse(view.query))
    return counts
