"""Handlers of the Tune tab: run a sweep over tree width x depth on Spec-Bench prompts
or the Explore tab's prompt, stop it, apply its best setting to the Explore sliders.

The sweep itself is ``racer.sweep``: the same engine the step view runs. Each browser
session's last sweep and its stop flag live in a ``TuneState`` held in ``gr.State``.
"""
from __future__ import annotations

import functools
import logging
import math
import tempfile
import time
import traceback
from pathlib import Path

import gradio as gr

from racer.bench_data import TASKS, load_questions, select
from racer.loading import prompt_ids
from racer.model import TargetModel
from racer.sweep import MAX_PROMPTS, Grid, SweepResult, sweep

from .handlers import FRAME_S, RANGES, adjusted, as_float, checked_prompt_ids, read_controls
from .tune_view import best_markdown, heatmap_figure, progress_text, status_html, table_rows

log = logging.getLogger("racer_explorer")

# grid values offered as tick boxes (within the Explore sliders' RANGES)
WIDTHS = (1, 2, 4, 6, 8, 12, 16, 24, 32)
DEPTHS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
WINDOWS = (2, 3, 4, 6, 8, 10, 12, 16, 24, 32)
BUDGETS = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128)
MAX_TOKENS = 256  # new tokens per prompt: with 36 settings x 6 prompts, already a long wait
SOURCES = [("Spec-Bench category", "category"), ("the prompt in the Explore tab", "current")]


class TuneState:
    """One browser session's sweep: the last result and the Stop flag. ``gr.State``
    deep-copies the initial value per session; ``__deepcopy__`` hands out a fresh one."""

    def __init__(self) -> None:
        self.result: SweepResult | None = None
        self.stop_requested = False

    def __deepcopy__(self, memo) -> "TuneState":
        return TuneState()


@functools.lru_cache(maxsize=1)
def _questions():
    return load_questions()


def source_visibility(source: str):
    """The category controls show only when the prompts come from a category."""
    on = source != "current"
    return gr.Dropdown(visible=on), gr.Slider(visible=on)


def whole(value, words: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` (a fraction is rounded); ValueError with a
    sentence for anything else. whole("12", "new tokens", 1, 256) -> 12."""
    hint = f"give a whole number from {low} to {high}"
    x = as_float(value, words, hint)
    if not math.isfinite(x) or not low <= round(x) <= high:
        raise ValueError(f"The {words} is {str(value)[:40]}; {hint}.")
    return int(round(x))


def grid_values(values, name: str) -> tuple[int, ...]:
    """Ticked values of the setting ``name`` (a key of the Explore controls' ``RANGES``),
    or a comma list typed into the API: [8, 4] or "8, 4" -> (8, 4); nothing ticked -> ()."""
    r = RANGES[name]
    if values is None:
        return ()
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"The {r.words}s must be a list of numbers, e.g. [4, 8].")
    return tuple(whole(v, r.words, int(r.low), int(r.high)) for v in values)


class TuneHandlers:
    """Handlers bound to the shared model (None when it failed to load)."""

    def __init__(self, target: TargetModel | None, model_note: str) -> None:
        self.target = target
        self.model_note = model_note

    def prompts(self, source: str, prompt: str, category: str, count) -> tuple[list[list[int]], str]:
        """Token ids of the chosen prompts and a few words saying which they are."""
        if source == "current":
            return [checked_prompt_ids(self.target, prompt)], "the Explore tab's prompt"
        if source != "category":
            raise ValueError("Prompts come from a Spec-Bench category or the Explore tab's prompt "
                             "(source 'category' or 'current').")
        if category not in TASKS:
            raise ValueError(f"Choose a category: one of {', '.join(TASKS)}.")
        n = whole(count, "number of prompts", 1, MAX_PROMPTS)
        questions = select(_questions(), (category,), n)
        ids = ", ".join(f"q{q.question_id}" for q in questions)
        return ([prompt_ids(self.target.tokenizer, q.text) for q in questions],
                f"{len(questions)} {category} prompt{'s' if len(questions) > 1 else ''} from Spec-Bench ({ids})")

    def on_tune(self, state: TuneState, prompt: str, source: str, category: str, count, tokens,
                widths, depths, windows, budgets, *controls):
        """Runs the sweep, streaming progress; after each finished setting the heatmaps,
        table and best setting update. Stop keeps the finished settings."""
        state.stop_requested = False
        try:
            if self.target is None:
                raise ValueError(f"No model is loaded: {self.model_note}")
            grid = Grid(grid_values(widths, "width"), grid_values(depths, "depth"),
                        grid_values(windows, "window"), grid_values(budgets, "budget"))
            *values, _measure = controls
            base, notes = read_controls(*values)  # the Explore tab's settings, for what the grid does not vary
            base = base.with_changes(max_new_tokens=whole(tokens, "new tokens per prompt", 1, MAX_TOKENS))
            prompts, which = self.prompts(source, prompt, category, count)
            note = f" {adjusted(notes)}" if notes else ""
            yield (status_html(f"Warming up, then timing plain decoding of {which}…{note}", 0.0, "run"),
                   "", heatmap_figure(None, "mat"), heatmap_figure(None, "speedup"), [], gr.File(visible=False),
                   gr.Button(interactive=False))
            shown, progress, started, frame = -1, None, time.perf_counter(), 0.0
            for progress in sweep(self.target, prompts, base, grid):
                if state.stop_requested:
                    break
                result = progress.result
                status = status_html(f"{progress_text(progress)} · prompts: {which}", progress.fraction, "run")
                if len(result.cells) != shown:  # redraw the figures only when a setting finished
                    shown = len(result.cells)
                    yield (status, best_markdown(result), heatmap_figure(result, "mat"),
                           heatmap_figure(result, "speedup"), table_rows(result), gr.skip(), gr.skip())
                elif time.monotonic() - frame >= FRAME_S:  # a slow browser must not fall behind
                    yield status, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                else:
                    continue
                frame = time.monotonic()
        except Exception as e:  # noqa: BLE001 - shown to the user, logged with traceback
            if isinstance(e, ValueError):
                message = str(e)
            else:
                log.error("sweep error: %s", "".join(traceback.format_exception(e)))
                message = f"The sweep failed ({type(e).__name__}: {e})."
            gr.Warning(message)
            yield status_html(message, kind="error"), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        result = progress.result
        state.result = result
        took = f"{time.perf_counter() - started:.0f} s"
        stopped = state.stop_requested and not result.complete
        if stopped:
            open_block = sum(len(result.plain_around(c)) == 1 for c in result.cells)
            caveat = (f" ({open_block} compared with the plain run before them only: no plain run "
                      "after them)" if open_block else "")
            line = status_html(f"Stopped: {len(result.cells)} of {result.total_cells} settings finished "
                               f"in {took}; they are kept{caveat}.", progress.fraction, "stop")
        else:
            line = status_html(f"Done: {result.total_cells} settings × {len(prompts)} prompt"
                               f"{'s' if len(prompts) > 1 else ''} in {took} ({which}).", 1.0, "done")
        has_cells = bool(result.cells)
        yield (line, best_markdown(result, stopped=stopped), heatmap_figure(result, "mat"),
               heatmap_figure(result, "speedup"), table_rows(result),
               self._csv_file(result) if has_cells else gr.File(visible=False),
               gr.Button(interactive=has_cells))

    def on_stop(self, state: TuneState) -> str:
        state.stop_requested = True
        return status_html("Stopping after the prompt that is running…", kind="stop")

    def on_apply(self, state: TuneState):
        """Moves the Explore tab's width, depth, window and budget sliders to the best
        setting, and shows that tab."""
        best = state.result.best() if state.result is not None else None
        if best is None:
            gr.Warning("Nothing to apply yet: run a sweep first.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        s = best.settings
        return (s.width, s.depth, s.window, s.budget, gr.Tabs(selected="explore"),
                status_html(f"Applied width {s.width}, depth {s.depth}, window {s.window}, budget {s.budget} "
                            "to the Explore tab's sliders.", kind="done"))

    @staticmethod
    def _csv_file(result: SweepResult):
        folder = Path(tempfile.gettempdir()) / "racer-explorer"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"racer-sweep-{int(time.time() * 1000)}.csv"
        path.write_text(result.csv(), encoding="utf-8")
        return gr.File(value=str(path), visible=True)
