"""The app's event handlers: controls in, views out. ``app.py`` only lays out the page
and wires these to it.

``Handlers`` holds what every session shares read-only (the model and its name);
each handler gets the session's own ``Session`` from ``gr.State``. Errors become a
toast plus a status line, never a traceback, and the session stays usable.
"""
from __future__ import annotations

import functools
import logging
import tempfile
import time
import traceback
from pathlib import Path

import gradio as gr

from racer import trace as traces
from racer.loading import ModelLoadError, prompt_ids
from racer.model import TargetModel
from racer.settings import DRAFTERS, Settings

from .charts import compare_figure, mask_figure, speedup_figure
from .session import HISTORY_CAP, Session, run_drafters
from .text_view import automaton_html, generated_html, narration, outcome_html
from .tokens import DRAFTER_LABELS
from .tree_view import tree_figure

log = logging.getLogger("racer_explorer")


def settings_from_controls(width, depth, window, budget, capacity, temperature, top_p, max_new_tokens,
              drafter, adaptive, seed) -> Settings:
    """Settings from the controls; ValueError with a readable sentence if out of range."""
    def whole(value, name):
        if value is None or value == "":
            raise ValueError(f"{name} is empty; give a number")
        return int(round(float(value)))
    return Settings(
        width=whole(width, "tree width"), depth=whole(depth, "tree depth"),
        window=whole(window, "retrieval window"), budget=whole(budget, "draft budget"),
        capacity=whole(capacity, "automaton capacity"),
        temperature=float(temperature if temperature is not None else 0.0),
        top_p=float(top_p if top_p is not None else 1.0),
        max_new_tokens=whole(max_new_tokens, "max new tokens"), drafter=drafter or "racer",
        adaptive_budget=bool(adaptive), seed=whole(seed if seed is not None else 0, "seed"))


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

    def _prepare(self, session: Session, prompt: str, controls) -> str:
        """Apply the controls; start a generation when there is none, the prompt changed or
        the last one finished. Returns a note for the status line. Raises ValueError."""
        if self.target is None:
            raise ValueError(f"No model is loaded: {self.model_note}")
        *values, measure = controls
        note = session.apply(settings_from_controls(*values))
        session.measure = bool(measure)
        if session.started and not session.finished and prompt == session.prompt:
            return note
        why = ("Started a new generation." if not session.started else
               "New prompt: started over." if prompt != session.prompt else
               "The last run had finished: started again with the current settings.")
        session.start(self.target, prompt, prompt_ids(self.target.tokenizer, prompt))
        return why

    def _summary(self, session: Session) -> str:
        stat = session.stats[-1] if session.stats else None
        if stat is None:
            return ""
        speed = (f"measured speedup **{stat.speedup:.2f}×** ({session.baseline.provenance(stat.total_tokens)})"
                 if stat.speedup is not None else
                 "speedup not measured (turn on *measure speedup*)" if session.baseline is None
                 else "speedup: plain decoding stopped earlier, nothing to compare")
        return (f"Step {stat.index} · {stat.total_tokens} tokens in {stat.forwards} forwards · "
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

    def on_step(self, session: Session, prompt: str, *controls):
        try:
            note = self._prepare(session, prompt, controls)
            session.step(self.token_text)
        except Exception as e:  # noqa: BLE001 - shown to the user, logged with traceback
            return self._fail(session, e)
        done = session.finish_text()
        text = " · ".join(t for t in (note, self._summary(session), done) if t)
        return (session, *self._render(session, status=_status(text, "done" if done else "")))

    def on_run(self, session: Session, prompt: str, *controls):
        """Steps until the end, Stop or Reset; one yield per target forward."""
        session.stop_requested = False
        try:
            note = self._prepare(session, prompt, controls)
            epoch = session.epoch
            yield (session, *self._render(session, status=_status(f"{note} Running…".strip(), "run")))
            while not session.finished and not session.stop_requested and session.epoch == epoch:
                session.step(self.token_text)
                yield (session, *self._render(session, status=_status(f"Running… {self._summary(session)}", "run")))
        except Exception as e:  # noqa: BLE001
            yield self._fail(session, e)
            return
        if session.finished:
            status = _status(f"{self._summary(session)} · {session.finish_text()}", "done")
        elif session.epoch != epoch:
            status = _status("Reset.", "stop")
        else:
            status = _status(f"Stopped. {self._summary(session)} · press Run or Step to continue.", "stop")
        yield (session, *self._render(session, status=status))

    def on_stop(self, session: Session) -> str:
        session.stop_requested = True
        return _status("Stopping after the current forward pass…", "stop")

    def on_reset(self, session: Session):
        session.reset()
        return (session, *self._render(session, status=_status("Reset: press Step or Run to start.", "stop")))

    def on_settings(self, session: Session, *controls) -> str:
        *values, measure = controls
        try:
            note = session.apply(settings_from_controls(*values))
        except ValueError as e:
            gr.Warning(str(e))
            return _status(str(e), "error")
        if bool(measure) != session.measure:
            session.measure = bool(measure)
            note = (note + " " if note else "") + "Measuring speedup applies from the next new run."
        return _status(note)

    def on_view(self, session: Session, index):
        index = int(index) if index is not None else None
        status = "" if index is None or session.last is None or index == session.last.index else \
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

    def on_compare(self, session: Session, prompt: str, tokens, chosen, *controls):
        """Runs the prompt to the end with each chosen drafter; streams progress."""
        session.stop_requested = False
        empty = compare_figure([])
        try:
            if self.target is None:
                raise ValueError(f"No model is loaded: {self.model_note}")
            *values, _ = controls
            settings = settings_from_controls(*values).with_changes(max_new_tokens=int(tokens))
            chosen = [d for d in DRAFTERS if d in (chosen or [])]
            if not chosen:
                raise ValueError("Tick at least one drafter to compare.")
            ids = prompt_ids(self.target.tokenizer, prompt)
            results, shown = [], 0
            yield _status("Starting…", "run"), [], empty, ""
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
        yield (_status(f"Done: {len(results)} drafters, {settings.max_new_tokens} new tokens at most.", "done"),
               _table(results), compare_figure(results), _lossless_note(results, settings))
