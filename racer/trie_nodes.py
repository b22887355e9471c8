"""The automaton's trie nodes and the heap that finds its least recently used leaf.

Only leaves are recycled: ``Automaton`` stamps a node's ancestors whenever it stamps the
node, so no node is less recent than its descendants and the oldest leaf is the oldest
node that can go. The heap holds (stamp, uid, leaf) entries; an entry goes stale when
its leaf is restamped, gains a child or is recycled, and stale entries are skipped
when popped (or dropped all at once by ``rebuild``) instead of being searched for.

Left out on purpose: the trie itself (counts, stamps, failure links), which
``racer.automaton`` keeps; this module never changes a node.
"""
from __future__ import annotations

import heapq
from typing import Iterable, Optional


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
