"""Connector discovery through the entry-point group `agentdesk.connectors`.

Built-in connectors register exactly like third-party ones (see pyproject.toml), as
Harlequin's adapters do: a plugin that fails to import is logged and skipped, it never takes
the app down.
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points

from agentdesk.connectors.base import Connector, ConnectorError

GROUP = "agentdesk.connectors"
log = logging.getLogger(__name__)

_cache: dict[str, type[Connector]] | None = None


class UnknownConnector(ConnectorError):
    """No installed connector has this kind; the message lists the known kinds."""


def _load(entry: EntryPoint) -> type[Connector] | None:
    try:
        loaded = entry.load()
    except Exception as exc:  # noqa: BLE001 - a plugin's import failure is the plugin's problem
        log.warning(
            "connector plugin %r (%s) failed to load and is skipped: %s: %s",
            entry.name,
            entry.value,
            type(exc).__name__,
            exc,
        )
        return None
    if not isinstance(loaded, type) or not callable(getattr(loaded, "pull", None)):
        log.warning(
            "connector plugin %r (%s) is not a connector class and is skipped",
            entry.name,
            entry.value,
        )
        return None
    return loaded


def available(*, refresh: bool = False) -> dict[str, type[Connector]]:
    """Every connector that loads, by kind (the entry-point name), sorted by kind."""
    global _cache
    if _cache is None or refresh:
        found: dict[str, type[Connector]] = {}
        for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            if entry.name in found:
                log.warning("connector kind %r is registered twice; keeping the first", entry.name)
                continue
            connector = _load(entry)
            if connector is not None:
                found[entry.name] = connector
        _cache = found
    return dict(_cache)


def get(kind: str) -> type[Connector]:
    """The connector class for `kind`; UnknownConnector names the kinds that are installed."""
    connectors = available()
    try:
        return connectors[kind]
    except KeyError:
        known = ", ".join(connectors) or "none"
        raise UnknownConnector(
            f"no connector called {kind!r} is installed (available: {known}) — check the "
            "`connector` of this account in the config, or install the plugin that provides it"
        ) from None
