"""Shared vocabulary of the views: how a token's text is shown and which colour
each way of producing a token gets.

The palette is Okabe-Ito (safe for the common colour-vision deficiencies), so
"retrieval", "logits" and "both" stay distinguishable for a whole class.
"""
from __future__ import annotations

import html
from typing import Callable

TokenText = Callable[[int], str]  # token id -> its text alone (e.g. TargetModel.token_texts)

# source -> (colour, label in legends)
SOURCE_STYLE = {
    "root": ("#3b3b3b", "root (already committed)"),
    "retrieval": ("#0072B2", "retrieval (automaton)"),
    "logits": ("#E69F00", "logits cache"),
    "both": ("#009E73", "both sources"),
    "bonus": ("#CC79A7", "the model's own token"),
}
SOURCES = tuple(SOURCE_STYLE)
DRAFTER_LABELS = {"racer": "RACER", "retrieval": "retrieval only", "logits": "logits only",
                  "prompt_lookup": "prompt lookup", "plain": "plain decoding"}

_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


def colour(source: str) -> str:
    return SOURCE_STYLE.get(source, ("#888888", source))[0]


def visible(text: str, limit: int | None = None) -> str:
    """Token text with whitespace made visible; control characters as \\xNN.

    >>> visible(" the\\n")
    '␣the↵'
    >>> visible("")
    '∅'
    """
    out = []
    for ch in text:
        if ch in _VISIBLE:
            out.append(_VISIBLE[ch])
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    shown = "".join(out) or "∅"
    if limit is not None and len(shown) > limit:
        shown = shown[: max(1, limit - 1)] + "…"
    return shown


def label(text: str, limit: int | None = None, quote: bool = False) -> str:
    """``visible`` text escaped for Plotly labels and HTML (a token may be ``<b>``).

    Quotes stay as they are unless ``quote``: Plotly decodes &lt; &gt; &amp; but would
    show &quot; literally. Pass ``quote=True`` for HTML attribute values.
    """
    return html.escape(visible(text, limit), quote=quote)


def quoted(text: str, limit: int | None = 24) -> str:
    """Visible, escaped token text in typographic quotes, for sentences."""
    return f"“{label(text, limit)}”"
