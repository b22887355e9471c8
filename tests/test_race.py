"""The race replays measured times: every token of the run appears at the engine
seconds its step had reached, every token of plain decoding at its own measured
timeline, and the finish times shown are those measurements."""
from __future__ import annotations

import re

import pytest

from components.race import NOT_FINISHED, RaceHandlers
from components.figures.race import Lane, race_figure, race_html, race_lanes
from components.state import Session
from racer.engine.records import timeline_of
from racer.engine.settings import Settings
from tests.tiny import repetitive_prompt, target, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


def delays(page: str, cls: str) -> list[float]:
    return [float(d) for d in re.findall(rf'class="{cls}[^"]*" style="animation-delay:([0-9.]+)s', page)]


def finished_session(drafter: str = "racer", measure_speedup: bool = True) -> Session:
    tm = target(tiny_model("llama", 0))
    session = Session()
    session.settings = Settings(drafter=drafter, max_new_tokens=30, adaptive_budget=False)
    session.measure = measure_speedup
    session.start(tm, "tiny prompt", repetitive_prompt(0))
    while not session.finished:
        session.step(lambda t: f"<{t}>")
    return session


@pytest.mark.parametrize("measured", [True, False])
def test_the_replay_times_are_the_measured_times(measured):
    session = finished_session(measure_speedup=measured)
    tm = target(tiny_model("llama", 0))
    shown = RaceHandlers(tm).on_race(session)
    page, fig, status = shown["race"], shown["plot"], shown["status"]
    assert "Replay of measured times" in page and status.startswith("✓")
    run_times = timeline_of(session.records)   # the engine's own step timings
    tokens = len(session.marks)
    assert delays(page, "race-tok race-") == pytest.approx(run_times, abs=5e-4)
    plain = delays(page, "race-tok")[tokens:]   # the plain lane comes second
    if measured:   # the very timeline the run's speedups were measured against
        assert plain == pytest.approx(session.baseline.timeline[:tokens], abs=5e-4)
    assert len(plain) == tokens and plain == sorted(plain) and plain[0] > 0
    finishes = [float(t) for t in re.findall(r"in <b>([0-9.]+) s</b> \(measured\)", page)]
    assert finishes == pytest.approx([run_times[-1], plain[-1]], abs=6e-3)   # shown to 2 decimals
    # the chart is the same race
    lines = [t for t in fig.data if t.mode == "lines"]
    assert list(lines[0].x[1:]) == pytest.approx(run_times) and list(lines[1].x[1:]) == pytest.approx(plain, abs=5e-4)


def test_a_run_that_is_not_finished_is_not_raced():
    tm = target(tiny_model("llama", 0))
    session = Session()
    session.start(tm, "tiny prompt", repetitive_prompt(0))
    session.step(lambda t: f"<{t}>")
    shown = RaceHandlers(tm).on_race(session)
    assert NOT_FINISHED in shown["status"] and set(shown) == {"status"}   # the last race stays


def test_lanes_and_html_by_hand():
    from components.state import StepStat, TokenMark
    marks = [TokenMark(1, b"A", "bonus", 0), TokenMark(2, b" b", "retrieval", 1), TokenMark(3, b"<c>", "bonus", 1)]
    stats = [StepStat(0, 1, 1, 1, 0.25, None), StepStat(1, 2, 3, 2, 0.5, 1.5)]
    run, plain = race_lanes(marks, stats, "racer", [0.2, 0.45, 0.7, 0.9])
    assert run.times == (0.25, 0.5, 0.5) and plain.times == (0.2, 0.45, 0.7)   # plain: as many tokens as the run
    assert plain.texts == run.texts and run.finish_s == 0.5
    page = race_html(run, plain, replay=3)
    assert 'data-replay="3"' in page and "&lt;c&gt;" in page and "<c>" not in page
    assert "RACER (ours) finished first, 1.40× as fast as plain decoding" in page
    assert race_html(Lane("racer", (), (), ()), plain).count("Nothing to race") == 1
    assert len(race_figure(run, plain).data) == 4


def test_compare_alternates_rounds_with_plain_decoding():
    from racer.measure.compare import run_drafters
    tm = target(tiny_model("llama", 0))
    settings = Settings(max_new_tokens=20, adaptive_budget=False)
    ran = [name for name, *_ in run_drafters(tm, repetitive_prompt(0), settings, ["racer"], repeats=2)]
    order = [n for i, n in enumerate(ran) if n and (i == 0 or ran[i - 1] != n)]
    assert order == ["plain", "racer", "plain", "racer", "plain"]
    *_, (_, _, results, *_) = run_drafters(tm, repetitive_prompt(0), settings, ["plain", "racer"], repeats=2)
    plain, racer = results
    assert len(racer.speedups) == 2 and len(plain.speedups) == 3
    assert racer.interval[0] <= racer.speedup <= racer.interval[1]
    assert racer.mat > 1.0
    assert plain.speedup == 1.0 and plain.interval[0] <= 1.0 <= plain.interval[1]


def test_plain_and_racer_take_turns_going_first_after_each_shown_step():
    """Whatever the page does between two steps (a browser drawing) lands on each side in
    turn: on every other step plain decoding is timed first."""
    order = []
    tm = target(tiny_model(init_std=1.0))
    session = Session()
    session.settings = Settings(max_new_tokens=12)
    session.measure = True
    session.start(tm, "tiny prompt", repetitive_prompt(0))
    gen, baseline = session.generation, session.baseline
    real_step, real_cover = gen.step, baseline.cover
    gen.step = lambda: (order.append("r"), real_step())[1]
    baseline.cover = lambda tokens, *rest: (order.append("p"), real_cover(tokens, *rest))[1]
    for _ in range(4):
        order.append("|")
        session.step(str)
    steps = "".join(order).split("|")[1:]
    assert steps == ["rp", "prp", "rp", "prp"]
    assert session.stats[-1].speedup is not None
