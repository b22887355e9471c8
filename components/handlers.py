"""The app's event handlers: controls in, views out. ``app.py`` only lays out the page
and wires these to it.

``Handlers`` holds what every session shares read-only (the model and its name);
each handler gets the session's own ``Session`` from ``gr.State``. Errors become a
toast plus a status line, never a traceback, and the session stays usable.

Controls arrive raw (app.py skips Gradio's preprocessing for these events), because the
API can send anything: ``read_controls`` clamps numbers into ``RANGES`` with a note
naming the control, and refuses what is not a number with a sentence saying what to send.
"""
from __future__ import annotations

import functools
import logging
import math
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from racer import trace as traces
from racer.loading import ModelLoadError, prompt_ids, special_tokens_in
from racer.model import TargetModel
from racer.settings import DRAFTERS, Settings

from .charts import compare_figure, mask_figure, speedup_figure
from .session import HISTORY_CAP, Session, run_drafters
from .text_view import automaton_html, generated_html, narration, outcome_html
from .tokens import DRAFTER_LABELS
from .tree_view import tree_figure

log = logging.getLogger("racer_explorer")


@dataclass(frozen=True)
class Range:
    """The values one numeric control takes; the sliders in app.py are built from these."""
    words: str          # the control's name in messages
    low: float
    high: float
    whole: bool = True  # whole numbers only

    @property
    def span(self) -> tuple[float, float]:
        """(low, high), as a slider's first two arguments."""
        return self.low, self.high


# The controls' ranges. The API can send anything; what is outside a range is clamped to
# its nearest end (and a fraction rounded) with a note, so a run always goes ahead with
# values the page could have shown. Settings itself allows more (it serves the benchmark
# too): these keep one visitor's request small enough on a shared CPU.
RANGES = {
    "width": Range("tree width", 1, 32),
    "depth": Range("tree depth", 0, 64),
    "window": Range("retrieval window", 2, 32),
    "budget": Range("draft budget", 1, 256),
    "capacity": Range("automaton capacity", 64, 200_000),
    "temperature": Range("temperature", 0.0, 2.0, whole=False),
    "top_p": Range("top-p", 0.05, 1.0, whole=False),
    "max_new_tokens": Range("max new tokens", 1, 1024),
    "seed": Range("seed", 0, 2**32 - 1),
    "compare_tokens": Range("new tokens per drafter", 4, 512),
}
# A Run shows at most one step per FRAME_S (every step stays in the history): each frame
# redraws three figures, and a browser on a slow machine that gets a frame per forward
# falls further and further behind (measured: 7 s behind after 3 s of a run, with a
# Stop click taking 20 s to land).
FRAME_S = 0.25
RESET_DURING_RUN = "Reset: the run was dropped. Press Step or Run to start again."
# A prompt may hold at most this many characters per token of the model's context, so
# a pasted book is refused before tokenising it (English runs at about 4 per token).
PROMPT_CHARS_PER_TOKEN = 16


def checked_prompt_ids(target, prompt) -> list[int]:
    """The prompt's token ids (chat template applied); ValueError with a sentence when it
    is not text, empty, or so long that tokenising it would be wasted work."""
    if prompt is not None and not isinstance(prompt, str):
        raise ValueError("The prompt must be text.")
    limit = PROMPT_CHARS_PER_TOKEN * target.max_context
    if prompt is not None and len(prompt) > limit:
        raise ValueError(f"The prompt is {len(prompt):,} characters long, far beyond what the model "
                         f"reads ({target.max_context:,} tokens); shorten it.")
    return prompt_ids(target.tokenizer, prompt or "")


def as_float(value, words: str, hint: str) -> float:
    """A raw control value as a float; ValueError with a sentence when it is empty or
    not a number. as_float("2.5", "draft budget", "...") -> 2.5."""
    if value is None or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"The {words} is empty; {hint}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"The {words} is not a number ({str(value)[:40]!r}); {hint}.") from None


def number(value, name: str, notes: list[str]) -> int | float:
    """``value`` as a number within ``RANGES[name]``: clamped to the nearest end and
    rounded where the control takes whole numbers, each change noted in ``notes``.
    Raises ValueError with a sentence when ``value`` is not a number at all.

    number(0, "width", notes) -> 1, notes == ["tree width 0 → 1 (below its range, 1 to 32)"]
    number(2.5, "budget", notes) -> 3, notes == ["draft budget 2.5 → 3 (not a whole number)"]
    """
    r = RANGES[name]
    hint = f"give a number from {_num(r.low)} to {_num(r.high)}"
    x = as_float(value, r.words, hint)
    if not math.isfinite(x):
        raise ValueError(f"The {r.words} is not a finite number ({x}); {hint}.")
    used = min(max(x, r.low), r.high)
    if r.whole:
        used = int(math.floor(used + 0.5))
    if used != x:
        why = (f"below its range, {_num(r.low)} to {_num(r.high)}" if x < r.low else
               f"above its range, {_num(r.low)} to {_num(r.high)}" if x > r.high else "not a whole number")
        notes.append(f"{r.words} {_num(x)} → {_num(used)} ({why})")
    return used


def _num(x: float) -> str:
    """4294967295 -> '4,294,967,295'; 0.05 -> '0.05'; 1e30 -> '1e+30'."""
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def flag(value, words: str) -> bool:
    """A checkbox's value: True/False (or 1/0); anything else raises ValueError."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise ValueError(f"'{words}' must be true or false (got {str(value)[:40]!r}).")


def read_controls(width, depth, window, budget, capacity, temperature, top_p, max_new_tokens,
                  drafter, adaptive, seed) -> tuple[Settings, list[str]]:
    """Settings from the controls' raw values, and notes on what was adjusted.

    Numbers are clamped into ``RANGES`` (see ``number``); an unknown drafter, a checkbox
    that is not true/false or a value that is not a number raises ValueError, whose
    sentence says what to send instead.
    """
    notes: list[str] = []
    values = {name: number(value, name, notes) for name, value in (
        ("width", width), ("depth", depth), ("window", window), ("budget", budget),
        ("capacity", capacity), ("temperature", temperature), ("top_p", top_p),
        ("max_new_tokens", max_new_tokens), ("seed", seed))}
    if drafter not in DRAFTERS:
        raise ValueError(f"There is no drafter called {str(drafter)[:40]!r}; choose one of "
                         f"{', '.join(DRAFTERS)}.")
    return Settings(drafter=drafter, adaptive_budget=flag(adaptive, "adaptive budget"), **values), notes


def adjusted(notes: list[str]) -> str:
    """The notes of ``read_controls`` as one sentence (empty when there are none)."""
    return f"Adjusted: {'; '.join(notes)}." if notes else ""


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _join(*parts: str, sep: str = " ") -> str:
    return sep.join(p for p in parts if p)


def _status(text: str, kind: str = "") -> str:
    icon = {"error": "⚠ ", "done": "✓ ", "stop": "■ ", "run": "▶ "}.get(kind, "")
    return f"{icon}{text}" if text else ""


def _table(results) -> list[list]:
    return [[DRAFTER_LABELS[r.drafter], r.tokens, r.forwards, round(r.mat, 2), round(r.engine_s, 2),
             round(r.tokens / r.engine_s, 1) if r.engine_s else None,
             None if r.speedup is None else round(r.speedup, 2),
             round(sum(r.accept_lengths) / len(r.accept_lengths), 2) if r.accept_lengths else None]
            for r in results]


def _lossless_note(results, settings: Settings) -> str:
    if len(results) < 2:
        return ""
    same = len({r.text for r in results}) == 1
    if settings.greedy:
        return ("✓ **Lossless:** with greedy decoding every drafter produced exactly the same text; "
                "they differ only in how many forwards it took." if same else
                "⚠ **The outputs differ** under greedy decoding. That should not happen; please "
                "export a trace and report it.")
    return ("Sampling (temperature > 0): each drafter's output is a sample from the model's own "
            "distribution with the same seed, so texts may differ; speedups compare the first "
            "tokens both runs produced.")


def busy_buttons():
    return gr.Button(interactive=False), gr.Button(interactive=False)


def idle_buttons():
    return gr.Button(interactive=True), gr.Button(interactive=True)


class Handlers:
    """Event handlers bound to one shared model (None when it failed to load)."""

    def __init__(self, target: TargetModel | None, model_name: str, model_note: str) -> None:
        self.target = target
        self.model_name = model_name
        self.model_note = model_note
        # token id -> its text alone; cached because every view labels the same tokens
        self.token_text = functools.lru_cache(maxsize=1 << 16)(self._token_text)

    def _token_text(self, token: int) -> str:
        return self.target.token_texts([int(token)])[0] if self.target is not None else f"<{token}>"

    def _render(self, session: Session, index: int | None = None, status: str = "") -> tuple:
        """Every view of one step (the latest unless ``index``): tree, outcome, text, speedup
        chart, mask, automaton, narration, history slider, status line."""
        record = session.last if index is None else (session.record_at(index) or session.last)
        latest = record is None or record is session.last
        stat = session.stat_at(record.index) if record is not None else None
        first = session.records[0].index if session.records else 0
        last = session.last.index if session.last is not None else 0
        scrubber = gr.Slider(minimum=first, maximum=max(last, first + 1), step=1,
                             value=record.index if record is not None else 0,
                             interactive=record is not None,
                             label=f"History: step {record.index if record else 0} of {last}"
                                   + ("" if latest else " (viewing a past step)"))
        text = generated_html(session.marks, upto_step=None if latest else record.index,
                              highlight_step=record.index if record is not None else None,
                              finish=session.finish_text() if latest else "")
        return (
            tree_figure(record, self.token_text),
            outcome_html(record, self.token_text, stat.speedup if stat else None, stat.changed if stat else ""),
            text,
            speedup_figure(session.stats, viewing=record.index if record is not None else None),
            mask_figure(record, self.token_text),
            automaton_html(record, self.token_text),
            narration(record, self.token_text, len(session.prompt_ids)),
            scrubber,
            status,
        )

    def _prepare(self, session: Session, prompt, controls) -> str:
        """Apply the controls; start a generation when there is none, the prompt changed or
        the last one finished. Returns a note for the status line (adjusted values are
        also a toast). Raises ValueError with a sentence; the session is then unchanged
        apart from valid settings."""
        if self.target is None:
            raise ValueError(f"No model is loaded: {self.model_note}")
        *values, measure = controls
        settings, notes = read_controls(*values)
        measure = flag(measure, "measure speedup")
        if notes:
            gr.Warning(adjusted(notes))
        note = session.apply(settings)
        session.measure = measure
        if session.started and not session.finished and prompt == session.prompt:
            return _join(adjusted(notes), note)
        ids, prompt_note = self._prompt_ids(prompt)
        why = ("Started a new generation." if not session.started else
               "New prompt: started over." if prompt != session.prompt else
               "The last run had finished: started again with the current settings.")
        session.start(self.target, prompt, ids)
        if prompt_note:
            gr.Warning(prompt_note)
        return _join(adjusted(notes), why, prompt_note)

    def _prompt_ids(self, prompt) -> tuple[list[int], str]:
        """The prompt's token ids and a note on it; ValueError when it cannot run. (A
        prompt longer than the context is refused by ``Generation`` after tokenising.)"""
        ids = checked_prompt_ids(self.target, prompt)
        special = special_tokens_in(self.target.tokenizer, prompt)
        if not special:
            return ids, ""
        names = ", ".join(f"`{t}`" for t in special)
        plural = "s" if len(special) > 1 else ""
        return ids, (f"The prompt holds the model's control token{plural} {names}, which it reads "
                     "as chat markup, not as text: its answer may be odd or end at once. "
                     "Remove them if you meant them as text.")

    def _summary(self, session: Session) -> str:
        stat = session.stats[-1] if session.stats else None
        if stat is None:
            return ""
        speed = (f"measured speedup **{stat.speedup:.2f}×** ({session.baseline.provenance(stat.total_tokens)})"
                 if stat.speedup is not None else
                 "speedup not measured (turn on *measure speedup*)" if session.baseline is None
                 else "speedup: plain decoding stopped earlier, nothing to compare")
        return (f"Step {stat.index} · {_count(stat.total_tokens, 'token')} in "
                f"{_count(stat.forwards, 'forward')} · "
                f"MAT **{stat.mat:.2f}** · {speed} · engine time {stat.engine_s:.1f} s")

    def _fail(self, session: Session, error: Exception) -> tuple:
        """An error as a toast and a status line, never a traceback; the session stays usable."""
        if isinstance(error, (ValueError, ModelLoadError)):
            message = str(error)
        else:
            log.error("engine error: %s", "".join(traceback.format_exception(error)))
            message = f"Something went wrong in the engine ({type(error).__name__}: {error}). Press Reset to start again."
        gr.Warning(message)
        return (session, *self._render(session, status=_status(message, "error")))

    def on_step(self, session: Session, prompt, *controls):
        try:
            note = self._prepare(session, prompt, controls)
            session.step(self.token_text)
        except Exception as e:  # noqa: BLE001 - shown to the user, logged with traceback
            return self._fail(session, e)
        done = session.finish_text()
        text = _join(note, self._summary(session), done, sep=" · ")
        return (session, *self._render(session, status=_status(text, "done" if done else "")))

    def on_run(self, session: Session, prompt, *controls):
        """Steps until the end, Stop or Reset; a frame at most every FRAME_S. A page closed
        or reloaded mid-run stops the iteration (Gradio drops the event), which ends here."""
        session.stop_requested = False
        session.running = True
        try:
            yield from self._run(session, prompt, controls)
        finally:
            session.running = False

    def _run(self, session: Session, prompt, controls):
        try:
            note = self._prepare(session, prompt, controls)
            epoch = session.epoch
            yield (session, *self._render(session, status=_status(_join(note, "Running…"), "run")))
            shown = time.monotonic()
            while not session.finished and not session.stop_requested and session.epoch == epoch:
                session.step(self.token_text)
                if time.monotonic() - shown >= FRAME_S:
                    yield (session, *self._render(session, status=_status(
                        f"Running… {self._summary(session)} · Stop pauses it", "run")))
                    shown = time.monotonic()
        except Exception as e:  # noqa: BLE001
            yield self._fail(session, e)
            return
        if session.finished:
            status = _status(f"{self._summary(session)} · {session.finish_text()}", "done")
        elif session.epoch != epoch:
            status = _status(RESET_DURING_RUN, "stop")
        else:
            status = _status(f"Stopped. {self._summary(session)} · press Run or Step to continue; "
                             "the steps so far can be viewed and exported.", "stop")
        yield (session, *self._render(session, status=status))

    def on_stop(self, session: Session) -> str:
        if not session.running:
            return _status("Nothing is running. Stop pauses a Run (or a comparison) after its current "
                           "forward pass, and what ran so far stays on the page.", "stop")
        session.stop_requested = True
        return _status("Stopping after the current forward pass…", "stop")

    def on_reset(self, session: Session):
        text = RESET_DURING_RUN if session.running else "Reset. Press Step or Run to start."
        session.reset()
        return (session, *self._render(session, status=_status(text, "stop")))

    def on_settings(self, session: Session, *controls) -> str:
        *values, measure = controls
        try:
            settings, notes = read_controls(*values)
            measure = flag(measure, "measure speedup")
        except ValueError as e:
            gr.Warning(str(e))
            return _status(str(e), "error")
        if notes:
            gr.Warning(adjusted(notes))
        note = _join(adjusted(notes), session.apply(settings))
        if measure != session.measure:
            session.measure = measure
            note = _join(note, "Measuring speedup applies from the next new run.")
        return _status(note)

    def on_view(self, session: Session, index):
        if session.last is None:
            return self._render(session, None, _status("Nothing to view yet: press Step or Run first."))
        try:
            index = int(float(index))
        except (TypeError, ValueError, OverflowError):
            index = session.last.index
        if session.record_at(index) is None:
            first = session.records[0].index
            return self._render(session, None, _status(
                f"Step {index} is not in the history (it holds steps {first} to {session.last.index}); "
                "showing the latest.", "error"))
        status = "" if index == session.last.index else \
            _status(f"Viewing step {index}; the run continues from step {session.last.index}.")
        return self._render(session, index, status)

    def on_export(self, session: Session):
        if not session.records:
            gr.Warning("Nothing to export yet: run a few steps first.")
            return gr.skip()
        output = session.output_ids()
        trace = traces.trace_dict(
            list(session.records), prompt=session.prompt, prompt_ids=session.prompt_ids,
            output_ids=output, final_text=self.target.decode(output), model=self.model_name,
            token_text=self.token_text,
            extra={"history_cap": HISTORY_CAP, "finished": session.finished,
                   "speedup": session.stats[-1].speedup if session.stats else None,
                   "speedup_method": "plain decoding of the same prompt on the same machine, engine step timings"})
        folder = Path(tempfile.gettempdir()) / "racer-explorer"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"racer-trace-{int(time.time() * 1000)}.json"
        path.write_text(traces.dumps(trace), encoding="utf-8")
        return gr.File(value=str(path), visible=True)

    def on_compare(self, session: Session, prompt, tokens, chosen, *controls):
        """Runs the prompt to the end with each chosen drafter; streams progress."""
        session.stop_requested = False
        session.running = True
        try:
            yield from self._compare(session, prompt, tokens, chosen, controls)
        finally:
            session.running = False

    def _compare(self, session: Session, prompt, tokens, chosen, controls):
        empty = compare_figure([])
        try:
            if self.target is None:
                raise ValueError(f"No model is loaded: {self.model_note}")
            *values, _ = controls
            settings, notes = read_controls(*values)
            settings = settings.with_changes(max_new_tokens=number(tokens, "compare_tokens", notes))
            if notes:
                gr.Warning(adjusted(notes))
            chosen = [d for d in DRAFTERS if isinstance(chosen, (list, tuple)) and d in chosen]
            if not chosen:
                raise ValueError("Tick at least one drafter to compare.")
            ids, prompt_note = self._prompt_ids(prompt)
            results, shown = [], 0
            yield _status(_join(adjusted(notes), prompt_note, "Starting…"), "run"), [], empty, ""
            for name, done_tokens, results in run_drafters(self.target, ids, settings, chosen,
                                                           should_stop=lambda: session.stop_requested):
                if not name:
                    break
                position = (["plain"] + [d for d in chosen if d != "plain"]).index(name) + 1
                total = len(chosen) + (0 if "plain" in chosen else 1)
                line = _status(f"Running {DRAFTER_LABELS[name]} ({position} of {total}): "
                               f"{done_tokens} of {settings.max_new_tokens} tokens…", "run")
                if len(results) != shown:
                    shown = len(results)
                    yield line, _table(results), compare_figure(results), ""
                else:
                    yield line, gr.skip(), gr.skip(), gr.skip()
        except Exception as e:  # noqa: BLE001
            message = str(e) if isinstance(e, ValueError) else f"The comparison failed ({type(e).__name__}: {e})."
            if not isinstance(e, ValueError):
                log.error("compare error: %s", "".join(traceback.format_exception(e)))
            gr.Warning(message)
            yield _status(message, "error"), gr.skip(), gr.skip(), gr.skip()
            return
        session.compare = results
        if session.stop_requested:
            yield _status("Stopped; finished drafters are shown.", "stop"), _table(results), compare_figure(results), ""
            return
        done = f"Done: {_count(len(results), 'drafter')}, {settings.max_new_tokens} new tokens at most."
        yield (_status(done, "done"),
               _table(results), compare_figure(results), _lossless_note(results, settings))
