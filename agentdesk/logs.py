"""Logging to the profile's log dir, rotated, with every known token redacted.

Tracebacks go here, never to the screen. Customer text in log lines is escaped so control
sequences cannot reach a terminal that `cat`s the log.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re

from agentdesk.paths import Profile

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_AUTH_HEADER = re.compile(
    r"(?i)(authorization|api_access_token|x-api-key)(['\"]?\s*[:=]\s*)"
    r"(?:(?:basic|bearer|token)\s+)?[^\s'\",]+"
)


class RedactingFilter(logging.Filter):
    """Replaces tokens and auth headers in every record, and escapes control characters."""

    def filter(self, record: logging.LogRecord) -> bool:
        from agentdesk.secrets import known_secrets

        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        text = record.exc_text or ""
        for secret in known_secrets():
            message = message.replace(secret, "[redacted]")
            text = text.replace(secret, "[redacted]")
        message = _AUTH_HEADER.sub(r"\1\2[redacted]", message)
        record.msg = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", message)
        record.args = ()
        record.exc_text = text or None
        record.exc_info = None if text else record.exc_info
        return True


def setup(profile: Profile, *, level: int = logging.INFO) -> logging.Handler:
    """Log to `<log dir>/agentdesk.log`, 2 MB x 5 files; idempotent."""
    root = logging.getLogger("agentdesk")
    for handler in list(root.handlers):
        if getattr(handler, "_agentdesk", False):
            if getattr(handler, "baseFilename", None) == str(profile.log_file.absolute()):
                return handler
            root.removeHandler(handler)  # another profile (tests switch AGENTDESK_HOME)
            handler.close()
    profile.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = logging.handlers.RotatingFileHandler(
        profile.log_file, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
    )
    os.chmod(profile.log_file, 0o600)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactingFilter())
    handler._agentdesk = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler
