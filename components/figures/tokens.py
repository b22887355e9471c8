"""Shared vocabulary of the views: how a token's text is shown, which colour each way
of producing a token gets, and a drafter's label and colour (from ``racer.drafting.drafters``).

Colours come from ``racer.palette`` (Okabe-Ito, checked under simulated colour-vision
deficiencies), so "retrieval", "logits" and "both" stay distinguishable for a whole class.

Token text in any script: a label with a right-to-left letter is wrapped in Unicode
isolates (``isolated``: LRI ... PDI, and each ``<0xNN>`` run in its own), so "י<0xD7>"
reads left to right as written instead of the bidi algorithm's "0>יxD7>"; a label is
never cut inside a grapheme cluster or a ``<0xNN>`` (``units``).
"""
from __future__ import annotations

import html
import re
import unicodedata
from typing import Callable, Sequence

import regex

from racer import palette
from racer.engine.sources import COLOURS, SOURCES, colour  # noqa: F401 (colour: the views' lookup)
from racer.model import token_text as readable
from racer.drafting.registry import drafter_label, find_drafter  # noqa: F401 - drafter_label: the views' import

# how a view names a token: its text alone. A ``racer.model.token_text.TokenText`` (the
# model's, ``TargetModel.token_text``) or, in tests, any such callable (``str``)
ShowToken = Callable[[int], str]

SOURCE_LABELS = {name: s.legend for name, s in SOURCES.items()}  # in legends

_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}
VISIBLE_WORDS = {" ": "a space", "\n": "a new line", "\t": "a tab", "\r": "a carriage return"}   # the key

LRI, PDI = "\u2066", "\u2069"   # left-to-right isolate ... pop directional isolate
BYTE_RUN = re.compile(r"(?:<0x[0-9A-F]{2}>)+")   # racer.model.token_text's notation of stray bytes
_UNIT = regex.compile(r"<0x[0-9A-F]{2}>|\X")
# bidi classes that can reorder a label: right-to-left letters and digits, and explicit controls
_REORDERING = {"R", "AL", "AN", "RLE", "RLO", "LRE", "LRO", "PDF", "RLI", "LRI", "FSI", "PDI"}
# bidi controls inside a token are shown, not obeyed (an override would reorder the page after it)
_BIDI_CONTROLS = {chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}




def css_variables() -> str:
    """The palette as CSS custom properties (``--c-retrieval``, ``--c-error``...), put
    before ``assets/style.css`` so the stylesheet names colours instead of copying them."""
    named = {**COLOURS, "error": palette.ERROR, "paper": palette.PAPER, "ink": palette.INK}
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
        elif ch in _BIDI_CONTROLS:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    shown = "".join(out) or "∅"
    return shown if limit is None else cut(shown, limit)


def units(text: str) -> list[str]:
    """What a label may not be cut inside: grapheme clusters and ``<0xNN>`` bytes.

    >>> units("a<0xD7>👩🏽‍💻")
    ['a', '<0xD7>', '👩🏽\u200d💻']
    """
    return _UNIT.findall(text)


def cut(text: str, limit: int, left: bool = False) -> str:
    """``text`` in at most ``limit`` characters, an ellipsis for what was cut (at the
    end, or at the start when ``left``), never inside a unit (``units``); at least one
    unit stays, however long.

    >>> cut("abcdefgh", 4), cut("abcdefgh", 4, left=True), cut("<0xD7><0x99>", 8)
    ('abc…', '…fgh', '<0xD7>…')
    """
    if len(text) <= limit:
        return text
    parts = units(text)
    if left:
        parts.reverse()
    kept, room = [], max(1, limit - 1)
    for part in parts:
        if kept and sum(map(len, kept)) + len(part) > room:
            break
        kept.append(part)
    if left:
        return "…" + "".join(reversed(kept))
    return "".join(kept) + "…"


def isolated(text: str) -> str:
    """Visible token text that the bidi algorithm cannot reorder into nonsense: where it
    holds a right-to-left letter (or a bidi control), the whole is wrapped in LRI ... PDI,
    read left to right like the tree and the text around it, and each ``<0xNN>`` run in
    an isolate of its own, so that neither a Hebrew letter before it nor one after it
    pulls its digits apart. Text without one cannot reorder and comes back as it is.

    >>> isolated("י<0xD7>") == LRI + "י" + LRI + "<0xD7>" + PDI + PDI
    True
    >>> isolated("␣the<0xE2>")
    '␣the<0xE2>'
    """
    if not any(unicodedata.bidirectional(ch) in _REORDERING for ch in text):
        return text
    return LRI + isolate_bytes(text) + PDI


def isolate_bytes(text: str) -> str:
    """Each run of ``<0xNN>`` in an isolate of its own (LRI ... PDI): in running text,
    where the paragraph's direction comes from its words, bytes after a Hebrew word
    stay "<0xD7>" instead of "0>...xD7>"."""
    return BYTE_RUN.sub(lambda m: LRI + m.group(0) + PDI, text)


def is_glyph(text: str) -> bool:
    """A token with no letter or digit (whitespace, punctuation, symbols): drawn larger,
    since a lone "." or "␣" at text size is a speck.

    >>> is_glyph(" "), is_glyph(".!"), is_glyph(" the"), is_glyph("")
    (True, True, False, False)
    """
    return bool(text) and not any(ch.isalnum() for ch in text)


def label(text: str, limit: int | None = None, quote: bool = False) -> str:
    """``visible`` text, ``isolated``, escaped for Plotly labels and HTML (a token may be ``<b>``).

    Quotes stay as they are unless ``quote``: Plotly decodes &lt; &gt; &amp; but would
    show &quot; literally. Pass ``quote=True`` for HTML attribute values.
    """
    return html.escape(isolated(visible(text, limit)), quote=quote)


def quoted(text: str, limit: int | None = 24) -> str:
    """Visible, escaped token text in typographic quotes, for sentences."""
    return f"“{label(text, limit)}”"


def quoter(token_text: ShowToken) -> Callable[[Sequence[int]], str]:
    """How ``racer.inspect.explain`` names tokens on the page: quoted, visible and escaped, so
    its sentences are safe HTML. One token keeps 24 characters, a run of tokens 40."""
    return lambda ids: quoted(joined(token_text, ids), 24 if len(ids) == 1 else 40)


def tree_texts(token_text: ShowToken, tokens: Sequence[int], parents: Sequence[int]) -> list[str]:
    """Each tree node's token text read under its ancestors (``parents[i]``: node i's
    parent's index, -1 for the root): a character or emoji whose bytes began in the
    parent's token shows whole on the node that finishes it
    (``racer.model.token_text.completed``). A plain callable names each token alone."""
    if not isinstance(token_text, readable.TokenText):
        return [token_text(t) for t in tokens]
    out = []
    for i, token in enumerate(tokens):
        chain, up = [], parents[i]
        while up >= 0 and len(chain) < 8:
            chain.append(tokens[up])
            up = parents[up]
        out.append(token_text.completed(chain[::-1], token))
    return out


def glyph_runs(token_text: ShowToken, ids: Sequence[int]) -> list[tuple[int, int, str]]:
    """A run of tokens as groups ``(first, stop, text)`` that split no character and no
    grapheme cluster (``racer.model.token_text.glyphs``); a plain callable gives one
    group per token."""
    if isinstance(token_text, readable.TokenText):
        return token_text.glyphs(ids)
    return [(i, i + 1, token_text(t)) for i, t in enumerate(ids)]


def key_html(specials: Sequence[str] = ()) -> str:
    """The key to token labels: the marks for whitespace, stray bytes, and the chat
    template's special tokens (``specials``: the model's, e.g. "<|im_end|>")."""
    marks = "".join(f"<li><code>{v}</code> {VISIBLE_WORDS[k]}</li>" for k, v in _VISIBLE.items())
    names = ", ".join(f"<code>{html.escape(s)}</code>" for s in specials) or "<code>&lt;|im_end|&gt;</code>"
    return (
        '<div class="token-key"><ul>'
        f"{marks}"
        "<li><code>&lt;0xD7&gt;</code> one byte that is not a whole character on its own. The model reads "
        "bytes, not letters: a Hebrew or Cyrillic letter is two bytes, a Chinese character three, an emoji "
        "four or more, and a token may hold part of one. Where the next token holds the rest, the two are "
        "shown joined: in the text, and on the node that finishes the character (its hover shows the token "
        "alone).</li>"
        f"<li>{names}: the chat template's special tokens. <code>&lt;|im_start|&gt;</code> opens a turn, "
        "<code>&lt;|im_end|&gt;</code> ends one; the model writing <code>&lt;|im_end|&gt;</code> ends "
        "its answer.</li>"
        "<li><code>∅</code> a token with no text; <code>…</code> a label shortened for room (hover a node "
        "for all of it).</li></ul></div>")


def joined(token_text: ShowToken, ids: Sequence[int]) -> str:
    """A run of tokens as text: their bytes joined where ``token_text`` knows them
    (``racer.model.token_text.TokenText``), so a character split over tokens reads whole."""
    if isinstance(token_text, readable.TokenText):
        return token_text.join(ids)
    return "".join(token_text(t) for t in ids)
