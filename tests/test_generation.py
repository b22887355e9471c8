"""The generation loop on tiny random models: greedy equivalence with
``transformers`` ``generate()`` for every drafter and many settings, EOS and length
cuts inside an accepted draft, the context window, edge cases, settings validation,
and the invariants of every step record.

Every model here is float64 (see tests/tiny.py for why).
"""
from __future__ import annotations

import copy
from functools import lru_cache

import pytest
import torch

from racer.drafting.registry import drafter_names, make_drafter
from racer.engine.generate import Generation
from racer.engine.records import ACCEPTED, NOT_REACHED, REJECTED, StepRecord
from racer.model.loading import SUPPORTED_TYPES
from racer.engine.settings import Settings
from racer.engine.tree import PADDING, BOTH, LOGITS, RETRIEVAL, ROOT
from racer.engine.verify import walk_tree
from racer.model.target import chain_tree, row_tops
from tests.tiny import (own_target, ARCHS, FAMILIES, distinct_prompt, hf_greedy, repetitive_prompt, run, target,
                        tiny_model)

pytestmark = pytest.mark.usefixtures("one_thread")

NEW = 40  # new tokens per run: enough for the tiny models to settle into cycles
PROMPTS = {
    "repetitive": repetitive_prompt(0),                       # 5 tokens x 4
    "repetitive-9": repetitive_prompt(1, unit=9, repeats=3),  # 9 tokens x 3
    "distinct": distinct_prompt(0),                           # nothing for retrieval to match
    "one-token": [7],
}
SEEDS = (0, 1, 2)
ALLOWED_SOURCES = {
    "racer": {RETRIEVAL, LOGITS, BOTH}, "retrieval": {RETRIEVAL}, "logits": {LOGITS},
    "prompt_lookup": {RETRIEVAL}, "plain": set(),
    "racer_paper": {RETRIEVAL, LOGITS, BOTH}, "racer_sglang": {RETRIEVAL, LOGITS, BOTH, PADDING},
    "suffix": {RETRIEVAL},
}


@lru_cache(maxsize=None)
def reference(arch: str, seed: int, prompt: tuple[int, ...], new: int = NEW, eos: int | None = None) -> list[int]:
    return hf_greedy(tiny_model(arch, seed), list(prompt), new, eos)


def check_records(records: list[StepRecord], prompt: list[int], output: list[int]) -> None:
    """Invariants every run's records must satisfy, whatever the drafter."""
    total = 0
    for k, r in enumerate(records):
        s = r.settings
        assert r.index == k and r.forwards == k + 1
        assert r.finished == (k == len(records) - 1)
        assert len(r.emitted) >= 1 and len(r.emitted) == len(r.emitted_sources)
        if k == 0:  # prefill: one forward, the first token
            assert r.tree is None and r.emitted_sources == ("bonus",) and r.context_len == 0
        else:
            t = r.tree
            assert r.context_len == len(prompt) + total - 1     # all output but the root is cached
            assert t.root == records[k - 1].emitted[-1]        # last step's bonus is this root
            assert len(t) <= r.budget <= s.budget and t.max_depth <= s.depth
            assert t.sources[0] == ROOT and set(t.sources[1:]) <= ALLOWED_SOURCES[s.drafter]
            assert len(r.verdicts) == len(r.target_tokens) == len(r.target_probs) == len(t)
            # the accepted nodes form a chain from the root
            acc = r.accepted
            assert acc[0] == 0 and all(t.parents[b] == a for a, b in zip(acc, acc[1:]))
            for i, p in enumerate(t.parents):
                expected = ACCEPTED if i in acc else REJECTED if p in acc else NOT_REACHED
                assert r.verdicts[i] == expected
                assert (r.target_tokens[i] is None) == (i not in acc)
            # the target agreed with every accepted draft, and not with any child of the last
            assert all(r.target_tokens[a] == t.tokens[b] for a, b in zip(acc, acc[1:]))
            bonus = r.target_tokens[acc[-1]]
            assert bonus == r.bonus
            assert bonus not in [t.tokens[c] for c in t.children()[acc[-1]]]
            assert r.target_probs[0] == 1.0 and all(0.0 <= p <= 1.0 for p in r.target_probs)
            assert all(r.target_probs[a] > 0 for a in acc)
            full = [t.tokens[i] for i in acc[1:]] + [bonus]
            full_sources = [t.sources[i] for i in acc[1:]] + ["bonus"]
            if r.finished and r.finish_reason in ("eos", "length"):
                assert list(r.emitted) == full[: len(r.emitted)]  # a cut keeps a prefix
            else:
                assert list(r.emitted) == full
            assert list(r.emitted_sources) == full_sources[: len(r.emitted)]
            assert r.emitted_drafts == sum(src != "bonus" for src in r.emitted_sources)
            assert 0.0 < r.bonus_prob <= 1.0
            check_trie(r)
        total += len(r.emitted)
        assert r.total_tokens == total and r.mat == total / (k + 1)
    assert [tok for r in records for tok in r.emitted] == output
    last = records[-1]
    assert last.finish_reason in ("eos", "length", "context")
    if last.finish_reason == "length":
        assert len(output) == last.settings.max_new_tokens
    assert len(output) <= last.settings.max_new_tokens


def check_trie(r: StepRecord) -> None:
    """The automaton's view in the record: borders end in the root; every node drafted
    from retrieval at depth 1 is shown below a border or below the root token's own node
    (a 1-token match) (there is room for them)."""
    trie, t = r.automaton.trie, r.tree
    if r.settings.drafter not in ("racer", "retrieval"):
        assert trie is None
        return
    if trie is None:   # nothing was proposed: a budget of 1 or depth 0
        assert len(t) == 1
        return
    assert all(trie.tokens[b] == t.root for b in trie.borders)
    starts = set(trie.borders) | {i for i in range(len(trie)) if trie.depths[i] == 1 and trie.tokens[i] == t.root}
    below_borders = {trie.tokens[i] for i in range(len(trie)) if trie.parents[i] in starts}
    first = {t.tokens[i] for i in range(len(t)) if t.depths[i] == 1 and t.sources[i] in (RETRIEVAL, BOTH)}
    assert first <= below_borders


def accepted_by_source(records: list[StepRecord]) -> dict[str, int]:
    counts = {RETRIEVAL: 0, LOGITS: 0, BOTH: 0, "bonus": 0}
    for r in records:
        for source in r.emitted_sources:
            counts[source] += 1
    return counts


# ------------------------------------------------------------------ greedy equivalence


@pytest.mark.parametrize("family", SUPPORTED_TYPES)
def test_every_family_the_loader_accepts_equals_generate(family):
    """A family the loader accepts is one the engine decodes exactly: RACER's greedy
    output on a tiny model of it equals its own ``generate()``."""
    s = Settings(max_new_tokens=NEW, adaptive_budget=False)
    tm = target(tiny_model(family, SEEDS[0]))
    for name, prompt in PROMPTS.items():
        out, records = run(tm, prompt, s)
        assert out == reference(family, SEEDS[0], tuple(prompt)), f"{family}, prompt {name}"
    assert set(FAMILIES) == set(SUPPORTED_TYPES)  # a family added to the loader needs its tiny model here


@pytest.mark.parametrize("family, shape", [
    ("qwen2", dict(tied=True)),    # the GPU default, Qwen2.5-1.5B: embeddings tied to the output layer, qkv biases
    ("smollm3", dict(layers=4)),   # SmolLM3: every 4th layer without rotary positions (NoPE)
    ("mistral", dict(tied=True)),
])
def test_the_families_config_quirks_decode_exactly(family, shape):
    """What sets a family's real checkpoints apart from the tiny default shape, on a tiny
    model: greedy RACER still equals its own ``generate()``."""
    model = tiny_model(family, SEEDS[1], **shape)
    if shape.get("tied"):
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    if family == "smollm3":
        assert 0 in model.config.no_rope_layers
    tm = target(model)
    for name, prompt in PROMPTS.items():
        out, _ = run(tm, prompt, Settings(max_new_tokens=NEW, adaptive_budget=False))
        assert out == hf_greedy(model, prompt, NEW), f"{family} {shape}, prompt {name}"


@pytest.mark.parametrize("drafter", drafter_names())
# the fast lane runs every drafter on llama; the other families (bias, q/k norms) in make test
@pytest.mark.parametrize("arch", [a if a == "llama" else pytest.param(a, marks=pytest.mark.slow) for a in ARCHS])
def test_every_drafter_equals_generate(arch, drafter):
    s = Settings(drafter=drafter, max_new_tokens=NEW, adaptive_budget=False)  # fixed trees: drafts get verified every step
    tokens = forwards = 0
    sources = {RETRIEVAL: 0, LOGITS: 0, BOTH: 0, "bonus": 0}
    for seed in SEEDS:
        tm = target(tiny_model(arch, seed))
        for name, prompt in PROMPTS.items():
            out, records = run(tm, prompt, s)
            assert out == reference(arch, seed, tuple(prompt)), f"seed {seed}, prompt {name}"
            check_records(records, prompt, out)
            tokens, forwards = tokens + len(out), forwards + len(records)
            for k, v in accepted_by_source(records).items():
                sources[k] += v
    # the comparison proves something only if drafts were accepted (measured MAT over
    # these 12 runs: racer 1.7-1.9, logits 1.7-2.0, prompt lookup 1.2-1.3, retrieval
    # 1.05: the tiny models settle into runs of one token, where the retrieval pool
    # spends most of its budget on borders and drafts one token a step)
    mat = tokens / forwards
    assert mat == 1.0 if drafter == "plain" else mat > {"retrieval": 1.02, "prompt_lookup": 1.1, "suffix": 1.02}.get(drafter, 1.5)
    if drafter in ("racer", "retrieval", "prompt_lookup"):
        assert sources[RETRIEVAL] + sources[BOTH] >= 10
    if drafter in ("racer", "logits"):
        assert sources[LOGITS] + sources[BOTH] >= 100


SWEEP = [
    dict(width=1, depth=12, window=2, budget=16),
    dict(width=8, depth=1, window=10, budget=64),
    dict(width=8, depth=0, budget=16),              # depth 0: plain decoding
    dict(budget=1),                                 # budget 1: plain decoding
    dict(budget=2, window=2),
    dict(width=8, depth=64, window=10, budget=64),  # the authors' parameters
    dict(width=3, depth=12, window=10, budget=64, capacity=64),  # LRU recycling all the time
    dict(width=2, depth=3, window=4, budget=7, adaptive_budget=True),
    dict(width=8, depth=12, window=10, budget=64, adaptive_budget=True),
]


@pytest.mark.parametrize("case", range(len(SWEEP)), ids=lambda i: ",".join(f"{k}={v}" for k, v in SWEEP[i].items()))
def test_settings_sweep_equals_generate(case):
    changes = SWEEP[case]
    arch = list(ARCHS)[case % len(ARCHS)]  # each setting on one family: all families run in the test above
    for drafter in ("racer", "retrieval", "logits"):
        s = Settings(drafter=drafter, max_new_tokens=NEW, **changes)
        for seed in SEEDS[:2]:
            tm = target(tiny_model(arch, seed))
            for name in ("repetitive", "distinct"):
                prompt = PROMPTS[name]
                out, records = run(tm, prompt, s)
                assert out == reference(arch, seed, tuple(prompt)), f"{drafter}, {arch}, seed {seed}, prompt {name}"
                check_records(records, prompt, out)
                if s.depth == 0 or s.budget == 1:
                    assert len(records) == len(out) and all(len(r.tree or [0]) == 1 for r in records)


def test_small_capacity_really_recycles():
    s = Settings(width=3, window=10, budget=64, capacity=64, max_new_tokens=NEW)
    gen = Generation(target(tiny_model("llama", 0)), PROMPTS["repetitive-9"], s, inspect=True)
    counts = [r.automaton.node_count for r in gen.steps() if r.tree is not None]
    assert max(counts) == 64  # 27 + 40 tokens in windows of 10 need far more than 64 nodes


# ------------------------------------------------------------------ EOS and length cuts


def eos_inside_draft_cases() -> list[tuple[str, int, list[int], int]]:
    """(arch, seed, prompt, eos) where the first occurrence of ``eos`` in the output
    is an accepted drafted token followed by more accepted tokens in the same step."""
    cases = []
    for arch in ARCHS:
        for seed in SEEDS:
            for prompt in PROMPTS.values():
                out, records = run(target(tiny_model(arch, seed)), prompt, Settings(max_new_tokens=NEW, adaptive_budget=False))
                seen = set()
                for r in records:
                    for k, token in enumerate(r.emitted):
                        if (token not in seen and r.emitted_sources[k] != "bonus"
                                and k < len(r.emitted) - 1):
                            cases.append((arch, seed, prompt, token))
                            break
                        seen.add(token)
                    else:
                        continue
                    break
    return cases


@pytest.mark.slow  # seconds, not milliseconds: make test, not test-fast
def test_eos_inside_an_accepted_draft_stops_like_generate():
    cases = eos_inside_draft_cases()
    assert len(cases) >= 10
    for arch, seed, prompt, eos in cases:
        out, records = run(target(tiny_model(arch, seed), eos=eos), prompt, Settings(max_new_tokens=NEW, adaptive_budget=False))
        expected = reference(arch, seed, tuple(prompt), NEW, eos)
        assert out == expected and out[-1] == eos and eos not in out[:-1]
        last = records[-1]
        assert last.finish_reason == "eos" and last.emitted_sources[-1] != "bonus"
        assert len(last.emitted) < last.accepted_drafts + 1  # the draft went on past the EOS
        check_records(records, prompt, out)


def test_eos_as_first_token_and_from_the_generation_config():
    model = tiny_model("qwen2", 1)
    prompt = PROMPTS["repetitive"]
    first = reference("qwen2", 1, tuple(prompt))[0]
    out, records = run(target(model, eos=first), prompt, Settings(max_new_tokens=NEW))
    assert out == [first] and len(records) == 1 and records[0].finish_reason == "eos"
    # EOS ids may also come as a list from the model's generation config (no tokenizer EOS)
    fresh = copy.deepcopy(model)  # tiny_model() is cached: modify a copy
    ref = reference("qwen2", 1, tuple(prompt))
    eos_ids = [ref[12], ref[25]]
    fresh.generation_config.eos_token_id = eos_ids
    out, _ = run(target(fresh), prompt, Settings(max_new_tokens=NEW))
    assert out == hf_greedy(fresh, prompt, NEW) and out[-1] in eos_ids and len(out) <= 13


@pytest.mark.slow  # seconds, not milliseconds: make test, not test-fast
def test_max_new_tokens_reached_mid_draft():
    cut_inside_a_draft = 0
    for arch in ARCHS:
        tm = target(tiny_model(arch, 0))
        prompt = PROMPTS["repetitive"]
        ref = reference(arch, 0, tuple(prompt))
        for n in range(1, 31):
            out, records = run(tm, prompt, Settings(max_new_tokens=n))
            assert out == ref[:n] and len(out) == n
            assert records[-1].finish_reason == "length"
            check_records(records, prompt, out)
            last = records[-1]
            if last.tree is not None and len(last.emitted) < last.accepted_drafts + 1:
                cut_inside_a_draft += 1
    assert cut_inside_a_draft >= 5


# ------------------------------------------------------------------ context window and edge cases


@pytest.mark.parametrize("drafter", drafter_names())
def test_generation_stops_at_the_model_context_window(drafter):
    """Prompt + output never exceed the model's positions (64 here), whichever drafter
    runs and wherever the last accepted draft ends: the output is generate()'s for
    64 - len(prompt) tokens."""
    model = tiny_model("llama", 0, max_positions=64)
    tm = target(model)
    for length in (20, 23, 27, 31, 40, 45, 50, 57):
        prompt = repetitive_prompt(0, repeats=12)[:length]
        out, records = run(tm, prompt, Settings(drafter=drafter, max_new_tokens=100))
        assert len(prompt) + len(out) == 64 and records[-1].finish_reason == "context", length
        assert out == hf_greedy(model, prompt, 64 - len(prompt)), length
        for r in records[1:]:  # no tree node sits beyond the last position
            assert r.context_len + r.tree.max_depth < 64
        check_records(records, prompt, out)
    # a prompt that fills all but one position gets exactly one token
    out, records = run(tm, list(range(48)) + list(range(15)), Settings(drafter=drafter))
    assert len(out) == 1 and records[-1].finish_reason == "context"


def test_prompt_longer_than_the_context_is_refused_clearly():
    tm = target(tiny_model("llama", 0, max_positions=64))
    with pytest.raises(ValueError, match="64 tokens long but the model reads at most 64"):
        Generation(tm, list(range(48)) + list(range(16)), Settings())
    with pytest.raises(ValueError, match="100 tokens long.*at most 64; shorten it"):
        Generation(tm, [1] * 100, Settings())


def test_empty_prompt_is_refused_clearly():
    with pytest.raises(ValueError, match="prompt is empty"):
        Generation(target(tiny_model("llama", 0)), [], Settings())


@pytest.mark.parametrize("drafter", ["racer", "retrieval"])
def test_no_retrieval_match_falls_back(drafter):
    """A prompt of distinct tokens: retrieval finds nothing at the first step, the tree
    is what the logits cache drafts (racer) or the root alone (retrieval), and the
    output is still generate()'s."""
    prompt = PROMPTS["distinct"]
    out, records = run(target(tiny_model("llama", 1)), prompt, Settings(drafter=drafter, max_new_tokens=NEW,
                                                                  adaptive_budget=False))  # sizes not from timings
    assert out == reference("llama", 1, tuple(prompt))
    assert records[1].automaton.matched == () and records[1].automaton.borders == ()
    # steps where retrieval had nothing to offer: no border, nor anything after the root token alone
    unmatched = [r for r in records[1:] if not r.automaton.borders and not r.automaton.offered]
    assert len(unmatched) >= 5
    for r in unmatched:
        assert set(r.tree.sources[1:]) <= ({LOGITS} if drafter == "racer" else set())
    if drafter == "racer":  # the logits cache drafted where retrieval could not
        assert sum(len(r.tree) > 1 for r in unmatched) >= 3


def test_finished_generation_refuses_another_step():
    gen = Generation(target(tiny_model("llama", 0)), [1, 2, 3], Settings(max_new_tokens=2), inspect=True)
    list(gen.steps())
    with pytest.raises(RuntimeError, match="finished"):
        gen.step()


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize("changes, message", [
    (dict(width=0), "tree width must be between 1 and 64"),
    (dict(width=65), "tree width must be between 1 and 64"),
    (dict(depth=-1), "tree depth must be between 0 and 64"),
    (dict(window=1), "retrieval window must be between 2 and 32"),
    (dict(budget=0), "draft budget must be between 1 and 256"),
    (dict(capacity=10), "automaton capacity must be between 64"),
    (dict(temperature=-0.5), "temperature must be between 0 and 5"),
    (dict(top_p=0.0), "top-p must be above 0 and at most 1"),
    (dict(top_p=1.5), "top-p must be above 0 and at most 1"),
    (dict(max_new_tokens=0), "max new tokens must be between 1 and 4096"),
    (dict(drafter="medusa"), "drafter must be one of racer, racer_paper, racer_sglang, retrieval, logits, suffix, prompt_lookup, plain"),
])
def test_settings_out_of_range_say_what_is_allowed(changes, message):
    with pytest.raises(ValueError, match=message):
        Settings(**changes)
    with pytest.raises(ValueError, match=message):  # also when changed later
        Settings().with_changes(**changes)


def test_unknown_drafter_name_is_refused():
    with pytest.raises(ValueError, match="unknown drafter 'medusa'"):
        make_drafter("medusa", 48)


@pytest.mark.parametrize("arch", ["llama", "qwen3"])
@pytest.mark.parametrize("first, then", [
    (dict(), dict(width=2, window=4, budget=4)),
    (dict(width=2, window=4, budget=4), dict(width=8, window=10, budget=32, depth=3)),
    (dict(drafter="racer"), dict(depth=0)),
    (dict(), dict(drafter="prompt_lookup", budget=8)),
])
def test_settings_changed_mid_run_apply_from_the_next_step(arch, first, then):
    prompt = PROMPTS["repetitive"]
    gen = Generation(target(tiny_model(arch, 0)), prompt, Settings(max_new_tokens=NEW, **first), inspect=True)
    records = [gen.step() for _ in range(4)]
    changed = gen.settings.with_changes(**then)
    gen.settings = changed
    records += list(gen.steps())
    assert gen.output == reference(arch, 0, tuple(prompt))
    assert all(r.settings == Settings(max_new_tokens=NEW, **first) for r in records[:4])
    assert all(r.settings == changed for r in records[4:]) and len(records) > 5
    for r in records[4:]:
        assert len(r.tree) <= changed.budget and r.tree.max_depth <= changed.depth
        # the root's logits children are at most the new width
        logits_kids = [c for c in r.tree.children()[0] if r.tree.sources[c] != RETRIEVAL]
        assert len(logits_kids) <= changed.width
    if "window" in then:
        assert gen.drafter.automaton.window == changed.window
    check_records(records, prompt, gen.output)


# -- what the clock sees ------------------------------------------------------------------

def test_the_one_off_verify_cost_measurement_is_never_inside_a_timed_step(monkeypatch):
    """The adaptive budget reads this machine's verify costs, measured once (seconds on
    the real model). A fake clock that the measurement moves on by an hour: no step's
    timings may hold that hour (the CLI reported RACER slower than it was)."""
    import racer.engine.generate
    clock = {"now": 0.0}

    def perf_counter():
        clock["now"] += 1e-3
        return clock["now"]

    def verify_costs(*args, **kwargs):
        clock["now"] += 3600.0
        return {1: 1.0, 2: 1.5, 4: 2.0, 8: 3.0, 16: 4.0}

    monkeypatch.setattr(racer.engine.generate.time, "perf_counter", perf_counter)
    t = target(tiny_model())
    monkeypatch.setattr(t, "verify_costs", verify_costs)
    gen = Generation(t, PROMPTS["repetitive"], Settings(max_new_tokens=12, adaptive_budget=True), inspect=True)
    records = list(gen.steps())
    assert clock["now"] > 3600                        # the costs were measured during the run
    assert max(r.timings.total_s for r in records) < 1.0


# -- the greedy guard: near-ties decided by a one-token forward -----------------------------

@pytest.mark.parametrize("drafter", ["racer", "prompt_lookup", "racer_sglang"])
def test_every_pick_treated_as_a_near_tie_is_re_decided_and_stays_plain_greedy(drafter):
    """With an error bound above every logit gap, each tree's first pick is re-decided by
    a one-token forward: the output is plain greedy's, every tree step is counted, and a
    re-checked step costs one more forward."""
    tm = own_target(tiny_model("llama", 0))  # not the cached one: its bound changes
    tm.use_error_bound(1e9)
    prompt = repetitive_prompt(1)
    gen = Generation(tm, prompt, Settings(max_new_tokens=NEW, drafter=drafter, adaptive_budget=False))
    records = list(gen.steps())
    assert gen.output == hf_greedy(tm.model, prompt, NEW)
    trees = [r for r in records if r.tree is not None and len(r.tree) > 1]
    assert trees and all(r.rechecked and r.accepted == (0,) for r in trees)
    assert gen.rechecks == len(trees) and gen.forwards == len(records) + len(trees)
    assert [r.index for r in records] == list(range(len(records)))


def test_the_guard_cuts_the_path_at_the_first_near_tie_and_asks_the_model():
    """A hand-made verify: a 4-node chain whose logits accept all three drafts, with the
    second accepted pick a near-tie (gap 1e-7 < bound 1e-3). The path keeps the root and
    the first draft; the pick after it is the one-token forward's argmax."""
    tm = own_target(tiny_model("llama", 0))  # not the cached one: its bound changes
    tm.use_error_bound(1e-3)
    prompt = repetitive_prompt(1)
    gen = Generation(tm, prompt, Settings(max_new_tokens=8, drafter="plain"))
    gen.step()
    root = gen.output[-1]
    tree = chain_tree(4, (root, 5, 6, 7))
    context_len = len(gen.context)
    logits = torch.zeros(4, tm.vocab_size)  # float32, as verify returns
    for row, (best, gap) in enumerate([(5, 5.0), (6, 1e-7), (7, 5.0), (8, 5.0)]):
        logits[row, best] = 10.0
        logits[row, (best + 1) % tm.vocab_size] = 10.0 - gap
    walk = walk_tree(tree, logits, gen.settings)
    assert walk.accepted == (0, 1, 2, 3)
    gen._bound = tm.error_bound()
    logits_before = logits.clone()
    tm.verify(tree, gen.cache, context_len)  # the tree's KV entries, as a real verify leaves them
    guarded, new_logits, rechecked = gen._guard(tree, logits, walk, context_len, row_tops(logits, 2))
    assert rechecked and guarded.accepted == (0, 1) and guarded.picks[0] == 5
    cache = tm.new_cache()
    tm.prefill(list(gen.context), cache, top_k=1)
    tm.verify(chain_tree(1, (root,)), cache, context_len)  # one-token forwards, as plain decoding
    plain = tm.verify(chain_tree(1, (5,)), cache, context_len + 1)[0]
    assert guarded.picks[1] == int(plain.argmax())
    assert torch.allclose(new_logits[1], plain) and torch.equal(new_logits[0], logits_before[0])
    assert gen.cache.get_seq_length() == context_len + 2
