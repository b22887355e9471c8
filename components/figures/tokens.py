"""Shared vocabulary of the views: how a token's text is shown, which colour each way
of producing a token gets, and a drafter's label and colour (from ``racer.drafting.drafters``).

Colours come from ``racer.palette`` (Okabe-Ito, checked under simulated colour-vision
deficiencies), so "retrieval", "logits" and "both" stay distinguishable for a whole class.
"""
from __future__ import annotations

import html
from typing import Callable, Sequence

from racer import palette
from racer.model import token_text as readable
from racer.drafting.registry import drafter_label, find_drafter  # noqa: F401 - drafter_label: the views' import

# how a view names a token: its text alone. A ``racer.model.token_text.TokenText`` (the
# model's, ``TargetModel.token_text``) or, in tests, any such callable (``str``)
ShowToken = Callable[[int], str]

SOURCE_LABELS = {   # in legends
    "root": "root (already committed)",
    "retrieval": "retrieval (automaton)",
    "logits": "logits cache",
    "both": "both sources",
    "bonus": "the model's own token",
    "padding": "padding (never accepted)",
}

_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


def colour(source: str) -> str:
    return palette.SOURCE_COLOURS.get(source, palette.UNKNOWN)


def css_variables() -> str:
    """The palette as CSS custom properties (``--c-retrieval``, ``--c-error``...), put
    before ``assets/style.css`` so the stylesheet names colours instead of copying them."""
    named = {**palette.SOURCE_COLOURS, "error": palette.ERROR, "paper": palette.PAPER, "ink": palette.INK}
    return ":root {" + " ".join(f"--c-{k}: {v};" for k, v in named.items()) + "}\n"


def drafter_colour(name: str) -> str:
    spec = find_drafter(name)
    return spec.colour if spec else palette.UNKNOWN


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


def is_glyph(text: str) -> bool:
    """A token with no letter or digit (whitespace, punctuation, symbols): drawn larger,
    since a lone "." or "␣" at text size is a speck.

    >>> is_glyph(" "), is_glyph(".!"), is_glyph(" the"), is_glyph("")
    (True, True, False, False)
    """
    return bool(text) and not any(ch.isalnum() for ch in text)


def label(text: str, limit: int | None = None, quote: bool = False) -> str:
    """``visible`` text escaped for Plotly labels and HTML (a token may be ``<b>``).

    Quotes stay as they are unless ``quote``: Plotly decodes &lt; &gt; &amp; but would
    show &quot; literally. Pass ``quote=True`` for HTML attribute values.
    """
    return html.escape(visible(text, limit), quote=quote)


def quoted(text: str, limit: int | None = 24) -> str:
    """Visible, escaped token text in typographic quotes, for sentences."""
    return f"“{label(text, limit)}”"


def quoter(token_text: ShowToken) -> Callable[[Sequence[int]], str]:
    """How ``racer.inspect.explain`` names tokens on the page: quoted, visible and escaped, so
    its sentences are safe HTML. One token keeps 24 characters, a run of tokens 40."""
    return lambda ids: quoted(joined(token_text, ids), 24 if len(ids) == 1 else 40)


def joined(token_text: ShowToken, ids: Sequence[int]) -> str:
    """A run of tokens as text: their bytes joined where ``token_text`` knows them
    (``racer.model.token_text.TokenText``), so a character split over tokens reads whole."""
    if isinstance(token_text, readable.TokenText):
        return token_text.join(ids)
    return "".join(token_text(t) for t in ids)
