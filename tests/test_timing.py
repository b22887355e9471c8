"""Only decoding is timed: inspection (the trie snapshot, what each source offered, the
per-node and bonus probabilities) and the one-off verify-cost measurement stay outside
every step timer, in the engine and in the benchmark.

No timing thresholds: the clock the engine reads is real time plus an offset, and every
piece of work that must stay untimed moves the offset on by a virtual JUMP seconds. A
timer that held one would read at least JUMP.
"""
from __future__ import annotations

import time

import pytest

from racer.bench import cli as bench
from racer.bench import runs

from racer.engine import generate
from racer.bench.cli import Prompt, parse_methods
from racer.drafting.drafters import RacerDrafter
from racer.engine.generate import Generation
from racer.model.target import TargetModel
from racer.engine.settings import Settings
from tests.tiny import TinyTokenizer, repetitive_prompt, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")

JUMP = 1000.0  # virtual seconds each untimed piece of work adds to the clock
COSTS = {1: 0.01, 2: 0.011, 4: 0.012, 8: 0.014, 16: 0.02}
PROMPT = repetitive_prompt(0)


class Clock:
    """``time`` as the engine reads it: real time plus the jumps so far."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.jumps = 0

    def perf_counter(self) -> float:
        return time.perf_counter() + self.offset

    def jump(self) -> None:
        self.offset += JUMP
        self.jumps += 1

    def jumping(self, fn):
        def wrapped(*args, **kwargs):
            self.jump()
            return fn(*args, **kwargs)
        return wrapped


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(generate, "time", c)
    monkeypatch.setattr(runs, "time", c)
    return c


@pytest.fixture
def inspection_jumps(clock, monkeypatch):
    """Every piece of inspection jumps the clock."""
    monkeypatch.setattr(generate, "node_probs", clock.jumping(generate.node_probs))
    monkeypatch.setattr(generate, "bonus_probability", clock.jumping(generate.bonus_probability))
    monkeypatch.setattr(RacerDrafter, "inspect", clock.jumping(RacerDrafter.inspect))
    return clock


def fresh_target(clock: Clock) -> TargetModel:
    """A tiny model whose verify costs are not measured yet; measuring them jumps the clock."""
    tm = TargetModel(tiny_model(), TinyTokenizer(), name="tiny")
    tm.time_verify = lambda sizes, context_len, repeats, after_plain=False: (clock.jump(), dict(COSTS))[1]
    return tm


def untimed(records) -> None:
    for r in records:
        t = r.timings
        assert max(t.draft_s, t.verify_s, t.update_s) < JUMP, (r.index, t)


def test_inspection_is_outside_every_step_timer(inspection_jumps):
    tm = fresh_target(inspection_jumps)
    gen = Generation(tm, PROMPT, Settings(max_new_tokens=24, budget=8), inspect=True)
    records = list(gen.steps())
    steps = [r for r in records if r.tree is not None]
    assert inspection_jumps.jumps > len(steps)  # inspection ran, and so did the costs
    assert all(len(r.target_probs) == len(r.tree) for r in steps)
    assert any(r.automaton.trie is not None and r.automaton.offered for r in steps)
    untimed(records)


def test_without_inspection_records_are_lean_and_the_tokens_equal(inspection_jumps):
    tm = fresh_target(inspection_jumps)
    settings = Settings(max_new_tokens=24, budget=8, adaptive_budget=False)
    lean = Generation(tm, PROMPT, settings)  # inspection is off unless asked for
    records = list(lean.steps())
    assert inspection_jumps.jumps == 0  # nothing inspected, no costs measured
    full = Generation(tm, PROMPT, settings, inspect=True)
    list(full.steps())
    assert lean.output == full.output
    assert all(r.target_probs == () and r.automaton.trie is None and r.automaton.offered == ()
               for r in records)


def test_verify_costs_are_measured_before_any_timed_step(clock):
    tm = fresh_target(clock)
    gen = Generation(tm, PROMPT, Settings(max_new_tokens=24, budget=8))
    assert clock.jumps == 1  # when the generation is built
    records = list(gen.steps())
    assert clock.jumps == 1 and any(r.proposed > 1 for r in records)  # the adaptive budget ran
    untimed(records)


def test_verify_costs_asked_for_mid_run_are_measured_before_the_step(clock):
    tm = fresh_target(clock)
    gen = Generation(tm, PROMPT, Settings(max_new_tokens=24, budget=8, adaptive_budget=False))
    records = [gen.step(), gen.step()]
    assert clock.jumps == 0
    gen.settings = gen.settings.with_changes(adaptive_budget=True)
    records += list(gen.steps())
    assert clock.jumps == 1
    untimed(records)


def test_plain_decoding_measures_no_verify_costs(clock):
    list(Generation(fresh_target(clock), PROMPT, Settings(max_new_tokens=8, drafter="plain")).steps())
    assert clock.jumps == 0


def test_the_benchmark_measures_verify_costs_before_timing_any_run(clock):
    tm = fresh_target(clock)
    prompts = [Prompt(1, "qa", tuple(PROMPT))]
    runs = bench.run_bench(tm, prompts, parse_methods("racer,plain", Settings(budget=8)), 12,
                           progress=False)
    assert clock.jumps == 1
    assert all(r.seconds < JUMP for r in runs)
