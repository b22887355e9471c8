"""The draft tree, its construction and its use in the model: hand-worked cases.

Covers TreeBuilder (merging sources, caps, breadth-first order), DraftTree views
(paths, ancestor mask, creation order, prefixes), the logits cache, RACER's merged
tree, prompt lookup's continuation search, the greedy tree walk, and model.py's tree
verify and KV commit against plain causal forwards. Best-first growth, calibration
and tree sizing are in test_growth.py.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from racer.drafting.calibration import Calibration
from racer.drafting.drafters import PromptLookupDrafter, RacerDrafter, find_continuation
from racer.drafting.logits_cache import LogitsCache, TopK
from racer.engine.records import ACCEPTED, NOT_REACHED, REJECTED
from racer.engine.settings import Settings
from racer.engine.tree import BOTH, LOGITS, RETRIEVAL, ROOT, DraftTree, TreeBuilder, root_only
from racer.engine.verify import verdicts, walk_tree
from tests.tiny import stock_twin, target, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")

T, F = True, False


# ------------------------------------------------------------------ TreeBuilder


def hand_tree() -> DraftTree:
    """root 5; paths added in this order (creation index in brackets):

        retrieval [7, 8, 9]     -> 7[1] 8[2] 9[3]
        logits    [7, 3]        -> 7 re-marked both, 3[4] under 7
        logits    [2]           -> 2[5]
        retrieval [7, 8, 9, 6]  -> 6 would sit at depth 4 > cap 3: refused
        retrieval [2, 4]        -> 2 re-marked both, 4[6] under 2

    Breadth first, stable within a depth: 5 | 7 2 | 8 3 4 | 9, i.e. creation
    order 0 1 5 2 4 6 3.
    """
    b = TreeBuilder(root=5, max_nodes=10, max_depth=3)
    b.add_path([7, 8, 9], RETRIEVAL)
    b.add_path([7, 3], LOGITS)
    b.add_path([2], LOGITS)
    b.add_path([7, 8, 9, 6], RETRIEVAL)
    b.add_path([2, 4], RETRIEVAL)
    return b.build()


def test_builder_merges_sources_and_orders_breadth_first():
    t = hand_tree()
    assert t.tokens == (5, 7, 2, 8, 3, 4, 9)
    assert t.parents == (-1, 0, 0, 1, 1, 2, 3)
    assert t.depths == (0, 1, 1, 2, 2, 2, 3)
    assert t.sources == (ROOT, BOTH, BOTH, RETRIEVAL, LOGITS, RETRIEVAL, RETRIEVAL)
    assert t.created == (0, 1, 5, 2, 4, 6, 3)
    assert t.root == 5 and len(t) == 7 and t.max_depth == 3


def test_tree_paths_leaves_children():
    t = hand_tree()
    assert t.children() == [[1, 2], [3, 4], [5], [6], [], [], []]
    assert t.leaves() == [4, 5, 6]
    assert t.paths() == [[0, 1, 4], [0, 2, 5], [0, 1, 3, 6]]
    assert t.path_to(0) == [0]


def test_ancestor_mask_rows():
    assert hand_tree().ancestor_mask() == [
        [T, F, F, F, F, F, F],  # 5
        [T, T, F, F, F, F, F],  # 5 7
        [T, F, T, F, F, F, F],  # 5 2
        [T, T, F, T, F, F, F],  # 5 7 8
        [T, T, F, F, T, F, F],  # 5 7 3
        [T, F, T, F, F, T, F],  # 5 2 4
        [T, T, F, T, F, F, T],  # 5 7 8 9
    ]
    # the docstring's example
    t = DraftTree((1, 2, 3, 4), (-1, 0, 0, 1), (0, 1, 1, 2), (ROOT, LOGITS, LOGITS, LOGITS))
    assert t.ancestor_mask()[3] == [T, T, F, T]


def test_builder_size_cap_still_remarks_existing_nodes():
    b = TreeBuilder(root=0, max_nodes=3, max_depth=10)
    b.add_path([7, 8, 9], RETRIEVAL)          # 9 would be the 4th node
    assert b.full
    assert b.add_child(0, 1, LOGITS) is None  # full: refused
    b.add_path([7, 8], LOGITS)                # no new node, but both sources now
    t = b.build()
    assert t.tokens == (0, 7, 8)
    assert t.sources == (ROOT, BOTH, BOTH)


def test_builder_stops_a_path_at_the_first_refused_token():
    # a refused token must not let the rest of its path hang under the wrong parent
    b = TreeBuilder(root=0, max_nodes=2, max_depth=10)
    b.add_path([1], LOGITS)
    b.add_path([2, 1, 3], LOGITS)
    assert b.build().tokens == (0, 1)
    b = TreeBuilder(root=0, max_nodes=10, max_depth=1)
    b.add_path([4, 5, 6], RETRIEVAL)
    assert b.build().tokens == (0, 4)


def test_builder_degenerate_caps_give_the_root_alone():
    for b in (TreeBuilder(root=3, max_nodes=0, max_depth=5), TreeBuilder(root=3, max_nodes=9, max_depth=0)):
        b.add_path([1, 2], RETRIEVAL)
        assert b.build() == root_only(3)
    assert root_only(3).paths() == [[0]] and root_only(3).ancestor_mask() == [[T]]


def reference_trie(paths, max_nodes, max_depth) -> dict[tuple[int, ...], set[str]]:
    """Brute force: the token prefixes a capped trie keeps, with their sources."""
    nodes: dict[tuple[int, ...], set[str]] = {(): set()}
    for tokens, source in paths:
        for k in range(1, len(tokens) + 1):
            key = tuple(tokens[:k])
            if key in nodes:
                nodes[key].add(source)
            elif k > max_depth or len(nodes) >= max_nodes:
                break
            else:
                nodes[key] = {source}
    return nodes


@pytest.mark.parametrize("seed", range(30))
def test_builder_matches_a_brute_force_trie(seed):
    rng = random.Random(seed)
    max_nodes, max_depth = rng.randint(1, 20), rng.randint(0, 5)
    paths = [([rng.randint(0, 3) for _ in range(rng.randint(1, 6))], rng.choice([RETRIEVAL, LOGITS]))
             for _ in range(rng.randint(1, 8))]
    b = TreeBuilder(root=9, max_nodes=max_nodes, max_depth=max_depth)
    for tokens, source in paths:
        b.add_path(tokens, source)
    t = b.build()

    spelled = {}
    for i in range(len(t)):
        spelled[tuple(t.tokens[j] for j in t.path_to(i)[1:])] = t.sources[i]
    expected = reference_trie(paths, max_nodes, max_depth)
    assert set(spelled) == set(expected)
    for key, sources in expected.items():
        if key:
            assert spelled[key] == (BOTH if len(sources) == 2 else next(iter(sources)))
    # breadth first, parents first, consistent depths, unique creation order
    assert t.parents[0] == -1 and t.depths[0] == 0 and t.created[0] == 0
    for i in range(1, len(t)):
        p = t.parents[i]
        assert p < i and t.depths[i] == t.depths[p] + 1 and t.depths[i - 1] <= t.depths[i]
        assert t.created[p] < t.created[i]
    assert sorted(t.created) == list(range(len(t)))
    for kids in t.children():
        assert len({t.tokens[k] for k in kids}) == len(kids)  # siblings distinct


# ------------------------------------------------------------------ logits cache


def top(ids, probs=None) -> TopK:
    """TopK rows from ids; probabilities 0.5, 0.25, ... unless given."""
    ids = np.array(ids)
    if probs is None:
        probs = np.tile(0.5 ** np.arange(1, ids.shape[1] + 1), (len(ids), 1))
    return TopK(ids, np.array(probs, dtype=np.float32))


def test_logits_cache_last_write_wins_and_rows_are_replaced_whole():
    c = LogitsCache(vocab_size=10, width=3)
    c.update([3, 5, 3, 6], top([[1, 2, 4], [4, 4, 4], [7, 8, 9], [0, 1, 2]],
                               [[.5, .3, .1], [.4, .3, .2], [.6, .2, .1], [.9, .05, .01]]), at=[1, 2, 3, 4])
    assert c.successors(3, 3) == [7, 8, 9]   # the later 3 wins
    assert c.candidates(3, 2) == [(7, pytest.approx(.6)), (8, pytest.approx(.2))]
    assert c.successors(5, 2) == [4, 4] and c.successors(6, 1) == [0]
    assert c.successors(4, 3) == []          # never processed: unseen
    assert c.written_at(3) == 3 and c.written_at(4) == 0
    c.update([3], top([[6]]), at=5)          # fewer successors than the width
    assert c.candidates(3, 3) == [(6, .5)]   # stale 8, 9 and their probabilities are gone
    assert c.written_at(3) == 5
    c.update([3], top([[1, 2, 3, 4, 5]]), at=6)
    assert c.successors(3, 8) == [1, 2, 3]   # more than the width: cut
    c.update([-1, 10, 2], top([[1, 1, 1], [2, 2, 2], [5, 6, 7]]), at=7)  # out of range ignored
    assert c.successors(2, 3) == [5, 6, 7] and c.successors(-1, 3) == [] and c.successors(10, 3) == []


def test_logits_cache_ensure_width_keeps_rows():
    c = LogitsCache(vocab_size=4, width=2)
    c.update([1], top([[2, 3]]), at=1)
    c.ensure_width(4)
    assert c.width == 4 and c.candidates(1, 4) == [(2, .5), (3, .25)]
    c.update([1], top([[3, 2, 1, 0]]), at=2)
    assert c.successors(1, 4) == [3, 2, 1, 0]
    c.ensure_width(1)  # narrower asks read fewer; rows are kept
    assert c.width == 4 and c.successors(1, 1) == [3]
    with pytest.raises(ValueError):
        LogitsCache(vocab_size=4, width=0)


def test_topk_concat_pads_narrow_parts():
    joined = TopK.concat([top([[1, 2]]), top([[3, 4, 5], [6, 7, 8]])], width=3)
    assert joined.ids.tolist() == [[1, 2, -1], [3, 4, 5], [6, 7, 8]]
    assert joined.probs[0].tolist() == [.5, .25, 0.0]
    assert joined.rows([2]).ids.tolist() == [[6, 7, 8]]


# ------------------------------------------------------------------ RACER's merged tree


def test_racer_drafter_merges_retrieval_and_logits():
    """window 3, context 1 2 3 4 1 2 3 4 1 2 3, root 4.

    Retrieval: the context's suffixes (1,2,3) (2,3) (3,); (2,3) and (3,) were followed
    by 4 -> borders (2,3,4) and (3,4), matched (2,3). (2,3,4) is a whole window;
    below (3,4) only 1 (twice of twice); below that, from the root token alone, (4,1)
    was followed by 2 twice of twice.
    Logits: token t's cached successors are t % 4 + 1, 20+t, 30+t, 40+t at
    probabilities .6 .2 .1 .05. So 1 is proposed by both: estimate (with no measured
    table: the raw evidence) 1 - (1 - .6)(1 - .3) = .72; then 24 .2, 34 .1, 44 .05; below 1 the
    same estimates (2 proposed by both), on paths of .432, .144, .072, .036. Best first with a depth
    cap of 2: 1, 2, 24, 21, 34, 31, 44, 41 (nothing below 24.. : never seen).
    """
    context = [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3]
    s = Settings(width=4, window=3, depth=2, budget=10)
    ids = [[t % 4 + 1, 20 + t, 30 + t, 40 + t] for t in context]
    rows = top(ids, [[.6, .2, .1, .05]] * len(context))

    def propose(settings, budget):
        drafter = RacerDrafter(vocab_size=48)
        drafter.reset(context, rows, s)
        drafter.calibration = Calibration(fitted={})   # estimates from the raw evidence
        return drafter.propose(4, settings, budget)

    tree, view = propose(s, 10)
    assert tree.tokens == (4, 1, 24, 34, 44, 2, 21, 31, 41)
    assert tree.parents == (-1, 0, 0, 0, 0, 1, 1, 1, 1)
    assert tree.sources == (ROOT, BOTH) + (LOGITS,) * 3 + (BOTH,) + (LOGITS,) * 3
    assert tree.created == (0, 1, 3, 5, 7, 2, 4, 6, 8)
    assert tree.estimates == pytest.approx((1.0, .72, .2, .1, .05, .72, .2, .1, .05))
    assert view.matched == (2, 3) and view.borders == ((2, 3), (3,))
    assert tree.evidence[1].match == 2 and tree.evidence[1].count == 2 and tree.evidence[1].rank == 0
    # a depth cap of 1 and a budget of 3 cut the same drafts down, best first
    assert propose(s.with_changes(depth=1), 10)[0].tokens == (4, 1, 24, 34, 44)
    assert propose(s, 3)[0].tokens == (4, 1, 2)
    assert propose(s, 10)[0].prefix(3) == propose(s, 3)[0]


# ------------------------------------------------------------------ prompt lookup


@pytest.mark.parametrize("seq, max_ngram, length, expected", [
    ([1, 2, 3, 9, 1, 2], 2, 2, [3, 9]),             # the docstring's case
    ([1, 2, 5, 1, 2, 6, 1, 2], 2, 1, [6]),          # the latest match wins
    ([7, 1, 2, 4, 8, 2, 5, 1, 2], 2, 2, [4, 8]),    # the longer n-gram wins over a later 1-gram
    ([7, 1, 2, 4, 8, 2, 5, 1, 2], 1, 2, [5, 1]),    # 1-gram only: the later match
    ([1, 2, 3, 1], 1, 5, [2, 3, 1]),                # fewer tokens than asked near the end
    ([3, 3], 3, 4, [3]),                            # the suffix itself never matches itself
    ([1, 2, 3, 4], 3, 4, []),                       # no match at all
    ([4], 3, 4, []),
])
def test_find_continuation(seq, max_ngram, length, expected):
    n, follow = find_continuation(seq, max_ngram, length)
    assert follow == expected and (n > 0) == bool(expected)


def test_prompt_lookup_chain_is_capped_by_depth_and_budget():
    d = PromptLookupDrafter()
    d.reset([1, 2, 3, 4, 5, 6, 7, 1], top(np.zeros((8, 1), dtype=int)), Settings())
    tree, _ = d.propose(2, Settings(depth=3), budget=16)
    assert tree.tokens == (2, 3, 4, 5) and set(tree.sources[1:]) == {RETRIEVAL}
    assert tree.evidence[1].lookup and tree.evidence[1].match == 2   # the bigram (1, 2) matched
    tree, _ = d.propose(2, Settings(depth=12), budget=3)
    assert tree.tokens == (2, 3, 4)
    d.observe(tree, top(np.zeros((3, 1), dtype=int)), [0, 1])  # the context grows by what was accepted
    tree, _ = d.propose(9, Settings(), budget=16)  # ... 1, 2, 3 + root 9: never seen -> nothing
    assert tree.tokens == (9,)
    tree, _ = d.propose(4, Settings(), budget=16)  # ... 2, 3 + root 4: the 3-gram matches
    assert tree.tokens == (4, 5, 6, 7, 1, 2, 3, 4) and tree.evidence[1].match == 3


# ------------------------------------------------------------------ greedy walk


def test_greedy_walk_and_verdicts_on_the_hand_tree():
    t = hand_tree()  # 5 | 7 2 | 8 3 4 | 9
    logits = torch.zeros(len(t), 10)
    logits[0, 7] = 1   # at the root the target says 7 -> node 1
    logits[1, 8] = 1   # after 5 7 it says 8 -> node 3
    logits[3, 1] = 1   # after 5 7 8 it says 1, which is not the drafted 9: bonus
    logits[2, 4] = 1   # node 2 is a rejected sibling: its row must not matter
    walk = walk_tree(t, logits, Settings())
    assert walk.accepted == (0, 1, 3) and walk.picks == (7, 8, 1)
    assert verdicts(t, walk.accepted) == (ACCEPTED, ACCEPTED, REJECTED, ACCEPTED, REJECTED,
                                          NOT_REACHED, REJECTED)
    logits[0] = 0
    logits[0, 6] = 1   # nothing drafted agrees: the root alone, bonus 6
    walk = walk_tree(t, logits, Settings())
    assert walk.accepted == (0,) and walk.picks == (6,)
    assert verdicts(t, walk.accepted) == (ACCEPTED, REJECTED, REJECTED) + (NOT_REACHED,) * 4


# ------------------------------------------------------------------ the tree in the model


@pytest.fixture(scope="module")
def tiny():
    return tiny_model("llama", seed=3)


@torch.inference_mode()
def causal_logits(model, ids: list[int]) -> torch.Tensor:
    """Logits at the last position of a plain causal forward over ``ids``, stock
    attention: (V,)."""
    return stock_twin(model)(input_ids=torch.tensor([ids])).logits[0, -1]


@pytest.mark.parametrize("arch", ["llama", "qwen2", "qwen3"])
def test_verify_rows_equal_separate_causal_forwards(arch):
    model = tiny_model(arch, seed=3)
    tm = target(model)
    context = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7]
    b = TreeBuilder(root=11, max_nodes=20, max_depth=4)
    for path in ([2, 3, 4, 5], [2, 6], [7, 3, 4], [11, 11], [9]):
        b.add_path(path, LOGITS)
    tree = b.build()
    cache = tm.new_cache()
    tm.prefill(context, cache, top_k=4)
    logits = tm.verify(tree, cache, len(context))  # (n, V)
    assert logits.shape == (len(tree), tm.vocab_size)
    for i in range(len(tree)):
        path = [tree.tokens[j] for j in tree.path_to(i)]
        expected = causal_logits(model, context + path).float()
        torch.testing.assert_close(logits[i], expected, rtol=0, atol=1e-6, msg=f"node {i}, path {path}")


@pytest.mark.parametrize("keep", [[0], [0, 1], [0, 3], [0, 2, 5], [0, 1, 4, 7], [0, 1, 6, 8]])
def test_commit_keeps_exactly_the_accepted_chain(tiny, keep):
    """After commit, the cache holds context + the chain (in order, at contiguous
    positions) and nothing else: the next forward equals a fresh causal forward."""
    tm = target(tiny)
    context = [3, 14, 15, 9, 26, 5]
    b = TreeBuilder(root=40, max_nodes=20, max_depth=4)
    for path in ([2, 3, 4], [7, 3], [2, 6, 1], [5]):
        b.add_path(path, RETRIEVAL)
    tree = b.build()  # 40 | 2 7 5 | 3 3 6 | 4 1
    assert all(tree.path_to(keep[-1])[k] == node for k, node in enumerate(keep))  # a chain
    cache = tm.new_cache()
    tm.prefill(context, cache, top_k=4)
    tm.verify(tree, cache, len(context))
    tm.commit(cache, len(context), keep)
    committed = context + [tree.tokens[i] for i in keep]
    assert cache.get_seq_length() == len(committed)
    nxt = root_only(17)
    logits = tm.verify(nxt, cache, len(committed))
    torch.testing.assert_close(logits[0], causal_logits(tiny, committed + [17]).float(), rtol=0, atol=1e-6)
    # and a whole tree on top of it, too
    tm.commit(cache, len(committed), [0])
    tree2 = TreeBuilder(root=8, max_nodes=5, max_depth=2)
    tree2.add_path([1, 2], LOGITS)
    tree2.add_path([3], LOGITS)
    tree2 = tree2.build()
    logits = tm.verify(tree2, cache, len(committed) + 1)
    for i in range(len(tree2)):
        path = [tree2.tokens[j] for j in tree2.path_to(i)]
        torch.testing.assert_close(logits[i], causal_logits(tiny, committed + [17] + path).float(),
                                   rtol=0, atol=1e-6)
