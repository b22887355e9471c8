"""The matrix-product backend: which library multiplies the Linear layers' matrices.

- ``torch``: stock, torch's own kernels (MKL on x86).
- ``openblas``: every ``nn.Linear`` of the model (the lm_head included) multiplies through
  numpy, i.e. the OpenBLAS numpy bundles (scipy-openblas). The two thread pools are
  arranged so that they do not spin against each other on a few cores: torch runs its
  remaining operators on 1 thread and OpenBLAS gets the cores (through ``threadpoolctl``). Bias, shapes and dtype are as torch's; the weights are not copied.
- ``lean``: not a library but a forward of the engine's own (``racer.model.lean``): the same
  decoder from the same weights with fused products, a cache written in place and one
  thread for everything but the products, whose library it picks per row count. Llama,
  Mistral, Qwen2 and Qwen3 on a CPU; transformers' forward stays the reference.
- ``auto``: times each candidate on this model's own forward (a one-token and a 16-node
  verify on a cached context; one clearly dearer than the best after a round is timed no
  more), and keeps the fastest one whose chain check
  (``racer.model.precision.chain_agreement``) agrees at every position, checking fastest
  first; torch when it is fastest or nothing else is exact. On AMD EPYC (AVX2) MKL's small-row sgemm is 2-3x off
  and the lean forward wins, on the default model with its weights read as their 4-bit
  blocks (``racer.model.blocks``), on other float32 models with oneDNN's pre-packed weights;
  on Intel with AVX-512 MKL is fast.

Exactness: greedy RACER equals plain greedy decoding *on the same backend* (both run the
same products); against another backend outputs can part only where two tokens are nearly
tied, since the last bits of a product depend on the library's reduction order.

Left out on purpose: ONNX Runtime (the lean forward's products measured with it in
docs/results.md: another package; its one-row products, 18-21 ms on an earlier host of this
type, are above the block kernels' 10-16 ms here on the default model) and ``torch.compile`` candidates (measured in
docs/results.md and docs/cpu-notes.md, not shipped), and GPUs (CUDA keeps torch).
"""
from __future__ import annotations

import statistics
import time
import types
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch

from racer.errors import UserError
from racer.model.lean import TIMING_DROP, LeanForward, lean_refusal
from racer.model.threads import TORCH_THREADS, openblas, set_blas_threads

BACKENDS = ("auto", "torch", "openblas", "lean")
AUTO_SIZES = (1, 16)        # tree sizes auto times (a plain step and a typical tree)
AUTO_CONTEXT = 128
AUTO_REPEATS = 5
AUTO_ROUNDS = 3             # candidates timed alternately, median of rounds


def check_backend(backend: str) -> str:
    """The backend name, validated; a UserError names the choices."""
    if backend not in BACKENDS:
        raise UserError(f"backend must be one of {', '.join(BACKENDS)}")
    return backend


def backend_of(model) -> str:
    """The backend ``model``'s Linear layers run on ("torch" unless one was installed)."""
    return getattr(model, "racer_backend", "torch")


def backend_note(model, asked: str = "auto") -> str:
    """The page's words for the backend: "openblas products (auto)", "torch products",
    "lean forward (auto)" (which library multiplies which row count is in the log)."""
    name = backend_of(model)
    return ("lean forward" if name == "lean" else f"{name} products") + (" (auto)" if asked == "auto" else "")


def openblas_usable(model) -> bool:
    """Whether the OpenBLAS path can serve ``model``: on a CPU, in float32 or float64,
    with numpy's OpenBLAS found."""
    p = next(model.parameters())
    return p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64) and openblas() is not None


def lean_usable(model) -> bool:
    """Whether the lean forward can serve ``model`` (``racer.model.lean.lean_refusal``)."""
    return lean_refusal(model) is None


# --- installing a backend ----------------------------------------------------------------

def use_backend(model, name: str) -> None:
    """Route ``model``'s Linear layers through ``name`` ("torch" or "openblas"), in place,
    and arrange the thread pools for it (also when the layers already go there: another model
    in this process may have moved the pools)."""
    if name == backend_of(model):
        _arrange_threads(name, model)
        return
    if name == "lean":
        refusal = lean_refusal(model)
        if refusal:
            raise UserError(f"{refusal}; use --backend torch")
        for module in _linears(model):
            module.__dict__.pop("forward", None)   # transformers' own forwards keep torch's products
        if getattr(model, "racer_lean", None) is None:
            model.racer_lean = LeanForward(model)
        _arrange_threads("lean", model)
    elif name == "openblas":
        if not openblas_usable(model):
            raise UserError("the openblas backend needs a float32 model on a CPU and numpy's OpenBLAS; "
                            "use --backend torch")
        for module in _linears(model):
            module.forward = types.MethodType(_blas_linear, module)
        _arrange_threads("openblas")
    elif name == "torch":
        for module in _linears(model):
            module.__dict__.pop("forward", None)   # back to nn.Linear.forward
        _arrange_threads("torch")
    else:
        raise UserError(f"backend must be one of {', '.join(BACKENDS[1:])} once chosen")
    model.racer_backend = name


def _blas_linear(self, x: torch.Tensor) -> torch.Tensor:
    """nn.Linear's forward, the product done by numpy (OpenBLAS): x (..., in) -> (..., out)."""
    flat = x.reshape(-1, x.shape[-1]).detach().numpy()            # (rows, in), no copy
    out = flat @ self.weight.detach().numpy().T                    # (rows, out)
    if self.bias is not None:
        out += self.bias.detach().numpy()
    return torch.from_numpy(out).reshape(*x.shape[:-1], out.shape[-1])


def _linears(model) -> list[torch.nn.Linear]:
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


def _arrange_threads(name: str, model=None) -> None:
    """openblas: torch 1 thread, OpenBLAS all of torch's default; torch: torch back to its
    default, OpenBLAS at 1 so its idle workers never spin against torch's; lean: torch at
    its default (the forward runs on 1 thread but for torch's products), OpenBLAS at the
    same where the lean forward multiplies some row counts with it, else at 1."""
    if name == "lean":
        torch.set_num_threads(TORCH_THREADS)
        set_blas_threads(TORCH_THREADS if "numpy" in model.racer_lean.products.values() else 1)
    elif name == "openblas":
        torch.set_num_threads(1)
        set_blas_threads(TORCH_THREADS)
    else:
        torch.set_num_threads(TORCH_THREADS)
        set_blas_threads(1)


# --- choosing one --------------------------------------------------------------------------

@dataclass(frozen=True)
class Trial:
    """One candidate as ``auto`` measured it: ms by tree size, and its chain check
    (``exact`` None: not run, a faster candidate passed it first)."""
    name: str
    ms: dict[int, float]
    exact: bool | None
    check: str

    @property
    def score(self) -> float:
        """What auto minimises: the sum of the timed sizes' ms (a plain step plus a tree)."""
        return sum(self.ms.values())


def candidates(model) -> list[str]:
    """Backends ``auto`` measures on ``model``: torch always, openblas and lean where usable."""
    return ["torch"] + (["openblas"] if openblas_usable(model) else []) + (["lean"] if lean_usable(model) else [])


def choose_backend(target, report: Callable[[str], None], check_ids: list[int],
                   measure: Callable | None = None) -> str:
    """``auto``: installs and returns the fastest backend whose chain check agrees at every
    position (torch, the reference, needs no check). ``measure(target, names) -> [Trial]``
    defaults to ``measure_backends``; tests pass a fake one."""
    names = candidates(target.model)
    if len(names) == 1:
        use_backend(target.model, "torch")
        return "torch"
    trials = (measure or (lambda t, n: measure_backends(t, n, check_ids)))(target, names)
    best = min((t for t in trials if t.exact or t.name == "torch"), key=lambda t: t.score)
    for t in trials:
        sizes = ", ".join(f"{k} node{'s' * (k > 1)} {v:.1f} ms" for k, v in t.ms.items())
        lean = getattr(target.model, "racer_lean", None) if t.name == "lean" else None
        how = f" ({lean.describe()})" if lean is not None else ""
        report(f"backend {t.name}{how}: {sizes}; chain check {t.check}" + (" (chosen)" if t is best else ""))
    use_backend(target.model, best.name)
    return best.name


def measure_backends(target, names: list[str], check_ids: list[int]) -> list[Trial]:
    """Time each backend on ``target``'s own verify forwards, the candidates taking turns
    (up to ``AUTO_ROUNDS`` rounds, median) so that a busy machine slows them alike; a
    candidate ``TIMING_DROP`` times dearer than the best after a round sits out the rest (the
    median of the rounds it ran is kept). Then the chain check, fastest first, until one
    passes or torch (the reference, unchecked) is next: what is slower than that is not
    checked, as it cannot be chosen."""
    from racer.model.precision import chain_agreement
    runs = {name: [] for name in names}
    racing = list(names)
    for _ in range(AUTO_ROUNDS):
        for name in racing:
            use_backend(target.model, name)
            runs[name].append(target.time_verify(AUTO_SIZES, AUTO_CONTEXT, AUTO_REPEATS))
        score = {name: _score(runs[name]) for name in racing}
        racing = [name for name in racing if score[name] <= TIMING_DROP * min(score.values())]
    ms = {name: {k: 1000 * statistics.median(r[k] for r in runs[name]) for k in AUTO_SIZES} for name in names}
    trials, settled = {}, False
    for name in sorted(names, key=lambda n: sum(ms[n].values())):
        if name == "torch":
            trials[name] = Trial(name, ms[name], True, "reference")
            settled = True
        elif settled:
            trials[name] = Trial(name, ms[name], None, "not run (slower than the chosen)")
        else:
            use_backend(target.model, name)
            agreement = chain_agreement(target, check_ids)
            trials[name] = Trial(name, ms[name], agreement.exact, str(agreement))
            settled = agreement.exact
    use_backend(target.model, "torch")
    return [trials[name] for name in names]


def _score(rounds: list[dict[int, float]]) -> float:
    return sum(statistics.median(r[k] for r in rounds) for k in rounds[0])


# --- where a forward's time goes -------------------------------------------------------------

@contextmanager
def timed_parts(model):
    """Within the block, the seconds the model spends in matrix products (its Linear layers)
    and in attention (the registered attention function) add up in the yielded dict."""
    if backend_of(model) == "lean":
        with _timed_lean(model.racer_lean) as spent:
            yield spent
        return
    from transformers import AttentionInterface
    from racer.model.target import TREE_ATTENTION
    spent = {"matmul": 0.0, "attention": 0.0}
    patched = []
    for module in _linears(model):
        inner = module.forward

        def timed(x, inner=inner):
            start = time.perf_counter()
            out = inner(x)
            spent["matmul"] += time.perf_counter() - start
            return out
        patched.append((module, module.__dict__.get("forward")))
        module.forward = timed
    attention = AttentionInterface()[TREE_ATTENTION]

    def timed_attention(*args, **kwargs):
        start = time.perf_counter()
        out = attention(*args, **kwargs)
        spent["attention"] += time.perf_counter() - start
        return out
    AttentionInterface.register(TREE_ATTENTION, timed_attention)
    try:
        yield spent
    finally:
        AttentionInterface.register(TREE_ATTENTION, attention)
        for module, forward in patched:
            if forward is None:
                module.__dict__.pop("forward", None)
            else:
                module.forward = forward


@contextmanager
def _timed_lean(lean):
    """timed_parts for the lean forward, which times its own products and attention."""
    lean.profile.matmul = lean.profile.attention = 0.0
    lean.profile.on = True
    spent = {}
    try:
        yield spent
    finally:
        lean.profile.on = False
        spent.update(matmul=lean.profile.matmul, attention=lean.profile.attention)


def split_costs(target, sizes, context_len: int, repeats: int) -> dict[int, dict[str, float]]:
    """{size: {total, matmul, attention, rest} median ms} of verify forwards of a chain of
    ``size`` nodes, the parts timed inside each forward (timers add a few microseconds per
    Linear, so ``total`` here is a little above an untimed forward's)."""
    from racer.model.target import chain_tree
    cache = target.new_cache()
    target.prefill([i % target.vocab_size for i in range(1, context_len + 1)], cache, top_k=0)
    target.verify(chain_tree(max(sizes)), cache, context_len)   # warm-up
    target.commit(cache, context_len, [])
    out = {}
    for size in sizes:
        rows = []
        for _ in range(repeats):
            with timed_parts(target.model) as spent:
                start = time.perf_counter()
                target.verify(chain_tree(size), cache, context_len)
                total = time.perf_counter() - start
            target.commit(cache, context_len, [])
            rows.append(dict(total=total, matmul=spent["matmul"], attention=spent["attention"],
                             rest=total - spent["matmul"] - spent["attention"]))
        out[size] = {k: 1000 * statistics.median(r[k] for r in rows) for k in rows[0]}
    return out
