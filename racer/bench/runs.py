"""What one benchmark run is and how it runs: methods (a drafter with setting overrides, or
``transformers``' ``generate()``), prompts, and the timed run of a method on a prompt.
``racer.bench.cli`` runs them all; ``racer.bench.report`` turns runs into tables.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from racer.bench.hf_baselines import hf_generate
from racer.engine.generate import Generation
from racer.engine.settings import KNOBS, Settings
from racer.errors import UserError
from racer.model.target import TargetModel

HF_METHODS = {"hf_greedy": None, "hf_pld": 10}  # label -> prompt_lookup_num_tokens
# settings without a flag here: methods name the drafter, and the benchmark is greedy only
NO_FLAG = ("drafter", "temperature", "top_p", "seed")


@dataclass(frozen=True)
class Method:
    label: str
    settings: Settings | None = None  # engine methods
    lookup: int | None = None         # hf methods: prompt_lookup_num_tokens (None = plain)

    @property
    def is_hf(self) -> bool:
        return self.settings is None


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
        name, *overrides = item.split(":")
        if name in HF_METHODS:
            methods.append(Method(item, lookup=HF_METHODS[name]))
            continue
        changes = dict(_override(base, o) for o in overrides)
        methods.append(Method(item, settings=base.with_changes(drafter=name, **changes)))
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


def run_method(target: TargetModel, method: Method, prompt: Prompt, max_new_tokens: int,
               drafter=None) -> Run:
    if method.is_hf:
        run = run_hf(target, prompt, max_new_tokens, method.lookup)
    else:
        run = run_engine(target, prompt, method.settings, drafter)
    run.method = method.label
    return run
