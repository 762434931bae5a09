"""SQL has one home: `agentdesk/store/`. Everything else asks the store by name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "agentdesk"
SQL_HOMES = (PACKAGE / "store", PACKAGE / "sim")
SQL_CALLS = frozenset({"execute", "executemany", "executescript"})
# Upper case and followed by more text: an HTTP verb alone ("DELETE") or prose is not SQL.
SQL_TEXT = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\s+\S")


def _outside_the_store() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if not any(path.is_relative_to(home) for home in SQL_HOMES)
    )


def _starts_with_sql(text: str) -> bool:
    return SQL_TEXT.match(text) is not None


def _sql_found(path: Path, root: Path = REPO) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(root)
    # An f-string's pieces are judged as one text (by its head), not piece by piece.
    pieces = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SQL_CALLS
        ):
            found.append((node.lineno, f".{node.func.attr}("))
        elif isinstance(node, ast.JoinedStr):
            head = node.values[0] if node.values else None
            if isinstance(head, ast.Constant) and _starts_with_sql(str(head.value)):
                found.append((node.lineno, f"SQL text {head.value[:30]!r}"))
        elif isinstance(node, ast.Constant) and id(node) not in pieces:
            if isinstance(node.value, str) and _starts_with_sql(node.value):
                found.append((node.lineno, f"SQL text {node.value[:30]!r}"))
    return [f"{where}:{line}: {what}" for line, what in sorted(found)]


def test_no_sql_outside_the_store():
    found = [hit for path in _outside_the_store() for hit in _sql_found(path)]
    assert not found, "SQL belongs in agentdesk/store/:\n" + "\n".join(found)


def test_the_walk_sees_sql_where_it_is(tmp_path):
    # The check itself must notice every shape of SQL it is there to catch.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "conn.execute('x')\nconn.executemany('x', [])\nconn.executescript('x')\n"
        "q = 'SELECT 1'\nw = f'''WITH t AS (SELECT {n}) SELECT 1'''\n"
        "verb = 'DELETE'\nok = 'Update the cache'\n",
        encoding="utf-8",
    )
    hits = _sql_found(sample, root=tmp_path)
    assert [hit.split(":")[1] for hit in hits] == ["1", "2", "3", "4", "5"]
    assert hits[0].startswith("sample.py:1: ")
