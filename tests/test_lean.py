"""The lean forward (racer/model/lean.py): its logits are transformers' on every family it
serves, its cache grows and keeps the accepted chain, building it copies no weight and
leaves transformers' forward as it was, greedy RACER on it equals plain greedy decoding,
and a family it does not serve gets a sentence."""
from __future__ import annotations

import copy

import pytest
import torch

from racer.errors import UserError
from racer.model.backend import backend_note, candidates, use_backend
from racer.model.threads import TORCH_THREADS, blas_found
from racer.model.lean import (COMPANIONS, FIRST_CAPACITY, LIBRARIES, PRODUCT_ROUNDS, PRODUCT_ROWS, LeanCache, LeanForward,
                              lean_refusal, onednn_usable)
from racer.model import lean as lean_module
from racer.model.target import TargetModel, chain_tree
from racer.engine.tree import DraftTree
from tests.tiny import TinyTokenizer, assert_greedy_racer_is_plain_greedy, repetitive_prompt, tiny_model

LEAN_ARCHS = ("llama", "mistral", "qwen2", "qwen3")


def lean_target(arch: str = "llama", products: dict[int, str] | None = None, **kwargs) -> TargetModel:
    """A model of its own on the lean backend (tiny_model's are cached and shared)."""
    model = copy.deepcopy(tiny_model(arch, **kwargs))
    model.racer_lean = LeanForward(model, products=products)
    use_backend(model, "lean")
    return TargetModel(model, TinyTokenizer(), name="tiny")


def a_tree(context_token: int) -> DraftTree:
    """Root, two children, a grandchild under the second child: the mask is not a chain."""
    return DraftTree((context_token, 3, 5, 7), (-1, 0, 0, 2), (0, 1, 1, 2),
                     ("root", "logits", "retrieval", "retrieval"), (0, 1, 2, 3))


def three_forwards(t: TargetModel) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The logits of a prompt's prefill, of a branching tree on it, and of a chain after
    part of the tree was kept."""
    prompt = repetitive_prompt(2)
    cache = t.new_cache()
    last, _ = t.prefill(prompt, cache, top_k=3)
    tree = t.verify(a_tree(int(last.argmax())), cache, len(prompt))
    t.commit(cache, len(prompt), [0, 2, 3])
    return last, tree, t.verify(chain_tree(2, (9, 4)), cache, len(prompt) + 3)


def assert_transformers_logits_in_float32(t: TargetModel, reference_model) -> None:
    """``t``'s three forwards give ``reference_model``'s logits to float32's rounding (scaled
    by the logits' size) and the same argmax everywhere."""
    reference = TargetModel(reference_model, TinyTokenizer(), name="tiny")
    for got, want in zip(three_forwards(t), three_forwards(reference)):
        assert float((got - want).abs().max()) <= 1e-4 + 1e-5 * float(want.abs().max())
        assert torch.equal(got.argmax(-1), want.argmax(-1))


@pytest.mark.parametrize("arch", LEAN_ARCHS)
@pytest.mark.parametrize("products", [{1: "torch", 16: "torch"}, {1: "numpy", 16: "numpy"}])
def test_logits_are_transformers(arch, products, torch_afterwards):
    lean = lean_target(arch, products)
    reference = TargetModel(tiny_model(arch), TinyTokenizer(), name="tiny")
    prompt = repetitive_prompt(2)
    caches = {"lean": lean.new_cache(), "transformers": reference.new_cache()}
    assert isinstance(caches["lean"], LeanCache) and not isinstance(caches["transformers"], LeanCache)
    out = {}
    for name, t in (("lean", lean), ("transformers", reference)):
        last, top = t.prefill(prompt, caches[name], top_k=3)
        tree = t.verify(a_tree(int(last.argmax())), caches[name], len(prompt))
        t.commit(caches[name], len(prompt), [0, 2, 3])
        after = t.verify(chain_tree(2, (9, 4)), caches[name], len(prompt) + 3)
        out[name] = (last, torch.from_numpy(top.probs), tree, after)
    for got, want in zip(out["lean"], out["transformers"]):
        assert torch.allclose(got, want, atol=1e-9, rtol=0)


@pytest.mark.skipif(not onednn_usable(torch.float32), reason="this torch has no oneDNN")
@pytest.mark.parametrize("arch", LEAN_ARCHS)
def test_onednn_products_give_transformers_logits_in_float32(arch, torch_afterwards):
    """oneDNN multiplies float32 only, on weights it packed: the same checks as above, to
    float32's rounding; and a packed copy of every weight is kept for it."""
    lean = lean_target(arch, {1: "onednn", 16: "onednn"}, dtype=torch.float32, logit_scale=20)
    assert len(lean.model.racer_lean._packed) == len(lean.model.racer_lean._weights())
    assert_transformers_logits_in_float32(lean, tiny_model(arch, dtype=torch.float32, logit_scale=20))


def test_onednn_packs_only_where_it_may_be_used(torch_afterwards):
    assert not onednn_usable(torch.float64)                    # oneDNN has no float64 products
    assert LeanForward(copy.deepcopy(tiny_model()))._packed == {}
    chosen = LeanForward(copy.deepcopy(tiny_model(dtype=torch.float32)), products={1: "numpy", 16: "torch"})
    assert chosen._packed == {}                                # not chosen: no copy kept


def test_onednn_is_left_out_where_its_copy_would_take_more_than_half_the_free_memory(monkeypatch, torch_afterwards):
    model = copy.deepcopy(tiny_model(dtype=torch.float32))
    weights = sum(p.numel() * p.element_size() for p in model.parameters())   # tied: more than the copy
    monkeypatch.setattr(lean_module, "available_memory", lambda device="cpu": weights)   # < 2x the copy
    for _ in range(3):
        lean = LeanForward(copy.deepcopy(model))
        assert lean._packed == {} and "onednn" not in lean.products.values()
    with pytest.raises(ValueError, match="memory for a packed copy"):
        LeanForward(copy.deepcopy(model), products={1: "onednn"})
    monkeypatch.setattr(lean_module, "available_memory", lambda device="cpu": 4 * weights)
    assert LeanForward(copy.deepcopy(model), products={1: "onednn"})._packed


def test_the_cache_grows_and_keeps_the_accepted_chain(torch_afterwards):
    lean = lean_target(max_positions=2 * FIRST_CAPACITY + 64)
    reference = TargetModel(tiny_model(max_positions=2 * FIRST_CAPACITY + 64), TinyTokenizer(), name="tiny")
    prompt = [i % 48 for i in range(FIRST_CAPACITY - 2)]
    cache, ref_cache = lean.new_cache(), reference.new_cache()
    lean.prefill(prompt, cache, top_k=1)
    reference.prefill(prompt, ref_cache, top_k=1)
    assert cache.capacity == FIRST_CAPACITY
    before = lean.cache_bytes(cache)
    got = lean.verify(a_tree(1), cache, len(prompt))         # 4 rows: past the first capacity
    want = reference.verify(a_tree(1), ref_cache, len(prompt))
    assert cache.capacity == 2 * FIRST_CAPACITY and lean.cache_bytes(cache) == 2 * before
    assert torch.allclose(got, want, atol=1e-9, rtol=0)
    lean.commit(cache, len(prompt), [0, 2, 3])
    reference.commit(ref_cache, len(prompt), [0, 2, 3])
    assert cache.length == len(prompt) + 3
    got = lean.verify(chain_tree(1, (5,)), cache, len(prompt) + 3)
    want = reference.verify(chain_tree(1, (5,)), ref_cache, len(prompt) + 3)
    assert torch.allclose(got, want, atol=1e-9, rtol=0)


def test_no_weight_is_held_twice_and_transformers_forward_is_unchanged(torch_afterwards):
    model = copy.deepcopy(tiny_model("qwen2"))          # q, k, v with biases
    ids = torch.tensor([repetitive_prompt(1)])
    with torch.inference_mode():
        before = model(ids).logits
    lean = LeanForward(model, products={1: "torch"})
    attention = model.model.layers[0].self_attn
    fused, bias = lean.qkv[0]
    assert attention.q_proj.weight.untyped_storage().data_ptr() == fused.untyped_storage().data_ptr()
    assert attention.v_proj.bias.untyped_storage().data_ptr() == bias.untyped_storage().data_ptr()
    with torch.inference_mode():
        assert torch.equal(model(ids).logits, before)


@pytest.mark.parametrize("arch", ["llama", "qwen2", "qwen3"])
def test_greedy_racer_equals_plain_greedy_on_lean(arch, torch_afterwards):
    t = lean_target(arch, {1: "numpy", 2: "torch", 16: "torch"})   # two libraries, as auto may pick
    assert_greedy_racer_is_plain_greedy(t, tiny_model(arch))


@pytest.mark.skipif(not onednn_usable(torch.float32), reason="this torch has no oneDNN")
def test_greedy_racer_equals_plain_greedy_on_onednn_products(torch_afterwards):
    t = lean_target("llama", {1: "torch", 2: "onednn", 16: "onednn"}, dtype=torch.float32, logit_scale=20)
    assert_greedy_racer_is_plain_greedy(t, tiny_model("llama", dtype=torch.float32, logit_scale=20))


def test_a_family_it_does_not_serve_gets_a_sentence(torch_afterwards):
    model = copy.deepcopy(tiny_model("smollm3"))
    assert "smollm3" in lean_refusal(model)
    assert "lean" not in candidates(model)
    with pytest.raises(UserError, match="use --backend torch"):
        use_backend(model, "lean")
    assert "lean" in candidates(copy.deepcopy(tiny_model("llama")))
    half = copy.deepcopy(tiny_model("llama", dtype=torch.bfloat16))
    assert "float32 or float64 on a CPU" in lean_refusal(half)


def test_each_row_count_gets_the_library_timed_for_it(torch_afterwards):
    t = lean_target()
    lean = t.model.racer_lean
    assert set(lean.products) == set(PRODUCT_ROWS)
    assert set(lean.products.values()) <= {"torch", "numpy"}      # float64: oneDNN is not timed
    for _ in range(3):                                            # float32: the three are timed
        chosen = LeanForward(copy.deepcopy(tiny_model(dtype=torch.float32))).products
        assert set(chosen.values()) <= set(LIBRARIES)
        assert any(set(chosen.values()) <= set(companions) for companions in COMPANIONS)
    lean.products = {1: "numpy", 2: "torch", 16: "torch"}
    assert [lean.library(n) for n in (1, 2, 3, 16, 40)] == ["numpy", "torch", "torch", "torch", "torch"]
    assert lean.describe() == "numpy up to 1 row, torch for more"
    lean.products = {1: "torch", 16: "torch"}
    assert backend_note(t.model, "auto") == "lean forward (auto)"
    assert torch.get_num_threads() == TORCH_THREADS   # torch's pool as by default


def test_a_library_far_behind_at_a_row_count_is_timed_no_more_there(torch_afterwards, monkeypatch):
    """Fake timings on float64 (torch and numpy): numpy 2x torch up to 8 rows and 0.5x at 16;
    after the first round each is timed only where it is not that far behind."""
    lean = lean_target().model.racer_lean
    if not blas_found():
        pytest.skip("no OpenBLAS: torch is the only library")
    cost = {("numpy", 16): 0.5}
    calls = []
    monkeypatch.setattr(lean, "_time_one_forward_of_products", lambda rows, lib: (
        calls.append((rows, lib)) or cost.get((lib, rows), 2.0 if lib == "numpy" else 1.0)))
    chosen = lean.time_products()
    first_round = 2 * (len(PRODUCT_ROWS) + 1)    # each library: an untimed forward, then every row count
    assert {rows for rows, lib in calls[:first_round] if lib == "numpy"} == set(PRODUCT_ROWS)
    assert {rows for rows, lib in calls[first_round:] if lib == "numpy"} == {16}
    later_torch = [rows for rows, lib in calls[first_round:] if lib == "torch"]
    assert set(later_torch) == set(PRODUCT_ROWS[:-1])     # 16 rows no more
    assert len(later_torch) == (PRODUCT_ROUNDS - 1) * len(PRODUCT_ROWS)   # each round: an untimed forward + 4
    assert chosen == {rows: "numpy" if rows == 16 else "torch" for rows in PRODUCT_ROWS}


def test_a_position_past_the_model_is_refused(torch_afterwards):
    t = lean_target(max_positions=32)
    cache = t.new_cache()
    t.prefill(list(range(30)), cache, top_k=1)
    with pytest.raises(ValueError, match="past the model's 32"):
        t.verify(chain_tree(4), cache, 30)


def test_a_window_is_refused_only_where_it_is_on():
    model = copy.deepcopy(tiny_model("qwen2"))
    model.config.sliding_window = 16                 # set, but off: transformers attends to everything
    model.config.use_sliding_window = False
    assert lean_refusal(model) is None
    model.config.use_sliding_window = True
    assert "sliding attention window" in lean_refusal(model)
    mistral = copy.deepcopy(tiny_model("mistral"))
    mistral.config.sliding_window = 16               # Mistral has no switch: a window shorter than the model's is on
    assert "sliding attention window" in lean_refusal(mistral)
