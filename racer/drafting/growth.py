"""Best-first draft trees: the likeliest paths first, whatever their source.

A candidate is a token that could be drafted below a node already in the tree, with
the evidence for it and the drafter's estimate of its chance of acceptance given
that its parent is accepted. Its *path probability* is the product of the estimates
from the root down to it. ``grow`` keeps every candidate in one priority queue and
always adds the one with the highest path probability, so for any b the first b
nodes created are the b-node tree with the most expected accepted tokens that these
candidates allow (a child's path probability never exceeds its parent's).

    expand(token, handle) -> [(Candidate, estimate), ...]   # below a node of `token`

Left out on purpose: where candidates come from (the drafters supply ``expand``).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable

from racer.drafting.calibration import Evidence
from racer.engine.tree import DraftTree, TreeBuilder


@dataclass(frozen=True)
class Candidate:
    token: int
    source: str          # RETRIEVAL / LOGITS / BOTH
    evidence: Evidence
    handle: tuple = ()   # what its own children are found from (retrieval states)


Expand = Callable[[int, tuple], list[tuple[Candidate, float]]]


# enough((path probability, depth) of the node just created, None before the first; the
# next candidate's path probability) -> True when no bigger tree could be chosen
# (``AdaptiveBudget.enough_rule``)
Enough = Callable[[tuple[float, int] | None, float], bool]


def grow(root: int, handle: tuple, budget: int, max_depth: int, expand: Expand,
         enough: Enough | None = None) -> DraftTree:
    """The best ``budget``-node tree (root included) of paths at most ``max_depth`` deep,
    or its first nodes, up to where ``enough`` says no bigger tree could be chosen (the
    tree the budget keeps is then the same, without drafting the rest).

    Ties in path probability go to the candidate offered first, so the result is
    deterministic.
    """
    builder = TreeBuilder(root, max_nodes=budget, max_depth=max_depth)
    queue: list = []   # (-path probability, order offered, parent index, depth, candidate, estimate)
    offered = 0

    def offer(parent: int, token: int, node_handle: tuple, path_prob: float, depth: int) -> None:
        nonlocal offered
        if depth >= max_depth:
            return
        for candidate, estimate in expand(token, node_handle):
            offered += 1
            heapq.heappush(queue, (-path_prob * estimate, offered, parent, depth + 1, candidate, estimate))

    offer(0, root, handle, 1.0, 0)
    added = None   # (path probability, depth) of the node created last
    while queue and not builder.full:
        if enough is not None and enough(added, -queue[0][0]):
            break
        neg_prob, _, parent, depth, candidate, estimate = heapq.heappop(queue)
        index = builder.add_child(parent, candidate.token, candidate.source, estimate, candidate.evidence)
        added = None
        if index is not None:
            added = (-neg_prob, depth)
            offer(index, candidate.token, candidate.handle, -neg_prob, depth)
    return builder.build()
