"""Command palette providers, one per area ("View: Unassigned", ...)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from agentdesk.tui.screens.inbox import InboxScreen


class ViewCommands(Provider):
    """Jump to a saved view by name."""

    def _inbox(self) -> InboxScreen | None:
        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, InboxScreen):
                return screen
        return None

    def _commands(self) -> list[tuple[str, str, InboxScreen]]:
        inbox = self._inbox()
        if inbox is None:
            return []
        return [(f"View: {view.name}", view.id, inbox) for view in inbox.desk.store.views()]

    async def discover(self) -> Hits:
        for title, view_id, inbox in self._commands():
            yield DiscoveryHit(
                title, partial(inbox.show_view, view_id), help="Show this view's conversations"
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, view_id, inbox in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    partial(inbox.show_view, view_id),
                    text=title,
                    help="Show this view's conversations",
                )
