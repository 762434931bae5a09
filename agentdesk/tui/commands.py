"""Command palette providers, one per area: "Conversation: resolve", "View: Unassigned",
"Go to customer...", "Theme: agentdesk-light".

Titles can hold backend text (view names from the user, customer names from a backend): they
are cleaned and handed to the palette as `Content`, because the palette parses plain strings
as markup (and `Matcher.highlight` does too).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from agentdesk.sanitize import clean
from agentdesk.tui.screens.inbox import SORTS, InboxScreen
from agentdesk.tui.widgets.picker import PickerScreen, PickItem

Command = tuple[str, Callable[[], object], str]
"""(title, callback, help)."""


def safe_highlight(matcher: Matcher, title: str) -> Content:
    """Like `Matcher.highlight`, but the title is literal text, never markup."""
    content = Content(title)
    score, offsets = matcher.fuzzy_search.match(matcher.query, title)
    if score:
        for offset in offsets:
            if offset < len(title) and not title[offset].isspace():
                content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class _InboxProvider(Provider):
    def _inbox(self) -> InboxScreen | None:
        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, InboxScreen):
                return screen
        return None

    def commands(self, inbox: InboxScreen) -> list[Command]:
        raise NotImplementedError

    def _all(self) -> list[Command]:
        inbox = self._inbox()
        if inbox is None:
            return []
        return [(clean(title), callback, help) for title, callback, help in self.commands(inbox)]

    async def discover(self) -> Hits:
        for title, callback, help in self._all():
            yield DiscoveryHit(Content(title), callback, help=Content(help))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help in self._all():
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score, safe_highlight(matcher, title), callback, text=title, help=Content(help)
                )


class ConversationCommands(_InboxProvider):
    """Every conversation action, by name."""

    def commands(self, inbox: InboxScreen) -> list[Command]:
        return [
            ("Conversation: reply", partial(inbox.action_compose, "reply"), "r"),
            ("Conversation: internal note", partial(inbox.action_compose, "note"), "n"),
            ("Conversation: reply with a canned response", inbox.action_canned, "c"),
            ("Conversation: resolve and go to next", inbox.action_resolve_next, "e"),
            ("Conversation: resolve", inbox.action_resolve_next, "e"),
            ("Conversation: assign", inbox.action_assign, "a"),
            ("Conversation: tags", inbox.action_tags, "t"),
            ("Conversation: priority", inbox.action_priority, "p"),
            ("Conversation: status", inbox.action_status, "s"),
            ("Conversation: snooze", inbox.action_snooze, "z"),
            ("Conversation: undo the last action", inbox.action_undo, "u"),
            ("Conversation: mark for a bulk action", inbox.action_mark, "x"),
            ("Conversation: open in the helpdesk's web UI", inbox.action_open_url, "o"),
            ("Conversation: copy the web address", inbox.action_copy_url, "y"),
            ("Conversation: open an attachment", inbox.action_attachments, "f"),
            ("Conversation: show waiting or stuck actions", inbox.action_conflicts, "C"),
            ("Customer: merge a likely duplicate", inbox.action_merge, "M"),
            ("Customer: unmerge", inbox.action_unmerge, "U"),
        ]


class ViewCommands(_InboxProvider):
    """Jump to a view by name, sort the list, save a search."""

    def commands(self, inbox: InboxScreen) -> list[Command]:
        commands: list[Command] = [
            (f"View: {view.name}", partial(inbox.show_view, view.id),
             "Show this view's conversations")
            for view in inbox.all_views()
        ]
        commands += [
            (f"Sort: {label}", partial(inbox.set_sort, sort), "Order the conversation list")
            for sort, label in SORTS
        ]
        commands.append(("View: search…", inbox.action_search, "/ query language"))
        commands.append(
            ("View: save the current search as a view", inbox.save_search_as_view,
             "Kept in the config dir")
        )
        return commands


class CustomerCommands(_InboxProvider):
    """Go to a customer by name, email or phone."""

    def commands(self, inbox: InboxScreen) -> list[Command]:
        return [("Go to customer…", partial(self._ask, inbox), "By name, email or phone")]

    def _ask(self, inbox: InboxScreen) -> None:
        from agentdesk.tui.widgets.picker import PromptScreen

        def searched(text: str | None) -> None:
            if not text:
                return
            found = inbox.desk.store.customer_by_name(text)
            if not found:
                inbox.desk.notify_safe(f"No customer matches {text}")
                return
            items = [PickItem(str(cid), name, reach) for cid, name, reach in found]

            def chosen(value: str | None) -> None:
                if value is not None:
                    inbox.go_to_customer(int(value))

            self.app.push_screen(PickerScreen("Customers", items), chosen)

        self.app.push_screen(PromptScreen("Go to customer", placeholder="name, email or phone"),
                             searched)


class ThemeCommands(Provider):
    """Switch between the shipped and the user's themes."""

    def _themes(self) -> list[str]:
        return sorted(
            name for name in self.app.available_themes
            if name.startswith("agentdesk-") or name in getattr(self.app, "user_theme_names", ())
        )

    def _set(self, name: str) -> None:
        self.app.theme = name

    async def discover(self) -> Hits:
        for name in self._themes():
            yield DiscoveryHit(Content(f"Theme: {clean(name)}"), partial(self._set, name),
                               help=Content("Switch the colours"))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name in self._themes():
            title = f"Theme: {clean(name)}"
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, safe_highlight(matcher, title), partial(self._set, name),
                          text=title, help=Content("Switch the colours"))
