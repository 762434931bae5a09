"""Zendesk payloads shaped as the Zendesk Support API documents them (see the OAS examples in
`../shared/specs/zendesk-ticketing-oas.json`): a small world for respx-backed tests."""

from __future__ import annotations

import re

import httpx
import respx

BASE = "https://acme.zendesk.com"
USER = "agent@acme.com"
TOKEN = "s3cr3t-zendesk-token-XYZ"

ADMIN = {
    "id": 900,
    "name": "Ada Admin",
    "email": "ada@acme.com",
    "role": "admin",
    "active": True,
    "created_at": "2024-01-01T00:00:00Z",
    "updated_at": "2024-01-01T00:00:00Z",
}
AGENT = {
    "id": 901,
    "name": "Tom Agent",
    "email": "Tom@Acme.com",
    "role": "agent",
    "active": True,
    "created_at": "2024-01-01T00:00:00Z",
    "updated_at": "2024-01-01T00:00:00Z",
}
BOT = {"id": 902, "name": "Answer Bot", "email": "bot@acme.com", "role": "agent", "active": True}
HANAKO = {
    "id": 1001,
    "name": "佐藤 花子",
    "email": "Hanako@Example.JP",
    "phone": "090-1234-5678",
    "role": "end-user",
    "locale": "ja",
    "time_zone": "Tokyo",
    "user_fields": {"plan": "Pro", "segment": "VIP", "lifetime_value": 120000, "notes": None},
    "created_at": "2024-02-01T00:00:00Z",
    "updated_at": "2024-03-01T00:00:00Z",
}
TOMB = {
    "id": 1002,
    "name": "Tom Baker",
    "email": "tom.baker@example.com",
    "phone": "+1 (415) 555-0100",
    "role": "end-user",
    "locale": "en-US",
    "time_zone": "Pacific Time (US & Canada)",
    "user_fields": {"plan": "Basic"},
}
GROUPS = [
    {"id": 70, "name": "First Level Support", "deleted": False},
    {"id": 71, "name": "Billing", "deleted": False},
]


def ticket(ticket_id: int, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": ticket_id,
        "url": f"{BASE}/api/v2/tickets/{ticket_id}.json",
        "subject": f"Ticket {ticket_id}",
        "description": "The fire is very colorful.",
        "status": "open",
        "priority": "high",
        "type": "incident",
        "requester_id": 1001,
        "submitter_id": 1001,
        "assignee_id": 901,
        "group_id": 70,
        "tags": ["enterprise", "other_tag"],
        "via": {"channel": "email"},
        "satisfaction_rating": {"comment": "Great support!", "id": 1234, "score": "good"},
        "created_at": "2024-05-01T09:00:00Z",
        "updated_at": "2024-05-02T10:38:52Z",
        "generated_timestamp": 1714646332,
    }
    base.update(kw)
    return base


def comment(comment_id: int, author_id: int, body: str | None = "Thanks!", **kw: object):
    base: dict[str, object] = {
        "id": comment_id,
        "type": "Comment",
        "author_id": author_id,
        "public": True,
        "created_at": f"2024-05-01T09:{comment_id % 60:02d}:00Z",
        "attachments": [],
        "via": {"channel": "web", "source": {"from": {}, "rel": None, "to": {}}},
        "metadata": {"system": {}},
    }
    if body is not None:
        base["body"] = body
        base["html_body"] = f'<div class="zd-comment"><p>{body}</p></div>'
        base["plain_body"] = body
    base.update(kw)
    return base


def comments_page(comments: list[dict], users: list[dict], after: str | None = None):
    return {
        "comments": comments,
        "users": users,
        "meta": {"has_more": after is not None, "after_cursor": after, "before_cursor": None},
        "links": {
            "next": f"{BASE}/api/v2/tickets/1/comments.json?page[after]={after}" if after else None,
            "prev": None,
        },
    }


def export_page(tickets: list[dict], users: list[dict], *, after: str, end: bool):
    return {
        "tickets": tickets,
        "users": users,
        "groups": GROUPS,
        "after_cursor": after,
        "after_url": f"{BASE}/api/v2/incremental/tickets/cursor.json?cursor={after}",
        "before_cursor": None,
        "before_url": None,
        "end_of_stream": end,
    }


def me(user: dict) -> dict[str, object]:
    return {"user": user}


def mount_world(router: respx.MockRouter, *, tickets: list[dict] | None = None) -> None:
    """A consistent small account: 2 groups, 3 agents, 2 customers, 2 tickets (1 page each)."""
    tickets = tickets or [ticket(1), ticket(2, requester_id=1002, via={"channel": "chat"})]
    router.get(f"{BASE}/api/v2/users/me.json").respond(json=me(AGENT))
    router.get(f"{BASE}/api/v2/groups.json").respond(
        json={"groups": GROUPS, "meta": {"has_more": False, "after_cursor": None}, "links": {}}
    )
    router.get(f"{BASE}/api/v2/group_memberships.json").respond(
        json={
            "group_memberships": [
                {"id": 1, "user_id": 901, "group_id": 70, "default": True},
                {"id": 2, "user_id": 901, "group_id": 71, "default": False},
                {"id": 3, "user_id": 900, "group_id": 71, "default": True},
            ],
            "meta": {"has_more": False},
        }
    )
    router.get(f"{BASE}/api/v2/users.json").respond(
        json={"users": [ADMIN, AGENT, BOT], "meta": {"has_more": False}}
    )
    router.get(url__regex=rf"{re.escape(BASE)}/api/v2/incremental/tickets/cursor\.json.*").respond(
        json=export_page(tickets, [HANAKO, TOMB, AGENT], after="CURSOR-1", end=True)
    )

    def thread(request: httpx.Request, ticket_id: str) -> httpx.Response:
        number = int(ticket_id)
        return httpx.Response(
            200,
            json=comments_page(
                [
                    comment(number * 10 + 1, 1001 if number == 1 else 1002, f"Hello {number}"),
                    comment(number * 10 + 2, 901, "We are on it.", public=True),
                ],
                [HANAKO, TOMB, AGENT],
            ),
        )

    router.get(
        url__regex=rf"{re.escape(BASE)}/api/v2/tickets/(?P<ticket_id>\d+)/comments\.json.*"
    ).mock(side_effect=thread)
