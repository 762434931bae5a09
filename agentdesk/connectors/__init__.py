"""Connectors: vendor JSON ⇄ agentdesk records, over one shared HTTP policy.

`base` holds the protocol, capability flags and typed errors; `http` the client policy;
`registry` discovers connectors through the `agentdesk.connectors` entry-point group.
Importing this package stays cheap (no httpx): import `http` or a vendor module when needed.
"""

from agentdesk.connectors.base import (
    AccountSettings,
    AuthError,
    BackendError,
    Capabilities,
    ConflictError,
    Connector,
    ConnectorError,
    Invalid,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
)

__all__ = [
    "AccountSettings",
    "AuthError",
    "BackendError",
    "Capabilities",
    "ConflictError",
    "Connector",
    "ConnectorError",
    "Invalid",
    "MalformedResponse",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
]
