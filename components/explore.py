"""The Explore tab's event handlers: controls in, views out. ``app.py`` only lays out the
page and wires these to it.

``Handlers`` holds what every session shares read-only (the model and its name);
each handler gets the session's own ``Session`` from ``gr.State`` and the settings
controls by name (``**controls``, read by ``controls.read_controls``). Errors become a
toast plus a status line, never a traceback, and the session stays usable.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import gradio as gr

from racer import UserError
from racer.model import token_text as readable
from racer.inspect import trace as traces
from racer.model.loading import special_tokens_in
from racer.model.target import TargetModel
from racer.engine.records import StepRecord

from components.controls import MEASURE, checked_prompt_ids, flag, read_controls
from components.events import model_event
from components.messages import adjusted, count, join, status_line
from components.numbers import fmt
from components.state import HISTORY_CAP, Session, StepStat
from components.figures.tokens import ShowToken

# A Run shows at most one step per FRAME_S (every step stays in the history): each frame
# redraws three figures, and a browser on a slow machine that gets a frame per forward
# falls further and further behind (measured: 7 s behind after 3 s of a run, with a
# Stop click taking 20 s to land).
FRAME_S = 0.25
# other programs using this many cores on average during the timed steps make a run "busy"
# on the page (a browser on the same two cores draws each step while the next is timed)
BUSY_CORES = 0.3
RESET_DURING_RUN = "Reset: the run was dropped. Press Step or Run to start again."


@dataclass(frozen=True)
class StepView:
    """One step as the Explore views see it: the session's run, the record shown (None
    before the first step) and how to write a token. Each view is a function of it."""
    session: Session
    record: StepRecord | None
    token_text: ShowToken

    @property
    def latest(self) -> bool:
        return self.record is None or self.record is self.session.last

    @property
    def stat(self) -> StepStat | None:
        return self.session.stat_at(self.record.index) if self.record is not None else None

    @property
    def speedup(self) -> float | None:
        return self.stat.speedup if self.stat is not None else None

    @property
    def prompt_tokens(self) -> int:
        return len(self.session.prompt_ids)

    @property
    def index(self) -> int | None:
        return self.record.index if self.record is not None else None


ViewBuilder = Callable[[StepView], Any]


def history_slider(view: StepView) -> gr.Slider:
    """The history slider at the step shown."""
    session, record = view.session, view.record
    first = session.records[0].index if session.records else 0
    last = session.last.index if session.last is not None else 0
    return gr.Slider(minimum=first, maximum=max(last, first + 1), step=1,
                     value=record.index if record is not None else 0, interactive=record is not None,
                     label=f"History: step {record.index if record else 0} of {last}"
                           + ("" if view.latest else " (viewing a past step)"))


def busy_note(session: Session) -> str:
    """A few words for the step's timing line when other programs kept the machine busy
    during this run's timed steps (a browser drawing on the same cores): its times are
    then slower than the engine's alone. Empty otherwise. Kept to the timing line, so that
    it never pushes the tree below the first screen."""
    others = session.others_cores()
    if others is None or others < BUSY_CORES:
        return ""
    return f"machine busy: other programs used {others:.1f} cores, so these times are slow"


def prompt_with_note(target: TargetModel, prompt) -> tuple[list[int], str]:
    """The prompt's token ids and a note on it; UserError when it cannot run. (A prompt
    longer than the context is refused by ``Generation`` after tokenising.)"""
    ids = checked_prompt_ids(target, prompt)
    special = special_tokens_in(target.tokenizer, prompt)
    if not special:
        return ids, ""
    names = ", ".join(f"`{t}`" for t in special)
    plural = "s" if len(special) > 1 else ""
    return ids, (f"The prompt holds the model's control token{plural} {names}, which it reads "
                 "as chat markup, not as text: its answer may be odd or end at once. "
                 "Remove them if you meant them as text.")


def busy_buttons():
    return gr.Button(interactive=False), gr.Button(interactive=False)


def idle_buttons():
    return gr.Button(interactive=True), gr.Button(interactive=True)


def save_trace(text: str) -> str:
    """``text`` written to a file of its own in the temp folder; its path. Two sessions
    exporting in the same millisecond once shared a timestamped name, and one of them read
    the other's half-overwritten file."""
    folder = Path(tempfile.gettempdir()) / "racer-explorer"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, prefix="racer-trace-", suffix=".json",
                                     delete=False) as f:
        f.write(text)
    return f.name


class Handlers:
    """Event handlers bound to one shared model (None when it failed to load)."""

    def __init__(self, target: TargetModel | None, model_name: str, model_note: str,
                 views: Mapping[str, ViewBuilder] | None = None) -> None:
        self.target = target
        self.views = dict(views or {})  # name -> builder: the page's list, app.EXPLORE_VIEWS
        self.model_name = model_name
        self.model_note = model_note

    @property
    def token_text(self) -> readable.TokenText:
        """Token ids -> readable text (``racer.model.token_text``); "<id>" without a model."""
        return self.target.token_text if self.target is not None else readable.without_model()

    def _render(self, session: Session, index: int | None = None, status: str = "") -> dict:
        """Every view of one step (the latest unless ``index``), by name: what each view
        builder in ``self.views`` makes of it, plus the history slider and the status line."""
        record = session.last if index is None else (session.record_at(index) or session.last)
        view = StepView(session, record, self.token_text)
        return {**{name: build(view) for name, build in self.views.items()},
                "scrubber": history_slider(view), "status": status}

    def _prepare(self, session: Session, prompt, controls: dict) -> str:
        """Apply the controls; start a generation when there is none, the prompt changed or
        the last one finished. Returns a note for the status line (adjusted values are
        also a toast). Raises UserError with a sentence; the session is then unchanged
        apart from valid settings."""
        if self.target is None:
            raise UserError(f"No model is loaded: {self.model_note}")
        settings, notes = read_controls(controls)
        measure = flag(controls[MEASURE], "measure speedup")
        if notes:
            gr.Warning(adjusted(notes))
        session.apply(settings)  # the step's record names what changed (``_summary``)
        session.measure = measure
        if session.started and not session.finished and prompt == session.prompt:
            seed = ("The seed applies from the next new generation (Reset or a new prompt)."
                    if settings.seed != session.generation.settings.seed else "")
            return join(adjusted(notes), seed)
        ids, prompt_note = prompt_with_note(self.target, prompt)
        why = ("Started a new generation." if not session.started else
               "New prompt: started over." if prompt != session.prompt else
               "The last run had finished: started again with the current settings.")
        session.start(self.target, prompt, ids)
        if prompt_note:
            gr.Warning(prompt_note)
        return join(adjusted(notes), why, prompt_note)

    def _summary(self, session: Session) -> str:
        stat = session.stats[-1] if session.stats else None
        if stat is None:
            return ""
        if stat.index == 0:
            return (f"Step 0 · prefill: the prompt's {count(len(session.prompt_ids), 'token')} read in one "
                    f"forward, the first token chosen · engine time {fmt('seconds', stat.engine_s)}")
        changed = f" · settings changed at this step: {stat.changed}" if stat.changed else ""
        speed = (f"measured speedup **{fmt('speedup', stat.speedup)}** ({session.baseline.provenance(stat.total_tokens)})"
                 if stat.speedup is not None else
                 "speedup not measured (turn on *measure speedup*)" if session.baseline is None
                 else "speedup: plain decoding stopped earlier, nothing to compare")
        rechecks = session.generation.rechecks if session.generation is not None else 0
        guard = (f" · {count(rechecks, 'near-tie')} re-decided by a one-token forward, as plain decoding "
                 "would" if rechecks else "")
        return (f"Step {stat.index} · {count(stat.total_tokens, 'token')} in "
                f"{count(stat.forwards, 'forward')} · "
                f"MAT **{fmt('mat', stat.mat)}** · {speed} · engine time {fmt('seconds', stat.engine_s)}"
                f"{guard}{changed}")

    def _failed(self, error: Exception, sentence: str, session: Session, *args, **kwargs) -> dict:
        """After an error (``model_event``): every view of the session, its run where the
        last step left it (a call ZeroGPU refused changed nothing), and the sentence."""
        return {"session": session} | self._render(session, status=status_line(sentence, "error"))

    @model_event("engine", "Press Reset to start again.", failed=_failed)
    def on_step(self, session: Session, prompt, **controls):
        note = self._prepare(session, prompt, controls)
        session.step(self.token_text)
        done = session.finish_text()
        text = join(note, self._summary(session), done, sep=" · ")
        return ({"session": session} | self._render(session, status=status_line(text, "done" if done else "")))

    @model_event("engine", "Press Reset to start again.", busy=True, failed=_failed)
    def on_run(self, session: Session, prompt, **controls):
        """Steps until the end, Stop or Reset; a frame at most every FRAME_S. A page closed
        or reloaded mid-run stops the iteration (Gradio drops the event), which ends here."""
        note = self._prepare(session, prompt, controls)
        epoch = session.epoch
        yield ({"session": session} | self._render(session, status=status_line(join(note, "Running…"), "run")))
        shown = time.monotonic()
        for _ in session.steps(self.token_text):   # on ZeroGPU one GPU call, streaming its steps
            if time.monotonic() - shown >= FRAME_S:
                yield ({"session": session} | self._render(session, status=status_line(
                    f"Running… {self._summary(session)} · Stop pauses it", "run")))
                shown = time.monotonic()
        if session.finished:
            status = status_line(f"{self._summary(session)} · {session.finish_text()}", "done")
        elif session.epoch != epoch:
            status = status_line(RESET_DURING_RUN, "stop")
        else:
            status = status_line(f"Stopped. {self._summary(session)} · press Run or Step to continue; "
                             "the steps so far can be viewed and exported.", "stop")
        yield ({"session": session} | self._render(session, status=status))

    def on_stop(self, session: Session) -> dict:
        if not session.running:
            return {"status": status_line("Nothing is running. Stop pauses a Run (or a comparison) after its "
                                          "current forward pass, and what ran so far stays on the page.", "stop")}
        session.stop_requested = True
        return {"status": status_line("Stopping after the current forward pass…", "stop")}

    def on_reset(self, session: Session):
        text = RESET_DURING_RUN if session.running else "Reset. Press Step or Run to start."
        session.reset()
        return ({"session": session} | self._render(session, status=status_line(text, "stop")))

    def on_settings(self, session: Session, **controls) -> dict:
        try:
            settings, notes = read_controls(controls)
            measure = flag(controls[MEASURE], "measure speedup")
        except UserError as e:
            gr.Warning(str(e))
            return {"status": status_line(str(e), "error")}
        if notes:
            gr.Warning(adjusted(notes))
        note = join(adjusted(notes), session.apply(settings))
        if measure != session.measure:
            session.measure = measure
            note = join(note, "Measuring speedup applies from the next new run.")
        return {"status": status_line(note)}

    def on_view(self, session: Session, index):
        if session.last is None:
            return self._render(session, None, status_line("Nothing to view yet: press Step or Run first."))
        try:
            index = int(float(index))
        except (TypeError, ValueError, OverflowError):
            index = session.last.index
        if session.record_at(index) is None:
            first = session.records[0].index
            return self._render(session, None, status_line(
                f"Step {index} is not in the history (it holds steps {first} to {session.last.index}); "
                "showing the latest.", "error"))
        status = "" if index == session.last.index else \
            status_line(f"Viewing step {index}; the run continues from step {session.last.index}.")
        return self._render(session, index, status)

    @staticmethod
    def show_file(path):
        """The export's file box appears once it holds a file."""
        return gr.File(visible=path is not None)

    def on_export(self, session: Session):
        if not session.records:
            gr.Warning("Nothing to export yet: run a few steps first.")
            return gr.skip()
        output = session.output_ids()
        text, dropped = self.target.readable(output)
        trace = traces.trace_dict(
            list(session.records), prompt=session.prompt, prompt_ids=session.prompt_ids,
            output_ids=output, final_text=text, model=self.model_name,
            token_text=self.token_text,
            extra={"special_tokens_dropped": dropped,
                   "special_tokens_note": "final_text is the text as read: special tokens (chat markup such as "
                                          "<|im_end|>, the end of the answer) are left out of it and listed in "
                                          "special_tokens_dropped; output_ids holds every token",
                   "history_cap": HISTORY_CAP, "finished": session.finished,
                   "speedup": session.stats[-1].speedup if session.stats else None,
                   "speedup_method": "plain decoding of the same prompt on the same machine, engine step timings"})
        return save_trace(traces.dumps(trace))  # the API answers with the file; ``show_file`` reveals the box
