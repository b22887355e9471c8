"""What the retrieval automaton's queries return (``racer.automaton``): the borders
found for a root token (``Retrieval``) and the tokens that followed them
(``Continuation``), as plain ints plus opaque node handles to continue from.

Left out on purpose: the trie itself; a state handle means something only to the
automaton that made it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Retrieval:
    """What ``Automaton.retrieve`` found for one root token.

    borders: per border, the context tokens it matched before the root, deepest first.
    matched: the deepest border's; () if none.
    states:  the border nodes, deepest first, then the root token's own node (opaque:
             pass them to ``continuations``).
    """
    borders: tuple[tuple[int, ...], ...]
    matched: tuple[int, ...]
    states: tuple


@dataclass(frozen=True)
class Continuation:
    """One token that followed a match earlier in the context.

    match:  tokens matched just before it (context tokens, the root, drafted tokens);
            1 when only the root token itself matched.
    count:  how often it followed that match; total: how often the match occurred.
    latest: it followed the match's latest occurrence (what prompt lookup would copy).
    states: its nodes under every match that it followed, deepest first (opaque).
    """
    token: int
    match: int
    count: int
    total: int
    latest: bool
    states: tuple
