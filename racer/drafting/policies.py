"""Tree policies beside ours, so that what our best-first tree adds can be measured:

- ``PaperDrafter`` (``racer_paper``): the authors' construction as the paper and their
  code build it (docs/racer-algorithm.md, appendix): retrieval's frequency pool first,
  borders counted against the budget, then the logits cache's breadth-halving expansion
  with what is left; a fixed budget. Its quirks are kept and named in ``DraftTree.notes``.
- ``SglangDrafter`` (``racer_sglang``): the SGLang port (PR #39211, sgl-project/sglang,
  python/sglang/srt/speculative/racer/, read 2026-12-03): exactly K nodes; retrieval
  first, ranked by frequency; the logits cache fills the slots left (the root keeps its
  breadth, deeper nodes start at half their parent's, later siblings keep halving);
  empty slots are padding, which is verified but never accepted.
- ``SuffixDrafter`` (``suffix``): SuffixDecoding (Oliaro et al., ArcticInference) from
  its paper's description: a suffix trie over the prompt and output, the longest match
  of the context's end, a tree grown best first by the trie's frequencies, at most
  factor x match length + offset tokens, tokens below a minimum probability pruned.

All three share the generation loop, the verification and the acceptance with every
other drafter, so greedy output is plain greedy's and sampling stays lossless.

Our automaton departs from the authors' in ways docs/design.md lists (strings enter as
soon as their last token does; failure links stay correct; only leaves are recycled);
the two RACER ports here read it as theirs would read their own.

Left out on purpose: calibration and the adaptive budget (these policies have a fixed
size, ``fixed_size``); tensors.
"""
from __future__ import annotations

import heapq
from collections import deque
from dataclasses import replace

import numpy as np

from racer.drafting.automaton import Automaton
from racer.drafting.calibration import Evidence
from racer.drafting.drafters import Drafter, SourcesState
from racer.engine.records import AutomatonView
from racer.engine.tree import LOGITS, RETRIEVAL, TreeBuilder, padded

# the token the authors draft after a token whose logits row is empty (all zeros), and
# SGLang's padding token
ZERO_TOKEN = 0


class _FixedRacer(SourcesState):
    """State both RACER ports keep: the retrieval automaton and the logits cache, fed
    from every verified node (rejected ones included)."""

    fixed_size = True

    @classmethod
    def build(cls, vocab_size: int, keep_state: bool = False, **options) -> "_FixedRacer":
        return cls(vocab_size, keep_state=keep_state)

    def observe(self, tree, top, accepted, proposal=None, judged=None) -> None:
        real = [i for i in range(len(tree)) if not tree.is_padding(i)]   # padding is no observation
        self.cache.update([tree.tokens[i] for i in real], top.rows(real),
                          at=self.length + 1 + np.asarray([tree.depths[i] for i in real]))
        self.length += len(accepted)
        self.automaton.append([tree.tokens[i] for i in accepted])

    def held_bytes(self) -> int:
        return self.cache.nbytes + 430 * self.automaton.node_count

    def _successors(self, token: int, breadth: int) -> list[int]:
        """The first ``breadth`` cached successors of ``token``; [] when never seen."""
        return self.cache.successors(token, breadth)

    def _view(self, retrieved) -> AutomatonView:
        return AutomatonView(retrieved.matched, retrieved.borders, self.automaton.node_count,
                             self.automaton.capacity)


def paper_pool(borders: list, budget: int) -> list[tuple[object, object]]:
    """The authors' retrieval selection: breadth first from all borders, one layer at a
    time, into a pool of at most ``budget`` (node, border) pairs ranked by frequency; a
    full pool takes a node only if its frequency is strictly above the pool's lowest,
    which leaves (on equal frequency the deeper one first); a layer that adds nothing
    ends the walk. Borders (layer 0) are pooled like any node: the border-count quirk.
    Returned in the order they entered (evicted ones dropped)."""
    pool: list = []    # heap of (count, -depth, serial, node, border): the lowest first
    serial = 0
    layer = [(b, b) for b in borders]
    while layer:
        entered = False
        below = []
        for node, border in layer:
            item = (node.count, -node.depth, serial, node, border)
            serial += 1
            if len(pool) < budget:
                heapq.heappush(pool, item)
                entered = True
            elif pool and item[0] > pool[0][0]:
                heapq.heapreplace(pool, item)
                entered = True
            else:
                continue
            below.extend((child, border) for child in node.children.values())
        if not entered:
            break
        layer = below
    return [(node, border) for *_, node, border in sorted(pool, key=lambda x: x[2])]


def pooled_paths(pool: list[tuple[object, object]]) -> list[list[int]]:
    """Per pooled node none of whose children (under the same border) is pooled: the
    tokens from below its border down to it (the border itself is the root token)."""
    pooled = {(id(n), id(b)) for n, b in pool}
    paths = []
    for node, border in pool:
        if any((id(c), id(border)) in pooled for c in node.children.values()):
            continue
        tokens = []
        while node is not border:
            tokens.append(node.token)
            node = node.parent
        paths.append(tokens[::-1])
    return paths


class PaperDrafter(_FixedRacer):
    """The paper's tree (``racer_paper``): retrieval's frequency pool, then the logits
    cache's breadth-halving expansion with the budget retrieval left."""

    name = "racer_paper"

    def propose(self, root, settings, budget, enough=None):
        retrieved = self.automaton.retrieve(root)
        borders = list(retrieved.states[: len(retrieved.borders)])
        pool = paper_pool(borders, budget)
        notes = []
        builder = TreeBuilder(root, max_nodes=budget, max_depth=settings.depth)
        for path in pooled_paths(pool):
            builder.add_path(path, RETRIEVAL)
        spent = len(pool)
        if borders:
            notes.append(f"Border count (paper's quirk): {len(borders)} border{'s' if len(borders) > 1 else ''} "
                         f"spent {min(len(borders), budget)} of the budget of {budget} on the root token, "
                         "which the tree already holds.")
            if spent >= budget and len(builder) == 1:
                notes.append(f"At a budget of {budget} the borders left room for nothing: "
                             "no retrieval path and no logits expansion.")
        zero_after = []
        for path in self._expansion(root, budget - spent, settings.width, settings.depth, zero_after):
            builder.add_path(path, LOGITS)
        if zero_after:
            notes.append(f"Unseen token (paper's quirk): token {ZERO_TOKEN} drafted after "
                         f"{len(zero_after)} token{'s' if len(zero_after) > 1 else ''} with no cached logits.")
        tree = builder.build()
        return replace(tree, notes=tuple(notes)), self._view(retrieved)

    def _expansion(self, root: int, budget: int, width: int, max_depth: int, zero_after: list) -> list[list[int]]:
        """The authors' logits expansion: the root costs 1; nodes first-in first-out;
        a node's children are its first ``breadth`` cached successors, each costing 1
        while budget lasts; child breadths start at b (a depth-1 node) or b // 2 (any
        other) and halve from one child to the next, never below 1. A never-seen
        token's row is all zeros: its children are token 0 (the quirk, kept)."""
        if budget < 1:
            return []
        budget -= 1   # the root
        queue = deque([((root,), width, 0)])   # (tokens from the root, breadth, depth)
        paths = []
        while queue:
            tokens, breadth, depth = queue.popleft()
            kids = []
            if budget > 0 and depth < max_depth:
                row = self._successors(tokens[-1], breadth)
                if not row:
                    zero_after.append(tokens[-1])
                    row = [ZERO_TOKEN] * breadth
                b = breadth if depth == 1 else breadth // 2
                for token in row[:breadth]:
                    if budget <= 0:
                        break
                    budget -= 1
                    kids.append((tokens + (token,), max(1, b), depth + 1))
                    b = max(1, b // 2)
            if kids:
                queue.extend(kids)
            elif depth > 0:
                paths.append(list(tokens[1:]))
        return paths


class SglangDrafter(_FixedRacer):
    """SGLang's port (``racer_sglang``): exactly K = budget nodes, retrieval first, the
    logits cache filling the rest, padding after."""

    name = "racer_sglang"

    def propose(self, root, settings, budget, enough=None):
        retrieved = self.automaton.retrieve(root)
        borders = list(retrieved.states[: len(retrieved.borders)])
        builder = TreeBuilder(root, max_nodes=budget, max_depth=settings.depth)
        for path in pooled_paths(self.ranked(borders, budget)):
            builder.add_path(path, RETRIEVAL)
        notes = []
        placeholders = self._fill(builder, settings.width)
        if placeholders:
            notes.append(f"Unseen token (SGLang's quirk): {placeholders} placeholder token-{ZERO_TOKEN} "
                         "node(s) grown below tokens with no cached logits.")
        tree = builder.build()
        pad = budget - len(tree)
        if pad > 0:
            notes.append(f"{pad} padding slot{'s' if pad > 1 else ''} (token {ZERO_TOKEN} under the root): "
                         f"SGLang always verifies exactly K = {budget} nodes; padding is never accepted.")
        return replace(padded(tree, budget, ZERO_TOKEN), notes=tuple(notes)), self._view(retrieved)

    @staticmethod
    def ranked(borders: list, budget: int) -> list[tuple[object, object]]:
        """Every node of every border's sub-trie, the most frequent first (then the
        shallower, then the first reached); the first ``budget``, borders included."""
        scored = []
        for border in borders:
            queue = deque([border])
            while queue:
                node = queue.popleft()
                scored.append((-node.count, node.depth, len(scored), node, border))
                queue.extend(node.children.values())
        scored.sort(key=lambda x: x[:3])
        return [(node, border) for *_, node, border in scored[:budget]]

    def _fill(self, builder: TreeBuilder, width: int) -> int:
        """Breadth first from the root: a node's children are its first ``breadth``
        cached successors (an existing edge costs nothing); the root's children start
        at the root's breadth, deeper nodes' at half theirs, each next sibling at half
        the previous, never below 1. A never-seen token grows one token-0 placeholder
        child (SGLang's way to reach K). Returns how many placeholders were made."""
        queue = deque([(0, width, 0)])   # (node index, breadth, depth)
        expanded, placeholders = set(), 0
        while queue and not builder.full:
            node, breadth, depth = queue.popleft()
            if node in expanded:
                continue
            expanded.add(node)
            row = self._successors(builder.tokens_at(node), breadth)
            if not row:
                row, placeholders = [ZERO_TOKEN], placeholders + 1
            b = breadth if depth == 0 else max(1, breadth // 2)
            for token in row:
                child_breadth, b = max(1, b), max(1, b // 2)
                if builder.full and not builder.has_child(node, token):
                    break
                child = builder.add_child(node, token, LOGITS)
                if child is not None:
                    queue.append((child, child_breadth, depth + 1))
        return placeholders


class SuffixDrafter(Drafter):
    """SuffixDecoding (``suffix``): a suffix trie over prompt and output (strings of at
    most ``MAX_DEPTH`` tokens, with counts), matched at the context's end; the tree is
    grown best first by the trie's empirical probabilities (a child's count over its
    parent's), at most ``FACTOR`` x match length + ``OFFSET`` tokens, pruning paths whose
    probability falls below ``MIN_PROB``."""

    name = "suffix"
    fixed_size = True
    MAX_DEPTH = 24       # SuffixDecoding's default tree depth
    FACTOR = 1.0         # speculation length <= FACTOR x match length + OFFSET
    OFFSET = 0.0
    MIN_PROB = 0.1       # paths less likely than this are not drafted
    CAPACITY = 100_000   # trie nodes (least recently used leaves recycled beyond)

    def __init__(self) -> None:
        self.trie: Automaton | None = None

    def reset(self, context, top, settings) -> None:
        self.trie = Automaton(self.MAX_DEPTH, self.CAPACITY)
        self.trie.reset(context)

    def propose(self, root, settings, budget, enough=None):
        retrieved = self.trie.retrieve(root)
        # the deepest match (root included) that has continuations; the root alone last
        match, start = 0, None
        for state in retrieved.states:
            if state.children:
                match, start = state.depth, state
                break
        builder = TreeBuilder(root, max_nodes=budget, max_depth=settings.depth)
        if start is None:
            return builder.build(), AutomatonView(retrieved.matched, retrieved.borders)
        limit = min(budget - 1, int(self.FACTOR * match + self.OFFSET))
        heap: list = []   # (-path probability, serial, parent's tree index, trie node)

        def offer(index: int, node, prob: float) -> None:
            for child in node.children.values():
                p = prob * child.count / max(1, node.count)
                if p >= self.MIN_PROB:
                    heapq.heappush(heap, (-p, len(heap) + offer.serial, index, child))
                    offer.serial += 1
        offer.serial = 0

        offer(0, start, 1.0)
        drafted = 0
        while heap and drafted < limit:
            neg, _, parent, node = heapq.heappop(heap)
            step = node.count / max(1, node.parent.count)
            index = builder.add_child(parent, node.token, RETRIEVAL, step,
                                      Evidence(match=match, count=node.count, total=node.parent.count))
            if index is None:
                continue
            drafted += 1
            offer(index, node, -neg)
        return builder.build(), AutomatonView(retrieved.matched, retrieved.borders)

    def observe(self, tree, top, accepted, proposal=None, judged=None) -> None:
        self.trie.append([tree.tokens[i] for i in accepted])

    def reconfigure(self, settings, context) -> None:
        pass

    def held_bytes(self) -> int:
        return 430 * self.trie.node_count
