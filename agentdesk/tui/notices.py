"""What to tell the agent when the cache changes: a pure function of two watch snapshots.

Only what happened while the app runs is told: the screen takes a new baseline once the first
complete sync after start-up is done, so a first sync's backfill (or a night's worth of
assignments in yesterday's cache) never turns into a pile of toasts. A burst becomes one line.
Notices name subjects (customer text, shown as plain text by the caller); the terminal's own
desktop notification (`attention_text`) never carries customer text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set
from dataclasses import dataclass

from agentdesk.store.uiqueries import WatchSnapshot


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str
    """"assigned", "replied", "sla" or "mentioned"."""
    conversation_id: int
    subject: str
    ref: str = ""
    """The vendor's conversation number (a mention names it, never the note's text)."""
    who: str = ""
    """Who wrote the note that mentions the agent (a colleague's name)."""


_SINGLE = {
    "assigned": "Assigned to you: {subject}",
    "replied": "Customer replied: {subject}",
    "sla": "SLA about to breach: {subject}",
    "mentioned": "{who} mentioned you in a note on #{ref}",
}
_COUNTED = {
    "assigned": ("1 new assignment", "{n} new assignments"),
    "replied": ("1 customer reply", "{n} customer replies"),
    "sla": ("1 SLA about to breach", "{n} SLAs about to breach"),
    "mentioned": ("1 mention of you in a note", "{n} mentions of you in notes"),
}


def mentions_me(body: str, names: Iterable[str], my_external_id: str = "") -> bool:
    """Whether a note's text mentions the agent: `@Display Name` or `@handle` (not inside an
    email address or a longer name), or Chatwoot's markup `[@Name](mention://user/ID/Name)`."""
    if my_external_id and re.search(rf"mention://user/{re.escape(my_external_id)}(?![\w])", body):
        return True
    return any(
        re.search(rf"(?<![\w@.])@{re.escape(name)}(?![\w])", body, re.IGNORECASE)
        for name in names
        if name.strip()
    )


def changes(
    before: WatchSnapshot | None, after: WatchSnapshot, self_assigned: Set[int] = frozenset()
) -> list[Notice]:
    """What is new in `after` since `before` (None: the baseline, nothing is new).
    `self_assigned`: conversations the agent took themself (no toast for those)."""
    if before is None:
        return []
    found: list[Notice] = []
    for cid in sorted(after.mine - before.mine):
        if cid not in self_assigned:
            found.append(Notice("assigned", cid, after.subjects.get(cid, "")))
    for cid, message_id in sorted(after.last_customer_message.items()):
        previous = before.last_customer_message.get(cid)
        if previous is not None and message_id > previous:
            found.append(Notice("replied", cid, after.subjects.get(cid, "")))
    for cid in sorted(after.at_risk - before.at_risk):
        found.append(Notice("sla", cid, after.subjects.get(cid, "")))
    mentioned: set[int] = set()
    for note in after.notes:
        if note.conversation_id not in mentioned and mentions_me(
            note.body, note.my_names, note.my_external_id
        ):
            mentioned.add(note.conversation_id)
            found.append(Notice("mentioned", note.conversation_id, "", note.conversation_ref,
                                note.author))  # fmt: skip
    return found


def toast_lines(found: list[Notice]) -> list[str]:
    """One line for one notice; one line counting each kind for a burst."""
    if not found:
        return []
    if len(found) == 1:
        notice = found[0]
        return [_SINGLE[notice.kind].format(
            subject=notice.subject or "(no subject)", ref=notice.ref, who=notice.who or "A colleague"
        )]  # fmt: skip
    parts = []
    for kind, (one, many) in _COUNTED.items():
        n = sum(1 for notice in found if notice.kind == kind)
        if n:
            parts.append(one if n == 1 else many.format(n=n))
    return [" · ".join(parts)]


def attention_text(found: list[Notice]) -> str | None:
    """A desktop notification's text (OSC 9 / 777): what happened, never customer text."""
    kinds = {notice.kind for notice in found}
    if "assigned" in kinds:
        return "agentdesk: a conversation was assigned to you"
    if "replied" in kinds:
        return "agentdesk: a customer replied"
    if "mentioned" in kinds:
        return "agentdesk: you were mentioned in a note"
    return None
