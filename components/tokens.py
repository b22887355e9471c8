"""Shared vocabulary of the views: how a token's text is shown, which colour each way
of producing a token gets, and a drafter's label and colour (from ``racer.drafters``).

The palette is Okabe-Ito (safe for the common colour-vision deficiencies), so
"retrieval", "logits" and "both" stay distinguishable for a whole class.
"""
from __future__ import annotations

import html
from typing import Callable, Sequence

from racer.drafters import find_drafter

TokenText = Callable[[int], str]  # token id -> its text alone (e.g. TargetModel.token_texts)

# source -> (colour, label in legends)
SOURCE_STYLE = {
    "root": ("#3b3b3b", "root (already committed)"),
    "retrieval": ("#0072B2", "retrieval (automaton)"),
    "logits": ("#E69F00", "logits cache"),
    "both": ("#009E73", "both sources"),
    "bonus": ("#CC79A7", "the model's own token"),
}

_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


def colour(source: str) -> str:
    return SOURCE_STYLE.get(source, ("#888888", source))[0]


def drafter_label(name: str) -> str:
    """The registry's label of a drafter ("retrieval only"); its bare name if unknown."""
    spec = find_drafter(name)
    return spec.label if spec else name


def drafter_colour(name: str) -> str:
    spec = find_drafter(name)
    return spec.colour if spec else "#888888"


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


def quoter(token_text: TokenText) -> Callable[[Sequence[int]], str]:
    """How ``racer.explain`` names tokens on the page: quoted, visible and escaped, so
    its sentences are safe HTML. One token keeps 24 characters, a run of tokens 40."""
    return lambda ids: quoted("".join(token_text(t) for t in ids), 24 if len(ids) == 1 else 40)
