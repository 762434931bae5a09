"""The one sanitizer for untrusted text: every string that came from a backend goes through it.

Backend strings (subjects, bodies, names, tags, attribute values, server error messages) reach
the screen only as *plain text*:

- never parsed as markup: build `rich.text.Text` / `textual.content.Content` objects from the
  cleaned string (`safe_text`, `safe_content`); never hand a raw string to `Static`, `Label`,
  `notify` or a DataTable cell, which all parse Textual markup by default;
- no control byte reaches the terminal: C0 and C1 controls (so ESC, CSI, OSC, DCS, BEL...) become
  visible control pictures (``␛``, ``␇``) or U+FFFD, so ``\\x1b[2J`` shows as the harmless
  text ``␛[2J``; bidi overrides/isolates, zero-width characters, Unicode tag characters and lone
  surrogates become ``�``; variation selectors are dropped (they change a glyph's width in the
  terminal but not in Rich's cell count, which breaks column alignment).

It runs on every rendered line, so it is a precompiled regex test plus one `str.translate`.
Output that is not a screen uses the same rules: `clean` for CLI text and CSV cells,
`safe_json` for JSON (which keeps every character, escaped as `\\uXXXX`, so it stays exact).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.style import StyleType
    from rich.text import Text
    from textual.content import Content

REPLACEMENT = "\ufffd"

# Characters that could reorder or hide text, or smuggle invisible content.
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x061C, 0x200E, 0x200F]
_ZERO_WIDTH = [0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF, 0x180E]
_TAGS = range(0xE0000, 0xE0080)
_SURROGATES = range(0xD800, 0xE000)
_VARIATION_SELECTORS = range(0xFE00, 0xFE10)


def _table(*, single_line: bool) -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for code in range(0x20):
        table[code] = chr(0x2400 + code)  # control pictures: ␀ … ␟ (ESC is ␛)
    table[0x7F] = "\u2421"  # ␡
    for code in range(0x80, 0xA0):
        table[code] = REPLACEMENT  # C1 controls, including the 8-bit CSI 0x9b and NEL 0x85
    for code in (*_BIDI, *_ZERO_WIDTH, *_TAGS, *_SURROGATES):
        table[code] = REPLACEMENT
    for code in _VARIATION_SELECTORS:
        table[code] = None
    if single_line:
        table[0x09] = " "
        table[0x0A] = "\u2424"  # ␤: a line break inside a one-line field stays visible
        table[0x2028] = " "
        table[0x2029] = " "
    else:
        del table[0x09]
        del table[0x0A]
        table[0x2028] = "\n"
        table[0x2029] = "\n"
    return table


_SINGLE = _table(single_line=True)
_MULTI = _table(single_line=False)


def _pattern(table: dict[int, str | None]) -> re.Pattern[str]:
    # One character class covering exactly the table's keys (ranges where contiguous).
    codes = sorted(table)
    parts: list[str] = []
    start = prev = codes[0]
    for code in [*codes[1:], -1]:
        if code == prev + 1:
            prev = code
            continue
        parts.append(
            re.escape(chr(start))
            if start == prev
            else f"{re.escape(chr(start))}-{re.escape(chr(prev))}"
        )
        start = prev = code
    return re.compile("[" + "".join(parts) + "]")


_UNSAFE_SINGLE = _pattern(_SINGLE)
_UNSAFE_MULTI = _pattern(_MULTI)


def clean(text: str, *, single_line: bool = True) -> str:
    """`text` with every control, bidi, zero-width and surrogate character made visible or removed.

    `single_line=False` keeps newlines and tabs (message bodies); CRLF and lone CR become LF
    there. In single-line fields a newline shows as ``␤`` and a tab as a space.
    """
    if not text:
        return ""
    if single_line:
        if _UNSAFE_SINGLE.search(text) is None:
            return text
        return text.translate(_SINGLE)
    if _UNSAFE_MULTI.search(text) is None:
        return text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.translate(_MULTI)


def safe_text(text: str, style: StyleType = "", *, single_line: bool = True) -> Text:
    """A Rich `Text` holding `text` literally (no markup) and cleaned; `style` is ours, not theirs."""
    from rich.text import Text  # here, so the CLI's text and JSON output need no Rich
    return Text(clean(text, single_line=single_line), style=style, no_wrap=single_line, end="")


def safe_content(text: str, *, single_line: bool = True) -> Content:
    """A Textual `Content` holding `text` literally (for `Static`, `Label`, `notify`...)."""
    from textual.content import Content

    return Content(clean(text, single_line=single_line))


# In JSON text these characters can only stand inside strings, where `\uXXXX` is their exact
# escape: the reader gets the same string, the terminal never sees the raw character.
_UNSAFE_IN_JSON = _pattern({code: None for code in _MULTI if code >= 0x20 or code == 0x0D})


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # a UTF-16 surrogate pair, as JSON writes astral characters
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def csv_cell(value: object) -> object:
    """A CSV cell: text cleaned (newlines kept) and never a spreadsheet formula (a leading
    = + - @ tab or CR is quoted away); numbers pass through."""
    if not isinstance(value, str):
        return value
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        value = "'" + value
    return clean(value, single_line=False)


def safe_json(value: object, **dumps: object) -> str:
    """`json.dumps(value, ensure_ascii=False, ...)` with every character `clean` would change
    escaped instead, so the output is exact and still inert in a terminal."""
    text = json.dumps(value, ensure_ascii=False, **dumps)  # type: ignore[arg-type]
    return _UNSAFE_IN_JSON.sub(_json_escape, text)
