"""Weights kept as the quantized blocks they were made from: the same float32 numbers in
about a fifth of the bytes, multiplied by a small kernel of our own (``blocks.c``).

The default model comes from a GGUF file whose layers are 4-bit blocks (Q4_1) and whose
embedding is 8-bit blocks (Q8_0); the conversion dequantizes them to float32, so every
block of 32 weights along a row takes at most 16 (or 255) values on an evenly spaced grid.
A one-token step's products only read the weights (538 MB in float32, 25-30 ms at this
machine's bandwidth); read as blocks they are about 120 MB, and the step is bound by
arithmetic instead (docs/cpu-notes.md).

Exact by construction:

- ``as_blocks`` finds each block's scale, offset and integers from the float32 weights
  alone and keeps a matrix only if every block rebuilds each weight bit for bit, with the
  kernel's own arithmetic (d * q is exact for an 11-bit scale and a 4- or 8-bit integer,
  so a fused multiply-add rounds once, as numpy's d * q + m did at conversion);
- the products then multiply by exactly the model's float32 weights and sum in float32;
  only the order of the sums differs from another library's, as between any two;
- a row's sum is formed the same way whatever the number of rows, so a tree's products
  equal one-token steps' bit for bit (tests/test_blocks.py).

Served where the engine's C kernels run (``racer.model.native``: AVX2 and a C compiler).
Anything else, or a model whose
weights are not on such grids (any model not converted from a GGUF of these types), keeps
the other libraries: ``kernels_refusal`` and ``as_blocks`` say so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from racer.model import native

BLOCK = 32
# scales tried around the first guess (fp16 steps): the conversion's scale is the block's
# range over its largest integer, rounded to fp16 by the quantizer
SCALE_STEPS = (0, 1, -1, 2, -2)
FIRST_BLOCKS = 64           # blocks tried before a whole matrix is (a model not on grids stops here)


@dataclass(frozen=True, eq=False)
class BlockWeight:
    """A (out, inner) float32 matrix as blocks of 32 along its rows: ``kind`` "q4" (integers
    0..15 two to a byte, W = d q + m) or "q8" (integers -128..127, W = d q)."""
    kind: str
    out: int
    inner: int
    q: np.ndarray               # q4: (out, inner / 32, 16) uint8; q8: (out, inner / 32, 32) int8
    d: np.ndarray               # (out, inner / 32) float32
    m: np.ndarray | None        # q4: (out, inner / 32) float32; q8: None

    @property
    def nbytes(self) -> int:
        return self.q.nbytes + self.d.nbytes + (self.m.nbytes if self.m is not None else 0)

    def weight(self) -> torch.Tensor:
        """The float32 matrix back, rebuilt with numpy's arithmetic (for checks)."""
        if self.kind == "q4":
            q = np.concatenate([self.q & 0x0F, self.q >> 4], axis=-1).astype(np.float32)
            w = self.d[..., None] * q + self.m[..., None]
        else:
            w = self.d[..., None] * self.q.astype(np.float32)
        return torch.from_numpy(w.reshape(self.out, self.inner))


def as_blocks(weight: torch.Tensor) -> BlockWeight | None:
    """``weight`` (out, inner) as 4-bit or 8-bit blocks if every one of its float32 values is
    rebuilt bit for bit from them; else None."""
    if weight.dtype != torch.float32 or weight.dim() != 2 or weight.shape[1] % BLOCK:
        return None
    w = weight.detach().contiguous().numpy().reshape(weight.shape[0], -1, BLOCK)
    flat = w.reshape(-1, BLOCK)
    for kind in ("q4", "q8"):
        if _blocks(flat[:FIRST_BLOCKS], kind) is None:
            continue
        found = _blocks(flat, kind)
        if found is not None:
            q, d, m = found
            out, nb = w.shape[:2]
            q = q.reshape(out, nb, BLOCK)
            if kind == "q4":
                q = (q[..., :16] | (q[..., 16:] << 4)).astype(np.uint8)
                m = np.ascontiguousarray(m.reshape(out, nb))
            return BlockWeight(kind, weight.shape[0], weight.shape[1], np.ascontiguousarray(q),
                               np.ascontiguousarray(d.reshape(out, nb)), m)
    return None


def _blocks(flat: np.ndarray, kind: str):
    """(q, d, m) per block of ``flat`` (blocks, 32), or None if some block has none: each
    block's scale is tried at fp16 steps around its range over the largest integer, and
    kept where d q (+ m) gives every value back exactly."""
    if kind == "q4":
        low = flat.min(axis=1, keepdims=True)
        if not np.array_equal(low.astype(np.float16).astype(np.float32), low):
            return None
        guess, lo_q, hi_q = (flat.max(axis=1, keepdims=True) - low) / 15, 0, 15
    else:
        low = np.zeros((flat.shape[0], 1), np.float32)
        guess, lo_q, hi_q = np.abs(flat).max(axis=1, keepdims=True) / 127, -128, 127
    guess = guess.astype(np.float16).view(np.uint16).astype(np.int32)
    d = np.zeros_like(low)
    q = np.zeros(flat.shape, np.float32)
    todo = np.arange(flat.shape[0])
    for step in SCALE_STEPS:
        values, offset = flat[todo], low[todo]
        scale = np.clip(guess[todo] + step, 0, 0x7BFF).astype(np.uint16).view(np.float16).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            ints = np.clip(np.rint((values - offset) / np.where(scale == 0, 1, scale)), lo_q, hi_q)
        rebuilt = scale * ints + offset if kind == "q4" else scale * ints
        exact = (rebuilt == values).all(axis=1)
        d[todo[exact]], q[todo[exact]] = scale[exact], ints[exact]
        todo = todo[~exact]
        if not len(todo):
            return (q.astype(np.uint8 if kind == "q4" else np.int8), d[:, 0].astype(np.float32),
                    low[:, 0] if kind == "q4" else None)
    return None


def product(x: torch.Tensor, w: BlockWeight) -> torch.Tensor:
    """x (n, inner) float32 @ W^T -> (n, out) on the calling thread's OpenMP threads
    (``torch.set_num_threads``)."""
    x = x.contiguous()
    y = torch.empty(x.shape[0], w.out, dtype=torch.float32)
    call = _kernels().q4_matmul if w.kind == "q4" else _kernels().q8_matmul
    call(x.data_ptr(), x.shape[0], w.inner, w.q.ctypes.data, w.d.ctypes.data,
         w.m.ctypes.data if w.m is not None else None, w.out, y.data_ptr())
    return y


def kernels_refusal() -> str | None:
    """Why the block kernels cannot run here (None: they can)."""
    return native.refusal("blocks")


def _kernels():
    return native.library("blocks")
