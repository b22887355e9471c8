"""One prompt decoded to the end by each drafter in turn, plain decoding first: the
Compare tab's measurement.

    for running, tokens, results in run_drafters(target, ids, Settings(), ["racer", "plain"]):
        ...                                   # progress; the last yield has every result

Each result carries MAT, engine seconds and the speedup over plain decoding for the
same tokens (``racer.measure``). Plain decoding's timeline goes into the shared cache
of ``racer.baseline``, so a live run of the same prompt reuses it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from . import measure
from .baseline import BASELINES, BaselineCache
from .drafters import PLAIN
from .generate import Generation
from .model import TargetModel
from .records import StepRecord
from .settings import Settings


@dataclass(frozen=True)
class DrafterResult:
    """One drafter's complete run of the comparison."""
    drafter: str
    tokens: int
    forwards: int
    engine_s: float
    speedup: float | None
    accept_lengths: tuple[int, ...]   # tokens per verify forward (prefill left out)
    text: str
    output_ids: tuple[int, ...] = ()

    @property
    def mat(self) -> float:
        return measure.mat(self.tokens, self.forwards)


def run_order(drafters: Sequence[str]) -> list[str]:
    """Plain decoding first (it is the baseline), then the others as given.

    >>> run_order(["racer", "plain", "logits"]), run_order(["racer"])
    (['plain', 'racer', 'logits'], ['plain', 'racer'])
    """
    return [PLAIN] + [d for d in drafters if d != PLAIN]


def run_drafters(target: TargetModel, prompt_ids: Sequence[int], settings: Settings,
                 drafters: Sequence[str], should_stop: Callable[[], bool] = lambda: False,
                 cache: BaselineCache = BASELINES) -> Iterator[tuple[str, int, list[DrafterResult]]]:
    """Runs the prompt to the end with each drafter in turn (``run_order``). Yields
    (drafter running, its tokens so far, results so far) often enough for a progress
    line; the last yield is ("", 0, every result in the order of ``drafters``).

    Speedup of a drafter = plain seconds / its seconds for the first T tokens, T the
    fewer of the two runs' tokens (they differ only under sampling).
    """
    results: list[DrafterResult] = []
    plain: list[float] = []
    for name in run_order(drafters):
        gen = Generation(target, prompt_ids, settings.with_changes(drafter=name))
        records: list[StepRecord] = []
        for record in gen.steps():
            records.append(record)
            yield name, record.total_tokens, list(results)
            if should_stop():
                return
        mine = measure.timeline_of(records)
        if name == PLAIN:
            plain = mine
            if gen.finished:
                cache.put(cache.key(target.name, prompt_ids, settings), plain)
        t = min(len(plain), len(mine))
        if name in drafters:
            results.append(DrafterResult(
                drafter=name, tokens=len(gen.output), forwards=gen.forwards,
                engine_s=mine[-1] if mine else 0.0,
                speedup=measure.speedup_at(plain, t, mine[t - 1]) if t else None,
                accept_lengths=tuple(len(r.emitted) for r in records if r.tree is not None),
                text=target.decode(gen.output), output_ids=tuple(gen.output)))
    yield "", 0, [r for d in drafters for r in results if r.drafter == d]


@dataclass(frozen=True)
class Divergence:
    """Where a drafter's greedy output first parts from the reference's, and the
    model's logits of the two tokens there."""
    drafter: str
    reference: str
    position: int            # index into the generated tokens
    ours: int                # the reference's token there
    theirs: int              # the drafter's token there
    logit_ours: float
    logit_theirs: float

    @property
    def gap(self) -> float:
        return abs(self.logit_ours - self.logit_theirs)


def first_divergence(target: TargetModel, prompt_ids: Sequence[int],
                     results: Sequence[DrafterResult]) -> Divergence | None:
    """The earliest position where some result's tokens part from the reference's
    (plain decoding's when it ran, else the first result's), with the two tokens'
    logits from one forward over the prompt and the common text; None when no two
    outputs part (an output that stops early, at EOS or a stop, does not part)."""
    if len(results) < 2:
        return None
    ref, found = next((r for r in results if r.drafter == PLAIN), results[0]), None
    for r in results:
        at = next((i for i, (a, b) in enumerate(zip(ref.output_ids, r.output_ids)) if a != b), None)
        if at is not None and (found is None or at < found[1]):
            found = (r, at)
    if found is None:
        return None
    other, at = found
    logits, _ = target.prefill(list(prompt_ids) + list(ref.output_ids[:at]), target.new_cache(), top_k=1)
    a, b = ref.output_ids[at], other.output_ids[at]
    return Divergence(other.drafter, ref.drafter, at, a, b, float(logits[a]), float(logits[b]))
