"""`agentdesk`: the app and its commands, one module per command group.

`common` holds what the commands share (profile, config, store, `CliError`, exit codes) and
`parser` the command line. The demo's helpers load only when asked for: `agentdesk --help`
and the app's cold start must not pay for the simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentdesk.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CliError
from agentdesk.cli.parser import build_parser, main

if TYPE_CHECKING:
    from agentdesk.cli.accounts import check_url
    from agentdesk.cli.demo import DEMO_LABEL, demo_session, demo_sessions
    from agentdesk.cli.do import parse_when

__all__ = [
    "DEMO_LABEL",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "build_parser",
    "check_url",
    "demo_session",
    "demo_sessions",
    "main",
    "parse_when",
]

_LAZY = {
    "DEMO_LABEL": "demo",
    "demo_session": "demo",
    "demo_sessions": "demo",
    "check_url": "accounts",
    "parse_when": "do",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"agentdesk.cli.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
