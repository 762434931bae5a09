"""Domain records shared by connectors, the sync engine and the store.

Connectors turn vendor JSON into these records at their edge; nothing vendor-shaped travels
further. Times are aware UTC datetimes. Text fields hold plain text (HTML is converted once,
at ingest, by the connector) and are untrusted: the screen sanitises them before display.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Channel = Literal["email", "chat", "sms", "social", "voice", "web"]
CHANNELS: tuple[Channel, ...] = ("email", "chat", "sms", "social", "voice", "web")

Status = Literal["new", "open", "pending", "on_hold", "solved", "closed"]
STATUSES: tuple[Status, ...] = ("new", "open", "pending", "on_hold", "solved", "closed")
OPEN_STATUSES: tuple[Status, ...] = ("new", "open", "pending", "on_hold")
RESOLVED_STATUSES: tuple[Status, ...] = ("solved", "closed")
LOAD_STATUSES: tuple[Status, ...] = ("new", "open", "pending")
"""Open work that counts against an agent's capacity (on hold waits on someone else)."""

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin")

MessageKind = Literal["reply", "note", "event"]
AuthorKind = Literal["customer", "agent", "bot", "system"]
IdentityKind = Literal["email", "phone", "twitter", "facebook", "whatsapp", "instagram", "other"]

AttributeValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Identity:
    """One way to reach a customer; `value` is normalised (lower-case email, E.164 phone)."""

    kind: IdentityKind
    value: str


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """A customer as one backend account knows them (a Zendesk end-user, a Chatwoot contact)."""

    external_id: str
    name: str
    identities: tuple[Identity, ...] = ()
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AgentRecord:
    external_id: str
    name: str
    email: str
    role: Role = "agent"
    presence: str | None = None
    capacity: int | None = None
    team_external_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TeamRecord:
    external_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    size: int
    content_type: str
    url: str


@dataclass(frozen=True, slots=True)
class MessageRecord:
    external_id: str
    kind: MessageKind
    author_kind: AuthorKind
    author_name: str
    body: str
    created_at: datetime
    channel: Channel
    author_external_id: str | None = None
    attachments: tuple[Attachment, ...] = ()

    @property
    def inbound(self) -> bool:
        return self.author_kind == "customer"


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    external_id: str
    channel: Channel
    subject: str
    status: Status
    vendor_status: str
    priority: Priority
    created_at: datetime
    updated_at: datetime
    version: str
    """The server's version token for conflict checks (Zendesk updated_stamp, RT ETag...)."""
    customer_external_id: str | None = None
    assignee_external_id: str | None = None
    team_external_id: str | None = None
    tags: tuple[str, ...] = ()
    web_url: str | None = None
    satisfaction: str | None = None
    snoozed_until: datetime | None = None
    """The vendor's own snooze (accounts whose connector can_snooze); otherwise snooze is local."""
    messages: tuple[MessageRecord, ...] | None = None
    """None: messages were not fetched with this record; a tuple: upsert these."""
    solved_at: datetime | None = None
    """When it last became solved/closed, where the vendor says (Zendesk metric_set, Freshdesk
    stats, RT Resolved); None: not said, the store derives it from the transitions it sees."""
    reopens: int | None = None
    """How often it was reopened, where the vendor counts it; None: the vendor did not say."""


@dataclass(frozen=True, slots=True)
class Page:
    """One unit of pull: records plus the cursor to store once they are committed.

    The sync engine commits a page's records and its cursor in one transaction, so a crash
    resumes at the last committed page and a replayed page is a harmless upsert.
    """

    resource: str
    cursor: str | None
    more: bool
    conversations: tuple[ConversationRecord, ...] = ()
    contacts: tuple[ContactRecord, ...] = ()
    agents: tuple[AgentRecord, ...] = ()
    teams: tuple[TeamRecord, ...] = ()
    deleted_conversation_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WhoAmI:
    """The signed-in user on an account, as the backend reports them."""

    external_id: str
    name: str
    email: str
    role: Role


# ---------------------------------------------------------------- writes (push)
MutationAction = Literal["reply", "note", "status", "priority", "tags", "assign", "snooze"]


@dataclass(frozen=True, slots=True)
class MutationRequest:
    """One queued user action, as the push engine hands it to a connector.

    `id` is a UUID and doubles as the idempotency key. `payload` by action:
    reply/note {"text"}; status {"status"}; priority {"priority"}; tags {"add": [...],
    "remove": [...]}; assign {"agent_external_id"} | {"team_external_id"} | {"unassign": True};
    snooze {"until": ISO time}.
    """

    id: str
    action: MutationAction
    conversation_external_id: str
    payload: Mapping[str, object]
    base_version: str
    attempt: int = 1
    created_at: datetime | None = None
    """When the agent made it: check-before-resend looks only at messages after this."""


@dataclass(frozen=True, slots=True)
class RemoteState:
    """The server's current values of the fields a write may conflict on."""

    version: str
    status: Status
    priority: Priority
    assignee_external_id: str | None
    team_external_id: str | None
    tags: tuple[str, ...]
    snoozed_until: datetime | None = None
    updated_by: str | None = None
    """Who last changed the conversation, when the vendor says (for the conflict view)."""
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    version: str | None = None
    """The conversation's new server version, when the response carries it."""
    message_external_id: str | None = None
    """For reply/note: the id of the message the server created."""
    side_effects: dict[str, str] = field(default_factory=dict)
    """Fields the server changed as a result of this very write (RT re-opens a new or
    stalled ticket when the agent replies): later queued changes are based on these values,
    so the server's own reaction is not mistaken for a colleague's change."""
