"""Block products (racer/model/blocks.py): a matrix on 4- or 8-bit block grids is found and
rebuilt bit for bit, anything else is left alone; the kernels' products are float32
products whose rows do not depend on how many share a call; and the lean forward on them
gives transformers' logits and greedy RACER equal to plain greedy decoding."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from racer.model import blocks, native
from racer.model.backend import use_backend
from racer.model.lean import LeanForward
from racer.model.target import TargetModel
from tests.test_lean import assert_transformers_logits_in_float32
from tests.tiny import TinyTokenizer, assert_greedy_racer_is_plain_greedy, tiny_model

needs_kernels = pytest.mark.skipif(blocks.kernels_refusal() is not None,
                                   reason=f"{blocks.kernels_refusal()}")


def on_grid(w: np.ndarray, kind: str) -> np.ndarray:
    """``w`` quantized as GGUF's Q4_1 or Q8_0 quantizers do, and dequantized as the
    conversion does (numpy float32): what the default model's weights are."""
    b = w.astype(np.float32).reshape(-1, 32)
    if kind == "q4":
        m = b.min(1, keepdims=True).astype(np.float16).astype(np.float32)
        d = ((b.max(1, keepdims=True) - m) / 15).astype(np.float16).astype(np.float32)
        q = np.clip(np.rint((b - m) / np.where(d == 0, 1, d)), 0, 15).astype(np.float32)
        return (d * q + m).reshape(w.shape)
    d = (np.abs(b).max(1, keepdims=True) / 127).astype(np.float16).astype(np.float32)
    q = np.clip(np.rint(b / np.where(d == 0, 1, d)), -128, 127).astype(np.float32)
    return (q * d).reshape(w.shape)


def grid_model(arch: str = "llama", hidden: int = 32):
    """A float32 tiny model whose Linear layers lie on 4-bit grids and whose embeddings and
    output layer on 8-bit ones, as the packaged GGUF's do."""
    model = copy.deepcopy(tiny_model(arch, dtype=torch.float32, logit_scale=20, hidden=hidden))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                kind = "q8" if "embed" in name or "lm_head" in name else "q4"
                p.copy_(torch.from_numpy(on_grid(p.numpy(), kind)))
    return model


@pytest.mark.parametrize("kind", ["q4", "q8"])
def test_a_matrix_on_a_grid_is_found_and_rebuilt_bit_for_bit(kind):
    w = on_grid(np.random.default_rng(0).normal(0, 0.05, (24, 96)), kind)
    w[3, :32] = 0.0                             # a block of zeros: any scale fits it
    found = blocks.as_blocks(torch.from_numpy(w))
    assert found is not None and found.kind == kind and (found.out, found.inner) == (24, 96)
    assert torch.equal(found.weight(), torch.from_numpy(w))
    assert found.nbytes < w.nbytes / 3


def test_anything_else_is_left_alone():
    rng = np.random.default_rng(1)
    assert blocks.as_blocks(torch.from_numpy(rng.normal(0, 0.05, (8, 64)).astype(np.float32))) is None
    almost = on_grid(rng.normal(0, 0.05, (8, 64)), "q4")
    almost[7, 63] = np.nextafter(almost[7, 63], np.float32(1))   # one weight off its grid
    assert blocks.as_blocks(torch.from_numpy(almost)) is None
    assert blocks.as_blocks(torch.from_numpy(on_grid(rng.normal(0, 0.05, (8, 64)), "q4")).double()) is None
    assert blocks.as_blocks(torch.zeros(8, 48)) is None           # rows not whole blocks


@needs_kernels
@pytest.mark.parametrize("kind", ["q4", "q8"])
def test_block_products_are_float32_products_whatever_the_row_count(kind):
    # 41 outputs: the buffer path's chunks of 16 and a rest of 9
    w = on_grid(np.random.default_rng(2).normal(0, 0.05, (41, 160)), kind)
    found = blocks.as_blocks(torch.from_numpy(w))
    x = torch.randn(40, 160, generator=torch.Generator().manual_seed(3))
    y = blocks.product(x, found)
    reference = x.double() @ torch.from_numpy(w).double().T
    assert torch.allclose(y.double(), reference, rtol=0, atol=1e-5)
    # one tile, balanced wide tiles (5-12 rows), the buffer path (13-40): the same bits
    for n in range(1, 41):
        assert torch.equal(blocks.product(x[:n], found), y[:n])
    assert torch.equal(blocks.product(x[9:10], found), y[9:10])


def blocks_target(model) -> TargetModel:
    """``model``'s copy on the lean forward with block products for every row count."""
    lean_model = copy.deepcopy(model)
    lean_model.racer_lean = LeanForward(lean_model, products={1: "blocks", 16: "blocks"})
    assert len(lean_model.racer_lean._blocks) == len(lean_model.racer_lean._weights())
    use_backend(lean_model, "lean")
    return TargetModel(lean_model, TinyTokenizer(), name="tiny")


@needs_kernels
def test_lean_forward_on_blocks_gives_transformers_logits():
    model = grid_model()
    assert_transformers_logits_in_float32(blocks_target(model), model)


@needs_kernels
def test_greedy_racer_equals_plain_greedy_on_block_products():
    model = grid_model()
    assert_greedy_racer_is_plain_greedy(blocks_target(model), model)


def test_blocks_are_offered_only_where_every_weight_is_on_a_grid(torch_afterwards):
    plain_weights = copy.deepcopy(tiny_model(dtype=torch.float32, logit_scale=20))
    lean = LeanForward(plain_weights)
    assert lean._blocks == {} and "blocks" not in lean.products.values()
    with pytest.raises(ValueError, match="4- or 8-bit block grids"):
        LeanForward(copy.deepcopy(plain_weights), products={1: "blocks"})
    if blocks.kernels_refusal() is None:
        chosen = LeanForward(grid_model())
        assert bool(chosen._blocks) == ("blocks" in chosen.products.values())   # freed unless chosen


def test_without_a_compiler_the_kernels_say_why(monkeypatch, tmp_path):
    monkeypatch.setenv("RACER_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    native.library.cache_clear()
    try:
        reason = blocks.kernels_refusal()
        assert reason is not None
        if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
            assert reason.startswith("the engine's C kernels could not be built")
    finally:
        native.library.cache_clear()
