"""How many active conversations an agent is expected to hold.

The backend's number wins where it has one (Chatwoot, for instance); otherwise the config:

    [team.capacity]
    default = 8                     # everyone without a figure of their own
    "priya.raman@example.com" = 12  # one agent, by email (any account)

`Capacity` is plain data so the screens, the CLI and the tests can build one directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class CapacityError(ValueError):
    """The `[team.capacity]` table is wrong; the message names the file and key."""


@dataclass(frozen=True, slots=True)
class Capacity:
    default: int | None = None
    by_email: Mapping[str, int] = field(default_factory=dict)

    def of(self, email: str, backend: int | None) -> int | None:
        if backend is not None:
            return backend
        return self.by_email.get(email.lower(), self.default)


def parse_capacity(table: Mapping[str, object], where: str = "config") -> Capacity:
    default: int | None = None
    by_email: dict[str, int] = {}
    for key, value in table.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CapacityError(f"{where}: team.capacity.{key}: must be a whole number >= 0")
        if key == "default":
            default = value
        elif "@" in key:
            by_email[key.lower()] = value
        else:
            raise CapacityError(
                f"{where}: team.capacity.{key}: use `default` or an agent's email address"
            )
    return Capacity(default, by_email)


def load_capacity(config_file: Path) -> Capacity:
    """The `[team.capacity]` table of the config file (empty when absent)."""
    from agentdesk.config import ConfigError, parse_toml, read_text

    path = Path(config_file)
    try:  # the same reading as the rest of the config: garbage is one sentence, not a crash
        data = parse_toml(path, read_text(path))
    except FileNotFoundError:
        return Capacity()
    except OSError as exc:
        raise CapacityError(f"{config_file}: cannot be read: {exc.strerror}") from None
    except ConfigError as exc:
        raise CapacityError(str(exc)) from None
    team = data.get("team", {})
    if not isinstance(team, dict):
        raise CapacityError(f"{config_file}: team: must be a table")
    table = team.get("capacity", {})
    if not isinstance(table, dict):
        raise CapacityError(f"{config_file}: team.capacity: must be a table")
    return parse_capacity(table, str(config_file))
