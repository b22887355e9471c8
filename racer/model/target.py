"""The target model: the one module of the engine that calls torch models.

It prefills a prompt, verifies a draft tree in one forward pass on top of the KV
cache (tree attention through a custom 4-D mask, stock transformers code), and
commits the accepted nodes by moving their KV entries to contiguous positions.
Where the ``lean`` backend is installed (``racer.model.lean``), the same three calls run
the engine's own forward on its own cache instead; a cache stays with the forward that
made it.
Everything it returns to the loop is either a logits tensor or plain Python/numpy.
"""
from __future__ import annotations

import functools
import statistics
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
from transformers import AttentionInterface, DynamicCache
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from racer.drafting.logits_cache import TopK, last_occurrences
from racer.model import native
from racer.model.lean import LeanCache
from racer.model.token_text import TokenText
from racer.engine.tree import DraftTree

PREFILL_CHUNK = 512  # rows per lm_head call in prefill, so a long prompt never holds (n, V) logits
# The guard's margin (``error_bound``): a verify forward's logits were seen to differ from
# one-token steps' by at most d on a chain; a greedy pick is re-decided by a one-token
# forward where its top two logits are closer than ERROR_SAFETY x d (each may be off by d,
# and the chain seen is short).
ERROR_SAFETY = 4.0
ERROR_FLOOR_EPS = 8  # the bound is at least 8 machine epsilons of the model's precision (1e-6 in float32)
ERROR_CHAIN = 16     # positions the error bound is measured on
TREE_ATTENTION = "racer_tree_sdpa"


def tree_sdpa_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
                        is_causal=None, **kwargs):
    """SDPA for tree verification, registered with transformers' AttentionInterface.

    Stock SDPA attention copies every cached key and value once per query-head group
    (repeat_kv) whenever a mask is given, i.e. on every tree verify. With our boolean
    tree mask, torch's SDPA can read the shared KV heads directly (enable_gqa), which
    gives the same numbers without the copies. Everything else goes to stock SDPA.
    query: (B, H, n, D); key/value: (B, H_kv, ctx + n, D); mask: (B, 1, n, ctx + n) bool.
    """
    if attention_mask is not None and attention_mask.dtype == torch.bool and query.shape[2] > 1 \
            and kwargs.get("position_bias") is None and kwargs.get("softcap") is None:
        out = torch.nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=attention_mask, scale=scaling,
            enable_gqa=key.shape[1] != query.shape[1])
        return out.transpose(1, 2).contiguous(), None  # (B, n, H, D)
    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                  scaling=scaling, is_causal=is_causal, **kwargs)


@functools.cache
def register_tree_attention() -> None:
    """Registers ``tree_sdpa_attention`` with transformers' public attention interface, once
    per process (the first ``TargetModel`` does it). transformers' own forwards on the same
    model (generate(), prompt lookup) build their masks for it as for stock SDPA."""
    AttentionInterface.register(TREE_ATTENTION, tree_sdpa_attention)
    AttentionMaskInterface.register(TREE_ATTENTION, sdpa_mask)


class TargetModel:
    """Shared, read-only wrapper of a causal LM; per-generation state lives in the cache
    object each generation owns."""

    def __init__(self, model, tokenizer, name: str = "") -> None:
        register_tree_attention()
        if model.config._attn_implementation == "sdpa":
            model.set_attn_implementation(TREE_ATTENTION)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name or getattr(model.config, "_name_or_path", "") or model.config.model_type
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.vocab_size = model.get_output_embeddings().weight.shape[0]
        self.max_context = int(getattr(model.config, "max_position_embeddings", 2048))
        self.eos_ids = _eos_ids(model, tokenizer)
        # measured once per backend (``racer.model.backend``: a benchmark may switch)
        self._costs: dict[str, dict[int, float]] = {}
        self._costs_lock = threading.Lock()
        self._error_bound: dict[str, float] = {}

    def __getstate__(self):
        raise TypeError("a TargetModel is never pickled (its weights would go with it): send a key to "
                        "find it by, as components.gpu does")

    @property
    def _backend(self) -> str:
        return getattr(self.model, "racer_backend", "torch")

    @property
    def lean(self):
        """The lean forward where the ``lean`` backend is installed, else None."""
        return getattr(self.model, "racer_lean", None) if self._backend == "lean" else None

    def new_cache(self) -> DynamicCache | LeanCache:
        lean = self.lean
        return lean.new_cache() if lean is not None else DynamicCache(config=self.model.config)

    @staticmethod
    def cache_bytes(cache: DynamicCache | LeanCache | None) -> int:
        """Bytes a KV cache's tensors hold (SmolLM2-135M in float32: 45 KiB per token). A
        cache cropped after a tree keeps its storage until it next grows, and the lean
        forward's grows by doubling, so this counts the storage."""
        if cache is None:
            return 0
        if isinstance(cache, LeanCache):
            return cache.nbytes
        tensors = [getattr(layer, name, None) for layer in cache.layers for name in ("keys", "values")]
        return sum(t.untyped_storage().nbytes() for t in tensors if isinstance(t, torch.Tensor))

    @torch.inference_mode()
    def prefill(self, ids: list[int], cache: DynamicCache, top_k: int) -> tuple[torch.Tensor, TopK]:
        """Runs the prompt; returns (last logits (V,), the top-k at the prompt's tokens (n, k)).

        The rows are what a logits cache reads, and it keeps a token's last occurrence
        alone (``LogitsCache.update``): so the output layer runs only at each distinct
        token's last occurrence, and every other row comes back empty (ids -1, probabilities
        0), as ``TopK.concat`` pads. ``top_k`` 0: the last token alone, and no rows (a
        drafter without a logits cache has no use for them)."""
        if isinstance(cache, LeanCache):
            lean = self.model.racer_lean
            hidden, head = lean.hidden(list(ids), None, cache, 0), lean.logits
        else:
            input_ids = torch.tensor([ids], device=self.device)
            hidden = self.model.model(input_ids=input_ids, cache=cache, use_cache=True).last_hidden_state[0]
            head = self.model.get_output_embeddings()
        if top_k == 0:
            return head(hidden[-1:]).float()[0], TopK(np.zeros((0, 0), np.int64), np.zeros((0, 0), np.float32))
        rows = last_occurrences(ids)   # ascending; the last token's row is the last of them
        picked = hidden[torch.as_tensor(rows, device=hidden.device)]
        tops, last = [], None
        for start in range(0, len(rows), PREFILL_CHUNK):
            logits = head(picked[start : start + PREFILL_CHUNK]).float()  # (chunk, V)
            tops.append(top_tokens(logits, top_k))
            last = logits[-1]
        k = tops[0].ids.shape[1]
        out = TopK(np.full((len(ids), k), -1, np.int64), np.zeros((len(ids), k), np.float32))
        out.ids[rows] = np.concatenate([t.ids for t in tops])
        out.probs[rows] = np.concatenate([t.probs for t in tops])
        return last, out

    @torch.inference_mode()
    def verify(self, tree: DraftTree, cache: DynamicCache, context_len: int) -> torch.Tensor:
        """One forward of all tree nodes on top of the cache; returns logits (n, V) float32.

        Node i sits at position context_len + depth(i) and attends to the whole cached
        context plus its ancestors and itself. A single node needs no mask at all.
        """
        n = len(tree)
        if isinstance(cache, LeanCache):
            lean = self.model.racer_lean
            hidden = lean.hidden(list(tree.tokens), list(tree.depths), cache, context_len,
                                 tree.ancestor_mask() if n > 1 else None)
            return lean.logits(hidden).float()  # (n, V)
        input_ids = torch.tensor([tree.tokens], device=self.device)  # (1, n)
        positions = torch.tensor([tree.depths], device=self.device) + context_len  # (1, n)
        mask = None
        if n > 1:
            allowed = torch.ones(1, 1, n, context_len + n, dtype=torch.bool, device=self.device)
            allowed[0, 0, :, context_len:] = torch.tensor(tree.ancestor_mask(), device=self.device)
            mask = allowed  # (1, 1, n, ctx + n): True = may attend
        out = self.model(
            input_ids=input_ids,
            position_ids=positions,
            attention_mask=mask,
            cache=cache,
            cache_position=torch.arange(context_len, context_len + n, device=self.device),
            use_cache=True,
        )
        return out.logits[0].float()  # (n, V)

    @torch.inference_mode()
    def commit(self, cache: DynamicCache, context_len: int, keep: list[int]) -> None:
        """Keeps the KV entries of tree nodes ``keep`` (a root-first chain) right after
        the context, in that order, and drops every other tree entry."""
        if isinstance(cache, LeanCache):
            self.model.racer_lean.commit(cache, context_len, keep)
            return
        if keep != list(range(len(keep))):  # the chain is not already in place
            src = torch.tensor(keep, device=self.device) + context_len
            dst = slice(context_len, context_len + len(keep))
            for layer in cache.layers:
                layer.keys[:, :, dst] = layer.keys[:, :, src]
                layer.values[:, :, dst] = layer.values[:, :, src]
        extra = cache.get_seq_length() - (context_len + len(keep))
        if extra > 0:
            cache.crop(-extra)

    def verify_costs(self, sizes=(1, 2, 3, 4, 6, 8, 16, 32, 64), context_len: int = 128,
                     repeats: int = 3) -> dict[int, float]:
        """Seconds for one verify forward of a tree of each size on this machine,
        measured once per model and process (about a second for SmolLM2-135M on 2
        cores, see ``time_verify``); the adaptive budget reads it."""
        with self._costs_lock:
            if self._backend not in self._costs:
                self._costs[self._backend] = self.time_verify(sizes, context_len, repeats, after_plain=True)
            return dict(self._costs[self._backend])

    def known_verify_costs(self) -> dict[int, float] | None:
        """``verify_costs`` if already measured (or taken with ``use_verify_costs``), else
        None: never measures (a ZeroGPU app's process must not run a forward)."""
        with self._costs_lock:
            costs = self._costs.get(self._backend)
            return dict(costs) if costs is not None else None

    def error_bound(self) -> float:
        """The top-two logit gap under which a greedy pick of a verify forward is re-decided
        by a one-token forward (``racer.engine.generate``'s guard): ERROR_SAFETY times the
        largest difference seen between a chain's logits and one-token steps' on a synthetic
        context, measured once per model and process (ERROR_CHAIN + 2 forwards)."""
        with self._costs_lock:
            if self._backend not in self._error_bound:
                context = [i % self.vocab_size for i in range(1, 129)]
                chain, steps = self.chain_versus_steps(context, ERROR_CHAIN)
                floor = ERROR_FLOOR_EPS * torch.finfo(self.dtype).eps
                self._error_bound[self._backend] = max(floor, ERROR_SAFETY * float((chain - steps).abs().max()))
            return self._error_bound[self._backend]

    def use_error_bound(self, bound: float) -> None:
        """Take ``error_bound`` measured elsewhere (a ZeroGPU call's worker process)."""
        with self._costs_lock:
            self._error_bound[self._backend] = float(bound)

    @torch.inference_mode()
    def chain_versus_steps(self, prompt_ids: list[int], n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy-decodes ``n`` tokens after ``prompt_ids`` one forward each, then verifies
        the same tokens as one chain on the same prompt: (chain logits, steps' logits),
        (n, V) each. Equal rows would make a tree's verdicts plain decoding's bit for bit."""
        cache = self.new_cache()
        last, _ = self.prefill(prompt_ids, cache, top_k=0)
        tokens, rows = [int(last.argmax())], []
        for i in range(n):
            step = self.verify(chain_tree(1, (tokens[-1],)), cache, len(prompt_ids) + i)
            rows.append(step[0])
            tokens.append(int(step[0].argmax()))
        cache = self.new_cache()
        self.prefill(prompt_ids, cache, top_k=0)
        chain = self.verify(chain_tree(n, tuple(tokens[:n])), cache, len(prompt_ids))  # (n, V)
        return chain, torch.stack(rows)

    def use_verify_costs(self, costs: dict[int, float]) -> None:
        """Take ``verify_costs`` measured elsewhere (a ZeroGPU call's worker process)."""
        with self._costs_lock:
            self._costs[self._backend] = dict(costs)

    def time_verify(self, sizes, context_len: int, repeats: int, after_plain: bool = False) -> dict[int, float]:
        """{size: median seconds of ``repeats`` verify forwards of a chain of ``size``
        nodes on top of a ``context_len`` cache}, after one untimed warm-up.

        ``after_plain`` times each forward right after a one-token forward, as a tree is
        verified while decoding (a library switch or a thread pool gone to sleep is then
        paid where decoding pays it), and a one-token forward's cost is the median of
        all those one-token forwards: what the adaptive budget compares trees with."""
        cache = self.new_cache()
        context = [i % self.vocab_size for i in range(1, context_len + 1)]
        self.prefill(context, cache, top_k=0)
        self.verify(chain_tree(max(sizes)), cache, context_len)  # warm-up
        self.commit(cache, context_len, [])
        times: dict[int, list[float]] = {size: [] for size in sizes}
        for size in sizes:
            for _ in range(repeats):
                if after_plain:
                    times.setdefault(1, []).append(self._time_one(1, cache, context_len))
                if size != 1 or not after_plain:
                    times[size].append(self._time_one(size, cache, context_len))
        return {size: statistics.median(times[size]) for size in sorted(times)}

    def _time_one(self, size: int, cache, context_len: int) -> float:
        """Seconds for one verify forward of a ``size``-node chain (the cache put back)."""
        self._sync()
        start = time.perf_counter()
        self.verify(chain_tree(size), cache, context_len)
        self._sync()
        seconds = time.perf_counter() - start
        self.commit(cache, context_len, [])
        return seconds

    def _sync(self) -> None:
        """Wait for the GPU's queued work, so a timing covers it (nothing on a CPU)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def readable(self, ids: list[int]) -> tuple[str, list[str]]:
        """The text as a person reads it, and the special tokens (``<|im_end|>``, chat
        markup) left out of it, in order."""
        special = set(self.tokenizer.all_special_ids)
        dropped = [self.tokenizer.decode([i], skip_special_tokens=False) for i in ids if i in special]
        return self.tokenizer.decode(ids, skip_special_tokens=True), dropped

    @functools.cached_property
    def token_text(self) -> TokenText:
        """Token ids as readable text in any script, from the tokenizer's bytes
        (``racer.model.token_text``): ``token_text(id)``, ``.join(ids)``, ``.spans(ids)``."""
        return TokenText(self.tokenizer)


@dataclass(frozen=True)
class Tops:
    """Per row of a forward's logits (n, V): the k largest logits and their token ids, best
    first; greedy decoding's pick (the first maximal index, as ``argmax``); the log-sum-exp."""
    ids: np.ndarray        # (n, k) int64
    values: np.ndarray     # (n, k) float32 (float64 for a float64 model)
    picks: np.ndarray      # (n,) int64
    lse: np.ndarray        # (n,) as values

    def top_k(self, k: int) -> TopK:
        """The k likeliest tokens and their softmax probabilities (temperature 1)."""
        return TopK(self.ids[:, :k], np.exp(self.values[:, :k] - self.lse[:, None]).astype(np.float32))


def row_tops(logits: torch.Tensor, k: int) -> Tops:
    """``Tops`` of ``logits`` (n, V), k at most V: on a CPU in float32 in one C pass per row
    (``tops.c``; torch's argmax, topk and logsumexp cost a step about 1 ms more on this
    model's 49152-token rows), elsewhere with torch's."""
    k = min(k, logits.shape[-1])
    if logits.device.type == "cpu" and logits.dtype == torch.float32 and _tops_kernel() is not None:
        x = logits.contiguous()
        n = x.shape[0]
        ids, values = np.empty((n, k), np.int64), np.empty((n, k), np.float32)
        lse = np.empty(n, np.float32)
        _tops_kernel().row_tops(x.data_ptr(), n, x.shape[1], k, ids.ctypes.data, values.ctypes.data,
                                        lse.ctypes.data, torch.get_num_threads())   # torch's own count
        return Tops(ids, values, ids[:, 0].copy(), lse)
    values, ids = logits.topk(k, dim=-1)
    exact = torch.float64 if logits.dtype == torch.float64 else torch.float32   # what numpy holds, unrounded
    return Tops(ids.cpu().numpy(), values.to(exact).cpu().numpy(), logits.argmax(dim=-1).cpu().numpy(),
                torch.logsumexp(logits, dim=-1).to(exact).cpu().numpy())


@functools.cache
def _tops_kernel():
    return native.library("tops") if native.refusal("tops") is None else None


def top_tokens(logits: torch.Tensor, k: int) -> TopK:
    """The k likeliest next tokens per row of ``logits`` (n, V) and their softmax
    probabilities (temperature 1), as numpy (n, k)."""
    return row_tops(logits, k).top_k(k)


def chain_tree(size: int, tokens: tuple[int, ...] | None = None) -> DraftTree:
    """A single path of ``size`` nodes, all token 1 (valid in any vocabulary, even a
    tiny test model's): what a verify costs depends on the node count, not on the tokens.
    ``tokens`` gives the chain's own tokens instead."""
    return DraftTree(tokens or (1,) * size, tuple(range(-1, size - 1)), tuple(range(size)),
                     ("root",) + ("logits",) * (size - 1), tuple(range(size)))


def _eos_ids(model, tokenizer) -> frozenset[int]:
    ids = set()
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return frozenset(ids)
