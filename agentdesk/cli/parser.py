"""The `agentdesk` command line: its parser and `main`.

Each command's module is imported when the command runs, not to build the parser: the TUI's
cold start must not pay for httpx, the simulator or the connectors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from agentdesk import __version__
from agentdesk.cli.common import EXIT_ERROR, CliError, quiet_closed_pipe
from agentdesk.sanitize import clean


def _command(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """`agentdesk.cli.<module>.<name>`, imported when the command runs."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(f"agentdesk.cli.{module}"), name)(args)

    run.__name__ = name
    return run


class _Parser(argparse.ArgumentParser):
    """Unknown options are reported by the (sub)command they were given to, with its usage
    and the nearest option it has, not by the top level's usage; a mistyped choice (a
    subcommand, a dialect) gets the nearest choice."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            options = [o for o in self._option_string_actions if o.startswith("--")]
            near = [
                match
                for word in extras
                if word.startswith("-")
                for match in _nearest(word.split("=")[0], options)
            ]
            hint = f" (did you mean {' or '.join(near)}?)" if near else ""
            self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return namespace, extras

    def _check_value(self, action, value):  # argparse's hook for `choices`
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as exc:
            near = _nearest(str(value), [str(choice) for choice in action.choices or ()])
            if not near:
                raise
            raise argparse.ArgumentError(
                action, f"{exc.message} (did you mean {near[0]}?)"
            ) from None


def _nearest(word: str, candidates: list[str]) -> list[str]:
    import difflib

    return difflib.get_close_matches(word, candidates, n=1)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="agentdesk",
        description="One keyboard-driven inbox for every helpdesk you work in.",
    )
    parser.add_argument("--version", action="version", version=f"agentdesk {__version__}")
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="open the inbox on a simulated Zendesk (throwaway profile)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--scale", type=int, default=1500, help="conversations to simulate")
    demo.add_argument(
        "--activity", type=float, default=6.0, help="simulated events per minute (0: none)"
    )
    demo.add_argument(
        "--accounts",
        metavar="DIALECTS",
        help="several simulated accounts sharing one population, e.g. zendesk,front "
        "(the scale is shared between them)",
    )
    demo.set_defaults(func=_command("demo", "cmd_demo"))

    sim = sub.add_parser("sim", help="serve a simulated helpdesk on loopback")
    sim.add_argument(
        "--dialect",
        choices=("zendesk", "freshdesk", "chatwoot", "zammad", "intercom", "front", "helpscout"),
        default="zendesk",
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=0, help="0 picks a free port")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--scale", type=int, default=2000, help="conversations to generate")
    sim.add_argument(
        "--role", choices=("agent", "admin"), default="admin", help="whose token to print"
    )
    sim.add_argument(
        "--faults",
        metavar="SPEC",
        help="e.g. 429=0.1,500=0.05,drop=0.02,timeout=0.01,lost=0.02,latency=50ms",
    )
    sim.add_argument("--rate-limit", type=int, metavar="PER_MIN", help="requests per minute")
    sim.add_argument(
        "--activity", type=float, default=0.0, metavar="RATE", help="live events per minute"
    )
    sim.set_defaults(func=_command("demo", "cmd_sim"))

    accounts = sub.add_parser("accounts", help="add, list, test and remove helpdesk accounts")
    acc_sub = accounts.add_subparsers(dest="accounts_action", required=True)
    add = acc_sub.add_parser("add", help="add an account (token to the keyring)")
    add.add_argument("name")
    add.add_argument("--connector", required=True)
    add.add_argument("--url", required=True)
    add.add_argument("--user", help="your user (Help Scout: the app id; asked when left out)")
    add.add_argument("--token-stdin", action="store_true", help="read the token from stdin")
    add.add_argument("--token-command", help="a command that prints the token")
    add.add_argument(
        "--plaintext-token",
        action="store_true",
        help="store the token in a 0600 file instead of the keyring (headless machines)",
    )
    add.add_argument("--ca-bundle", help="CA bundle for this account's TLS")
    add.add_argument("--allow-insecure-http", action="store_true")
    lst = acc_sub.add_parser("list", help="list accounts")
    lst.add_argument("--json", action="store_true")
    test = acc_sub.add_parser("test", help="check the token and print the role")
    test.add_argument("name")
    test.add_argument("--json", action="store_true")
    remove = acc_sub.add_parser("remove", help="remove an account and purge its cache")
    remove.add_argument("name")
    accounts.set_defaults(func=_command("accounts", "cmd_accounts"))

    sync = sub.add_parser("sync", help="sync accounts without the UI")
    mode = sync.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one round, then exit (default)")
    mode.add_argument(
        "--watch", action="store_true", help="keep syncing until interrupted (Ctrl+C)"
    )
    sync.add_argument("--account")
    sync.add_argument("--json", action="store_true")
    sync.set_defaults(func=_command("sync", "cmd_sync"))

    do = sub.add_parser(
        "do",
        help="queue an action exactly as the inbox does",
        description="ACTION is reply|note (--text TEXT | --text-stdin), status STATUS, "
        "priority PRIORITY, tag +ADD -REMOVE ..., assign AGENT_EMAIL|team:NAME, snooze UNTIL. "
        "--json prints the mutation's id and state. Exit 0 queued, 2 bad arguments, "
        "3 unknown conversation.",
    )
    do.add_argument("target", metavar="ACCOUNT:EXTERNAL_ID")
    do.add_argument("action")
    do.add_argument("words", nargs=argparse.REMAINDER)
    do.set_defaults(func=_command("do", "cmd_do"))

    from agentdesk.supervisor import cli as supervisor_cli

    reassign = sub.add_parser(
        "reassign", help="move conversations matching a query to an agent or team (supervisors)"
    )
    supervisor_cli.add_reassign_arguments(reassign)
    reassign.set_defaults(func=lambda a: supervisor_cli.cmd_reassign(a))
    report = sub.add_parser("report", help="support metrics from the cache")
    supervisor_cli.add_report_arguments(report)
    report.set_defaults(func=lambda a: supervisor_cli.cmd_report(a))
    audit = sub.add_parser("audit", help="every action taken from this machine, and its outcome")
    supervisor_cli.add_audit_arguments(audit)
    audit.set_defaults(func=lambda a: supervisor_cli.cmd_audit(a))
    presence = sub.add_parser("presence", help="show or set your presence (online, busy, offline)")
    supervisor_cli.add_presence_arguments(presence)
    presence.set_defaults(func=lambda a: supervisor_cli.cmd_presence(a))

    serve = sub.add_parser(
        "serve", help="serve the app to a web browser (loopback unless protected)"
    )
    from agentdesk import serve as serve_module

    serve_module.add_arguments(serve)
    serve.set_defaults(func=_command("serve", "cmd_serve"))

    parser.set_defaults(func=_command("app", "cmd_app"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, where a closed pipe is handled, not at interpreter exit
        return code
    except BrokenPipeError:
        return quiet_closed_pipe()
    except CliError as exc:
        print(f"agentdesk: {clean(str(exc))}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last resort: the traceback goes to the log, a sentence here
        import logging

        logging.getLogger("agentdesk").exception("unexpected error")
        print(
            f"agentdesk: unexpected {type(exc).__name__}; details are in the log file",
            file=sys.stderr,
        )
        return EXIT_ERROR
