"""Hostile backend payloads (issue 9 §1): every connector, fed broken vendor JSON, ends each
sync in stored records or a typed `ConnectorError` sentence — never another exception, never a
half-written page.

How: the REAL simulator dialect runs in-process (ASGI); a transport in front of it lets every
response through except the k-th, which hypothesis mutates (truncated, invalid UTF-8, a value
swapped for null / a wrong type / a surrogate half / deeply nested HTML / an enormous tag list /
a malformed or far-future timestamp, keys dropped or added, nulls everywhere). `SyncEngine`
writes into a real store file; after every committed page a separate read-only connection
snapshots the cache, and the final cache must equal the last snapshot: a failing page left no
rows behind and did not move its cursor.

Default: 40 examples per dialect. `-m slow` runs 400 per dialect:
    /work/venv/bin/pytest tests/adversarial/test_payloads.py -m slow
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentdesk.sim.server import build_app
from agentdesk.store import Store
from agentdesk.sync import SyncEngine
from agentdesk.syncapi import SyncEvent
from tests.adversarial.support import build_connector, snapshot

DIALECTS = ("zendesk", "freshdesk", "chatwoot", "zammad", "front")
BASE = "http://127.0.0.1:9"  # never dialled: the ASGI transport answers
SCALE = 12

Mutator = Callable[[bytes], bytes]

_APPS: dict[str, tuple[object, object, int]] = {}


def _app(dialect: str):
    """One simulator per dialect for the whole module (pulls never change its world)."""
    if dialect not in _APPS:
        app, cred = build_app(dialect, seed=11, scale=SCALE)
        _APPS[dialect] = (app, cred, 0)
    return _APPS[dialect][0], _APPS[dialect][1]


class MutatingTransport(httpx.AsyncBaseTransport):
    """Forwards to the simulator; the `target`-th JSON response goes through `mutate`."""

    def __init__(self, app, target: int | None, mutate: Mutator | None) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.target = target
        self.mutate = mutate
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        if "json" in response.headers.get("content-type", ""):
            self.seen += 1
            if self.seen == self.target and self.mutate is not None:
                body = self.mutate(body)
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=body)


# ---------------------------------------------------------------- hostile values
NESTED_HTML = "<div>" * 5000 + "x" + "</div>" * 5000
HUGE_TAGS = [f"tag{i}" for i in range(20000)]
BAD_TIMES = [
    "not a date", "", "2024-13-45T99:99:99Z", "9999-12-31T23:59:59Z", "0000-00-00",
    "2024-02-30T00:00:00+25:00", 1e20, -1, "1970-01-01", 253402300800,
]  # fmt: skip
HOSTILE_VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=False),
    st.booleans(),
    st.text(max_size=20),
    st.just(NESTED_HTML),
    st.just(HUGE_TAGS),
    st.sampled_from(BAD_TIMES),
    st.just({"nested": {"deeper": [None, {"x": []}]}}),
    st.just([]),
    st.just({}),
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node[:5]):
            out += _paths(value, prefix + (i,))
    return out


def _set(node: object, path: tuple, value: object, delete: bool = False) -> None:
    for step in path[:-1]:
        node = node[step]  # type: ignore[index]
    if delete and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value  # type: ignore[index]


def _nullify(node: object) -> object:
    if isinstance(node, dict):
        return {k: _nullify(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_nullify(v) for v in node]
    return None


def _dump(doc: object) -> bytes:
    return json.dumps(doc).encode()  # ensure_ascii: a surrogate travels as \ud800


@st.composite
def mutators(draw: st.DrawFn) -> Mutator:
    kind = draw(
        st.sampled_from(
            ["truncate", "utf8", "replace", "replace", "replace", "delete", "extra", "nulls",
             "wrongtop"]
        )
    )  # fmt: skip
    pick = draw(st.integers(min_value=0, max_value=10_000))
    value = draw(HOSTILE_VALUES)
    cut = draw(st.floats(min_value=0.0, max_value=0.99))

    def mutate(body: bytes) -> bytes:
        if kind == "truncate":
            return body[: int(len(body) * cut)]
        if kind == "utf8":
            at = int(len(body) * cut)
            return body[:at] + b"\xff\xfe\xc3(\xed\xa0\x80" + body[at:]
        doc = json.loads(body)
        if kind == "nulls":
            return _dump(_nullify(doc))
        if kind == "wrongtop":
            return _dump(value)
        paths = _paths(doc)
        if not paths:
            return _dump(value)
        path = paths[pick % len(paths)]
        if kind == "replace":
            _set(doc, path, value)
        elif kind == "delete":
            _set(doc, path, None, delete=True)
        else:  # extra fields next to the chosen one
            parent_path = path[:-1]
            parent = doc
            for step in parent_path:
                parent = parent[step]
            if isinstance(parent, dict):
                parent["__unexpected__"] = value
                parent["x" * 200] = [value] * 3
        return _dump(doc)

    mutate.__name__ = f"{kind}@{pick}"
    return mutate


# ---------------------------------------------------------------- the run
async def _sync(dialect: str, path: Path, target: int | None, mutate: Mutator | None):
    app, cred = _app(dialect)
    transport = MutatingTransport(app, target, mutate)
    connector = build_connector(
        dialect, BASE, cred.user, cred.token, cred.account_id, transport=transport
    )
    store = Store.open(path)
    committed: list[dict[str, object]] = [snapshot(path)]

    def on_event(event: SyncEvent) -> None:
        if event.kind == "page":
            committed.append(snapshot(path))

    try:
        (result,) = await SyncEngine(store, {"acct": connector}, on_event).sync_all()
    finally:
        await connector.aclose()
        store.close()
    return result, committed, transport.seen, cred.token


def _responses(dialect: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        result, _c, seen, _t = asyncio.run(_sync(dialect, Path(tmp) / "c.db", None, None))
    assert result.ok, result.error
    return seen


def check_hostile(dialect: str, target: int, mutate: Mutator) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cache.db"
        result, committed, _seen, token = asyncio.run(_sync(dialect, path, target, mutate))
        final = snapshot(path)
    if not result.ok:
        error = result.error or ""
        # A typed ConnectorError (or StoreError) sentence; anything else is reported by the
        # engine as "failed unexpectedly".
        assert "unexpectedly" not in error, f"{mutate.__name__}: untyped failure: {error}"
        assert error.strip() and len(error) < 2000, error[:300]
        assert token not in error
    # Whatever happened, the cache is exactly what the last committed page left.
    assert final == committed[-1], f"{mutate.__name__}: a half-written page or a moved cursor"


def _examples(slow: bool) -> int:
    return 400 if slow else 40


def _property(dialect: str, examples: int):
    responses = _responses(dialect)

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(target=st.integers(min_value=1, max_value=responses), mutate=mutators())
    def run(target: int, mutate: Mutator) -> None:
        check_hostile(dialect, target, mutate)

    run()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_hostile_payloads_end_in_records_or_a_typed_error(dialect: str) -> None:
    _property(dialect, _examples(False))


@pytest.mark.slow
@pytest.mark.parametrize("dialect", DIALECTS)
def test_hostile_payloads_many_examples(dialect: str) -> None:
    _property(dialect, _examples(True))


def _with_surrogates(node: object) -> object:
    """Every string gets a lone surrogate half (JSON may escape one; UTF-8 cannot hold it)."""
    if isinstance(node, dict):
        return {k: _with_surrogates(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_with_surrogates(v) for v in node]
    return node + "\ud800" if isinstance(node, str) else node


def _surrogates(body: bytes) -> bytes:
    return _dump(_with_surrogates(json.loads(body)))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_surrogate_halves_in_any_response_are_stored_or_refused(dialect: str) -> None:
    for target in range(1, _responses(dialect) + 1):
        _surrogates.__name__ = f"surrogates@{target}"
        check_hostile(dialect, target, _surrogates)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_10_mb_body_is_stored_or_refused_with_a_sentence(dialect: str) -> None:
    huge = "A" * (10 * 1024 * 1024)

    def mutate(body: bytes) -> bytes:
        doc = json.loads(body)
        strings = [p for p in _paths(doc) if isinstance(_get(doc, p), str)]
        if strings:
            _set(doc, strings[len(strings) // 2], huge)
        else:
            doc = {"padding": huge, "doc": doc}
        return _dump(doc)

    mutate.__name__ = "10MB"
    responses = _responses(dialect)
    for target in sorted({1, responses // 2 or 1, responses}):
        check_hostile(dialect, target, mutate)


def _get(doc: object, path: tuple) -> object:
    for step in path:
        doc = doc[step]  # type: ignore[index]
    return doc
