"""Child process for the cold-start scenario: prints "painted" once the first real frame is
composed, then exits at once. `python -m bench.coldstart app STORE` or `... floor`."""

from __future__ import annotations

import os
import sys


def main() -> None:
    from bench.frames import FrameLog

    log = FrameLog()
    log.install()

    def done(app: object) -> None:
        sys.stdout.write("painted\n")
        sys.stdout.flush()
        os._exit(0)

    if sys.argv[1] == "floor":
        from textual.app import App, ComposeResult
        from textual.widgets import Static

        class Floor(App[None]):
            def compose(self) -> ComposeResult:
                yield Static("one static")

        log.on_frame = done
        Floor().run(headless=True, size=(160, 48))
    else:
        from pathlib import Path

        from agentdesk.tui.app import AgentDeskApp

        def maybe_done(app: object) -> None:
            screen = app.screen  # type: ignore[attr-defined]
            if screen.id == "inbox":
                rows = screen.query_one("#conversations")
                if len(rows.source):
                    done(app)

        log.on_frame = maybe_done
        AgentDeskApp(Path(sys.argv[2])).run(headless=True, size=(160, 48))
    os._exit(1)


if __name__ == "__main__":
    main()
