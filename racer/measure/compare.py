"""One prompt decoded to the end by each drafter in turn, plain decoding first: the
Compare tab's measurement.

    for progress in run_drafters(target, ids, Settings(), ["racer", "plain"]):
        ...                                   # progress; the last yield has every result

Each result carries MAT, engine seconds and the speedup over plain decoding for the
same tokens (``racer.engine.metrics``). Plain decoding's timeline goes into ``cache`` when one
is given (``racer.measure.baseline.BaselineCache``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterator, NamedTuple, Sequence

from racer.engine import metrics as measure
from racer.measure.baseline import BaselineCache
from racer.drafting.registry import PLAIN
from racer.errors import UserError
from racer.engine.generate import Generation
from racer.model.target import TargetModel
from racer.engine.records import StepRecord, timeline_of
from racer.engine.settings import Settings


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
    speedups: tuple[float, ...] = ()  # one per round (the first is ``speedup`` when it ran once)

    @property
    def mat(self) -> float:
        return measure.mat(self.tokens, self.forwards)

    @property
    def interval(self) -> tuple[float, float] | None:
        """(lowest, highest) speedup over the rounds; None if not measured."""
        found = measure.spread(self.speedups)
        return None if found is None else found[1:]


def verdict(results: Sequence[DrafterResult]) -> measure.Verdict:
    """``measure.standout`` over the drafters other than plain decoding, plain
    decoding's rounds being the noise (its ``speedups``: each round against the mean)."""
    plain = next((r.speedups for r in results if r.drafter == PLAIN), ())
    return measure.standout([(r.drafter, r.mat, r.speedups) for r in results if r.drafter != PLAIN], plain)


def run_order(drafters: Sequence[str]) -> list[str]:
    """Plain decoding first (it is the baseline), then the others as given.

    >>> run_order(["racer", "plain", "logits"]), run_order(["racer"])
    (['plain', 'racer', 'logits'], ['plain', 'racer'])
    """
    return [PLAIN] + [d for d in drafters if d != PLAIN]


def run_plan(drafters: Sequence[str], repeats: int = 1) -> list[tuple[str, int]]:
    """(drafter, round) for each run in the order ``run_drafters`` makes them: plain
    decoding opens, then each round runs every other drafter and plain decoding again
    (one round of one run each needs no closing plain run).

    >>> run_plan(["racer", "logits"], repeats=2)
    [('plain', 1), ('racer', 1), ('logits', 1), ('plain', 1), ('racer', 2), ('logits', 2), ('plain', 2)]
    >>> run_plan(["racer"])
    [('plain', 1), ('racer', 1)]
    """
    others = [d for d in run_order(drafters) if d != PLAIN]
    if repeats == 1 and others:
        return [(PLAIN, 1)] + [(d, 1) for d in others]
    return [(PLAIN, 1)] + [(d, k + 1) for k in range(repeats) for d in others + [PLAIN]]


class Progress(NamedTuple):
    """What ``run_drafters`` yields: the drafter running and its tokens so far, the
    results so far, and where this run is in the plan (``run`` of ``runs``, 1-based, in
    ``round`` of ``rounds``). The last yield has drafter "" and every result."""
    drafter: str
    tokens: int
    results: list
    run: int = 0
    runs: int = 0
    round: int = 0
    rounds: int = 0


def run_drafters(target: TargetModel, prompt_ids: Sequence[int], settings: Settings,
                 drafters: Sequence[str], should_stop: Callable[[], bool] = lambda: False,
                 cache: BaselineCache | None = None, repeats: int = 1,
                 step: Callable[[Generation], StepRecord] = Generation.step,
                 ) -> Iterator[Progress]:
    """Runs the prompt to the end with each drafter in turn (``run_plan``), ``repeats``
    rounds, then plain decoding once more to close the last round. Yields a ``Progress``
    (drafter running, its tokens so far, results so far, run and round) after every step;
    the last yield is ("", 0, every result in the order of ``drafters``).

    Speedup of a drafter in a round = plain seconds / its seconds for the first T
    tokens, T the fewer of the two runs' tokens (they differ only under sampling), plain
    seconds being the mean of the plain runs that open and close the round. A result's
    ``speedup`` is the mean over rounds, ``speedups`` each round's; plain decoding's
    ``speedups`` are its runs against their mean (its noise), its ``speedup`` 1. Tokens, forwards and text
    are the first round's. ``step(gen)`` takes each step (the app passes one that runs it
    in a ZeroGPU call there).
    """
    if not 1 <= repeats <= measure.MAX_REPEATS:
        raise UserError(f"Run each drafter 1 to {measure.MAX_REPEATS} times; {repeats} was asked.")
    firsts: dict[str, DrafterResult] = {}
    timelines: dict[str, list[list[float]]] = {}
    plains: list[list[float]] = []
    plan = run_plan(drafters, repeats)

    def shown() -> list[DrafterResult]:
        return [firsts[d] for d in drafters if d in firsts]

    for run, (name, round_) in enumerate(plan, 1):
        gen = Generation(target, prompt_ids, settings.with_changes(drafter=name))
        records: list[StepRecord] = []
        while not gen.finished:
            record = step(gen)
            records.append(record)
            yield Progress(name, record.total_tokens, shown(), run, len(plan), round_, repeats)
            if should_stop():
                return
        mine = timeline_of(records)
        if name == PLAIN:
            plains.append(mine)
            if cache is not None and gen.finished and len(plains) == 1:
                cache.put(cache.key(target.name, prompt_ids, settings), mine)
        else:
            timelines.setdefault(name, []).append(mine)
        if name not in firsts:
            firsts[name] = DrafterResult(
                drafter=name, tokens=len(gen.output), forwards=gen.forwards,
                engine_s=mine[-1] if mine else 0.0, speedup=None,
                accept_lengths=tuple(len(r.emitted) for r in records if r.tree is not None),
                text=target.decode(gen.output), output_ids=tuple(gen.output))
        firsts = _with_speedups(firsts, timelines, plains)
    yield Progress("", 0, shown(), len(plan), len(plan), repeats, repeats)


def _with_speedups(firsts: dict[str, DrafterResult], timelines: dict[str, list[list[float]]],
                   plains: list[list[float]]) -> dict[str, DrafterResult]:
    """The results with each round's speedup against the plain runs around it (the
    one before only while the round's closing run is still to come)."""
    out = {}
    for name, first in firsts.items():
        if name == PLAIN:
            ends = [t[-1] for t in plains if t]
            speedups = tuple(measure.plain_speedups(ends)) if len(ends) > 1 else ((1.0,) if ends else ())
        else:
            speedups = tuple(v for k, mine in enumerate(timelines.get(name, []))
                             if (v := _round_speedup(mine, plains[k:k + 2])) is not None)
        found = measure.spread(speedups)
        mean = None if found is None else (1.0 if name == PLAIN else found[0])  # the reference is 1 by definition
        out[name] = replace(first, speedups=speedups, speedup=mean)
    return out


def _round_speedup(mine: list[float], around: list[list[float]]) -> float | None:
    """Speedup at T tokens (the fewest of the runs) against the mean plain seconds at T."""
    t = min([len(mine)] + [len(p) for p in around])
    if not around or t < 1:
        return None
    return measure.speedup(sum(p[t - 1] for p in around) / len(around), mine[t - 1])


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
