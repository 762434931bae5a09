"""Timestamp composed frames of a headless Textual app.

Headless, `App._display` returns before writing anything; the hook renders the update to
segments (the cost a terminal would pay) and records when each frame was ready.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import App

Probe = Callable[[App], object]


class FrameLog:
    def __init__(self) -> None:
        self.frames: list[tuple[float, object]] = []
        self.probe: Probe | None = None
        self.on_frame: Callable[[App], None] | None = None

    def install(self) -> None:
        original = App._display
        log = self

        def _display(app: App, screen, renderable) -> None:  # type: ignore[no-untyped-def]
            original(app, screen, renderable)
            if renderable is None or app._batch_count:
                return
            render = getattr(renderable, "render_segments", None)
            if render is not None:
                render(app.console)
            state = log.probe(app) if log.probe is not None else None
            log.frames.append((time.perf_counter(), state))
            if log.on_frame is not None:
                log.on_frame(app)

        App._display = _display  # type: ignore[method-assign]
