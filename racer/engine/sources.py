"""Where a token comes from, in one place: each source's name, its colour on the page and
its words in the tree's legend and in the coloured text's key.

A draft tree's node comes from retrieval (the automaton), the logits cache, or both at
once (the two proposed the same token); the root is the token already chosen; a fixed-size
policy's empty slot is padding (verified, never accepted). An emitted token is an
accepted draft (its node's source) or the model's own choice after the accepted path:
the bonus token.

>>> [SOURCES[s].legend for s in (RETRIEVAL, BONUS)]
['retrieval (automaton)', "the model's own token"]
"""
from __future__ import annotations

from dataclasses import dataclass

from racer import palette

ROOT, RETRIEVAL, LOGITS, BOTH, BONUS, PADDING = "root", "retrieval", "logits", "both", "bonus", "padding"


@dataclass(frozen=True)
class Source:
    name: str
    colour: str    # on the tree, the text, the race (``racer.palette``'s hues)
    legend: str    # the tree's legend
    text: str = ""  # the coloured text's key, for the sources an emitted token can have


SOURCES = {s.name: s for s in (
    Source(ROOT, palette.DARK_GREY, "root (already committed)"),
    Source(RETRIEVAL, palette.BLUE, "retrieval (automaton)", "accepted from retrieval"),
    Source(LOGITS, palette.ORANGE, "logits cache", "accepted from the logits cache"),
    Source(BOTH, palette.BLUISH_GREEN, "both sources", "accepted, proposed by both"),
    Source(BONUS, palette.REDDISH_PURPLE, "the model's own token", "the model's own token (root / bonus)"),
    # a fixed-size tree's empty slot (racer_sglang); a mid grey, 10 apart from "both" in CIEDE2000
    Source(PADDING, "#686868", "padding (never accepted)"),
)}
COLOURS = {name: s.colour for name, s in SOURCES.items()}
TEXT_SOURCES = (BONUS, RETRIEVAL, LOGITS, BOTH)  # what an emitted token can come from, key order


def colour(source: str) -> str:
    """A source's colour; a neutral grey for a name that is none."""
    found = SOURCES.get(source)
    return found.colour if found else palette.UNKNOWN
