"""The workspace tests share the TUI's fixture store (a real SQLite file) and app factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import pytest

from tests.tui.conftest import build_store, frozen_clock

CANNED = {
    "refund-approved": "Hi {{customer.first_name}},\n\nYour refund for {{conversation.id}} is "
    "approved.\n\n{{agent.name}} {{unknown.thing}}",
    "shipping-delay": "Hello {{customer.first_name}}, the carrier is running late.",
}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    (directory / "canned").mkdir(parents=True)
    for name, body in CANNED.items():
        (directory / "canned" / f"{name}.md").write_text(body, encoding="utf-8")
    return directory


@pytest.fixture
def fixture_store(tmp_path: Path) -> Path:
    return build_store(tmp_path / "inbox.db")


@pytest.fixture
def make_app(config_dir: Path, tmp_path: Path) -> Callable[..., object]:
    from agentdesk.tui.app import AgentDeskApp

    opened: list[Path] = []

    def make(path: Path, **kw: object) -> AgentDeskApp:
        kw.setdefault("clock", frozen_clock)
        kw.setdefault("tz", UTC)
        kw.setdefault("config_dir", config_dir)
        kw.setdefault("downloads_dir", tmp_path / "downloads")
        kw.setdefault("opener", opened.append)
        app = AgentDeskApp(path, **kw)  # type: ignore[arg-type]
        app.opened_files = opened  # type: ignore[attr-defined]
        return app

    return make
