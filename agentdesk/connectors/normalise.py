"""Normalising what customers are reached by, and bodies, the same way for every connector.

Identities that share a normalised email or phone link one customer across channels and
accounts, so every connector must normalise them identically: one implementation each.
"""

from __future__ import annotations

import functools

import html2text
import phonenumbers

_LOCALE_REGION = {
    "ja": "JP", "en": "US", "de": "DE", "fr": "FR", "es": "ES", "pt": "BR", "it": "IT",
    "nl": "NL", "ko": "KR", "zh": "CN", "sv": "SE", "da": "DK", "fi": "FI", "pl": "PL",
}  # fmt: skip


def normalise_email(value: str | None) -> str | None:
    if not value or "@" not in value:
        return None
    return value.strip().lower()


@functools.lru_cache(maxsize=8192)  # a customer's number comes back on every page they are on
def normalise_phone(value: str | None, locale: str | None = None) -> str | None:
    """E.164 (`+819012345678`), reading a national number in the locale's country."""
    if not value or not value.strip():
        return None
    language, _, country = (locale or "").replace("_", "-").partition("-")
    region = (country.upper() or _LOCALE_REGION.get(language.lower())) or None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping: the screen wraps
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.single_line_break = True
    return "\n".join(line.rstrip() for line in converter.handle(html).strip().splitlines())
