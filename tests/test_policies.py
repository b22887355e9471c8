"""The tree policies beside ours (racer.drafting.policies): the paper's tree, SGLang's fixed-K
tree and SuffixDecoding, on hand-built automata and caches whose trees can be worked
out by hand; padding is never accepted; sampling with padding stays exact.

(Greedy exactness of every registered drafter against plain greedy is
tests/test_generation.py's, same-seed sampling tests/test_sampling.py's, the 30
anchors tests/test_real_model.py's.)"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from racer.drafting.logits_cache import TopK
from racer.drafting.policies import PaperDrafter, SglangDrafter, SuffixDrafter
from racer.engine.settings import Settings
from racer.engine.tree import BOTH, LOGITS, PADDING, RETRIEVAL, padded, root_only
from racer.engine.verify import walk_tree

VOCAB = 32
# context [1, 2, 3, 1, 2] at window 3, root 3: the borders are (1,2)->3 and (2)->3
# (count 1 each); below (2,3) the trie has 1 (the string 2 3 1, count 1); (1,2,3)
# is a whole window and has no children.
CONTEXT = [1, 2, 3, 1, 2]
ROWS = {3: [5, 6, 7, 1], 5: [8, 9, 10, 11], 6: [12, 13, 14, 15], 7: [16, 17, 18, 19],
        1: [2, 20, 21, 22], 8: [23, 24, 25, 26]}


def drafter(kind, width=4):
    d = kind(VOCAB)
    top = TopK(np.full((len(CONTEXT), width), -1), np.zeros((len(CONTEXT), width), np.float32))
    settings = Settings(window=3, width=width, capacity=100)
    d.reset(CONTEXT, top, settings)
    tokens = list(ROWS)
    d.cache.update(tokens, TopK(np.array([ROWS[t] for t in tokens]), np.full((len(tokens), 4), 0.25, np.float32)),
                   at=1)
    return d, settings


def edges(tree):
    """{(parent token, token): source} of every node but the root."""
    return {(tree.tokens[p], t): s for t, p, s in zip(tree.tokens, tree.parents, tree.sources) if p >= 0}


def test_paper_tree_is_the_retrieval_pool_then_the_halving_expansion():
    d, s = drafter(PaperDrafter)
    tree, _ = d.propose(3, s, 12)
    # pool: the 2 borders and (2,3,1): 3 of 12 spent, path [1]. Logits, 9: the root 1;
    # its children 5 6 7 1 (breadths 2 1 1 1: b // 2 at the root, halving) 4; then 5, at
    # depth 1, keeps its breadth 2: 8 9; 6 and 7 take one each: 12, 16. Spent.
    assert edges(tree) == {(3, 1): BOTH, (3, 5): LOGITS, (3, 6): LOGITS, (3, 7): LOGITS,
                           (5, 8): LOGITS, (5, 9): LOGITS, (6, 12): LOGITS, (7, 16): LOGITS}
    assert len(tree) == 9 and any("Border count" in n and "2 borders" in n for n in tree.notes)


def test_paper_budget_two_border_quirk_leaves_the_root_alone_and_says_so():
    d, s = drafter(PaperDrafter)
    tree, _ = d.propose(3, s, 2)
    assert len(tree) == 1   # the two borders filled the pool: no path, no logits budget
    assert any("left room for nothing" in n for n in tree.notes)
    # where our drafter would not waste it: the same budget at 3 drafts one node (pool
    # full at 3 with (2,3,1) -> path [1]; the logits budget is 0)
    tree3, _ = d.propose(3, s, 3)
    assert edges(tree3) == {(3, 1): RETRIEVAL}


def test_paper_drafts_token_zero_after_an_unseen_token_and_names_it():
    d, s = drafter(PaperDrafter)
    tree, _ = d.propose(30, s, 4)   # token 30: no border, no cached row
    assert edges(tree) == {(30, 0): LOGITS} and any("Unseen token" in n for n in tree.notes)


def test_sglang_fills_exactly_k_slots_retrieval_first_then_logits_in_order():
    d, s = drafter(SglangDrafter)
    tree, _ = d.propose(3, s, 8)
    assert len(tree) == 8 and not any(tree.padding)
    # slots in the order filled: the root, retrieval's 1; then the root keeps breadth 4:
    # 5 6 7, and 1 again (free, now "both"); then 5 at half its breadth... 8 9 10: K reached
    by_creation = [tree.tokens[i] for i in sorted(range(len(tree)), key=lambda i: tree.created[i])]
    assert by_creation == [3, 1, 5, 6, 7, 8, 9, 10]
    assert edges(tree)[(3, 1)] == BOTH and edges(tree)[(5, 10)] == LOGITS


@pytest.mark.parametrize("k", [1, 2, 5, 12, 16])
def test_sglang_trees_always_have_k_nodes_padding_included(k):
    d, s = drafter(SglangDrafter)
    for depth in (1, 3, 12):
        tree, _ = d.propose(3, s.with_changes(depth=depth), k)
        assert len(tree) == k
        pads = [i for i in range(len(tree)) if tree.is_padding(i)]
        assert all(tree.sources[i] == PADDING and tree.parents[i] == 0 and tree.tokens[i] == 0 for i in pads)
        assert list(tree.depths) == sorted(tree.depths)   # still breadth first
        if depth == 1 and k > 5:   # the root's 4 children only; the rest is padding
            assert len(pads) == k - 5 and any("padding" in n for n in tree.notes)


def test_padding_is_never_accepted_even_when_the_target_picks_its_token():
    tree = padded(root_only(5), 3)
    logits = torch.zeros(3, VOCAB)
    logits[:, 0] = 10.0   # the target's pick everywhere is token 0, the padding's token
    walk = walk_tree(tree, logits, Settings())
    assert walk.accepted == (0,) and walk.picks == (0,)


def test_sglang_does_not_feed_padding_to_the_logits_cache():
    d, s = drafter(SglangDrafter)
    tree, _ = d.propose(3, s.with_changes(depth=1), 8)
    before = d.cache.successors(0, 4)
    top = TopK(np.tile(np.arange(4), (len(tree), 1)), np.full((len(tree), 4), 0.25, np.float32))
    d.observe(tree, top, (0,))
    assert d.cache.successors(0, 4) == before == []


def test_suffix_speculates_from_the_longest_match_by_frequency():
    d = SuffixDrafter()
    context = [1, 2, 3, 4, 1, 2, 3, 5, 1, 2]
    d.reset(context, None, Settings())
    # root 3 after "1 2": the match "1 2 3" (3 tokens) was followed by 4 and by 5, half
    # each; below 4 came 1 (the whole 0.5). At most 1 x 3 + 0 = 3 tokens.
    tree, _ = d.propose(3, Settings(), 16)
    assert edges(tree) == {(3, 4): RETRIEVAL, (3, 5): RETRIEVAL, (4, 1): RETRIEVAL}
    # "7 8" matched (2 tokens): two; the root token alone matched: one
    d.reset([7, 8, 9, 7], None, Settings())
    assert d.propose(8, Settings(), 16)[0].tokens == (8, 9, 7)
    d.reset([8, 9, 7], None, Settings())
    assert d.propose(8, Settings(), 16)[0].tokens == (8, 9)


def test_suffix_prunes_tokens_below_the_minimum_probability():
    d = SuffixDrafter()
    # 1 2 was followed by 3 nine times and by 4 once: 4's probability 0.1 stays, below it
    # pruned once the threshold is raised
    d.reset([1, 2, 3] * 9 + [1, 2, 4, 1], None, Settings())
    d.MIN_PROB = 0.2
    tree, _ = d.propose(2, Settings(), 16)
    assert 4 not in tree.tokens and 3 in tree.tokens


@pytest.mark.slow  # seconds, not milliseconds: make test, not test-fast
def test_sglang_sampling_with_padding_follows_the_target_distribution():
    """Plain sampling and racer_sglang (deep padding, depth 1) give the same first-token
    frequencies to within noise: padding must not bias acceptance."""
    from tests.test_sampling import exact_joint, sampling_model, total_variation
    from tests.tiny import run, target
    model, prompt = sampling_model()
    tm = target(model)
    joint = exact_joint(model, prompt, 1.0, 1.0)
    first = joint.sum((1, 2))
    s = Settings(drafter="racer_sglang", temperature=1.0, max_new_tokens=1, depth=1, budget=12,
                 adaptive_budget=False)
    n = 300
    counts = Counter()
    for seed in range(n):
        out, _ = run(tm, prompt, s.with_changes(seed=seed, max_new_tokens=2))
        counts[out[1]] += 1   # the second token: the first one a tree was verified for
    second = joint.sum((0, 2))
    assert total_variation(counts, second, n) < 0.12 and first.sum() > 0.99


def test_the_tree_view_draws_padding_and_names_the_quirks():
    from components.figures.tree import tree_figure
    from tests.tiny import run, target, tiny_model
    tm = target(tiny_model("llama", 0))
    _, records = run(tm, [1, 2, 3, 4, 1, 2, 3, 4, 1, 2],
                     Settings(drafter="racer_sglang", depth=1, budget=16, width=2, max_new_tokens=6))
    padded_steps = [r for r in records if r.tree is not None and any(r.tree.padding)]
    assert padded_steps
    fig = tree_figure(padded_steps[0], lambda t: f"t{t}")
    assert any(t.name == "padding (never accepted)" for t in fig.data)
    assert any("padding slot" in a.text for a in fig.layout.annotations)
