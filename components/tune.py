"""Handlers of the Tune tab: run a sweep over tree width x depth on Spec-Bench prompts
or the Explore tab's prompt, stop it, apply its best setting to the Explore sliders.

The sweep itself is ``racer.measure.sweep``: the same engine the step view runs. Each browser
session's last sweep and its stop flag live in a ``TuneState`` held in ``gr.State``.
"""
from __future__ import annotations

import functools
import math
import tempfile
import time
from pathlib import Path

import gradio as gr

from racer import UserError
from racer.bench.data import MAX_UPLOAD_PROMPTS, TASKS, load_questions, read_prompt_file, select
from racer.model.loading import prompt_ids
from racer.model.target import TargetModel
from racer.engine.settings import KNOBS, settings_change
from racer.engine.metrics import DEFAULT_REPEATS, MAX_REPEATS
from racer.measure.sweep import MAX_PROMPTS, Grid, Progress, SweepResult, sweep, sweep_calls

from components.controls import TUNE_TOKENS, as_float, checked_prompt_ids, number, read_controls
from components import gpu
from components.explore import FRAME_S
from components.events import model_event
from components.messages import adjusted, status_line
from components.state import Session
from components.figures.tokens import drafter_label
from components.figures.tune import apply_note, best_markdown, heatmap_figure, progress_text, status_html, table_rows

# the settings a sweep varies, as Grid's fields hold them; tick boxes offer each knob's grid values
GRID_SETTINGS = ("width", "depth", "window", "budget")
SOURCES = [("Spec-Bench category", "category"), ("the prompt in the Explore tab", "current"),
           ("my own prompts (a .jsonl or .txt file)", "upload")]
# what Apply sets: every Explore setting the sweep ran with, except its length (the sweep's
# tokens per prompt are a measuring length, not a way of decoding)
APPLIED = tuple(name for name in KNOBS if name != "max_new_tokens")
APPLY_OUTPUTS = (*APPLIED, "tabs", "status", "tune_status")
# what a sweep shows, by name (app.py lays a component out under each)
TUNE_OUTPUTS = ("status", "best", "mat", "speedup", "table", "csv", "apply")
# the adaptive budget during a sweep: "auto" = off when the grid varies tree size, else the Explore tab's
ADAPTIVE = [("off when the grid varies tree size", "auto"), ("off", "off"), ("on", "on")]


def adaptive_choice(value) -> bool | None:
    """"auto" -> None (``racer.measure.sweep.adaptive_default`` decides), "on" -> True, "off" ->
    False; UserError with a sentence for anything else."""
    choices = {"auto": None, "on": True, "off": False, None: None}
    if isinstance(value, bool):
        return value
    if value not in choices:
        raise UserError(f"The adaptive budget choice is {str(value)[:40]}; send auto, on or off.")
    return choices[value]


class TuneState:
    """One browser session's sweep: the last result and the Stop flag. ``gr.State``
    deep-copies the initial value per session; ``__deepcopy__`` hands out a fresh one."""

    def __init__(self) -> None:
        self.result: SweepResult | None = None
        self.progress: Progress | None = None   # the running sweep's latest
        self.prompt_count, self.which = 0, ""   # its prompts: how many, which in words
        self.stop_requested = False
        self.running = False

    def __deepcopy__(self, memo) -> "TuneState":
        return TuneState()


@functools.lru_cache(maxsize=1)
def _questions():
    return load_questions()


def source_visibility(source: str):
    """The category controls show only when the prompts come from a category, the
    upload box only when they come from a file."""
    on = source == "category"
    return gr.Dropdown(visible=on), gr.Slider(visible=on), gr.File(visible=source == "upload")


def upload_path(upload) -> str | None:
    """The path of an uploaded file as Gradio hands it over (a path, a dict with one,
    or an object with ``.name``/``.path``); None when nothing was uploaded."""
    if upload is None or upload == "":
        return None
    if isinstance(upload, dict):
        return upload.get("path") or upload.get("name")
    if isinstance(upload, (str, Path)):
        return str(upload)
    return getattr(upload, "path", None) or getattr(upload, "name", None)


def whole(value, words: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` (a fraction is rounded); UserError with a
    sentence for anything else. whole("12", "new tokens", 1, 256) -> 12."""
    hint = f"give a whole number from {low} to {high}"
    x = as_float(value, words, hint)
    if not math.isfinite(x) or not low <= round(x) <= high:
        raise UserError(f"The {words} is {str(value)[:40]}; {hint}.")
    return int(round(x))


def grid_values(values, name: str) -> tuple[int, ...]:
    """Ticked values of the setting ``name`` (within its knob's page span), or a comma
    list typed into the API: [8, 4] or "8, 4" -> (8, 4); nothing ticked -> ()."""
    knob = KNOBS[name]
    if values is None:
        return ()
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    if not isinstance(values, (list, tuple)):
        raise UserError(f"The {knob.phrase}s must be a list of numbers, e.g. [4, 8].")
    low, high = knob.limits
    return tuple(whole(v, knob.phrase, int(low), int(high)) for v in values)


class TuneHandlers:
    """Handlers bound to the shared model (None when it failed to load)."""

    def __init__(self, target: TargetModel | None, model_note: str) -> None:
        self.target = target
        self.model_note = model_note

    def prompts(self, source: str, prompt: str, category: str, count, upload=None) -> tuple[list[list[int]], str]:
        """Token ids of the chosen prompts and a few words saying which they are."""
        if source == "current":
            return [checked_prompt_ids(self.target, prompt)], "the Explore tab's prompt"
        if source == "upload":
            path = upload_path(upload)
            if path is None:
                raise UserError("Upload a .jsonl or .txt file of prompts first, or choose other prompts.")
            texts = read_prompt_file(path)
            ids = []
            for n, text in enumerate(texts, start=1):
                try:
                    ids.append(checked_prompt_ids(self.target, text))
                except UserError as e:
                    raise UserError(f"Prompt {n} of the file: {e}") from None
            return ids, f"{len(ids)} prompt{'s' if len(ids) > 1 else ''} from {Path(path).name[:60]}"
        if source != "category":
            raise UserError("Prompts come from a Spec-Bench category, the Explore tab's prompt or a file "
                             "(source 'category', 'current' or 'upload').")
        if category not in TASKS:
            raise UserError(f"Choose a category: one of {', '.join(TASKS)}.")
        n = whole(count, "number of prompts", 1, MAX_PROMPTS)
        questions = select(_questions(), (category,), n)
        ids = ", ".join(f"q{q.question_id}" for q in questions)
        return ([prompt_ids(self.target.tokenizer, q.text) for q in questions],
                f"{len(questions)} {category} prompt{'s' if len(questions) > 1 else ''} from Spec-Bench ({ids})")

    def _stopped_there(self, error: Exception, sentence: str, state: TuneState, *args, **kwargs) -> dict:
        """After an error (``model_event``): a call ZeroGPU refused mid-sweep keeps the
        finished settings, shown as a sweep stopped there; any other error drops the last
        sweep's result, and Apply with it."""
        progress = state.progress
        if gpu.refusal(error) is not None and progress is not None and progress.result.cells:
            state.result = progress.result
            state.stop_requested = True
            return self._last_frame(state) | {
                "status": status_html(sentence, progress.fraction, kind="stop")}
        return {"status": status_html(sentence, kind="error"), "apply": gr.Button(interactive=False, visible=False)}

    @model_event("sweep", "Press Run the sweep to try again.", busy=True, failed=_stopped_there,
                 line=lambda text, kind: status_html(text, kind=kind))
    def on_tune(self, state: TuneState, prompt: str, source: str, category: str, count, tokens,
                widths, depths, windows, budgets, repeats=DEFAULT_REPEATS, adaptive="auto", upload=None,
                **controls):
        """Runs the sweep, each setting ``repeats`` times, streaming progress by name
        (``TUNE_OUTPUTS``); after each finished run the heatmaps, table and verdict update.
        Stop keeps the finished settings. Apply is offered only when a setting stood out."""
        state.result = state.progress = None
        started = time.perf_counter()
        base, grid, prompts, which, note = self._read(prompt, source, category, count, tokens,
                                                      (widths, depths, windows, budgets), controls, upload)
        state.prompt_count, state.which = len(prompts), which
        runs = whole(repeats, "number of runs per setting", 1, MAX_REPEATS)
        on = adaptive_choice(adaptive)
        if gpu.zero_gpu():   # one GPU call per prompt run: say what it takes of the quota
            plan = gpu.tune_plan(self.target, sweep_calls(prompts, base, grid, repeats=runs, adaptive=on))
            note += f" {plan.sentence('This sweep')}"
        yield {"status": status_html(f"Warming up, then timing plain decoding of {which}…{note}", 0.0, "run"),
               "best": "", "mat": heatmap_figure(None, "mat"), "speedup": heatmap_figure(None, "speedup"),
               "table": [], "csv": gr.File(visible=False), "apply": gr.Button(interactive=False, visible=False)}
        for frame in self._frames(state, sweep(self.target, prompts, base, grid, repeats=runs, adaptive=on,
                                                max_prompts=MAX_UPLOAD_PROMPTS, decoder=gpu.engine_decode),
                                  which):
            yield frame
        state.result = state.progress.result
        yield self._last_frame(state, f"{time.perf_counter() - started:.0f} s")

    def _read(self, prompt, source, category, count, tokens, ticked, controls: dict, upload=None):
        """(base settings, grid, prompts, which prompts in words, a note on adjusted
        controls); UserError with a sentence for anything that cannot run."""
        if self.target is None:
            raise UserError(f"No model is loaded: {self.model_note}")
        grid = Grid(*(grid_values(values, name) for values, name in zip(ticked, GRID_SETTINGS)))
        base, notes = read_controls(controls)  # the Explore tab's settings, for what the grid does not vary
        base = base.with_changes(max_new_tokens=number(tokens, TUNE_TOKENS, notes))
        prompts, which = self.prompts(source, prompt, category, count, upload)
        return base, grid, prompts, which, f" {adjusted(notes)}" if notes else ""

    @staticmethod
    def _frames(state: TuneState, progresses, which: str):
        """What to show of the sweep, by name, as it goes (its progress kept in ``state``):
        the figures when a setting finished, otherwise the status line at most every
        FRAME_S. Ends at the sweep's end, or at Stop."""
        shown, frame_at = -1, 0.0
        for progress in progresses:
            state.progress = progress
            if state.stop_requested:
                return
            result = progress.result
            status = status_html(f"{progress_text(progress)} · prompts: {which}", progress.fraction, "run")
            if len(result.passes) != shown:  # redraw the figures only when a run of a setting finished
                shown = len(result.passes)
                yield {"status": status, "best": best_markdown(result), "mat": heatmap_figure(result, "mat"),
                       "speedup": heatmap_figure(result, "speedup"), "table": table_rows(result)}
            elif time.monotonic() - frame_at >= FRAME_S:  # a slow browser must not fall behind
                yield {"status": status}
            else:
                continue
            frame_at = time.monotonic()

    def _last_frame(self, state: TuneState, took: str = "") -> dict:
        """What the sweep in ``state`` shows at its end: finished, or stopped (by Stop, or by
        a call ZeroGPU refused), with the time it ``took``."""
        progress, prompt_count, which = state.progress, state.prompt_count, state.which
        result = progress.result
        stopped = state.stop_requested and not result.complete
        if stopped:
            open_block = sum(len(result.plain_around(c)) == 1 for c in result.cells)
            caveat = (f" ({open_block} compared with the plain run before them only: no plain run "
                      "after them)" if open_block else "")
            line = status_html(f"Stopped: {len(result.cells)} of {result.total_cells} settings finished "
                               f"in {took}; they are kept{caveat}.", progress.fraction, "stop")
        else:
            line = status_html(f"Done: {result.total_cells} settings × {prompt_count} prompt"
                               f"{'s' if prompt_count > 1 else ''} in {took} ({which}).", 1.0, "done")
        has_cells, winner = bool(result.cells), result.winner() is not None
        verdict = "\n\n".join(t for t in (best_markdown(result, stopped=stopped), apply_note(result)) if t)
        return {"status": line, "best": verdict, "mat": heatmap_figure(result, "mat"),
                "speedup": heatmap_figure(result, "speedup"), "table": table_rows(result),
                "csv": self._csv_file(result) if has_cells else gr.File(visible=False),
                "apply": gr.Button(interactive=winner, visible=winner)}

    def on_stop(self, state: TuneState) -> dict:
        state.stop_requested = True
        return {"status": status_html("Stopping after the prompt that is running…", kind="stop")}

    def on_apply(self, state: TuneState, session: Session | None = None, **controls) -> dict:
        """By name (``APPLY_OUTPUTS``): moves every Explore control the sweep ran with
        (``APPLIED``: the grid's settings, the adaptive budget, the drafter and the rest
        of the base) to the setting that stood out, applies them to ``session`` and shows
        the Explore tab, with a sentence in both status lines saying what was done; nothing
        moves when no setting stood out."""
        keep = {name: gr.skip() for name in APPLY_OUTPUTS}
        result = state.result
        if result is None or not result.cells:
            gr.Warning("Nothing to apply yet: run a sweep first.")
            return keep
        best = result.winner()
        if best is None:
            gr.Warning("No setting stood out from plain decoding and every other setting, so there is nothing "
                       "to apply.")
            return keep | {"tune_status": status_html("No setting stood out, so nothing was applied.", kind="stop")}
        s = best.settings
        values = {name: getattr(s, name) for name in APPLIED}
        what = (f"Applied the setting that stood out: {', '.join(result.grid.label(s).split(' · '))}, with "
                f"what the sweep ran it with: {drafter_label(s.drafter)}, adaptive budget "
                f"{'on' if s.adaptive_budget else 'off'}, window {s.window}, budget {s.budget}.")
        try:
            now, _ = read_controls(controls)
        except (UserError, KeyError):
            now = session.settings if session is not None else s
        wanted = now.with_changes(**values)
        moved = settings_change(now, wanted)
        done = f"Moved {moved}." if moved else "The Explore tab already held these settings: nothing changed."
        if session is not None:
            session.apply(wanted)
            if session.started and not session.finished:
                done += " They apply from the next step."
        return keep | values | {"tabs": gr.Tabs(selected="explore"),
                                "tune_status": status_html(f"{what} {done}", kind="done"),
                                "status": status_line(f"{what} {done}", "done")}

    @staticmethod
    def _csv_file(result: SweepResult):
        folder = Path(tempfile.gettempdir()) / "racer-explorer"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"racer-sweep-{int(time.time() * 1000)}.csv"
        path.write_text(result.csv(), encoding="utf-8")
        return gr.File(value=str(path), visible=True)
