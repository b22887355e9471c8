"""The Tune tab: raw API values become grid values or a sentence (no model needed), and
the app served for real and driven through gradio_client, where a 2 x 2 sweep on one
Spec-Bench prompt fills both heatmaps, the table and the CSV, and Apply moves the
Explore sliders to the best setting (real default model, 8 new tokens per run)."""
from __future__ import annotations

import csv
import json
import re

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402

import gradio as gr  # noqa: E402

from components.tune import APPLY_OUTPUTS, TuneHandlers, TuneState, grid_values, whole  # noqa: E402
from tests.app_client import controls  # noqa: E402

# the Explore tab's controls, which give what the grid leaves alone
EXPLORE = controls(max_new_tokens=128, measure=True)


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def heat(plot) -> dict:
    plot = plot["plot"] if isinstance(plot, dict) and "plot" in plot else plot
    return (json.loads(plot) if isinstance(plot, str) else plot)["data"][0]


@pytest.mark.parametrize("raw, expected", [
    ([8, 4], (8, 4)), ("2, 4,8", (2, 4, 8)), ([2.0, "6"], (2, 6)), ([], ()), (None, ()),
    ([0], "tree width is 0; give a whole number from 1 to 64"),
    ([True], "tree width is empty"), (["x"], "tree width is not a number ('x')"),
    ([float("inf")], "tree width is inf"), (7, "must be a list of numbers"),
])
def test_grid_values_from_raw_api_input(raw, expected):
    if isinstance(expected, tuple):
        assert grid_values(raw, "width") == expected
    else:
        with pytest.raises(ValueError, match=re.escape(expected)):
            grid_values(raw, "width")


def test_the_tokens_slider_offers_what_the_sweep_runs():
    """The slider's minimum is the sweep's: a smaller value typed or sent is raised to it, with a note."""
    from components.controls import TUNE_TOKENS, number, tune_tokens_control
    slider = tune_tokens_control()
    assert (slider.minimum, slider.maximum) == TUNE_TOKENS.span
    notes = []
    assert number(1, TUNE_TOKENS, notes) == slider.minimum
    assert notes == [f"new tokens per prompt 1 → {slider.minimum} (below its range, {slider.minimum} to 256)"]


def test_bad_requests_end_in_a_sentence_without_a_model():
    assert whole("12", "new tokens per prompt", 1, 256) == 12
    with pytest.raises(ValueError, match="from 1 to 256"):
        whole(1000, "new tokens per prompt", 1, 256)
    frames = list(TuneHandlers(None, "it is missing").on_tune(TuneState(), "hi", "category", "qa", 1, 8,
                                                               [4], [2], [], [], **EXPLORE))
    assert len(frames) == 1 and "No model is loaded: it is missing" in frames[0]["status"]
    moved = TuneHandlers(None, "").on_apply(TuneState())
    assert moved == {name: gr.skip() for name in APPLY_OUTPUTS}  # a warning; no slider moves, tab and status stay


@pytest.mark.real_model  # serves the real SmolLM2 model
def test_a_two_by_two_sweep_fills_the_heatmaps_and_applies(client):
    job = client.submit("unused", "category", "translation", 1, 8, [2, 4], [1, 3], [], [], **EXPLORE,
                        api_name="/tune")
    status, best, mat, speed, table, csv_file = job.result(timeout=600)  # the API leaves buttons out
    assert "Done: 4 settings" in status, status
    assert "stood out" in best  # "... stood out" or "No setting stood out."
    for plot in (mat, speed):
        z = heat(plot)["z"]
        assert len(z) == 2 and all(len(row) == 2 and None not in row for row in z)
    rows = table["data"] if isinstance(table, dict) else table
    assert len(rows) == 4 and all(r[10] == "yes" for r in rows)  # greedy: every cell wrote plain's text
    path = csv_file["value"] if isinstance(csv_file, dict) and "value" in csv_file else csv_file
    with open(path, encoding="utf-8") as f:
        lines = list(csv.reader(f))
    assert lines[0][:2] == ["width", "depth"] and len(lines) == 5

    applied = client.predict(api_name="/tune_apply")
    width, depth, window, budget, *_, note = applied
    if "No setting stood out" in best:  # noise: nothing moves
        assert "nothing was applied" in note
    else:
        assert [width, depth, window, budget] == rows[0][:4]  # the table lists the fastest first
        assert f"width {width}, depth {depth}" in note


def test_apply_is_offered_only_for_a_setting_that_stood_out(one_thread):
    """A tiny-model sweep whose settings all have MAT 1.00 (one new token per prompt):
    no winner is named, the Apply button stays hidden and Apply moves nothing."""
    from racer.engine.settings import Settings
    from racer.measure.sweep import Grid, sweep
    from tests.tiny import target, tiny_model
    tiny = target(tiny_model(max_positions=128, init_std=0.02))
    handlers, state = TuneHandlers(tiny, ""), TuneState()
    base = Settings(max_new_tokens=1, adaptive_budget=False)
    *_, progress = sweep(tiny, [[5, 6, 7, 8] * 3], base, Grid((2, 4), (1, 2)), repeats=2)
    state.result = progress.result
    state.progress, state.prompt_count, state.which = progress, 1, "one prompt"
    frame = handlers._last_frame(state, "1 s")
    best, button = frame["best"], frame["apply"]
    assert "**No setting stood out.**" in best and "MAT was 1.00" in best and "Apply is offered only" in best
    assert button.visible is False and button.interactive is False
    moved = handlers.on_apply(state)
    assert all(moved[n] == gr.skip() for n in APPLY_OUTPUTS if n != "tune_status")
    assert "nothing was applied" in moved["tune_status"]


def won_sweep(base):
    """A hand-made 2-setting sweep of 3 runs each, under ``base``, that width 4 · depth 2
    wins (about 2x, against 0.8x)."""
    from racer.measure.sweep import Grid, Pass, PromptRun, SweepResult
    out = tuple(range(10))
    plains = tuple(Pass(base.with_changes(drafter="plain"), (PromptRun(out, 10, 2.0),)) for _ in range(4))
    passes = []
    for k, (fast, slow) in enumerate(zip((1.0, 1.05, 0.95), (2.5, 2.4, 2.6))):
        passes.append(Pass(base.with_changes(width=4, depth=2), (PromptRun(out, 4, fast),), plain_before=k, repeat=k))
        passes.append(Pass(base.with_changes(width=8, depth=6), (PromptRun(out, 2, slow),), plain_before=k, repeat=k))
    return SweepResult(Grid((4, 8), (2, 6)), base, 1, cells=tuple(passes[:2]), plains=plains, total_cells=2,
                       passes=tuple(passes), repeats=3)


def test_apply_sets_every_setting_the_sweep_ran_with_and_says_so():
    """Issue 23: a sweep run with the adaptive budget off, applied, left it on in Explore,
    so Explore did not reproduce what was measured; and Apply of settings the sliders
    already held jumped to Explore with an empty status."""
    from components.state import Session
    from racer.engine.settings import Settings
    base = Settings(window=10, budget=16, max_new_tokens=10, adaptive_budget=False, drafter="racer_sglang")
    state = TuneState()
    state.result = won_sweep(base)
    session = Session()
    explore = controls(width=16, depth=20, adaptive_budget=True, drafter="racer", window=6, max_new_tokens=99)
    moved = TuneHandlers(None, "").on_apply(state, session, **explore)
    assert (moved["width"], moved["depth"], moved["adaptive_budget"], moved["drafter"], moved["window"]) == \
        (4, 2, False, "racer_sglang", 10)
    assert "max_new_tokens" not in moved                 # the sweep's length is not a way of decoding
    assert session.settings == base.with_changes(width=4, depth=2, max_new_tokens=99, seed=explore["seed"])
    said = moved["status"]
    assert "width 4, depth 2" in said and "adaptive budget off" in said and "RACER (SGLang)" in said
    assert "racer_sglang" not in said and moved["tune_status"] and moved["tabs"] is not None
    # again, the sliders now holding the winner: still a sentence, never an empty status
    same = {**explore, **{n: moved[n] for n in APPLY_OUTPUTS if n in explore and moved[n] != gr.skip()}}
    again = TuneHandlers(None, "").on_apply(state, session, **same)
    assert "width 4, depth 2" in again["status"] and "already held these settings" in again["status"]
