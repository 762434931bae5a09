"""Canned responses: text files in `<config_dir>/canned/` (`NAME.md` or `NAME.txt`).

Placeholders are `{{customer.first_name}}`, `{{customer.name}}`, `{{agent.name}}`,
`{{agent.first_name}}`, `{{conversation.id}}`, `{{conversation.subject}}`. Rendering is plain
string substitution (no template engine, nothing evaluated); an unknown placeholder, or one
with no value, is left visible so the agent sees what still needs filling in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentdesk.sanitize import clean

SUFFIXES = (".md", ".txt")
MAX_BYTES = 256 * 1024
"""A canned response is a message; a larger file is a mistake and is skipped."""
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")


@dataclass(frozen=True, slots=True)
class Canned:
    name: str
    """The file's stem, what the agent types in the picker."""
    body: str
    path: Path


def canned_dir(config_dir: Path) -> Path:
    return Path(config_dir) / "canned"


def load_canned(config_dir: Path) -> list[Canned]:
    """Every readable canned response, sorted by name (a broken file is skipped, not fatal)."""
    directory = canned_dir(config_dir)
    if not directory.is_dir():
        return []
    found: dict[str, Canned] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in SUFFIXES or not path.is_file():
            continue
        try:
            if path.stat().st_size > MAX_BYTES:
                continue
            body = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        found.setdefault(path.stem, Canned(path.stem, body.rstrip("\n"), path))
    return sorted(found.values(), key=lambda c: c.name.lower())


def install_examples(config_dir: Path) -> int:
    """Copy the shipped example responses (English and Japanese) into `config_dir`'s canned
    folder, never over a file the user has; returns how many were added (the demo uses it)."""
    from importlib.resources import files

    directory = canned_dir(config_dir)
    directory.mkdir(parents=True, exist_ok=True)
    added = 0
    for example in files("agentdesk").joinpath("canned_examples").iterdir():
        target = directory / example.name
        if example.name.endswith(SUFFIXES) and not target.exists():
            target.write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
            added += 1
    return added


def first_name(name: str) -> str:
    """The first word of a name ("佐藤 花子" -> "佐藤", "Tom Baker" -> "Tom")."""
    parts = name.split()
    return parts[0] if parts else ""


def placeholders(
    *,
    customer_name: str = "",
    agent_name: str = "",
    conversation_id: str = "",
    conversation_subject: str = "",
) -> dict[str, str]:
    """The values, cleaned: they are backend text and go into the composer (and its draft)."""
    customer_name, agent_name = clean(customer_name), clean(agent_name)
    conversation_id, conversation_subject = clean(conversation_id), clean(conversation_subject)
    return {
        "customer.name": customer_name,
        "customer.first_name": first_name(customer_name),
        "agent.name": agent_name,
        "agent.first_name": first_name(agent_name),
        "conversation.id": conversation_id,
        "conversation.subject": conversation_subject,
    }


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill placeholders in one pass: a value that itself contains `{{...}}` is not expanded."""

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return value if value else match.group(0)

    return _PLACEHOLDER.sub(fill, template)
