"""The one sanitizer: backend text is shown literally and never reaches the terminal as control."""

from __future__ import annotations

import re

import pytest
from rich.console import Console
from rich.text import Text
from textual.content import Content

from agentdesk.sanitize import clean, safe_content, safe_text

MARKUP = ["[@click=app.quit]x[/]", "[link=http://x]y[/link]", "[/", "[$var]", "[bold", "[b]z[/b]"]
TERMINAL = {
    "\x1b[2J": "␛[2J",
    "\x1b]0;title\x07": "␛]0;title␇",
    "\x1b]52;c;aGVsbG8=\x07": "␛]52;c;aGVsbG8=␇",
    "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\": "␛]8;;http://evil␛\\link␛]8;;␛\\",
    "\x1bP1$r\x1b\\": "␛P1$r␛\\",
}
FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)


@pytest.mark.parametrize("hostile", MARKUP)
def test_markup_is_kept_as_literal_text(hostile):
    assert clean(hostile) == hostile
    assert safe_text(hostile).plain == hostile
    assert safe_text(hostile).spans == []
    content = safe_content(hostile)
    assert isinstance(content, Content)
    assert content.plain == hostile
    assert not content.spans


@pytest.mark.parametrize(("hostile", "shown"), TERMINAL.items())
def test_escape_sequences_become_visible_placeholders(hostile, shown):
    assert clean(hostile) == shown
    assert "\x1b" not in clean(hostile, single_line=False)


def test_c1_controls_8bit_csi_bidi_zero_width_and_surrogates_are_replaced():
    hostile = "a\x9b31mb\x85c\u202ed\u2066e\u200bf\u200dg\ufeffh\ud800i\U000e0041j\x00k\x7fl"
    cleaned = clean(hostile)
    assert FORBIDDEN.search(cleaned) is None
    assert cleaned == "a�31mb�c�d�e�f�g�h�i�j␀k␡l"
    cleaned.encode("utf-8")  # no lone surrogate survives


def test_multi_line_keeps_newlines_and_tabs_single_line_shows_them():
    text = "line one\r\nline\ttwo\rthree"
    assert clean(text, single_line=False) == "line one\nline\ttwo\nthree"
    assert clean(text) == "line one␍␤line two␍three"


def test_variation_selectors_are_dropped_so_cell_widths_stay_honest():
    assert clean("❤\ufe0f ok") == "❤ ok"


def test_plain_text_including_japanese_and_emoji_is_unchanged():
    for text in ("注文が届きません", "Refund for #4411 😀", "Ünïcödé — “quotes”", ""):
        assert clean(text) == text
        assert clean(text, single_line=False) == text


def test_rendered_hostile_text_writes_no_control_byte_to_the_terminal():
    console = Console(force_terminal=True, color_system=None, width=200, record=True)
    hostile = "".join(MARKUP) + "".join(TERMINAL) + "\x9b\u202e\u200b"
    with console.capture() as capture:
        console.print(safe_text(hostile))
    output = capture.get()
    assert "\x1b" not in output and "\x07" not in output and "\x9b" not in output
    assert "[@click=app.quit]x[/]" in output


def test_safe_text_applies_our_style_not_theirs():
    text = safe_text("[red]x", "bold")
    assert isinstance(text, Text)
    assert text.plain == "[red]x"
    assert str(text.style) == "bold"
