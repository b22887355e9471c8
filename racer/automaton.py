"""The retrieval automaton: Aho-Corasick over the token n-grams of the context.

Every window of ``window`` tokens of the context is inserted into a trie of token ids;
each node counts how many insertions passed through it (its *frequency*). The
*current state* is the longest suffix of the context that is a path in the trie.
Each decoding step the generation loop calls:

1. ``retrieve(root, budget)``: follow the failure chain of the current state; every
   state with a child for the root token (at depth >= 2) is a *border*, a place where
   the context suffix was followed by the root token before. The most frequent nodes
   below the borders become draft paths. The root token is consumed.
2. ``append(tokens)`` with the root and the accepted drafts: insert the windows ending
   at each of them and move the state to the longest context suffix in the trie.

Worked example, window 3, context [1, 2, 3, 1, 2, 4]:
    windows inserted: (1,2,3) (2,3,1) (3,1,2) (1,2,4); node (1,2) has frequency 2.
    state: (1,2,4), the last window (no trie path is longer than a window).
    retrieve(root=1): no state on the chain (1,2,4) -> root has a child 1 below depth 1,
    so no border; the state becomes (1,). append([1]) inserts (2,4,1), the new state.
    retrieve(root=2): (2,4,1) has no child 2; its failure link (1,) does -> border
    (1,2), matched (1,). Below it (1,2,3) and (1,2,4), frequency 1 each -> paths
    [(3,), (4,)], spent 3 (the border counts); the state becomes (1,2).

Unlike the authors' code, failure links stay correct as the trie grows and shrinks
(they are recomputed lazily, see ``_fail``), only leaves are ever recycled, and
``append`` puts the state on the longest context suffix in the trie instead of
advancing the old state, which after new insertions can lag behind.

Left out on purpose: tensors, the logits cache and tree building; this module works
on plain int token ids and returns paths.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence


class _Node:
    """One trie node; the string it spells is the tokens on the path from the root."""

    __slots__ = ("token", "parent", "children", "depth", "count", "stamp", "fail", "fail_version", "uid")

    def __init__(self, token: int, parent: Optional["_Node"], depth: int, uid: int) -> None:
        self.token = token
        self.parent = parent      # None for the trie root and for recycled nodes
        self.children: dict[int, _Node] = {}
        self.depth = depth        # 0 for the trie root
        self.count = 0            # insertions that passed through this node
        self.stamp = 0            # LRU clock of the last insertion through it
        self.fail: Optional[_Node] = None
        self.fail_version = -1    # structure version ``fail`` was computed at
        self.uid = uid            # creation order; breaks ties deterministically


@dataclass(frozen=True)
class Retrieval:
    """What ``Automaton.retrieve`` found for one root token.

    paths:   drafted tokens that follow the root (the root itself not included), one
             per path end, by descending frequency of the end, then pool admission
             order (layer by layer; within a layer, most frequent first).
    spent:   pool size, borders included: what retrieval used of the budget.
    matched: context tokens matched before the root by the deepest border; () if none.
    borders: per border, the context tokens it matched before the root, deepest first.
    """

    paths: list[tuple[int, ...]]
    spent: int
    matched: tuple[int, ...]
    borders: tuple[tuple[int, ...], ...]


class Automaton:
    """Aho-Corasick automaton over the ``window``-grams of a growing context.

    At most ``capacity`` nodes (the trie root not counted); beyond that the least
    recently used leaf is recycled.

    >>> a = Automaton(window=3, capacity=100)
    >>> a.reset([1, 2, 3, 1, 2])   # windows (1,2,3) (2,3,1) (3,1,2)
    >>> a.state_tokens()
    (3, 1, 2)
    >>> r = a.retrieve(3, budget=8)   # borders (1,2,3) and (2,3), not (3,): depth 1
    >>> r.borders, r.paths, r.spent   # pool: (1,2,3) (2,3) (2,3,1)
    (((1, 2), (2,)), [(1,)], 3)
    >>> a.state_tokens()
    (1, 2, 3)
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
        """Forget everything, then insert every full window of ``context``.

        context=[1, 2, 3, 1], window 3 -> windows (1,2,3) and (2,3,1); state (2,3,1),
        the last window. A context shorter than the window inserts nothing.
        """
        self._uid = 0
        self._root = _Node(-1, None, 0, 0)
        self._size = 0
        self._version = 0   # bumped on every node creation and recycling
        self._clock = 0     # LRU clock, one tick per inserted window
        self._lru: list[tuple[int, int, _Node]] = []   # (stamp, uid, leaf), lazily invalidated
        self._state = self._root
        self._before_retrieve: Optional[_Node] = None  # state before an unconsumed retrieve
        context = list(context)
        w = self._window
        for start in range(len(context) - w + 1):
            self._insert(context[start:start + w])
        self._tail = context[-w:]   # the last `window` tokens: all a window or a state needs
        self._state = self._match(self._tail)

    def retrieve(self, root: int, budget: int) -> Retrieval:
        """Draft paths after ``root`` from the borders on the failure chain.

        Moves the state to the root's child under the deepest state that has one (the
        trie root if none): the root token is consumed and ``append`` will not count it
        twice. Calling ``retrieve`` again before ``append`` first undoes that move.
        """
        if self._before_retrieve is not None:
            self._state = self._before_retrieve
        self._ensure_state()
        # 1. borders: children for `root` along the failure chain, deepest first.
        borders: list[_Node] = []
        consumed: Optional[_Node] = None
        state = self._state
        while True:
            child = state.children.get(root)
            if child is not None:
                consumed = consumed or child
                if child.depth >= 2:   # at least one context token matched before root
                    borders.append(child)
            if state is self._root:
                break
            state = self._fail(state)
        self._before_retrieve = self._state
        self._state = consumed or self._root

        matched = tuple(self._spell(b.parent) for b in borders)
        if budget <= 0 or not borders:
            return Retrieval([], 0, matched[0] if matched else (), matched)
        pooled = self._select(borders, budget)

        # 3. a pooled node with no pooled child ends a path, spelled below its border.
        ends = [(n, b) for n, b in pooled if n is not b
                and not any((c, b) in pooled for c in n.children.values())]
        ends.sort(key=lambda nb: (-nb[0].count, pooled[nb]))
        paths = []
        for node, border in ends:
            tokens = []
            while node is not border:
                tokens.append(node.token)
                node = node.parent
            paths.append(tuple(reversed(tokens)))
        return Retrieval(paths, len(pooled), matched[0], matched)

    def append(self, tokens: Sequence[int]) -> None:
        """Add ``tokens`` (the root and the accepted drafts) to the context.

        Inserts the window ending at each token (shorter only while the whole context
        is), then sets the state to the longest context suffix that is a trie path. That
        is the last window itself unless capacity cut its insertion short.
        """
        if not tokens:
            return
        w = self._window
        last = self._root
        for token in tokens:
            self._tail.append(token)
            if len(self._tail) > w:
                del self._tail[0]
            last = self._insert(self._tail)
        self._before_retrieve = None
        # No trie path is longer than `window`, so a fully inserted last window is the
        # longest suffix; a cut one is not a suffix at all and we match again.
        self._state = last if last.depth == len(self._tail) else self._match(self._tail)

    def state_tokens(self) -> tuple[int, ...]:
        """The tokens spelling the current state, trie root first; () at the root."""
        self._ensure_state()
        return self._spell(self._state)

    # ------------------------------------------------------------- retrieval pool

    def _select(self, borders: list[_Node], budget: int) -> dict[tuple[_Node, _Node], int]:
        """Spec "Retrieval selection" 2: {(pooled node, its border): admission order}.

        Breadth first from all borders at once; a bounded pool of `budget` nodes keeps
        the most frequent. A node is pooled per border: a deeper border can lie below a
        shallower one (root 1 after context [.., 1, 1]: borders (1,1,1) and (1,1)), and
        each spells its own paths. Frequency never grows with depth, so a layer that
        admits nothing ends the search, and a pooled node's parent (up to its border)
        stays pooled: the parent is at least as frequent and, on a tie, less deep.
        """
        pool: list[tuple[int, int, int, _Node, _Node]] = []  # min-heap: rarest, deepest, newest
        pooled: dict[tuple[_Node, _Node], int] = {}
        layer = [(b, b) for b in borders]
        admitted = 0
        while layer:
            # most frequent candidates first, so a full pool keeps the best of the layer
            layer.sort(key=lambda nb: -nb[0].count)
            entered = []
            for node, border in layer:
                if len(pool) >= budget:
                    if node.count <= pool[0][0]:
                        break   # the rest of the layer is no more frequent
                    _, _, _, out, out_border = heapq.heappop(pool)
                    del pooled[out, out_border]
                admitted += 1
                heapq.heappush(pool, (node.count, -node.depth, -admitted, node, border))
                pooled[node, border] = admitted
                entered.append((node, border))
            if not entered:
                break
            layer = [(c, b) for n, b in entered if (n, b) in pooled for c in n.children.values()]
        return pooled

    # ------------------------------------------------------------ trie and links

    def _insert(self, tokens: Sequence[int]) -> _Node:
        """Insert one window; return the deepest node reached.

        Every node on the path gets the same new stamp, so a node is never less recent
        than its descendants and the LRU leaf is the only candidate for recycling.
        If the trie is full and nothing can be recycled, the window is cut short.
        """
        self._clock += 1
        clock = self._clock
        node = self._root
        for token in tokens:
            child = node.children.get(token)
            if child is None:
                child = self._new_child(node, token)
                if child is None:
                    break
            child.count += 1
            child.stamp = clock
            node = child
        if node is not self._root and not node.children:
            heapq.heappush(self._lru, (clock, node.uid, node))
            if len(self._lru) > 2 * self._size + 64:
                self._rebuild_lru()
        return node

    def _new_child(self, parent: _Node, token: int) -> Optional[_Node]:
        if self._size >= self._capacity and not self._recycle(keep=parent):
            return None
        self._uid += 1
        child = _Node(token, parent, parent.depth + 1, self._uid)
        parent.children[token] = child
        self._size += 1
        self._version += 1
        return child

    def _recycle(self, keep: _Node) -> bool:
        """Remove the least recently used leaf other than ``keep`` and the state.

        Heap entries go stale when a leaf is restamped, gains a child or is recycled;
        they are skipped here. Only leaves are recycled, so only ``keep`` (the end of the
        path being inserted; already safe, as restamping staled its entries) and the
        state need guarding: their ancestors are inner nodes.
        """
        aside = []
        victim = None
        while self._lru:
            entry = heapq.heappop(self._lru)
            stamp, _, node = entry
            if node.parent is None or node.stamp != stamp or node.children:
                continue
            if node is keep or node is self._state:
                aside.append(entry)
                continue
            victim = node
            break
        for entry in aside:
            heapq.heappush(self._lru, entry)
        if victim is None:
            return False
        parent = victim.parent
        del parent.children[victim.token]
        victim.parent = None
        victim.fail = None
        self._size -= 1
        self._version += 1
        if parent is not self._root and not parent.children:
            heapq.heappush(self._lru, (parent.stamp, parent.uid, parent))
        return True

    def _rebuild_lru(self) -> None:
        """Drop stale heap entries: keep one entry per current leaf."""
        self._lru = [(n.stamp, n.uid, n) for n in self._nodes() if not n.children]
        heapq.heapify(self._lru)

    def _fail(self, node: _Node) -> _Node:
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

    def _goto(self, state: _Node, token: int) -> _Node:
        """The longest suffix of state + [token] that is a trie path."""
        while True:
            child = state.children.get(token)
            if child is not None:
                return child
            if state is self._root:
                return state
            state = self._fail(state)

    def _match(self, tokens: Sequence[int]) -> _Node:
        """The longest suffix of ``tokens`` that is a trie path (Aho-Corasick scan)."""
        state = self._root
        for token in tokens:
            state = self._goto(state, token)
        return state

    def _ensure_state(self) -> None:
        # The state is never recycled (``_recycle`` protects it); this guard only makes
        # a broken invariant harmless instead of fatal.
        if self._state is not self._root and self._state.parent is None:
            self._before_retrieve = None
            self._state = self._match(self._tail)

    def _spell(self, node: _Node) -> tuple[int, ...]:
        tokens = []
        while node is not self._root:
            tokens.append(node.token)
            node = node.parent
        return tuple(reversed(tokens))

    def _nodes(self) -> Iterator[_Node]:
        """Every node but the trie root, depth first."""
        stack = list(self._root.children.values())
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())
