"""UTC timestamps as the store keeps them: ISO 8601 text that sorts correctly."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    if moment.tzinfo is UTC and moment.year >= 1000:
        # The common case, once per stored message: strftime's text without its format
        # parsing (~2x faster). strftime does not zero-pad years below 1000 on glibc.
        return (
            f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
        )
    if moment.tzinfo is None:
        raise ValueError("naive datetime: agentdesk keeps aware UTC times only")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def parse_timestamp(text: str) -> datetime:
    """A vendor timestamp (ISO 8601 with Z or offset); naive values are taken as UTC."""
    if text[-1:] == "Z":
        # Most vendors write `YYYY-MM-DDTHH:MM:SSZ`, which fromisoformat reads as UTC itself
        # (Python 3.11+); anything it refuses takes the general path below.
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if moment.tzinfo is UTC:
                return moment
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
