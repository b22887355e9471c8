"""The draft tree: a trie of token ids rooted at the root token.

Node 0 is the root. Nodes are stored breadth first (depth never decreases with the
index), so a parent always comes before its children and the order doubles as the
verify order. Every node has a source: ``root``, ``retrieval``, ``logits`` or ``both``.

Left out on purpose: tensors. ``ancestor_mask`` returns plain lists; the model module
turns them into an attention mask.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

# the names of a node's sources, and PADDING: a slot a fixed-size policy (racer_sglang)
# fills to reach its size, verified, never accepted (``racer.engine.sources``)
from racer.engine.sources import BOTH, LOGITS, PADDING, RETRIEVAL, ROOT  # noqa: F401 (the tree's vocabulary)


@dataclass(frozen=True)
class DraftTree:
    tokens: tuple[int, ...]   # (n,) token id per node, tokens[0] = root token
    parents: tuple[int, ...]  # (n,) parent index, -1 for the root
    depths: tuple[int, ...]   # (n,) 0 for the root
    sources: tuple[str, ...]  # (n,) ROOT / RETRIEVAL / LOGITS / BOTH
    # (n,) order in which the drafter created each node (root 0). Drafters create the
    # likeliest node first, so the first b created nodes are the tree a budget of b
    # builds (``prefix``).
    created: tuple[int, ...] = ()
    # (n,) the drafter's estimate that node i is accepted given that its parent is
    # (root 1.0); empty when the drafter makes none.
    estimates: tuple[float, ...] = ()
    # (n,) why each node was drafted (racer.drafting.calibration.Evidence; root None)
    evidence: tuple = ()
    # (n,) True for padding slots: verified to keep the tree's size fixed, never accepted
    # (``racer.engine.verify.walk_tree`` skips them); empty when the tree has none.
    padding: tuple[bool, ...] = ()
    # what this tree shows of its policy's quirks, in sentences (the tree view's caption)
    notes: tuple[str, ...] = ()

    def is_padding(self, node: int) -> bool:
        return bool(self.padding) and self.padding[node]

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def root(self) -> int:
        return self.tokens[0]

    @property
    def max_depth(self) -> int:
        return max(self.depths)

    def path_probs(self) -> list[float]:
        """Per node, the product of the estimates from the root down to it: the
        chance that the whole path to it is accepted (root 1.0; all 1.0 without
        estimates). Parents come first, so one pass suffices."""
        if not self.estimates:
            return [1.0] * len(self)
        probs = [1.0] * len(self)
        for i in range(1, len(self)):
            probs[i] = probs[self.parents[i]] * self.estimates[i]
        return probs

    def prefix(self, size: int) -> "DraftTree":
        """The tree of the first ``size`` created nodes (at least the root), laid out
        breadth first again. A node is created after its parent, so it is a tree.

        tokens (5, 7, 2, 8) created (0, 2, 1, 3), parents (-1, 0, 0, 1) -> prefix(2)
        keeps the root and token 2.
        """
        if size >= len(self):
            return self
        kept = sorted((i for i in range(len(self)) if self.created[i] < max(1, size)),
                      key=lambda i: (self.depths[i], i))
        new = {old: k for k, old in enumerate(kept)}
        rank = {old: r for r, old in enumerate(sorted(kept, key=lambda i: self.created[i]))}
        pick = lambda values: tuple(values[i] for i in kept) if values else ()
        return DraftTree(
            tokens=pick(self.tokens),
            parents=tuple(new[self.parents[i]] if self.parents[i] >= 0 else -1 for i in kept),
            depths=pick(self.depths), sources=pick(self.sources),
            created=tuple(rank[i] for i in kept),
            estimates=pick(self.estimates), evidence=pick(self.evidence),
            padding=pick(self.padding), notes=self.notes)

    def tested(self, accepted) -> list[tuple[int, bool]]:
        """(node, was it accepted) for every node the target tested: the drafted nodes
        whose parent was accepted. Nodes below a rejected one were never tested.

        parents (-1, 0, 0, 1, 2), accepted (0, 1) -> [(1, True), (2, False), (3, False)]
        """
        on_path = set(accepted)
        return [(i, i in on_path) for i in range(1, len(self)) if self.parents[i] in on_path]

    def judged(self, picks: Sequence[int]) -> list[tuple[int, bool]]:
        """(node, would it be accepted) for every drafted node below the accepted path,
        where ``picks`` are the target's picks along that path (``picks[k]`` after its
        k-th node, root first; the last is the bonus token): a node is accepted where
        its token is the pick after its parent. On the tree that was verified this is
        ``tested``; on the drafter's bigger proposal it also judges the nodes the budget
        cut, which the verify forward never saw, at no cost (under sampling, as the
        token the target drew there).

        tokens (5, 7, 2, 8), parents (-1, 0, 0, 1), picks (7, 3) -> [(1, True), (2, False), (3, False)]
        """
        kids = self.children()
        out, node = [], 0
        for pick in picks:
            following = None
            for child in kids[node]:
                hit = self.tokens[child] == pick and not self.is_padding(child)
                out.append((child, hit))
                if hit:
                    following = child
            if following is None:
                break
            node = following
        return out

    def children(self) -> list[list[int]]:
        """children()[i] = indices of node i's children, in index order."""
        kids: list[list[int]] = [[] for _ in self.tokens]
        for i, p in enumerate(self.parents):
            if p >= 0:
                kids[p].append(i)
        return kids

    def path_to(self, node: int) -> list[int]:
        """Indices from the root down to ``node``, both included."""
        return path_from_root(self.parents, node)

    def leaves(self) -> list[int]:
        kids = self.children()
        return [i for i in range(len(self)) if not kids[i]]

    def paths(self) -> list[list[int]]:
        """Every root-to-leaf path as node indices, leaves in index order."""
        return [self.path_to(leaf) for leaf in self.leaves()]

    def ancestor_mask(self) -> list[list[bool]]:
        """mask[i][j] is True when node j is node i itself or one of its ancestors.

        This is the tree part of the attention mask: node i may attend to the whole
        cached context plus exactly these nodes. Example: root 0 with children 1, 2 and
        grandchild 3 under 1 -> row 3 is [True, True, False, True].
        """
        n = len(self)
        mask = [[False] * n for _ in range(n)]
        for i in range(n):
            mask[i][i] = True
            p = self.parents[i]
            if p >= 0:  # parents come first, so row p is complete
                row = mask[i]
                for j, seen in enumerate(mask[p][: p + 1]):
                    if seen:
                        row[j] = True
        return mask


def path_from_root(parents: Sequence[int], node: int) -> list[int]:
    """Indices from the root (parent -1) down to ``node``, both included, in a tree
    stored as a parent array: a draft tree or a piece of the trie.

    >>> path_from_root([-1, 0, 1, 0], 2)
    [0, 1, 2]
    """
    path = []
    while node >= 0:
        path.append(node)
        node = parents[node]
    return path[::-1]


def root_only(root: int) -> DraftTree:
    """The tree of plain decoding: the root alone."""
    return DraftTree((root,), (-1,), (0,), (ROOT,), (0,), (1.0,), (None,))


class TreeBuilder:
    """Merges draft paths into one trie, capped in size and depth.

    >>> b = TreeBuilder(root=5, max_nodes=4, max_depth=2)
    >>> b.add_path([7, 8, 9], RETRIEVAL)   # 9 is past the depth cap
    >>> b.add_path([7, 3], LOGITS)
    >>> t = b.build(); t.tokens, t.sources
    ((5, 7, 8, 3), ('root', 'both', 'retrieval', 'logits'))
    """

    def __init__(self, root: int, max_nodes: int, max_depth: int) -> None:
        self.max_nodes = max(1, max_nodes)
        self.max_depth = max(0, max_depth)
        self._tokens = [root]
        self._parents = [-1]
        self._depths = [0]
        self._sources = [ROOT]
        self._estimates: list[float | None] = [1.0]
        self._evidence: list = [None]
        self._child: list[dict[int, int]] = [{}]

    def __len__(self) -> int:
        return len(self._tokens)

    def tokens_at(self, index: int) -> int:
        return self._tokens[index]

    def has_child(self, parent: int, token: int) -> bool:
        return token in self._child[parent]

    @property
    def full(self) -> bool:
        return len(self._tokens) >= self.max_nodes

    def add_child(self, parent: int, token: int, source: str, estimate: float | None = None,
                  evidence=None) -> int | None:
        """Adds (or re-marks) ``token`` under node ``parent``; returns its index, or
        None when the size or depth cap refuses it. ``estimate`` and ``evidence`` are
        the drafter's (see ``DraftTree``); a tree has estimates only if every node does."""
        existing = self._child[parent].get(token)
        if existing is not None:
            if self._sources[existing] != source:
                self._sources[existing] = BOTH
            return existing
        depth = self._depths[parent] + 1
        if depth > self.max_depth or self.full:
            return None
        index = len(self._tokens)
        self._tokens.append(token)
        self._parents.append(parent)
        self._depths.append(depth)
        self._sources.append(source)
        self._estimates.append(estimate)
        self._evidence.append(evidence)
        self._child.append({})
        self._child[parent][token] = index
        return index

    def add_path(self, tokens: list[int], source: str) -> None:
        """Adds the drafted tokens that follow the root (the root itself excluded)."""
        node = 0
        for token in tokens:
            node = self.add_child(node, token, source)
            if node is None:
                return

    def build(self) -> DraftTree:
        """Reorders the nodes breadth first (stable within a depth) and freezes them."""
        order = sorted(range(len(self._tokens)), key=lambda i: (self._depths[i], i))
        new_index = {old: new for new, old in enumerate(order)}
        return DraftTree(
            tokens=tuple(self._tokens[i] for i in order),
            parents=tuple(new_index[self._parents[i]] if self._parents[i] >= 0 else -1 for i in order),
            depths=tuple(self._depths[i] for i in order),
            sources=tuple(self._sources[i] for i in order),
            created=tuple(order),
            estimates=tuple(self._estimates[i] for i in order) if None not in self._estimates else (),
            evidence=tuple(self._evidence[i] for i in order),
        )


def padded(tree: DraftTree, size: int, token: int = 0) -> DraftTree:
    """``tree`` with padding slots (``token`` under the root, flagged in ``padding``) up to
    ``size`` nodes, as SGLang's fixed-size tree has; they go after the real depth-1 nodes,
    so the order stays breadth first.

    >>> t = padded(root_only(5), 3); t.tokens, t.parents, t.padding
    ((5, 0, 0), (-1, 0, 0), (False, True, True))
    """
    extra = size - len(tree)
    if extra <= 0:
        return tree
    n = len(tree)
    at = next((i for i in range(n) if tree.depths[i] > 1), n)   # first node below depth 1
    old = list(range(at)) + [None] * extra + list(range(at, n))
    new_of = {o: k for k, o in enumerate(old) if o is not None}
    take = lambda values, fill: tuple(values[o] if o is not None else fill for o in old) if values else ()
    return replace(
        tree, tokens=take(tree.tokens, token),
        parents=tuple(-1 if o is not None and tree.parents[o] < 0 else
                      (0 if o is None else new_of[tree.parents[o]]) for o in old),
        depths=take(tree.depths, 1), sources=take(tree.sources, PADDING),
        created=tuple(tree.created[o] if o is not None else n + j
                      for j, o in enumerate(old)) if tree.created else (),
        estimates=take(tree.estimates, 0.0), evidence=take(tree.evidence, None),
        padding=tuple(o is None or (bool(tree.padding) and tree.padding[o]) for o in old))
