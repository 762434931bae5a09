"""`agentdesk serve`: the app in a web browser."""

from __future__ import annotations

import argparse

from agentdesk.cli.common import open_profile


def cmd_serve(args: argparse.Namespace) -> int:
    from agentdesk.serve import run

    open_profile()  # the log file: serve logs its URL (secret redacted) and its requests there
    return run(args)
