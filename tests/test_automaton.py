"""Tests for racer.drafting.automaton: hand-worked cases first, then brute-force comparisons.

The trie holds every string of at most ``window`` consecutive context tokens, each
with its number of occurrences.
"""
from __future__ import annotations

import random
from collections import Counter

import pytest

from racer.drafting.automaton import Automaton
from racer.drafting.automaton import Retrieval
from racer.drafting.automaton import TrieView, trie_view

BIG = 10**9  # capacity that never recycles


def trie(a: Automaton) -> dict[tuple[int, ...], int]:
    """The automaton's trie as {spelled path: frequency}."""
    return {a._spell(n): n.count for n in a._nodes()}


def conts(a: Automaton, states, limit=8) -> list[tuple]:
    """continuations as plain (token, match, count, total, latest) tuples."""
    return [(c.token, c.match, c.count, c.total, c.latest) for c in a.continuations(states, limit)]


# ------------------------------------------------------------------ brute force


def substring_counts(context: list[int], window: int) -> Counter:
    """Occurrences of every string of 1..window consecutive tokens."""
    return Counter(tuple(context[i:j]) for i in range(len(context))
                   for j in range(i + 1, min(i + window, len(context)) + 1))


def stamps(context: list[int], window: int) -> dict[tuple[int, ...], int]:
    """For every string: the latest clock at which an occurrence of it was extended,
    counting its own longer strings from the same start (capped at the context end)."""
    n = len(context)
    out: dict[tuple[int, ...], int] = {}
    for i in range(n):
        for j in range(i + 1, min(i + window, n) + 1):
            key = tuple(context[i:j])
            out[key] = max(out.get(key, 0), min(i + window, n))
    return out


def matches_before(context: list[int], root: int, paths) -> list[tuple[int, ...]]:
    """Every suffix s (len >= 1) with s + [root] in ``paths``, longest first."""
    deepest = max(map(len, paths), default=0)
    return [tuple(context[-k:]) for k in range(min(len(context), deepest), 0, -1)
            if tuple(context[-k:]) + (root,) in paths]


def reference_continuations(counts, stamp, matches: list[tuple], limit: int) -> list[tuple]:
    """The tokens below the given matches (deepest first), at most ``limit`` per match
    by (count, stamp), each token once with its deepest match."""
    found: dict[int, tuple] = {}
    for m in matches:
        kids = [p for p in counts if len(p) == len(m) + 1 and p[:-1] == m]
        if not kids:
            continue
        newest = max(stamp[k] for k in kids)
        for k in sorted(kids, key=lambda k: (-counts[k], -stamp[k]))[:limit]:
            if k[-1] not in found:
                found[k[-1]] = (k[-1], len(m), counts[k], counts[m], stamp[k] == newest)
    return list(found.values())


# ------------------------------------------------------------ hand-worked cases


def test_rejects_too_small_window_or_capacity():
    with pytest.raises(ValueError):
        Automaton(window=1, capacity=100)
    with pytest.raises(ValueError):
        Automaton(window=4, capacity=4)


def test_reset_inserts_every_short_string_with_counts():
    a = Automaton(window=3, capacity=BIG)
    a.reset([1, 2, 3, 1, 2])
    assert trie(a) == {(1,): 2, (2,): 2, (3,): 1, (1, 2): 2, (2, 3): 1, (3, 1): 1,
                       (1, 2, 3): 1, (2, 3, 1): 1, (3, 1, 2): 1}
    assert a.state_tokens() == (3, 1, 2)
    assert a.failure_chain() == [(3, 1, 2), (1, 2), (2,), ()]


def test_a_context_shorter_than_the_window_is_in_the_trie_at_once():
    """The authors insert nothing until a whole window exists; here every string is
    in the trie as soon as its last token is."""
    a = Automaton(window=10, capacity=BIG)
    a.reset([5, 6, 7, 5, 6])
    assert a.state_tokens() == (5, 6, 7, 5, 6)
    r = a.retrieve(7)
    assert r.borders == ((5, 6), (6,)) and r.matched == (5, 6)
    assert conts(a, r.states) == [(5, 3, 1, 1, True)]   # 5 6 7 was followed by 5


def test_borders_come_from_every_matching_suffix_deepest_first():
    """window 4, context 1 2 3 1 2 3 1 2, root 3: the suffixes (1,2,3,1,2) is too long
    for the trie; (2,3,1,2)... the chain is (3,1,2) (1,2) (2,), and each was followed
    by 3 before -> borders (3,1,2,3), (1,2,3), (2,3); a depth-1 match (the root alone)
    is never a border."""
    a = Automaton(window=4, capacity=BIG)
    a.reset([1, 2, 3, 1, 2, 3, 1, 2])
    r = a.retrieve(3)
    assert r.borders == ((3, 1, 2), (1, 2), (2,)) and r.matched == (3, 1, 2)
    # (3,1,2,3) is at the window's depth: continuations come from (1,2,3) and (2,3)
    assert conts(a, r.states) == [(1, 3, 2, 2, True)]   # (1,2,3) twice, then 1 each time
    # a root never seen after any suffix has no border
    assert a.retrieve(9) == Retrieval((), (), ())
    assert a.retrieve(1).borders == ()   # 1 followed 3 only, and the context ends in 2


def test_continuations_rank_by_count_then_recency_and_report_a_token_once():
    """window 3, context a b x a b y a b y a: root b. Borders (y,a,b), a whole window
    with nothing below it, and (a,b): 3 times, followed by x once and y twice; y also
    followed the latest occurrence."""
    a_, b_, x, y = 1, 2, 3, 4
    a = Automaton(window=3, capacity=BIG)
    a.reset([a_, b_, x, a_, b_, y, a_, b_, y, a_])
    r = a.retrieve(b_)
    assert r.borders == ((y, a_), (a_,))
    assert conts(a, r.states) == [(y, 2, 2, 3, True), (x, 2, 1, 3, False)]
    assert conts(a, r.states, limit=1) == [(y, 2, 2, 3, True)]
    # below y: (a, b, y) is a whole window, but (b, y), reached from the root token
    # alone, was followed by a both times
    below_y = a.continuations(r.states)[0].states
    assert conts(a, below_y) == [(a_, 2, 2, 2, True)]


def test_a_token_under_two_matches_keeps_the_deepest():
    """window 4, context 7 1 2 5 . 1 2 6 . 2 9 . 7 1, root 2: borders (7,1,2) and (1,2);
    (1,2) (2 times) was followed by 5 and 6, (7,1,2) by 5 only -> 5 is reported with
    the 3-token match and 6 with the 2-token one; the root token alone (3 times) adds 9."""
    a = Automaton(window=4, capacity=BIG)
    a.reset([7, 1, 2, 5, 0, 1, 2, 6, 0, 2, 9, 0, 7, 1])
    r = a.retrieve(2)
    assert r.borders == ((7, 1), (1,))
    assert conts(a, r.states) == [(5, 3, 1, 1, True), (6, 2, 1, 2, True), (9, 1, 1, 3, True)]


def test_retrieve_changes_nothing():
    a = Automaton(window=3, capacity=BIG)
    a.reset([1, 2, 3, 1, 2])
    before = (trie(a), a.state_tokens())
    first = a.retrieve(3)
    assert a.retrieve(7) == Retrieval((), (), ())
    assert a.retrieve(3) == first
    assert (trie(a), a.state_tokens()) == before


def test_empty_automaton_answers_without_failing():
    a = Automaton(window=3, capacity=100)
    assert a.retrieve(5) == Retrieval((), (), ())
    assert a.state_tokens() == () and a.failure_chain() == [()]
    assert a.continuations(()) == []


def test_failure_link_follows_a_suffix_node_created_later():
    """window 3, context [5, 1, 2] with a trie of only its own strings; the failure
    link of (5,1,2) is (1,2). After append([9]) the link must still hold; a link
    cached before new nodes were created is recomputed."""
    a = Automaton(window=3, capacity=100)
    a.reset([5, 1])
    node = a._root.children[5].children[1]
    assert a._spell(a._fail(node)) == (1,)
    a.append([2, 9])
    assert a._spell(a._fail(node.children[2])) == (1, 2)


def test_lru_recycles_the_oldest_leaf_and_never_a_suffix_being_extended():
    """window 2, capacity 3.

    reset([1, 2, 3]): 1; then 2 and 12 (1 restamped to 2); then 3 needs a 4th node: the
      oldest leaf is 12 (2 is a suffix being extended: protected); 1 becomes a leaf.
      Then 23 needs one more: 1 goes. Trie {2, 3, 23}; state (2, 3).
    append([4]): 4 recycles 23 (3 is protected), then 34 recycles 2.
    """
    a = Automaton(window=2, capacity=3)
    a.reset([1, 2, 3])
    assert trie(a) == {(2,): 1, (3,): 1, (2, 3): 1}
    assert a.state_tokens() == (2, 3)
    a.append([4])
    assert trie(a) == {(3,): 1, (4,): 1, (3, 4): 1}
    assert a.state_tokens() == (3, 4)


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


def check_retrieval(a: Automaton, context: list[int], root: int, limit: int) -> None:
    counts = substring_counts(context, a.window)
    r = a.retrieve(root)
    matches = matches_before(context, root, counts)
    assert r.borders == tuple(matches)
    assert r.matched == (matches[0] if matches else ())
    stamp = stamps(context, a.window)
    # the borders, then the root token alone (a 1-token match)
    borders = [m + (root,) for m in matches] + ([(root,)] if (root,) in counts else [])
    got = conts(a, r.states, limit)
    assert [g[:4] for g in got] == [e[:4] for e in reference_continuations(counts, stamp, borders, limit)]
    # "latest" marks a continuation of the newest occurrence (stamps may tie)
    for token, match, *_, latest in got:
        if latest:
            m = next(b for b in borders if len(b) == match)
            assert stamp[m + (token,)] == max(stamp[k] for k in counts if len(k) == match + 1 and k[:-1] == m)
    # one level further down, from the first continuation's states
    if got:
        first = a.continuations(r.states, limit)[0]
        deeper = [b + (first.token,) for b in borders if b + (first.token,) in counts]
        assert [g[:4] for g in conts(a, first.states, limit)] == \
            [e[:4] for e in reference_continuations(counts, stamp, deeper, limit)]


@pytest.mark.parametrize("seed", range(150))
def test_state_counts_and_retrieval_equal_brute_force(seed):
    """With no recycling: after every append, the trie is the context's short strings
    with their counts, the state is the last window, the failure chain is every
    context suffix in the trie, and retrieval (borders, continuations at two levels)
    matches brute force."""
    rng = random.Random(seed)
    window = rng.randint(2, 5)
    a = Automaton(window, BIG)
    context = random_context(rng, rng.randint(0, 30))
    a.reset(context)
    vocab = max(context, default=0) + 2
    for _ in range(25):
        assert trie(a) == substring_counts(context, window)
        assert a.state_tokens() == tuple(context[-window:])
        assert a.failure_chain() == [tuple(context[len(context) - k:]) for k in
                                     range(min(window, len(context)), -1, -1)]
        root = rng.choice(context) if context and rng.random() < 0.8 else rng.randrange(vocab)
        if rng.random() < 0.85:
            check_retrieval(a, context, root, rng.choice([1, 2, 8]))
        tokens = [root] + [rng.randrange(vocab) for _ in range(rng.choice([0, 0, 1, 2, 4]))]
        a.append(tokens)
        context += tokens
    assert trie(a) == substring_counts(context, window)


def longest_suffix_in(context: list[int], paths) -> tuple[int, ...]:
    """The longest suffix of ``context`` (possibly empty) that is in ``paths``."""
    deepest = max(map(len, paths), default=0)
    for k in range(min(len(context), deepest), 0, -1):
        if tuple(context[-k:]) in paths:
            return tuple(context[-k:])
    return ()


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
    ancestors stay at least as recent as descendants, failure links stay right, the
    retrieval chain is the failure chain, and every continuation is in the trie."""
    rng = random.Random(2000 + seed)
    window = rng.randint(2, 5)
    a = Automaton(window, rng.randint(window + 1, 40))
    context = random_context(rng, 50)
    a.reset(context)
    for step in range(300):
        check_trie_invariants(a)
        paths = set(trie(a))
        assert [a._spell(n) for n in a._chain()] + [()] == a.failure_chain()
        root = rng.choice(context) if rng.random() < 0.8 else rng.randrange(8)
        r = a.retrieve(root)
        assert all(m + (root,) in paths for m in r.borders)
        for c in a.continuations(r.states):
            assert any(m + (root, c.token) in paths for m in r.borders + ((),))
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
    r = a.retrieve(12)
    assert r.borders == ((10, 11), (11,))
    # window 4: (10, 11, 12, 13) is as deep as a path goes; (11, 12, 13) goes one further
    assert conts(a, r.states) == [(13, 3, 1, 1, True)]
    below = a.continuations(r.states)[0].states
    assert conts(a, below) == [(14, 3, 1, 1, True)]   # from (11, 12, 13)
    assert a.node_count <= 60


# ------------------------------------------------- the read-only view (racer.drafting.automaton)


def spelled(view, node: int) -> tuple[int, ...] | None:
    """The string a view node spells, None when its upper path is left out."""
    path = view.path_to(node)
    return tuple(view.tokens[i] for i in path[1:]) if path[0] == 0 else None


def test_view_shows_the_matched_path_the_chain_and_failure_links():
    """window 3, context [1, 2, 3, 1, 2], root 3: borders (1,2,3) and (2,3); the state
    (3,1,2) fails to (1,2), which fails to (2,); (1,2,3) fails to (2,3)."""
    a = Automaton(window=3, capacity=BIG)
    a.reset([1, 2, 3, 1, 2])
    before = (trie(a), a.state_tokens(), a.retrieve(3))
    v = trie_view(a, 3)
    assert (trie(a), a.state_tokens(), a.retrieve(3)) == before   # read-only
    assert v.tokens[0] == -1 and v.parents[0] == -1 and v.depths[0] == 0
    assert all(v.parents[i] < i and v.depths[i] == (v.depths[v.parents[i]] + 1 if v.parents[i] >= 0 else v.depths[i])
               for i in range(1, len(v)))   # parents first, depths consistent
    assert [spelled(v, b) for b in v.borders] == [(1, 2, 3), (2, 3)]
    matched = v.path_to(v.borders[0])
    assert [v.tokens[i] for i in matched] == [-1, 1, 2, 3]
    assert [v.counts[i] for i in matched] == [0, 2, 2, 1]   # 1 and 1 2 occur twice
    # the state is shown alone (its upper path left out), at depth 3
    assert v.parents[v.state] == -1 and v.depths[v.state] == 3 and v.tokens[v.state] == 2
    node = {spelled(v, i): i for i in range(len(v)) if spelled(v, i) is not None}
    links = set(v.failures)
    assert (v.state, node[(1, 2)]) in links and (node[(1, 2)], node[(2,)]) in links
    assert (node[(1, 2, 3)], node[(2, 3)]) in links
    assert all(v.depths[t] >= 1 for _, t in v.failures)  # links to the trie root left out


def test_view_shows_drafted_continuations_under_the_deepest_border_that_holds_them():
    """(1,2,3) is a whole window: nothing below it. What was drafted after the root, 1,
    hangs under the shallower border (2,3)."""
    a = Automaton(window=3, capacity=BIG)
    a.reset([1, 2, 3, 1, 2])
    v = trie_view(a, 3, drafted=[(1,)])
    drafted = [i for i in range(len(v)) if v.parents[i] == v.borders[1] and v.tokens[i] == 1]
    assert len(drafted) == 1 and spelled(v, drafted[0]) == (2, 3, 1)
    long = Automaton(window=10, capacity=BIG)
    long.reset([5, 6, 7, 5, 6])
    v = trie_view(long, 7, drafted=[(5,), (5, 6)])
    assert [v.tokens[i] for i in v.path_to(len(v) - 1)] == [-1, 5, 6, 7, 5, 6]  # one contiguous path


def test_view_of_a_root_never_seen_has_no_borders_and_respects_its_size():
    a = Automaton(window=4, capacity=BIG)
    a.reset([1, 2, 3, 4, 1, 2, 3, 4, 1, 2])
    v = trie_view(a, 9)
    assert v.borders == () and v.state >= 0
    small = trie_view(a, 3, max_nodes=2)   # the matched path (4 1 2 3) does not fit; two chain nodes do
    assert len(small) == 3 and small.borders == () and small.parents == (-1, -1, -1)
    assert trie_view(Automaton(window=3, capacity=10), 1) == TrieView(
        tokens=(-1,), counts=(0,), depths=(0,), parents=(-1,), failures=(), state=0, borders=())


@pytest.mark.parametrize("seed", range(20))
def test_view_counts_and_links_equal_brute_force(seed):
    rng = random.Random(2000 + seed)
    window = rng.randint(2, 6)
    a = Automaton(window, BIG)
    context = random_context(rng, 40)
    a.reset(context)
    counts, paths = substring_counts(context, window), set(trie(a))
    root = rng.randrange(6)
    found = a.continuations(a.retrieve(root).states)
    v = trie_view(a, root, drafted=[[c.token] for c in found], max_nodes=30)
    assert len(v) <= 31
    for i in range(1, len(v)):
        s = spelled(v, i)
        if s is not None:
            assert v.counts[i] == counts[s] and v.depths[i] == len(s)
    for node, target in v.failures:
        s, t = spelled(v, node), spelled(v, target)
        if s is not None and t is not None:
            assert t == longest_suffix_in(list(s[1:]), paths)
    matches = a.retrieve(root).borders
    assert all(v.tokens[b] == root for b in v.borders)
    assert [v.depths[b] - 1 for b in v.borders] == [len(m) for m in matches][: len(v.borders)]
    if v.borders:   # the deepest border comes with its whole path: the matched path
        assert spelled(v, v.borders[0]) == matches[0] + (root,)
