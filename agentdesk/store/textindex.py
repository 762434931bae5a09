"""Text as the full-text index sees it.

FTS5's unicode61 tokenizer treats a run of CJK characters as one token, so a Japanese word
inside a sentence is never found. At ingest every CJK run becomes its overlapping bigrams
followed by its last character ("返品について" -> "返品 品に につ つい いて て"): a word of two
or more characters is then a phrase of consecutive bigrams, and a one-character word is a
prefix query that every position of the run starts a token with.
"""

from __future__ import annotations

import operator
import re

_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af"  # hangul syllables
    "\uff66-\uff9f"  # half-width katakana
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_HAS_CJK = re.compile(f"[{_CJK}]")


def _bigrams(run: str) -> str:
    if len(run) == 1:
        return run
    # Pairs of neighbours by `map` (C), not slices in a generator: ingest runs this per run.
    return " ".join(map(operator.add, run, run[1:])) + " " + run[-1]


def _spaced_bigrams(match: re.Match[str]) -> str:
    return f" {_bigrams(match.group())} "


def index_text(text: str) -> str:
    """The form of `text` stored in the FTS index."""
    if text.isascii():  # a C scan; most text is. Without a CJK run, sub returns it as is.
        return text
    return _CJK_RUN.sub(_spaced_bigrams, text)


THREAD_SHIFT = 32  # message ids stay below 2**32 in a cache of any plausible size


def thread_rowid(conversation_id: int, message_id: int = 0) -> int:
    """The search_threads rowid of a conversation's subject (message_id 0) or of a message."""
    return (conversation_id << THREAD_SHIFT) | message_id


def query_terms(word: str) -> str:
    """An FTS5 MATCH expression for one user-typed word or phrase, CJK-aware."""
    pieces: list[str] = []
    for part in re.split(f"([{_CJK}]+)", word):
        if not part.strip():
            continue
        if _HAS_CJK.search(part):
            if len(part) == 1:
                pieces.append(f'"{part}"*')
            else:
                grams = " ".join(part[i : i + 2] for i in range(len(part) - 1))
                pieces.append(f'"{grams}"')
        else:
            for token in re.findall(r"\w+", part):
                pieces.append('"' + token.replace('"', '""') + '"')
    return " ".join(pieces)
