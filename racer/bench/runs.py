"""What one benchmark run is and how it runs: methods (a drafter with setting overrides,
``transformers``' ``generate()``, or llama.cpp's plain decoding), prompts, and the timed run
of a method on a prompt. ``racer.bench.cli`` runs them all; ``racer.bench.report`` turns
runs into tables.

``llamacpp`` is llama.cpp's own plain greedy decoding (``llama-cpp-python``, 2 threads) of
the packaged GGUF file the default model is converted from (Q4_1 weights): a reference
for speed beside ours, not for tokens, since its weights are 4-bit where ours are
dequantised to float32. It is installed only when asked for (``make bench-llamacpp``).

An engine method may name a backend after ``@`` (``plain@openblas``): it then runs on that
backend (``racer.model.backend``), and the loaded one is put back after it. That is how one
run sets the old forward beside the new.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

from racer.bench.hf_baselines import hf_generate
from racer.engine.generate import Generation
from racer.engine.settings import KNOBS, Settings
from racer.errors import UserError
from racer.model.backend import backend_of, check_backend, use_backend
from racer.model.gguf import packaged_gguf
from racer.model.target import TargetModel

HF_METHODS = {"hf_greedy": None, "hf_pld": 10}  # label -> prompt_lookup_num_tokens
LLAMACPP = "llamacpp"     # llama.cpp's plain decoding of the packaged GGUF (optional)
LLAMACPP_THREADS = 2
# settings without a flag here: methods name the drafter, and the benchmark is greedy only
NO_FLAG = ("drafter", "temperature", "top_p", "seed")


@dataclass(frozen=True)
class Method:
    label: str
    settings: Settings | None = None  # engine methods
    lookup: int | None = None         # hf methods: prompt_lookup_num_tokens (None = plain)
    llamacpp: bool = False            # llama.cpp's plain decoding of the packaged GGUF
    backend: str | None = None        # engine methods: the backend it runs on (None: the loaded one)

    @property
    def is_hf(self) -> bool:
        return self.settings is None and not self.llamacpp

    @property
    def is_engine(self) -> bool:
        return self.settings is not None

    @property
    def same_weights(self) -> bool:
        """Runs the target's own weights, so its greedy tokens must equal plain's."""
        return not self.llamacpp


@dataclass(frozen=True)
class Prompt:
    question_id: int
    task: str
    ids: tuple[int, ...]


@dataclass(frozen=True)
class StepCost:
    tree_size: int
    draft_s: float
    verify_s: float
    update_s: float


@dataclass
class Run:
    method: str
    question_id: int
    task: str
    output: list[int]
    forwards: int
    seconds: float
    steps: list[StepCost] = field(default_factory=list)  # engine runs, verify steps only
    # tokens the last step accepted beyond max_new_tokens (the authors' loop counts them)
    overshoot: int = 0
    rechecks: int = 0                 # greedy near-ties re-decided by a one-token forward (engine runs)
    same: bool | None = None          # equal to the reference method's tokens
    same_anchor: bool | None = None   # equal to the anchors' greedy tokens


# --- methods ----------------------------------------------------------------------

def parse_methods(spec: str, base: Settings) -> list[Method]:
    """"racer,racer:budget=64,hf_pld" -> three methods; overrides are Settings fields."""
    methods = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        head, _, backend = item.partition("@")
        name, *overrides = head.split(":")
        if backend and (name in HF_METHODS or name == LLAMACPP):
            raise UserError(f"{item!r}: only the engine's methods run on a backend of choice")
        if name in HF_METHODS:
            methods.append(Method(item, lookup=HF_METHODS[name]))
            continue
        if name == LLAMACPP:
            methods.append(Method(item, llamacpp=True))
            continue
        changes = dict(_override(base, o) for o in overrides)
        methods.append(Method(item, settings=base.with_changes(drafter=name, **changes),
                              backend=check_backend(backend) if backend else None))
    if len({m.label for m in methods}) != len(methods):
        raise UserError("each method may be named only once")
    return methods


def _override(base: Settings, text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    if key not in KNOBS or key == "drafter":
        raise UserError(f"{key!r} is not a setting; use e.g. racer:budget=64")
    kind = KNOBS[key].kind
    if kind is bool:
        return key, value.lower() in ("1", "true", "yes", "on")
    return key, kind(value)


# --- running ----------------------------------------------------------------------

def run_engine(target: TargetModel, prompt: Prompt, settings: Settings, drafter=None) -> Run:
    if settings.adaptive_budget:
        target.verify_costs()  # measured once per process, before the clock starts
    start = time.perf_counter()
    gen = Generation(target, prompt.ids, settings, drafter=drafter, inspect=False)
    records = list(gen.steps())
    seconds = time.perf_counter() - start
    steps = [StepCost(len(r.tree), r.timings.draft_s, r.timings.verify_s, r.timings.update_s)
             for r in records if r.tree is not None]
    last = records[-1]
    overshoot = len(last.accepted) - len(last.emitted) if last.finish_reason == "length" else 0
    return Run("", prompt.question_id, prompt.task, list(gen.output), gen.forwards, seconds, steps,
               overshoot=overshoot, rechecks=gen.rechecks)


def run_hf(target: TargetModel, prompt: Prompt, max_new_tokens: int, lookup: int | None) -> Run:
    r = hf_generate(target.model, prompt.ids, max_new_tokens, lookup)
    return Run("", prompt.question_id, prompt.task, r.output, r.forwards, r.seconds)


@functools.cache
def llamacpp_model(threads: int = LLAMACPP_THREADS):
    """llama.cpp over the packaged GGUF, loaded once per process; a UserError says how to
    install it when it is not."""
    try:
        from llama_cpp import Llama
    except ImportError:
        raise UserError("llama.cpp is not installed: run `make bench-llamacpp`, or "
                        "`.venv/bin/pip install llama-cpp-python` and try again") from None
    path = packaged_gguf()
    if path is None:
        raise UserError("the packaged GGUF file is missing: run `make setup`")
    return Llama(model_path=str(path), n_threads=threads, n_threads_batch=threads, n_ctx=4096,
                 verbose=False)


def run_llamacpp(target: TargetModel, prompt: Prompt, max_new_tokens: int) -> Run:
    """llama.cpp's plain greedy decoding of the same prompt ids (the GGUF's tokenizer is the
    model's), prompt evaluation included as our prefill is; one forward per token."""
    llm = llamacpp_model()
    llm.reset()
    start = time.perf_counter()
    output = []
    for token in llm.generate(list(prompt.ids), temp=0.0, top_k=1, reset=True):
        output.append(int(token))
        if token in target.eos_ids or len(output) >= max_new_tokens:
            break
    return Run("", prompt.question_id, prompt.task, output, len(output), time.perf_counter() - start)


def run_method(target: TargetModel, method: Method, prompt: Prompt, max_new_tokens: int,
               drafter=None) -> Run:
    if method.llamacpp:
        run = run_llamacpp(target, prompt, max_new_tokens)
    elif method.is_hf:
        run = run_hf(target, prompt, max_new_tokens, method.lookup)
    elif method.backend:
        loaded = backend_of(target.model)
        use_backend(target.model, method.backend)
        try:
            run = run_engine(target, prompt, method.settings, drafter)
        finally:
            use_backend(target.model, loaded)
    else:
        run = run_engine(target, prompt, method.settings, drafter)
    run.method = method.label
    return run
