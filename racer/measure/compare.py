"""One prompt decoded to the end by each drafter in turn, plain decoding first: the
Compare tab's measurement.

    for running, tokens, results in run_drafters(target, ids, Settings(), ["racer", "plain"]):
        ...                                   # progress; the last yield has every result

The runs go in blocks (``blocks``), each run by a ``runner`` (``run_block`` here; the app
runs a block in one ZeroGPU call there).

Each result carries MAT, engine seconds and the speedup over plain decoding for the
same tokens (``racer.engine.metrics``). Plain decoding's timeline goes into ``cache`` when one
is given (``racer.measure.baseline.BaselineCache``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple, Callable, Iterator, Sequence

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


def never() -> bool:
    """A ``should_stop`` that never stops (a function, so that it pickles into a GPU call)."""
    return False


def run_order(drafters: Sequence[str]) -> list[str]:
    """Plain decoding first (it is the baseline), then the others as given.

    >>> run_order(["racer", "plain", "logits"]), run_order(["racer"])
    (['plain', 'racer', 'logits'], ['plain', 'racer'])
    """
    return [PLAIN] + [d for d in drafters if d != PLAIN]


def blocks(drafters: Sequence[str], repeats: int = 1, per_drafter: bool = False) -> list[list[str]]:
    """The runs of a comparison in order, in blocks: plain decoding opens a block and, over
    several rounds, closes every round; a drafter's rounds are compared with the plain runs
    of its own block around them. One block for all drafters (a round runs each in turn),
    or with ``per_drafter`` one block each (on ZeroGPU a block is one GPU call, so every
    speedup compares runs made on the same GPU).

    >>> blocks(["racer", "logits"], 2)
    [['plain', 'racer', 'logits', 'plain', 'racer', 'logits', 'plain']]
    >>> blocks(["racer", "logits"], 2, per_drafter=True)
    [['plain', 'racer', 'plain', 'racer', 'plain'], ['plain', 'logits', 'plain', 'logits', 'plain']]
    >>> blocks(["racer", "plain"], 1, per_drafter=True)
    [['plain', 'racer']]
    """
    others = [d for d in run_order(drafters) if d != PLAIN]

    def block(names: list[str]) -> list[str]:
        return [PLAIN] + (names + [PLAIN]) * repeats if repeats > 1 or not names else [PLAIN] + names
    return [block([d]) for d in others] if per_drafter and others else [block(others)]


def run_plan(drafters: Sequence[str], repeats: int = 1, per_drafter: bool = False) -> list[tuple[str, int]]:
    """(drafter, round) for each run in the order ``run_drafters`` makes them (``blocks``,
    flattened): a drafter's k-th run of its block is round k, and the plain run that closes
    a round is that round's.

    >>> run_plan(["racer", "logits"], repeats=2)
    [('plain', 1), ('racer', 1), ('logits', 1), ('plain', 1), ('racer', 2), ('logits', 2), ('plain', 2)]
    >>> run_plan(["racer"])
    [('plain', 1), ('racer', 1)]
    """
    return [(name, 1 + block[1:i].count(PLAIN)) for block in blocks(drafters, repeats, per_drafter)
            for i, name in enumerate(block)]


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


@dataclass(frozen=True)
class Run:
    """One run of a block to the end: what the comparison keeps of it."""
    drafter: str
    output: tuple[int, ...]
    forwards: int
    timeline: tuple[float, ...]        # ``timeline_of`` its records
    accept_lengths: tuple[int, ...]    # tokens per verify forward (prefill left out)


def run_block(target: TargetModel, prompt_ids: Sequence[int], settings: Settings, names: Sequence[str],
              should_stop: Callable[[], bool] = never) -> Iterator[tuple[str, int, Run | None]]:
    """Runs the prompt to the end with each of ``names`` in turn; yields (drafter running,
    its tokens so far, None) after every step and (drafter, tokens, its ``Run``) when a run
    ends. Ends early, without the unfinished run, when ``should_stop()`` after a step."""
    for name in names:
        gen = Generation(target, prompt_ids, settings.with_changes(drafter=name))
        records: list[StepRecord] = []
        while not gen.finished:
            records.append(gen.step())
            yield name, records[-1].total_tokens, None
            if should_stop():
                return
        yield name, len(gen.output), Run(name, tuple(gen.output), gen.forwards, tuple(timeline_of(records)),
                                         tuple(len(r.emitted) for r in records if r.tree is not None))


Runner = Callable[[TargetModel, Sequence[int], Settings, Sequence[str], Callable[[], bool]],
                  Iterator[tuple[str, int, "Run | None"]]]


def run_drafters(target: TargetModel, prompt_ids: Sequence[int], settings: Settings,
                 drafters: Sequence[str], should_stop: Callable[[], bool] = never,
                 cache: BaselineCache | None = None, repeats: int = 1, per_drafter: bool = False,
                 runner: Runner = run_block) -> Iterator[Progress]:
    """Runs the prompt to the end with each drafter, ``repeats`` rounds alternating with
    plain decoding, block by block (``blocks``). Yields a ``Progress`` (drafter running, its
    tokens so far, results so far, run and round, ``run_plan``) often enough for a progress
    line; the last yield is ("", 0, every result in the order of ``drafters``).

    Speedup of a drafter in a round = plain seconds / its seconds for the first T
    tokens, T the fewer of the two runs' tokens (they differ only under sampling), plain
    seconds being the mean of the plain runs of its block that open and close the round.
    A result's ``speedup`` is the mean over rounds, ``speedups`` each round's; plain
    decoding's ``speedups`` are its runs against their block's mean (its noise), its
    ``speedup`` 1. Tokens, forwards and text are the first round's. ``runner`` runs a
    block (``run_block``; the app passes one that runs it in a ZeroGPU call there).
    """
    if not 1 <= repeats <= measure.MAX_REPEATS:
        raise UserError(f"Run each drafter 1 to {measure.MAX_REPEATS} times; {repeats} was asked.")
    firsts: dict[str, DrafterResult] = {}
    plains: list[list[list[float]]] = []                  # per block: its plain runs' timelines
    rounds: dict[str, list[tuple[list[float], int, int]]] = {}   # drafter -> (timeline, block, round)

    def shown() -> list[DrafterResult]:
        return [firsts[d] for d in drafters if d in firsts]

    plan = run_plan(drafters, repeats, per_drafter)
    done = 0   # runs finished

    def progress(name: str, tokens: int) -> Progress:
        at = min(done, len(plan) - 1)
        return Progress(name, tokens, shown(), done + 1, len(plan), plan[at][1], repeats)

    for block in blocks(drafters, repeats, per_drafter):
        plains.append([])
        for name, tokens, run in runner(target, prompt_ids, settings, block, should_stop):
            if run is None:
                yield progress(name, tokens)
                continue
            mine = list(run.timeline)
            if name == PLAIN:
                plains[-1].append(mine)
                if cache is not None and len(plains) == 1 and len(plains[0]) == 1:
                    cache.put(cache.key(target.name, prompt_ids, settings), mine)
            else:
                rounds.setdefault(name, []).append((mine, len(plains) - 1, len(plains[-1]) - 1))
            if name not in firsts:
                firsts[name] = DrafterResult(
                    drafter=name, tokens=len(run.output), forwards=run.forwards,
                    engine_s=mine[-1] if mine else 0.0, speedup=None, accept_lengths=run.accept_lengths,
                    text=target.decode(list(run.output)), output_ids=run.output)
            firsts = _with_speedups(firsts, rounds, plains)
            yield progress(name, tokens)
            done += 1
        if should_stop():
            return
    yield Progress("", 0, shown(), len(plan), len(plan), repeats, repeats)


def _with_speedups(firsts: dict[str, DrafterResult], rounds: dict[str, list[tuple[list[float], int, int]]],
                   plains: list[list[list[float]]]) -> dict[str, DrafterResult]:
    """The results with each round's speedup against the plain runs of its block around
    it (the one before only while the round's closing run is still to come)."""
    out = {}
    for name, first in firsts.items():
        if name == PLAIN:
            ends = [[t[-1] for t in runs if t] for runs in plains]
            speedups = tuple(v for block in ends if len(block) > 1 for v in measure.plain_speedups(block))
            speedups = speedups or ((1.0,) if any(ends) else ())
        else:
            speedups = tuple(v for mine, block, k in rounds.get(name, [])
                             if (v := _round_speedup(mine, plains[block][k:k + 2])) is not None)
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
    logits, _ = target.prefill(list(prompt_ids) + list(ref.output_ids[:at]), target.new_cache(), top_k=0)
    a, b = ref.output_ids[at], other.output_ids[at]
    return Divergence(other.drafter, ref.drafter, at, a, b, float(logits[a]), float(logits[b]))
