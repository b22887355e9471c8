"""The read-only piece of the retrieval automaton that the app draws: a small part of
the trie around the state, as plain ints (``TrieView``), built by ``trie_view``.

It reads the automaton through its read-only node accessors (``root_node``,
``state_node``, ``chain_nodes``, ``failure``) and ``retrieve``; it changes nothing
(failure links may get computed and cached).

Left out on purpose: drawing (``components.automaton_view`` turns a ``TrieView``
into a figure) and the whole trie (up to 200,000 nodes).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Sequence

from .automaton import Automaton
from .tree import path_from_root


@dataclass(frozen=True)
class TrieView:
    """A small piece of the trie, as plain ints, for drawing (``trie_view``).

    Nodes are numbered 0..n-1, parents before children; node 0 is the trie root
    (token -1, count 0, depth 0).

    tokens, counts, depths: (n,) per node: its last token, how often its string
             occurred in the context, its string's length.
    parents:  (n,) the parent node (the child edges); -1 for the trie root.
    failures: (node, target) failure links between shown nodes; links to the trie
              root are left out (every depth-1 node has one).
    state:    the node of the context's last tokens; -1 when it is not shown.
    borders:  the border nodes for the root token (a context suffix followed by the
              root before), deepest first: borders[0] ends the matched path.
    alone:    with no border, the node of the root token alone when it occurred
              before (a 1-token match: retrieval drafts what followed it); else -1.
    """
    tokens: tuple[int, ...] = ()
    counts: tuple[int, ...] = ()
    depths: tuple[int, ...] = ()
    parents: tuple[int, ...] = ()
    failures: tuple[tuple[int, int], ...] = ()
    state: int = -1
    borders: tuple[int, ...] = ()
    alone: int = -1

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def edges(self) -> list[tuple[int, int]]:
        """(parent, child) per trie edge."""
        return [(p, c) for c, p in enumerate(self.parents) if p >= 0]

    def path_to(self, node: int) -> list[int]:
        """Nodes from the trie root down to ``node``, both included."""
        return path_from_root(self.parents, node)


def trie_view(automaton: Automaton, root: int, drafted: Sequence[Sequence[int]] = (), max_nodes: int = 40,
              extra_children: int = 2) -> TrieView:
    """The trie around the state for a ``root`` token, at most ``max_nodes`` nodes
    besides the trie root. Read-only (failure links may get computed and cached).

    ``drafted``: token paths after the root that retrieval drafted; each one's node
    is the deepest that spells a border, then the path (where grow found it). In
    this order, while room is left:

    1. the matched path: every node from the trie root down to the deepest border;
    2. each drafted node with its parent (a long match leaves no room below the
       deepest border at the window's depth, so a chain of drafts steps down to
       shallower borders: node, failure link, the next one's parent, ...);
    3. the state's failure chain (every context suffix, state first), each node
       alone; 4. the other borders; 5. up to ``extra_children`` likeliest
       children of the deepest border.

    A node shown without its parent has parent -1: its upper path is left out.

    Window 3, context [1, 2, 3, 1, 2], root 3 (borders 1 2 3 and 2 3):
    trie_view(a, 3) shows the trie root; 1, 1 2, 1 2 3 (the matched path); the chain
    3 1 2 (the state), 1 2, 2 (its failure links: 3 1 2 -> 1 2 -> 2); 2 3 (the
    other border; 1 2 3 -> 2 3); nothing below 1 2 3, which is a full window.
    """
    chosen = _Chosen(automaton.root_node, max_nodes)
    states = automaton.retrieve(root).states   # the borders, then the root token alone
    borders = [n for n in states if n.depth >= 2]
    alone = states[-1] if not borders and states and states[-1].depth == 1 else None
    if borders:
        chosen.add(borders[0])
    elif alone is not None:
        chosen.add(alone)
    for tokens in drafted:
        node = _drafted_node(states, tokens)
        if node is not None:
            chosen.add(node, above=1)
    for node in automaton.chain_nodes():
        chosen.add(node, above=0)
    for border in borders[1:]:
        chosen.add(border, above=0)
    if borders:
        for kid in heapq.nlargest(extra_children, borders[0].children.values(),
                                  key=lambda n: (n.count, n.stamp)):
            chosen.add(kid, above=0)
    return _as_view(automaton, chosen.nodes.values(), borders, alone)


class _Chosen:
    """The nodes picked so far, the trie root first; at most ``limit`` besides it."""

    def __init__(self, root_node, limit: int) -> None:
        self.nodes = {id(root_node): root_node}
        self.limit = limit

    def add(self, node, above: int | None = None) -> None:
        """``node`` and up to ``above`` ancestors (all if None), if they fit."""
        path, up = [], node
        while id(up) not in self.nodes and (above is None or len(path) <= above):
            path.append(up)
            up = up.parent
        if len(self.nodes) - 1 + len(path) <= self.limit:
            self.nodes.update((id(n), n) for n in path)


def _drafted_node(states: tuple, tokens: Sequence[int]):
    """The node spelling ``tokens`` below the deepest of ``states`` that holds them
    (None if none does)."""
    for border in states:   # deepest first
        node = border
        for token in tokens:
            node = node.children.get(token)
            if node is None:
                break
        if node is not None:
            return node
    return None


def _as_view(automaton: Automaton, chosen, borders: list, alone=None) -> TrieView:
    """The chosen nodes as plain ints, parents first, with the failure links among them."""
    shown = sorted(chosen, key=lambda n: (n.depth, n.uid))  # parents first
    ids = {id(n): i for i, n in enumerate(shown)}
    failures = []
    for node in shown[1:]:
        target = automaton.failure(node)
        if target is not automaton.root_node and id(target) in ids:
            failures.append((ids[id(node)], ids[id(target)]))
    return TrieView(
        tokens=tuple(n.token for n in shown), counts=tuple(n.count for n in shown),
        depths=tuple(n.depth for n in shown),
        parents=tuple(ids.get(id(n.parent), -1) for n in shown),
        failures=tuple(failures), state=ids.get(id(automaton.state_node), -1),
        borders=tuple(ids[id(b)] for b in borders if id(b) in ids),
        alone=ids.get(id(alone), -1) if alone is not None else -1)
