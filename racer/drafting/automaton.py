"""The retrieval automaton: a trie of the context's token n-grams with Aho-Corasick
failure links.

Every string of at most ``window`` consecutive context tokens is a path in the trie;
each node counts how often its string occurs in the context (its *frequency*) and
when it last did (its *stamp*). The *state* is the node of the context's last
``window`` tokens; its failure chain (state, its longest proper suffix in the trie,
that one's, ...) is the list of every context suffix the trie holds.

Each decoding step the drafter calls:

1. ``retrieve(root)``: every suffix on the chain with a child for the root token is a
   *border*: a place where the same context tokens were followed by the root before.
   The root token's own node (what followed it anywhere) comes last, as a 1-token match.
2. ``continuations(states)``: the tokens that followed a border (then a continuation,
   and so on), each with the longest match it continues, how often it followed that
   match, and whether it followed the match's latest occurrence.
3. ``append(tokens)`` with the root and the accepted drafts.

``retrieve`` and ``continuations`` return plain values (``Retrieval``, ``Continuation``:
ints plus opaque node handles to continue from). ``trie_view`` reads the nodes
(``root_node``, ``state_node``, ``chain_nodes``, ``failure``) and changes nothing: the
``TrieView`` it returns is a small piece of the trie around the state, as plain ints,
for the page to draw (``components.figures.automaton``).

The module in four parts: the trie's nodes and the heap that finds the least recently
used leaf; what a query returns; the automaton; the read-only view.

Worked example, window 3, context [1, 2, 3, 1, 2]:
    trie: 1 (x2), 1 2 (x2), 1 2 3, 2 (x2), 2 3, 2 3 1, 3, 3 1, 3 1 2; state (3, 1, 2).
    retrieve(3): the chain (3,1,2) -> (1,2) -> (2,) -> root; (1,2) and (2,) have a
    child 3 -> borders (1,2,3) and (2,3), matched (1,2); then the node (3,).
    continuations: (1,2,3) is at the window's depth; (2,3) has the child 1 -> token 1,
    match 2 (the border (2,3)), followed 1 time of 1; (3,) adds nothing new.

Departures from the authors' automaton (see docs/design.md): a string enters the trie as
soon as its last token does, not once a whole window starting with it is complete, so
a repeat is found even when it is closer than ``window`` tokens; failure links stay
correct as nodes come and go (recomputed lazily); only leaves are recycled; retrieval
does not move the state (``append`` does), so a retrieve can be repeated or dropped.

Left out on purpose: tensors, the logits cache, estimates and tree building; this
module works on plain int token ids. Drawing is the page's.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

from racer.engine.tree import path_from_root


# -- the trie's nodes and its least recently used leaf -------------------------------------
# Only leaves are recycled: ``Automaton`` stamps a node's ancestors whenever it stamps the
# node, so no node is less recent than its descendants and the oldest leaf is the oldest
# node that can go. The heap holds (stamp, uid, leaf) entries; an entry goes stale when
# its leaf is restamped, gains a child or is recycled, and stale entries are skipped
# when popped (or dropped all at once by ``rebuild``) instead of being searched for.

class Node:
    """One trie node; the string it spells is the tokens on the path from the root."""

    __slots__ = ("token", "parent", "children", "depth", "count", "stamp", "fail", "fail_version", "uid")

    def __init__(self, token: int, parent: Optional["Node"], depth: int, uid: int) -> None:
        self.token = token
        self.parent = parent      # None for the trie root and for recycled nodes
        self.children: dict[int, Node] = {}
        self.depth = depth        # 0 for the trie root
        self.count = 0            # occurrences of the string in the context
        self.stamp = 0            # clock (context length) at its latest occurrence's end
        self.fail: Optional[Node] = None
        self.fail_version = -1    # structure version ``fail`` was computed at
        self.uid = uid            # creation order; breaks ties deterministically


class LeafHeap:
    """Leaves by stamp, oldest first (ties: the older node), lazily invalidated.

    >>> root = Node(-1, None, 0, 0)
    >>> a, b = Node(1, root, 1, 1), Node(2, root, 1, 2)
    >>> a.stamp, b.stamp = 2, 1
    >>> heap = LeafHeap()
    >>> heap.push(a.stamp, a); heap.push(b.stamp, b)
    >>> heap.pop_oldest(keep={id(b)}) is a
    True
    """

    __slots__ = ("_heap",)

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Node]] = []

    def __len__(self) -> int:
        """Entries, stale ones included."""
        return len(self._heap)

    def push(self, stamp: int, leaf: Node) -> None:
        heapq.heappush(self._heap, (stamp, leaf.uid, leaf))

    def pop_oldest(self, keep: set[int]) -> Optional[Node]:
        """Take out and return the least recently used live leaf whose id is not in
        ``keep``; None when there is none. Entries of kept leaves stay in the heap."""
        aside = []
        victim = None
        while self._heap:
            entry = heapq.heappop(self._heap)
            stamp, _, node = entry
            if node.parent is None or node.stamp != stamp or node.children:
                continue
            if id(node) in keep:
                aside.append(entry)
                continue
            victim = node
            break
        for entry in aside:
            heapq.heappush(self._heap, entry)
        return victim

    def rebuild(self, leaves: Iterable[Node]) -> None:
        """Drop stale entries: one entry per leaf in ``leaves``, at its stamp."""
        self._heap = [(n.stamp, n.uid, n) for n in leaves]
        heapq.heapify(self._heap)

# -- what a query returns ------------------------------------------------------------------

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

# -- the automaton -------------------------------------------------------------------------
# Every string of at most ``window`` consecutive context tokens is a path in the trie;
# each node counts how often its string occurs in the context (its *frequency*) and
# when it last did (its *stamp*). The *state* is the node of the context's last
# ``window`` tokens; its failure chain (state, its longest proper suffix in the trie,
# that one's, ...) is the list of every context suffix the trie holds.
#
# Each decoding step the drafter calls:
#
# 1. ``retrieve(root)``: every suffix on the chain with a child for the root token is a
#    *border*: a place where the same context tokens were followed by the root before.
#    The root token's own node (what followed it anywhere) comes last, as a 1-token match.
# 2. ``continuations(states)``: the tokens that followed a border (then a continuation,
#    and so on), each with the longest match it continues, how often it followed that
#    match, and whether it followed the match's latest occurrence.
# 3. ``append(tokens)`` with the root and the accepted drafts.
#
# ``retrieve`` and ``continuations`` return the plain values of ``racer.drafting.automaton``.
# ``racer.drafting.automaton`` reads the nodes (``root_node``, ``state_node``, ``chain_nodes``,
# ``failure``) to draw a small piece of the trie around the state, as plain ints.
# The nodes and the heap that picks the leaf to recycle are in ``racer.drafting.automaton``.
#
# Worked example, window 3, context [1, 2, 3, 1, 2]:
#     trie: 1 (x2), 1 2 (x2), 1 2 3, 2 (x2), 2 3, 2 3 1, 3, 3 1, 3 1 2; state (3, 1, 2).
#     retrieve(3): the chain (3,1,2) -> (1,2) -> (2,) -> root; (1,2) and (2,) have a
#     child 3 -> borders (1,2,3) and (2,3), matched (1,2); then the node (3,).
#     continuations: (1,2,3) is at the window's depth; (2,3) has the child 1 -> token 1,
#     match 2 (the border (2,3)), followed 1 time of 1; (3,) adds nothing new.
#
# Departures from the authors' automaton (see docs/design.md): a string enters the trie as
# soon as its last token does, not once a whole window starting with it is complete, so
# a repeat is found even when it is closer than ``window`` tokens; failure links stay
# correct as nodes come and go (recomputed lazily); only leaves are recycled; retrieval
# does not move the state (``append`` does), so a retrieve can be repeated or dropped.

class Automaton:
    """Trie of every string of at most ``window`` consecutive context tokens.

    At most ``capacity`` nodes (the trie root not counted); beyond that the least
    recently used leaf is recycled.

    >>> a = Automaton(window=3, capacity=100)
    >>> a.reset([1, 2, 3, 1, 2])
    >>> a.state_tokens()
    (3, 1, 2)
    >>> r = a.retrieve(3)
    >>> r.borders, r.matched
    (((1, 2), (2,)), (1, 2))
    >>> [(c.token, c.match, c.count, c.total) for c in a.continuations(r.states)]
    [(1, 2, 1, 1)]
    """

    def __init__(self, window: int, capacity: int) -> None:
        if window < 2:
            raise ValueError("window must be at least 2 tokens")
        if capacity < window + 1:
            raise ValueError("capacity must be at least window + 1 nodes")
        self._window = window
        self._capacity = capacity
        self.reset(())

    # ----------------------------------------------------------------- public API

    @property
    def window(self) -> int:
        return self._window

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def node_count(self) -> int:
        """Nodes in the trie, the trie root not counted."""
        return self._size

    def reset(self, context: Sequence[int]) -> None:
        """Forget everything, then add ``context``.

        context=[1, 2, 1], window 2 -> strings 1 (x2), 1 2, 2, 2 1; state (2, 1).
        """
        self._uid = 0
        self._root = Node(-1, None, 0, 0)
        self._size = 0
        self._version = 0   # bumped on every node creation and recycling
        self._clock = 0     # one tick per context token
        self._lru = LeafHeap()   # leaves to recycle, least recently used first
        self._suffixes: list[Node] = []   # nodes of the context's last 1, 2, ... tokens
        self._state = self._root
        self.append(context)

    def append(self, tokens: Sequence[int]) -> None:
        """Add ``tokens`` (the root and the accepted drafts) to the context: each one
        extends every context suffix shorter than the window by one token."""
        for token in tokens:
            self._clock += 1
            grown = []
            for node in [self._root] + self._suffixes:
                if node.parent is None and node is not self._root:
                    continue   # recycled under us: that suffix is no longer in the trie
                child = node.children.get(token)
                if child is None:
                    child = self._new_child(node, token, protect=grown)
                    if child is None:
                        continue   # full, and nothing could be recycled
                self._touch(child)
                grown.append(child)
            self._suffixes = [n for n in grown if n.depth < self._window]
            self._state = grown[-1] if grown else self._root
            if not grown:
                self._suffixes = []

    def retrieve(self, root: int) -> Retrieval:
        """Borders for ``root``: context suffixes (one token at least) that were followed
        by ``root`` before, deepest first. The states to continue from are the borders
        and, last, the root token's own node (a 1-token match: what followed the root
        token anywhere, as prompt lookup's shortest key). Changes nothing."""
        borders = []
        for node in self._chain():
            child = node.children.get(root)
            if child is not None and node.depth >= 1:
                borders.append(child)
        matched = tuple(self._spell(b.parent) for b in borders)
        alone = self._root.children.get(root)
        states = tuple(borders) + ((alone,) if alone is not None else ())
        return Retrieval(matched, matched[0] if matched else (), states)

    def continuations(self, states: tuple, limit: int = 8) -> list[Continuation]:
        """Tokens that followed ``states`` (borders, or a continuation's states), at
        most ``limit`` per state, deepest match first; a token that followed several
        matches is reported once, with its deepest.

        Within a state: most frequent first, then the most recent.
        """
        found: dict[int, Continuation] = {}
        for state in states:
            kids = state.children
            if not kids:
                continue
            latest = max(kids.values(), key=lambda n: n.stamp)
            best = kids.values() if len(kids) <= limit else heapq.nlargest(
                limit, kids.values(), key=lambda n: (n.count, n.stamp))
            for child in sorted(best, key=lambda n: (-n.count, -n.stamp)):
                if child.token in found:
                    continue
                below = tuple(s.children[child.token] for s in states if child.token in s.children)
                found[child.token] = Continuation(child.token, state.depth, child.count, state.count,
                                                  child is latest, below)
        return list(found.values())

    def state_tokens(self) -> tuple[int, ...]:
        """The tokens spelling the current state, trie root first; () at the root."""
        return self._spell(self._state)

    def failure_chain(self) -> list[tuple[int, ...]]:
        """The strings on the state's failure chain, deepest first, the root () last."""
        chain, node = [], self._state
        while True:
            chain.append(self._spell(node))
            if node is self._root:
                return chain
            node = self._fail(node)

    # ------------------------------------- nodes, read-only (for racer.drafting.automaton)

    @property
    def root_node(self) -> Node:
        """The trie root (opaque; read it, never change it)."""
        return self._root

    @property
    def state_node(self) -> Node:
        """The node of the context's last tokens (opaque)."""
        return self._state

    def chain_nodes(self) -> list[Node]:
        """The state's failure chain without the trie root, deepest first (opaque)."""
        return self._chain()

    def failure(self, node: Node) -> Node:
        """``node``'s failure link: its longest proper suffix that is a trie path."""
        return self._fail(node)

    # ------------------------------------------------------------ trie and links

    def _chain(self) -> list[Node]:
        """The state's failure chain without the trie root: every context suffix in
        the trie, deepest first. It is the suffix list ``append`` keeps (plus the state
        when the state is a full window); ``failure_chain`` walks the links instead."""
        chain = list(reversed(self._suffixes))
        if self._state is not self._root and (not chain or chain[0] is not self._state):
            chain.insert(0, self._state)
        return chain

    def _touch(self, node: Node) -> None:
        """One more occurrence ending now. Ancestors get the same stamp, so a node is
        never less recent than its descendants and only leaves are LRU candidates."""
        node.count += 1
        clock = self._clock
        up = node
        while up is not self._root and up.stamp < clock:
            up.stamp = clock
            up = up.parent
        if not node.children:
            self._lru.push(clock, node)
            if len(self._lru) > 2 * self._size + 64:   # mostly stale entries
                self._lru.rebuild(n for n in self._nodes() if not n.children)

    def _new_child(self, parent: Node, token: int, protect: list[Node]) -> Optional[Node]:
        if self._size >= self._capacity and not self._recycle(keep={id(parent)} | {id(n) for n in protect}
                                                              | {id(n) for n in self._suffixes}):
            return None
        self._uid += 1
        child = Node(token, parent, parent.depth + 1, self._uid)
        parent.children[token] = child
        self._size += 1
        self._version += 1
        return child

    def _recycle(self, keep: set[int]) -> bool:
        """Remove the least recently used leaf whose id is not in ``keep`` (the nodes
        being extended or just made: the context's suffixes)."""
        victim = self._lru.pop_oldest(keep)
        if victim is None:
            return False
        parent = victim.parent
        del parent.children[victim.token]
        victim.parent = None
        victim.fail = None
        self._size -= 1
        self._version += 1
        if parent is not self._root and not parent.children:
            self._lru.push(parent.stamp, parent)
        return True

    def _fail(self, node: Node) -> Node:
        """The longest proper suffix of ``node``'s string that is a trie path.

        fail(v) = goto(fail(parent(v)), token(v)), and the trie root for depth 1. The
        result is cached with the structure version and recomputed once any node was
        created or recycled since. Recursion depth stays below 2 * window.
        """
        if node.fail_version == self._version:
            return node.fail
        if node.depth <= 1:
            fail = self._root
        else:
            fail = self._goto(self._fail(node.parent), node.token)
        node.fail = fail
        node.fail_version = self._version
        return fail

    def _goto(self, state: Node, token: int) -> Node:
        """The longest suffix of state + [token] that is a trie path."""
        while True:
            child = state.children.get(token)
            if child is not None:
                return child
            if state is self._root:
                return state
            state = self._fail(state)

    def _spell(self, node: Node) -> tuple[int, ...]:
        tokens = []
        while node is not self._root:
            tokens.append(node.token)
            node = node.parent
        return tuple(reversed(tokens))

    def _nodes(self) -> Iterator[Node]:
        """Every node but the trie root, depth first."""
        stack = list(self._root.children.values())
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())

# -- the read-only view the page draws -----------------------------------------------------
# It reads the automaton through its read-only node accessors (``root_node``,
# ``state_node``, ``chain_nodes``, ``failure``) and ``retrieve``; it changes nothing
# (failure links may get computed and cached).

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
