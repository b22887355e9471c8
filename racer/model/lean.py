"""The lean forward: a Llama-family decoder run by hand on the CPU, for verify steps.

transformers' forward spends about 16 ms of a 50 ms one-token step of SmolLM2-135M on
norms, rotary embeddings, cache bookkeeping and per-operator dispatch (issue 22), and its
attention wakes torch's sleeping threads for a few microseconds of work 30 times a step.
This forward computes the same decoder from the same weights with less around the
products:

- q/k/v and gate/up are one product each (the model's own Linear weights become views
  of the fused matrices, so fusing holds no weight twice and transformers' forward still runs;
  only oneDNN's packed copy, below, holds them again);
- the KV cache is one preallocated tensor per keys and values, written in place and grown
  by doubling (``LeanCache``);
- the rotary table is computed once, by the model's own rotary module, for every position;
- everything but the products runs on one thread when a forward has a tree's few rows: a
  product is then the only work big enough to share between cores (a prompt's forward
  keeps torch's threads throughout);
- the products of a given row count run on the library that is fastest for it here
  (``LeanForward.products``: OpenBLAS through numpy, torch's MKL, or oneDNN on weights it
  packed once), chosen by timing the model's own product shapes when the forward is built.
  On AMD EPYC (AVX2) a 2- to 16-row product costs MKL and OpenBLAS 2-3x a one-row one,
  most likely packing the weight matrix again on every call; oneDNN's pre-packed weights take
  1.0-2.0x (docs/cpu-notes.md). The packed copy (the weights' size again) is kept only
  where oneDNN wins some row count. Where every weight lies on a 4- or 8-bit block grid (the
  packaged GGUF's model), a fourth library reads the weights as those blocks
  (``racer.model.blocks``): the same float32 numbers in a fifth of the bytes;
- a tree of up to ``NATIVE_ATTENTION_ROWS`` nodes attends in one C call per layer
  (``attention.c``, float32, head sizes a multiple of 32, no q/k norms): 30 calls instead of
  about 400 small torch operations, and a node's result does not depend on the tree around it;
- where both hold (block products and the C attention) a forward of up to
  ``NATIVE_ATTENTION_ROWS`` rows runs its whole decoder stack in one C call (``layers.c``:
  norms, products, attention, SiLU gate and residual adds), with no Python between layers.

transformers stays the reference: ``racer.model.backend`` offers this forward as the
``lean`` backend, ``auto`` keeps it only where it is faster and its chain check agrees,
and the tests compare its logits with transformers' on every family it serves.

Exactness: a verify forward and a one-token step go through the same code, so greedy
RACER equals plain greedy decoding on this forward except where a product's last bits
depend on the row count; the generation loop's guard re-decides those near-ties with a
one-token forward (``TargetModel.error_bound``). With block products and the C attention
(and the whole stack in ``layers.c``, whose norms and SiLU are its own: torch's bits only to
float32's rounding) nothing depends on the row count: a chain of up to 8 nodes gives
one-token steps' logits bit for bit (tests/test_native_attention.py).

Served: model types in ``LEAN_TYPES`` on a CPU in float32 or float64, with rotary tables
that do not depend on the sequence length, no sliding window, SiLU MLPs and biases only on
q/k/v (Qwen2). Anything else keeps transformers' forward (``lean_refusal`` says why).
"""
from __future__ import annotations

import ctypes
import statistics
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from racer.model import blocks, native
from racer.model.memory import available_memory
from racer.model.threads import TORCH_THREADS, blas_found, blas_threads, torch_threads

LEAN_TYPES = ("llama", "mistral", "qwen2", "qwen3")
FIRST_CAPACITY = 256        # cache rows a fresh LeanCache holds before it first grows
PRODUCT_ROWS = (1, 2, 4, 8, 16)   # row counts whose fastest library is timed (1: a plain step)
PRODUCT_ROUNDS = 3          # libraries timed in turns, median of rounds
# after a timing round, a candidate this much dearer than the best is timed no more: a library
# at a row count here, a backend in ``racer.model.backend``'s auto
TIMING_DROP = 1.5
LIBRARIES = ("torch", "numpy", "onednn", "blocks")
# libraries that may serve different row counts of one model. OpenBLAS and oneDNN may not:
# on AMD EPYC a oneDNN tree forward right after an OpenBLAS one-token step took 1.9-2.7x its
# time after a oneDNN one (the cause is not pinned down; docs/cpu-notes.md). The block
# kernels run on torch's own OpenMP threads, as MKL and oneDNN do.
COMPANIONS = (("torch", "numpy"), ("torch", "onednn", "blocks"))
PLAIN_WEIGHT = len(PRODUCT_ROWS) - 1   # a one-token step counts as much as the trees together
# trees of at most this many nodes attend in C (``attention.c``); bigger ones through torch's
# batched products, which won at 16 nodes on 1000 cached tokens (docs/cpu-notes.md)
NATIVE_ATTENTION_ROWS = 8


def onednn_usable(dtype: torch.dtype) -> bool:
    """Whether torch brings oneDNN's packed-weight products for ``dtype`` (float32 only)."""
    return (dtype == torch.float32 and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


def lean_refusal(model) -> str | None:
    """Why the lean forward cannot serve ``model``, in a few words; None where it can."""
    cfg = model.config
    p = next(model.parameters())
    if getattr(cfg, "model_type", None) not in LEAN_TYPES:
        return f"{getattr(cfg, 'model_type', 'this')} models run on transformers' forward"
    if p.device.type != "cpu" or p.dtype not in (torch.float32, torch.float64):
        return "the lean forward runs float32 or float64 on a CPU"
    if hasattr(cfg, "use_sliding_window"):       # Qwen2, Qwen3: the window is off unless asked for
        windowed = bool(cfg.use_sliding_window)
    else:
        window = getattr(cfg, "sliding_window", None)
        windowed = bool(window) and window < cfg.max_position_embeddings
    if windowed:
        return "a sliding attention window is not served by the lean forward"
    if getattr(cfg, "hidden_act", "silu") != "silu":
        return "the lean forward serves SiLU MLPs only"
    rotary = getattr(model.model, "rotary_emb", None)
    if rotary is None or "dynamic" in str(getattr(rotary, "rope_type", "default")) or \
            str(getattr(rotary, "rope_type", "default")) == "longrope":
        return "the lean forward needs a rotary table that does not depend on the sequence length"
    for layer in model.model.layers:
        if layer.self_attn.o_proj.bias is not None or any(
                getattr(layer.mlp, name).bias is not None for name in ("gate_proj", "up_proj", "down_proj")):
            return "the lean forward serves biases on q, k and v only"
    return None


class LeanCache:
    """Keys and values of every layer, (L, H_kv, capacity, D) each, written in place;
    ``length`` rows are in use. Grows by doubling when a forward needs more rows."""

    def __init__(self, layers: int, kv_heads: int, head_dim: int, dtype: torch.dtype,
                 capacity: int = FIRST_CAPACITY) -> None:
        self.k = torch.zeros(layers, kv_heads, capacity, head_dim, dtype=dtype)
        self.v = torch.zeros_like(self.k)
        self.length = 0

    @property
    def capacity(self) -> int:
        return self.k.shape[2]

    @property
    def nbytes(self) -> int:
        return self.k.nbytes + self.v.nbytes

    def reserve(self, rows: int) -> None:
        """Room for ``rows`` rows in all; the rows in use are kept."""
        if rows <= self.capacity:
            return
        capacity = max(rows, 2 * self.capacity)
        for name in ("k", "v"):
            old = getattr(self, name)
            new = old.new_zeros(*old.shape[:2], capacity, old.shape[3])
            new[:, :, : self.length] = old[:, :, : self.length]
            setattr(self, name, new)


@dataclass
class Profile:
    """Seconds a forward spent in products and in attention, added up while timed."""
    matmul: float = 0.0
    attention: float = 0.0
    on: bool = field(default=False, repr=False)


class LeanForward:
    """The decoder of a loaded transformers model, run by hand (see the module's note).
    Built once per model (``racer.model.backend`` keeps it on the model)."""

    def __init__(self, model, products: dict[int, str] | None = None) -> None:
        refusal = lean_refusal(model)
        if refusal:
            raise ValueError(refusal)
        cfg, inner = model.config, model.model
        first = inner.layers[0].self_attn
        self.layers = len(inner.layers)
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = first.head_dim
        self.scale = float(first.scaling)
        self.dtype = next(model.parameters()).dtype
        self.threads = TORCH_THREADS
        self.profile = Profile()
        with torch.inference_mode():
            self.qkv = [_fuse(l.self_attn, ("q_proj", "k_proj", "v_proj")) for l in inner.layers]
            self.gate_up = [_fuse(l.mlp, ("gate_proj", "up_proj")) for l in inner.layers]
            self.o = [(l.self_attn.o_proj.weight.detach(), None) for l in inner.layers]
            self.down = [(l.mlp.down_proj.weight.detach(), None) for l in inner.layers]
            self.head = (model.get_output_embeddings().weight.detach(), None)
            self.norms = [(_norm(l.input_layernorm), _norm(l.post_attention_layernorm)) for l in inner.layers]
            self.qk_norms = [(_norm(getattr(l.self_attn, "q_norm", None)), _norm(getattr(l.self_attn, "k_norm", None)))
                             for l in inner.layers]
            self.final_norm = _norm(inner.norm)
            self.embed = inner.embed_tokens.weight.detach()
            self.intermediate = self.gate_up[0][0].shape[0] // 2
            positions = torch.arange(int(cfg.max_position_embeddings))[None]
            cos, sin = inner.rotary_emb(torch.zeros(1, dtype=self.dtype), positions)
            half = self.head_dim // 2
            self.cos = cos[0].to(self.dtype).contiguous()           # (P, D)
            sin = sin[0].to(self.dtype).clone()
            sin[:, :half] = -sin[:, :half]                           # rotate_half's sign, folded in
            self.sin = sin.contiguous()
        self.max_positions = self.cos.shape[0]
        self._numpy = {id(w): w.numpy().T for w, _ in self._weights()}   # (in, out) views, no copies
        self._packed: dict[int, torch.Tensor] = {}         # oneDNN's layout of each weight, a copy
        asked = products is not None and "onednn" in products.values()
        if (products is None or asked) and self._room_for_a_packed_copy():
            self._packed = {id(w): torch.ops.mkldnn._reorder_linear_weight(w) for w, _ in self._weights()}
        elif asked:
            raise ValueError("oneDNN products need a float32 model, torch's oneDNN and memory for a packed copy")
        self._blocks = self._as_blocks() if products is None or "blocks" in products.values() else {}
        if products is not None and "blocks" in products.values() and not self._blocks:
            raise ValueError("block products need float32 weights on 4- or 8-bit block grids and the "
                             f"block kernels ({blocks.kernels_refusal() or 'they can run here'})")
        # a tree's attention in one C call per layer (float32, no q/k norms; ``attention.c``)
        self.native_attention = (self.dtype == torch.float32 and self.qk_norms[0][0] is None
                                 and self.head_dim % 32 == 0 and self.heads // self.kv_heads <= 8
                                 and native.refusal("attention") is None)
        self.products = products or self.time_products()
        if "onednn" not in self.products.values():
            self._packed = {}                               # not chosen: its copy is freed
        else:
            self._build_onednn_kernels()
        if "blocks" not in self.products.values():
            self._blocks = {}
        self._stack = self._native_stack()

    # --- the public calls (TargetModel's) ------------------------------------------------

    def new_cache(self) -> LeanCache:
        return LeanCache(self.layers, self.kv_heads, self.head_dim, self.dtype)

    @torch.inference_mode()
    def hidden(self, tokens: list[int], depths: list[int] | None, cache: LeanCache, start: int,
               ancestors: list[list[bool]] | None = None) -> torch.Tensor:
        """The final-norm hidden states (n, H) of ``tokens`` placed after ``start`` cached
        rows. ``depths=None``: a prompt (``start`` 0, positions 0.., causal); else tree nodes at
        positions start + depth, node i seeing the context and the nodes ``ancestors[i]``
        marks (None: a single node, which sees the context and itself)."""
        n = len(tokens)
        if depths is None:
            if start != 0:
                raise ValueError("a prompt's forward starts from an empty cache")
            positions = torch.arange(n)
        else:
            positions = torch.as_tensor(depths, dtype=torch.long) + start
        if int(positions.max()) >= self.max_positions:
            raise ValueError(f"position {int(positions.max())} is past the model's {self.max_positions}")
        cache.reserve(start + n)
        mask = None
        if depths is not None and 1 < n <= NATIVE_ATTENTION_ROWS and self.native_attention:
            mask = torch.as_tensor(ancestors, dtype=torch.uint8)                      # (n, n): may see
        elif depths is not None and n > 1:
            mask = torch.zeros(n, start + n, dtype=self.dtype)                     # additive
            mask[:, start:].masked_fill_(~torch.as_tensor(ancestors, dtype=torch.bool), float("-inf"))
        cos, sin = self.cos[positions].unsqueeze(1), self.sin[positions].unsqueeze(1)   # (n, 1, D)
        x = self.embed[torch.as_tensor(tokens, dtype=torch.long)]                  # (n, H)
        library = self.library(n)
        if (self._stack is not None and depths is not None and n <= NATIVE_ATTENTION_ROWS and library == "blocks"
                and not self.profile.on):
            self._run_stack(x, cos, sin, cache, start, mask)
            cache.length = start + n
            return self.final_norm(x)
        with torch_threads(1 if n <= max(PRODUCT_ROWS) else self.threads):   # a long prompt's attention is work
            for l in range(self.layers):
                ln1, ln2 = self.norms[l]
                qkv = self._product(ln1(x), self.qkv[l], library)
                a = self._attend(qkv, cos, sin, cache, l, start, mask, causal=depths is None)
                x = x + self._product(a, self.o[l], library)
                gu = self._product(ln2(x), self.gate_up[l], library)
                x = x + self._product(F.silu(gu[:, : self.intermediate]) * gu[:, self.intermediate:],
                                      self.down[l], library)
            cache.length = start + n
            return self.final_norm(x)

    @torch.inference_mode()
    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The output layer: (n, H) -> (n, V)."""
        with torch_threads(1):
            return self._product(hidden, self.head, self.library(hidden.shape[0]))

    @staticmethod
    @torch.inference_mode()
    def commit(cache: LeanCache, context_len: int, keep: list[int]) -> None:
        """Keeps tree nodes ``keep`` (a root-first chain) right after the context, in order."""
        if keep and keep != list(range(len(keep))):
            src = torch.as_tensor(keep, dtype=torch.long) + context_len
            dst = slice(context_len, context_len + len(keep))
            cache.k[:, :, dst] = cache.k[:, :, src]
            cache.v[:, :, dst] = cache.v[:, :, src]
        cache.length = context_len + len(keep)

    def library(self, rows: int) -> str:
        """The library that multiplies ``rows``-row products: that of the nearest timed row
        count at or above it (the largest beyond them)."""
        for timed in sorted(self.products):
            if rows <= timed:
                return self.products[timed]
        return self.products[max(self.products)]

    def describe(self) -> str:
        """The products' libraries in words: "numpy up to 1 row, torch for more"."""
        runs: list[list] = []                    # [library, up to rows]
        for rows in sorted(self.products):
            if runs and runs[-1][0] == self.products[rows]:
                runs[-1][1] = rows
            else:
                runs.append([self.products[rows], rows])
        if len(runs) == 1:
            return f"{runs[0][0]} products"
        return ", ".join([f"{lib} up to {rows} row{'s' * (rows > 1)}" for lib, rows in runs[:-1]]
                         + [f"{runs[-1][0]} for more"])

    # --- the decoder -----------------------------------------------------------------------

    def _product(self, x: torch.Tensor, weight_bias, library: str) -> torch.Tensor:
        """x (n, in) @ W^T (+ b) -> (n, out), on ``library`` (torch gets its threads back)."""
        w, b = weight_bias
        start = time.perf_counter() if self.profile.on else 0.0
        if library == "numpy":
            out = torch.from_numpy(x.numpy() @ self._numpy[id(w)])
            if b is not None:
                out += b
        else:                                   # torch's MKL, oneDNN or blocks: torch's threads
            rest = torch.get_num_threads()      # inline, not ``torch_threads``: 121 products a forward
            torch.set_num_threads(self.threads)
            if library == "blocks":
                out = blocks.product(x, self._blocks[id(w)])
                if b is not None:
                    out += b
            elif library == "onednn":
                out = torch.ops.mkldnn._linear_pointwise(x, self._packed[id(w)], b, "none", [], "")
            else:
                out = torch.mm(x, w.t()) if b is None else torch.addmm(b, x, w.t())
            torch.set_num_threads(rest)
        if self.profile.on:
            self.profile.matmul += time.perf_counter() - start
        return out

    def _attend(self, qkv, cos, sin, cache: LeanCache, l: int, start: int, mask, causal: bool):
        """qkv (n, (h + 2g) D) -> attention output (n, h D); writes keys and values of rows
        start..start+n of layer l."""
        begin = time.perf_counter() if self.profile.on else 0.0
        n, h, g, d = qkv.shape[0], self.heads, self.kv_heads, self.head_dim
        if self.native_attention and not causal and n <= NATIVE_ATTENTION_ROWS:
            qkv, out = qkv.contiguous(), torch.empty(n, h * d, dtype=self.dtype)
            native.library("attention").tree_attention(
                qkv.data_ptr(), n, h, g, d, cos.data_ptr(), sin.data_ptr(), cache.k[l].data_ptr(),
                cache.v[l].data_ptr(), cache.capacity, start, mask.data_ptr() if mask is not None else None,
                self.scale, out.data_ptr(), 1 if n == 1 else self.threads)
            if self.profile.on:
                self.profile.attention += time.perf_counter() - begin
            return out
        q = qkv[:, : h * d].view(n, h, d)
        k = qkv[:, h * d: (h + g) * d].view(n, g, d)
        q_norm, k_norm = self.qk_norms[l]
        if q_norm is not None:
            q, k = q_norm(q), k_norm(k)
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        cache.k[l, :, start:start + n] = k.transpose(0, 1)
        cache.v[l, :, start:start + n] = qkv[:, (h + g) * d:].view(n, g, d).transpose(0, 1)
        keys, values = cache.k[l, :, : start + n], cache.v[l, :, : start + n]      # (g, ctx+n, D)
        if causal and n > 1:   # a prompt, from an empty cache (4-D: torch's fused CPU kernel
            # takes nothing else; its fallback took 2x transformers' time on a long prompt)
            out = F.scaled_dot_product_attention(q.transpose(0, 1)[None], keys[None], values[None], is_causal=True,
                                                 scale=self.scale, enable_gqa=g != h)[0]   # (h, n, D)
        else:                  # tree nodes: each query head group reads its KV head directly
            r = h // g
            grouped = q.view(n, g, r, d).permute(1, 2, 0, 3).reshape(g, r * n, d)        # (g, r n, D)
            scores = torch.bmm(grouped, keys.transpose(1, 2)) * self.scale                # (g, r n, ctx+n)
            if mask is not None:
                scores = (scores.view(g, r, n, -1) + mask).view(g, r * n, -1)
            out = torch.bmm(torch.softmax(scores, dim=-1), values)                        # (g, r n, D)
            out = out.view(g, r, n, d).reshape(h, n, d)
        if self.profile.on:
            self.profile.attention += time.perf_counter() - begin
        return out.transpose(0, 1).reshape(n, h * d)

    def _native_stack(self) -> dict | None:
        """The ctypes arguments of ``layers.c``'s decoder_layers for this model (kept here so
        their pointers live as long as the weights), or None where that path does not serve it:
        every layer weight read as blocks without a bias, every norm an RMS norm with a weight,
        the C attention on, and the kernels built."""
        layers = [(self.qkv[l], self.o[l], self.gate_up[l], self.down[l]) for l in range(self.layers)]
        weights = [wb for four in layers for wb in four]
        norms = [n for pair in self.norms for n in pair]
        if (not self.native_attention or not all(id(w) in self._blocks and b is None for w, b in weights)
                or not all(hasattr(n, "weight") for n in norms) or len({n.eps for n in norms}) != 1
                or native.refusal("layers") is not None):
            return None
        found = [self._blocks[id(w)] for w, _ in weights]
        pointers = ctypes.c_void_p * len(found)
        return dict(
            kinds=(ctypes.c_int * len(found))(*[4 if b.kind == "q4" else 8 for b in found]),
            q=pointers(*[b.q.ctypes.data for b in found]), d=pointers(*[b.d.ctypes.data for b in found]),
            m=pointers(*[b.m.ctypes.data if b.m is not None else None for b in found]),
            norms=(ctypes.c_void_p * len(norms))(*[n.weight.data_ptr() for n in norms]), eps=norms[0].eps,
            held=(found, norms))

    def _run_stack(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: LeanCache, start: int,
                   mask: torch.Tensor | None) -> None:
        """Every decoder layer on ``x`` (n, H) in place, in one C call (``layers.c``)."""
        s, n = self._stack, x.shape[0]
        cos, sin = cos.contiguous(), sin.contiguous()
        with torch_threads(self.threads):   # the products' OpenMP threads (torch's pool)
            native.library("layers").decoder_layers(
                x.data_ptr(), n, x.shape[1], self.intermediate, self.layers, self.heads, self.kv_heads,
                self.head_dim, s["kinds"], s["q"], s["d"], s["m"], s["norms"], s["eps"], cos.data_ptr(),
                sin.data_ptr(), cache.k.data_ptr(), cache.v.data_ptr(), cache.capacity, start,
                mask.data_ptr() if mask is not None else None, self.scale, 1 if n == 1 else self.threads)

    def _weights(self):
        return [*self.qkv, *self.gate_up, *self.o, *self.down, self.head]

    def _as_blocks(self) -> dict[int, blocks.BlockWeight]:
        """Every weight as 4- or 8-bit blocks (``racer.model.blocks``), or {} where one is not
        on such a grid or the kernels cannot run here."""
        if self.dtype != torch.float32 or blocks.kernels_refusal():
            return {}
        found = {}
        for w, _ in self._weights():
            found[id(w)] = blocks.as_blocks(w)
            if found[id(w)] is None:
                return {}
        return found

    def _room_for_a_packed_copy(self) -> bool:
        """oneDNN can serve this model and its packed copy of the weights takes at most half
        of the memory still free (the rule the model's own size check follows)."""
        copy = sum(w.numel() * w.element_size() for w, _ in self._weights())
        return onednn_usable(self.dtype) and 2 * copy <= available_memory("cpu")

    @torch.inference_mode()
    def _build_onednn_kernels(self) -> None:
        """One oneDNN product per weight shape and row count it serves, up to the largest
        timed: oneDNN builds a kernel on its first call per shape (about 1 ms, then 0.4), and
        that belongs to start-up, not to the first tree of that size."""
        shapes = {tuple(w.shape): (w, b) for w, b in self._weights()}
        with torch_threads(1):
            for rows in range(1, max(PRODUCT_ROWS) + 1):
                if self.library(rows) == "onednn":
                    for (_, inner), weight_bias in shapes.items():
                        self._product(torch.zeros(rows, inner, dtype=self.dtype), weight_bias, "onednn")

    # --- which library for which row count -----------------------------------------------

    def time_products(self) -> dict[int, str]:
        """{rows: library} for each of ``PRODUCT_ROWS``, from one forward's worth of this
        model's product shapes timed per library and row count: within each set of
        libraries that may share a forward's row counts (``COMPANIONS``), the fastest library
        per row count; of those sets, the one whose one-token step plus trees costs least
        (``PLAIN_WEIGHT``). Only the libraries this process has: numpy's where it brings an
        OpenBLAS, oneDNN's where torch has it and the model is float32, the blocks' where every
        weight is on a block grid and the engine's C kernels run here."""
        libraries = [lib for lib in LIBRARIES
                     if lib == "torch" or (lib == "numpy" and blas_found()) or (lib == "onednn" and self._packed)
                     or (lib == "blocks" and self._blocks)]
        if len(libraries) == 1:
            return {rows: "torch" for rows in PRODUCT_ROWS}
        times = {(rows, lib): [] for rows in PRODUCT_ROWS for lib in libraries}
        racing = set(times)   # (rows, library) still timed (``TIMING_DROP``)
        with torch_threads(1), blas_threads(self.threads):
            for round_ in range(PRODUCT_ROUNDS):
                turn = round_ % len(libraries)
                for lib in libraries[turn:] + libraries[:turn]:
                    timed = [rows for rows in PRODUCT_ROWS if (rows, lib) in racing]
                    if not timed:
                        continue
                    # a block per library: its first forward (untimed) pays the switch from
                    # the last library's threads; the median of rounds drops oneDNN's first
                    # call per shape (a kernel built)
                    self._time_one_forward_of_products(timed[0], lib)
                    for rows in timed:
                        times[rows, lib].append(self._time_one_forward_of_products(rows, lib))
                median = {key: statistics.median(values) for key, values in times.items()}
                best = {rows: min(median[rows, lib] for lib in libraries) for rows in PRODUCT_ROWS}
                racing = {(rows, lib) for rows, lib in racing if median[rows, lib] <= TIMING_DROP * best[rows]}
        choices = []
        for companions in COMPANIONS:
            usable = [lib for lib in libraries if lib in companions]
            if usable:
                choices.append({rows: min(usable, key=lambda lib: median[rows, lib]) for rows in PRODUCT_ROWS})
        return min(choices, key=lambda choice: sum(median[rows, lib] * (PLAIN_WEIGHT if rows == 1 else 1)
                                                   for rows, lib in choice.items()))

    @torch.inference_mode()
    def _time_one_forward_of_products(self, rows: int, library: str) -> float:
        x = torch.zeros(rows, self.embed.shape[1], dtype=self.dtype)
        inner = torch.zeros(rows, self.intermediate, dtype=self.dtype)
        a = torch.zeros(rows, self.heads * self.head_dim, dtype=self.dtype)
        start = time.perf_counter()
        for l in range(self.layers):
            self._product(x, self.qkv[l], library)
            self._product(a, self.o[l], library)
            self._product(x, self.gate_up[l], library)
            self._product(inner, self.down[l], library)
        self._product(x, self.head, library)
        return time.perf_counter() - start


def _fuse(module, names: tuple[str, ...]):
    """One (out, in) weight (and bias) for the Linear layers ``names`` of ``module``; the
    layers' own parameters become views of it, so nothing is held twice."""
    linears = [getattr(module, name) for name in names]
    weight = torch.cat([m.weight.detach() for m in linears]).contiguous()
    biases = [m.bias for m in linears]
    bias = None
    if any(b is not None for b in biases):
        bias = torch.cat([b.detach() if b is not None else weight.new_zeros(m.weight.shape[0])
                          for m, b in zip(linears, biases)]).contiguous()
    row = 0
    for m in linears:
        rows = m.weight.shape[0]
        m.weight = torch.nn.Parameter(weight[row: row + rows], requires_grad=False)
        if m.bias is not None:
            m.bias = torch.nn.Parameter(bias[row: row + rows], requires_grad=False)
        row += rows
    return weight, bias


def _rotate(t: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of t (n, heads, D) with cos, sin (n, 1, D), rotate_half's sign in sin
    (the halves swapped by one roll, the sum by one fused multiply-add)."""
    return torch.addcmul(t * cos, t.roll(t.shape[-1] // 2, -1), sin)


def _norm(module):
    """The RMS norm ``module`` as one fused call (``F.rms_norm``: a third of its dispatch),
    where that gives the module's own output bit for bit on a probe; else the module
    (float64 models, whose transformers norm computes in float32, and norms of other
    formulas). None stays None (no q/k norm)."""
    if module is None:
        return None
    weight = getattr(module, "weight", None)
    eps = getattr(module, "variance_epsilon", getattr(module, "eps", None))
    if weight is None or eps is None or weight.dim() != 1:
        return module
    width = weight.shape[0]
    probe = torch.randn(3, width, generator=torch.Generator().manual_seed(0)).to(weight.dtype) * 3

    def fused(x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (width,), weight, eps)

    fused.weight, fused.eps = weight.detach().contiguous(), float(eps)   # for ``layers.c``
    return fused if torch.equal(fused(probe), module(probe)) else module
