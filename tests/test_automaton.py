"""Tests for racer.automaton: hand-worked cases first, then brute-force comparisons.

A "trie path" below is a prefix of an inserted window: that is what the trie holds.
"""
from __future__ import annotations

import random
from collections import Counter

import pytest

from racer.automaton import Automaton, Retrieval

BIG = 10**9  # capacity that never recycles


def trie(a: Automaton) -> dict[tuple[int, ...], int]:
    """The automaton's trie as {spelled path: frequency}."""
    return {a._spell(n): n.count for n in a._nodes()}


# ------------------------------------------------------------------ brute force


class Reference:
    """The context and the windows inserted, kept as plain lists."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.context: list[int] = []
        self.windows: list[tuple[int, ...]] = []

    def reset(self, context: list[int]) -> None:
        w = self.window
        self.context = list(context)
        self.windows = [tuple(context[i:i + w]) for i in range(len(context) - w + 1)]

    def append(self, tokens: list[int]) -> None:
        for t in tokens:
            self.context.append(t)
            self.windows.append(tuple(self.context[-self.window:]))

    def counts(self) -> Counter:
        """Frequency of every trie path: how many windows it is a prefix of."""
        return Counter(win[:k] for win in self.windows for k in range(1, len(win) + 1))

    def first_seen(self) -> dict[tuple[int, ...], int]:
        """Creation order of every trie path (the order its node was created)."""
        order: dict[tuple[int, ...], int] = {}
        for win in self.windows:
            for k in range(1, len(win) + 1):
                order.setdefault(win[:k], len(order))
        return order


def longest_suffix_in(context: list[int], paths) -> tuple[int, ...]:
    """The longest suffix of ``context`` (possibly empty) that is in ``paths``."""
    deepest = max(map(len, paths), default=0)
    for k in range(min(len(context), deepest), 0, -1):
        if tuple(context[-k:]) in paths:
            return tuple(context[-k:])
    return ()


def matches_before(context: list[int], root: int, paths) -> list[tuple[int, ...]]:
    """Every suffix s (len >= 1) with s + [root] in ``paths``, longest first."""
    deepest = max(map(len, paths), default=0)
    return [tuple(context[-k:]) for k in range(min(len(context), deepest), 0, -1)
            if tuple(context[-k:]) + (root,) in paths]


def reference_selection(counts, first_seen, borders, budget):
    """The spec's selection written over spelled paths, with a plain list as the pool."""
    children: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    for path in sorted(counts, key=first_seen.__getitem__):
        children.setdefault(path[:-1], []).append(path)
    pool: dict[tuple, int] = {}  # (path, its border) -> admission order
    layer = [(b, b) for b in borders]
    admitted = 0
    while layer:
        layer.sort(key=lambda pb: -counts[pb[0]])
        entered = []
        for path, border in layer:
            if len(pool) >= budget:
                lowest = min(pool, key=lambda pb: (counts[pb[0]], -len(pb[0]), -pool[pb]))
                if counts[path] <= counts[lowest[0]]:
                    continue
                del pool[lowest]
            admitted += 1
            pool[path, border] = admitted
            entered.append((path, border))
        if not entered:
            break
        layer = [(c, b) for p, b in entered if (p, b) in pool for c in children.get(p, [])]
    ends = [(p, b) for p, b in pool
            if p != b and not any((c, b) in pool for c in children.get(p, []))]
    ends.sort(key=lambda pb: (-counts[pb[0]], pool[pb]))
    return [p[len(b):] for p, b in ends], len(pool)


# ------------------------------------------------------------ hand-worked cases


def test_rejects_too_small_window_or_capacity():
    with pytest.raises(ValueError):
        Automaton(window=1, capacity=100)
    with pytest.raises(ValueError):
        Automaton(window=3, capacity=3)  # needs window + 1
    a = Automaton(window=3, capacity=4)
    assert (a.window, a.capacity, a.node_count, a.state_tokens()) == (3, 4, 0, ())


def test_prefill_inserts_every_full_window_with_counts():
    """window 3, context [1, 2, 3, 1, 2, 4].

    Full windows: (1,2,3) (2,3,1) (3,1,2) (1,2,4). Paths through (1,) and (1,2): both
    windows starting with 1 -> frequency 2; every other node 1. 10 nodes. The state is
    the last window (1,2,4): it is a context suffix and no trie path is longer.
    """
    a = Automaton(window=3, capacity=100)
    a.reset([1, 2, 3, 1, 2, 4])
    assert trie(a) == {
        (1,): 2, (1, 2): 2, (1, 2, 3): 1, (1, 2, 4): 1,
        (2,): 1, (2, 3): 1, (2, 3, 1): 1,
        (3,): 1, (3, 1): 1, (3, 1, 2): 1,
    }
    assert a.node_count == 10
    assert a.state_tokens() == (1, 2, 4)


def test_prefill_of_a_context_shorter_than_the_window_inserts_nothing():
    a = Automaton(window=4, capacity=100)
    a.reset([7, 8, 9])
    assert a.node_count == 0 and a.state_tokens() == ()
    a.append([10])  # now a full window exists: (7, 8, 9, 10)
    assert a.state_tokens() == (7, 8, 9, 10)


def test_short_windows_are_inserted_while_the_context_is_shorter_than_the_window():
    """window 3 from an empty context: append([5, 6]) inserts (5,) then (5, 6)."""
    a = Automaton(window=3, capacity=100)
    a.append([5, 6])
    assert trie(a) == {(5,): 2, (5, 6): 1}
    assert a.state_tokens() == (5, 6)


def test_step_after_prefill_hand_worked():
    """window 3, context [1, 2, 3, 1, 2, 4] (trie as in the prefill test), then:

    retrieve(1): the state (1,2,4) has no child 1, nor has its failure link: (2,4) and
      (4,) are not trie paths, so it is the trie root, whose child (1,) has depth 1: no
      border, nothing drafted, spent 0; the state becomes (1,) (the root is consumed).
    append([1]) inserts (2,4,1): new nodes (2,4), (2,4,1); (2,) now has frequency 2.
      The state is that window, (2,4,1).
    retrieve(2, budget 8): (2,4,1) has no child 2; fail = (1,) has, giving the border
      (1,2) (depth 2, matched (1,)); fail(1,) = root has child (2,) of depth 1: not a
      border. Layer 0: (1,2) enters. Layer 1: (1,2,3) and (1,2,4), frequency 1 each,
      enter. Layer 2 is empty. Pool of 3 (spent 3); path ends (1,2,3) and (1,2,4)
      (tie on frequency -> admission order). The state becomes (1,2).
    append([2, 3]) (root 2, one accepted draft 3) inserts (4,1,2) and (1,2,3): the state
      is (1,2,3), whose frequency is now 2.
    """
    a = Automaton(window=3, capacity=100)
    a.reset([1, 2, 3, 1, 2, 4])
    r = a.retrieve(1, budget=8)
    assert r == Retrieval(paths=[], spent=0, matched=(), borders=())
    assert a.state_tokens() == (1,)

    a.append([1])
    assert a.node_count == 12
    assert trie(a)[(2,)] == 2 and trie(a)[(2, 4, 1)] == 1
    assert a.state_tokens() == (2, 4, 1)

    r = a.retrieve(2, budget=8)
    assert r == Retrieval(paths=[(3,), (4,)], spent=3, matched=(1,), borders=((1,),))
    assert a.state_tokens() == (1, 2)

    a.append([2, 3])
    assert a.state_tokens() == (1, 2, 3)
    assert trie(a)[(1, 2, 3)] == 2 and trie(a)[(4, 1, 2)] == 1


def test_borders_come_from_every_matching_suffix_deepest_first():
    """window 3, context [1, 2, 3, 1, 2]: windows (1,2,3) (2,3,1) (3,1,2); state (3,1,2).

    retrieve(3): (3,1,2) has no child 3; fail (1,2) has -> border (1,2,3), matched (1,2),
    and the new state; fail (2,) has -> border (2,3), matched (2,); the trie root's child
    (3,) is only depth 1. Pool: (1,2,3) (2,3) then (2,3,1). (1,2,3) is a border with no
    pooled child (empty path, dropped); (2,3,1) ends the path (1,).
    """
    a = Automaton(window=3, capacity=100)
    a.reset([1, 2, 3, 1, 2])
    assert a.state_tokens() == (3, 1, 2)
    r = a.retrieve(3, budget=8)
    assert r == Retrieval(paths=[(1,)], spent=3, matched=(1, 2), borders=((1, 2), (2,)))
    assert a.state_tokens() == (1, 2, 3)


# Window 4. "2 1" always follows 3, so the borders (3,2,1) and (2,1) both have frequency
# 4; after 1 comes 5 (then 6) three times and 4 (then 7) once; unique fillers 100+ keep
# longer suffixes out. The state is the last window (7, 104, 3, 2), a leaf; its failure
# link is (3, 2) since (104, 3, 2) starts no full window. Root token 1.
POOL_CONTEXT = [100, 3, 2, 1, 5, 6, 101, 3, 2, 1, 5, 6, 102, 3, 2, 1, 5, 6,
                103, 3, 2, 1, 4, 7, 104, 3, 2]


def test_pool_full_evicts_the_deeper_of_equally_rare_nodes():
    """Budget 6 over POOL_CONTEXT, root 1.

    Layer 0: borders (3,2,1) [B] and (2,1) [A], both frequency 4 -> admitted 1, 2.
    Layer 1 by frequency: B5=(3,2,1,5):3, A5=(2,1,5):3, B4=(3,2,1,4):1, A4=(2,1,4):1
      -> admitted 3..6, the pool is full (lowest frequency 1).
    Layer 2: A56=(2,1,5,6):3 > 1 enters; B4 (depth 4) and A4 (depth 3) tie on frequency,
      the deeper B4 leaves (A4, admitted later, stays). A47:1 is not above 1.
    Ends: B5 -> (5,), A56 -> (5,6) (frequency 3, by admission), A4 -> (4,).
    """
    a = Automaton(window=4, capacity=1000)
    a.reset(POOL_CONTEXT)
    assert a.state_tokens() == (7, 104, 3, 2)
    r = a.retrieve(1, budget=6)
    assert r.borders == ((3, 2), (2,))
    assert r.paths == [(5,), (5, 6), (4,)]
    assert r.spent == 6


def test_pool_admits_only_strictly_more_frequent_nodes_when_full():
    """Budget 5 over POOL_CONTEXT: layer 1 admits B5, A5, B4 (full); A4 ties B4 at 1 and
    stays out. Layer 2: A56 (3) pushes B4 out. Ends: B5 -> (5,), A56 -> (5,6)."""
    a = Automaton(window=4, capacity=1000)
    a.reset(POOL_CONTEXT)
    r = a.retrieve(1, budget=5)
    assert r.paths == [(5,), (5, 6)]
    assert r.spent == 5


def test_budget_zero_drafts_nothing_but_consumes_the_root():
    a = Automaton(window=3, capacity=100)
    a.reset([1, 2, 3, 1, 2])
    r = a.retrieve(3, budget=0)
    assert (r.paths, r.spent) == ([], 0)
    assert r.matched == (1, 2)  # the match is still reported
    assert a.state_tokens() == (1, 2, 3)
    assert a.retrieve(3, budget=-5).spent == 0


def test_budget_one_keeps_only_the_most_frequent_border():
    """Budget 1 over the hand-worked step: the border (1,2) fills the pool; its children
    (frequency 1) are not above 2, so nothing is drafted but one node was spent."""
    a = Automaton(window=3, capacity=100)
    a.reset([1, 2, 3, 1, 2, 4])
    a.append([1])
    r = a.retrieve(2, budget=1)
    assert (r.paths, r.spent, r.matched) == ([], 1, (1,))
    a.reset([1, 2, 3, 1, 2, 4])
    a.append([1])
    assert a.retrieve(2, budget=2).paths == [(3,)]  # (1,2,4) ties (1,2,3) and stays out


def test_no_match_spends_nothing():
    a = Automaton(window=3, capacity=100)
    a.reset([1, 2, 3, 4, 5])
    r = a.retrieve(99, budget=16)  # never seen
    assert r == Retrieval(paths=[], spent=0, matched=(), borders=())
    assert a.state_tokens() == ()
    a.append([99])
    r = a.retrieve(2, budget=16)  # seen, but only after 1, which is not a context suffix
    assert r == Retrieval(paths=[], spent=0, matched=(), borders=())
    assert a.state_tokens() == (2,)  # a depth-1 child still becomes the state


def test_empty_automaton_answers_without_failing():
    a = Automaton(window=3, capacity=10)
    assert a.retrieve(5, budget=8) == Retrieval([], 0, (), ())
    a.append([5])
    assert a.state_tokens() == (5,)


def test_retrieve_twice_without_append_starts_from_the_same_state():
    a = Automaton(window=3, capacity=100)
    a.reset([1, 2, 3, 1, 2, 4])
    a.append([1])
    first = a.retrieve(2, budget=8)
    assert a.retrieve(2, budget=8) == first
    assert a.retrieve(7, budget=8) == Retrieval([], 0, (), ())  # 7 instead of 2: not seen
    assert a.retrieve(2, budget=8) == first
    a.append([2, 3])
    assert a.state_tokens() == (1, 2, 3)


def test_failure_link_follows_a_suffix_node_created_later():
    """window 3, context [5, 1, 2]: (5,1,2) has no proper suffix in the trie -> fail is
    the trie root. append([9]) inserts (1,2,9), so (1,2) now exists and must become the
    failure link of (5,1,2); a link cached before the insertion would be stale."""
    a = Automaton(window=3, capacity=100)
    a.reset([5, 1, 2])
    node = a._state
    assert a._spell(node) == (5, 1, 2)
    assert a._fail(node) is a._root
    a.append([9])
    assert a._spell(a._fail(node)) == (1, 2)


def test_lru_recycles_the_oldest_leaf_and_never_the_state():
    """window 2, capacity 3.

    reset([1, 2, 3]): (1,2) makes nodes 1, 12 (stamp 1); (2,3) makes 2, then needs a 4th
      node: the oldest leaf 12 goes, 1 becomes a leaf. Trie {1, 2, 23}; state (2,3).
    append([4]) inserts (3,4): node 3 recycles leaf 1 (23 is the state: protected); node
      34 finds only the state 23 and 3 itself (the path being inserted): cut short.
      The last window is not in the trie; longest suffix of [.., 3, 4]: none -> ().
    append([5]) inserts (4,5): 4 recycles 23 (older than 3), 45 recycles 2, now a leaf.
    """
    a = Automaton(window=2, capacity=3)
    a.reset([1, 2, 3])
    assert trie(a) == {(1,): 1, (2,): 1, (2, 3): 1}
    assert a.state_tokens() == (2, 3)
    a.append([4])
    assert trie(a) == {(2,): 1, (2, 3): 1, (3,): 1}
    assert a.state_tokens() == ()
    a.append([5])
    assert trie(a) == {(3,): 1, (4,): 1, (4, 5): 1}
    assert a.state_tokens() == (4, 5)


# ------------------------------------------------------- brute-force comparisons


def random_context(rng: random.Random, n: int) -> list[int]:
    """Small vocabularies, sometimes a repeated phrase with noise, sometimes a run."""
    kind = rng.randrange(3)
    vocab = rng.randint(2, 6)
    if kind == 0:
        return [rng.randrange(vocab) for _ in range(n)]
    if kind == 1:
        phrase = [rng.randrange(vocab) for _ in range(rng.randint(1, 5))]
        out = []
        while len(out) < n:
            out += phrase if rng.random() < 0.8 else [rng.randrange(vocab + 3)]
        return out[:n]
    return [rng.randrange(2)] * n


def check_retrieval(a: Automaton, ref: Reference, root: int, budget: int) -> None:
    counts = ref.counts()
    r = a.retrieve(root, budget)
    matches = matches_before(ref.context, root, counts)
    assert r.borders == tuple(matches)
    assert r.matched == (matches[0] if matches else ())
    # the deepest state with a child for root, depth 0 included, moves to that child
    ending_in_root = {p for p in counts if p[-1] == root}
    assert a.state_tokens() == longest_suffix_in(ref.context + [root], ending_in_root)
    borders = [m + (root,) for m in matches]
    paths, spent = [], 0
    if budget > 0:
        paths, spent = reference_selection(counts, ref.first_seen(), borders, budget)
    assert (r.paths, r.spent) == (paths, spent)


@pytest.mark.parametrize("seed", range(150))
def test_state_frequencies_and_matches_equal_brute_force(seed):
    """With no recycling: after every reset/retrieve/append, the state is the longest
    context suffix in the trie, node frequencies are window-prefix counts, and
    retrieval (borders, matched, paths, spent, consumed root) matches brute force."""
    rng = random.Random(seed)
    window = rng.randint(2, 5)
    a, ref = Automaton(window, BIG), Reference(window)
    context = random_context(rng, rng.randint(0, 30))
    a.reset(context)
    ref.reset(context)
    vocab = max(context, default=0) + 2
    for _ in range(25):
        assert a.state_tokens() == longest_suffix_in(ref.context, ref.counts())
        assert trie(a) == ref.counts()
        # the root usually repeats history (so borders exist), sometimes is new
        root = rng.choice(ref.context) if ref.context and rng.random() < 0.8 else rng.randrange(vocab)
        if rng.random() < 0.85:
            check_retrieval(a, ref, root, rng.choice([0, 1, 2, 3, 5, 8, 64]))
            if rng.random() < 0.1:  # an abandoned retrieve, then a real one
                check_retrieval(a, ref, rng.randrange(vocab), 4)
                check_retrieval(a, ref, root, 4)
        accepted = [rng.randrange(vocab) for _ in range(rng.choice([0, 0, 1, 2, 4]))]
        a.append([root] + accepted)
        ref.append([root] + accepted)
    assert trie(a) == ref.counts()


def check_failure_links(a: Automaton) -> None:
    paths = set(trie(a))
    for node in a._nodes():
        spelled = a._spell(node)
        assert a._spell(a._fail(node)) == longest_suffix_in(list(spelled[1:]), paths), spelled


@pytest.mark.parametrize("seed", range(40))
def test_failure_links_equal_brute_force_after_many_insertions(seed):
    rng = random.Random(1000 + seed)
    a = Automaton(rng.randint(2, 6), BIG)
    a.reset(random_context(rng, 40))
    check_failure_links(a)
    for _ in range(10):  # links computed above go stale as nodes are created
        a.append(random_context(rng, rng.randint(1, 4)))
        check_failure_links(a)


def check_trie_invariants(a: Automaton) -> None:
    nodes = list(a._nodes())
    # an inner node recycled would orphan its subtree: fewer reachable than counted
    assert len(nodes) == a.node_count <= a.capacity
    for node in nodes:
        assert node.parent.children[node.token] is node
        assert node.depth == node.parent.depth + 1 <= a.window
        assert node.stamp <= node.parent.stamp or node.parent is a._root  # never older than a child
        assert node.count >= sum(c.count for c in node.children.values())


@pytest.mark.parametrize("seed", range(40))
def test_capacity_is_never_exceeded_and_only_leaves_are_recycled(seed):
    """A long run with a small capacity: the trie stays whole (only leaves recycled),
    ancestors stay at least as recent as descendants, failure links stay right, and
    state and matches are those of brute force over the trie that is left."""
    rng = random.Random(2000 + seed)
    window = rng.randint(2, 5)
    a = Automaton(window, rng.randint(window + 1, 40))
    context = random_context(rng, 50)
    a.reset(context)
    for step in range(300):
        check_trie_invariants(a)
        paths = set(trie(a))
        assert a.state_tokens() == longest_suffix_in(context, paths)
        root = rng.choice(context) if rng.random() < 0.8 else rng.randrange(8)
        r = a.retrieve(root, rng.choice([1, 4, 16]))
        matches = matches_before(context, root, paths)
        assert r.borders == tuple(matches)
        for path in r.paths:  # every draft continues some border in the trie
            assert any(m + (root,) + path in paths for m in r.borders)
        if step % 50 == 0:
            check_failure_links(a)
        tokens = [root] + random_context(rng, rng.randint(0, 3))
        a.append(tokens)
        context += tokens
    check_trie_invariants(a)


def test_small_capacity_still_retrieves_a_recent_repeat():
    """After 2,000 noisy tokens through 60 nodes, a phrase seen once more recently than
    the noise is still there: the recycled nodes were the stale ones."""
    rng = random.Random(7)
    a = Automaton(window=4, capacity=60)
    a.reset([rng.randrange(50, 500) for _ in range(2000)])
    a.append([10, 11, 12, 13, 14])
    a.append([10, 11])
    r = a.retrieve(12, budget=8)
    assert r.borders == ((10, 11), (11,))
    # window 4: (10, 11, 12, 13) is as deep as a path goes; (11, 12, 13, 14) goes further
    assert r.paths == [(13,), (13, 14)]
    assert a.node_count <= 60
