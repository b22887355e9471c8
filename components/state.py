"""What the page keeps between events: one browser session's run (its generation, history
and messages, and the plain decoding its speedups are measured against,
``racer.measure.baseline``; the numbers are ``racer.engine.metrics``'s), and the
``Keeper`` that holds what all sessions keep together within two memory budgets (the
engine state of unfinished runs: KV caches, drafter state; and the step histories).
With the comparison (``racer.measure.compare``) and the Tune tab's sweeps, the only code
of the UI that drives the engine. The app owns one ``Keeper`` (``app.build_app``); a
session made without one keeps its own.
"""
from __future__ import annotations

import ctypes
import logging
import threading
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Iterator, Sequence

from racer.engine import metrics as measure
from racer.measure.baseline import LiveBaseline
from racer.drafting.calibration import Reliability
from racer.engine.generate import Generation
from racer.model.target import TargetModel
from racer.engine.records import StepRecord
from racer.engine.settings import Settings, settings_change
from racer.model.token_text import TokenText

from components.gpu import Signals, run_steps
from components.figures.tokens import ShowToken

log = logging.getLogger(__name__)

HISTORY_CAP = 2000     # full step records kept per session (numbers for the charts: all steps)


# -- what a session keeps of every step (the charts and the coloured text read these) --

@dataclass(frozen=True)
class StepStat:
    """One step's numbers for the running charts (kept for every step, even when the
    full records are capped)."""
    index: int
    emitted: int             # tokens this forward added to the output
    total_tokens: int
    forwards: int
    engine_s: float          # engine seconds so far (all steps, prefill included)
    speedup: float | None    # plain time for the same tokens / engine_s; None = not measured
    changed: str = ""        # settings that changed at this step, in words
    # cores other programs kept busy during this step's timed work (None: not read)
    others_cores: float | None = None

    @property
    def mat(self) -> float:
        return measure.mat(self.total_tokens, self.forwards)


@dataclass(frozen=True)
class TokenMark:
    """One generated token and how it was produced."""
    token: int
    piece: bytes  # the bytes it stands for; its text depends on its neighbours (mark_glyphs)
    source: str   # bonus / retrieval / logits / both
    step: int     # the step (forward) that emitted it


def marks_of(record: StepRecord, token_text: ShowToken) -> list[TokenMark]:
    piece = token_text.piece if isinstance(token_text, TokenText) else (lambda t: token_text(t).encode("utf-8"))
    return [TokenMark(t, piece(t), s, record.index)
            for t, s in zip(record.emitted, record.emitted_sources)]


# The KV caches and drafter state of all unfinished runs together. A SmolLM2-135M run
# holds 45 KiB per context token, twice with the plain run measured alongside, and a
# 3.4 MiB logits cache: ~20 MiB for the example prompts (160 tokens on average), ~50
# MiB for a 500-token prompt, so a class of 30 such runs fits. Beyond it runs are parked
# and rebuilt, which costs a prefill at each step when all of them keep stepping.
ENGINE_BUDGET = 2 << 30
HISTORY_BUDGET = 256 << 20   # the step records of all sessions together (``record_bytes``)
# A step record's memory, measured with tracemalloc (what deleting the records of runs
# with budgets of 1 to 256 nodes freed): 1-2 KiB, plus about 300 bytes per tree node.
RECORD_BYTES, NODE_BYTES = 2 << 10, 320


def _heap_trimmer():
    """glibc's malloc_trim, or nothing elsewhere. Freed memory stays resident in glibc's
    arenas (one per server thread) until trimmed: without it the app's resident memory
    after runs end is ~200 MiB above what it uses (measured after 75 short sessions)."""
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    return lambda: trim(0)


give_back_freed_memory = _heap_trimmer()   # ~10 ms


def record_bytes(record: StepRecord) -> int:
    """Estimated memory of one step record (a little over): the prefill 2 KiB, a 16-node
    step 7 KiB."""
    return RECORD_BYTES + NODE_BYTES * (len(record.tree) if record.tree is not None else 0)


# -- what all sessions hold together --------------------------------------------------

class Keeper:
    """Keeps what all sessions hold together within two budgets, taking from the least
    recently used sessions first:

    - engine state, the KV caches and drafter state of unfinished runs, within
      ``engine_budget``: an idle run is *parked*, its state freed, and its next step
      rebuilds it (``Generation.release``). The session that has just stepped is never
      parked, so one run alone may go over the budget.
    - step histories within ``history_budget`` (estimated by ``record_bytes``): an idle
      session loses its oldest records (their numbers stay on the charts) down to its
      latest one.

    A finished run frees its engine state at once (``Session.step``). Sessions are held
    by weak reference: one that Gradio drops is gone from here too.
    """

    def __init__(self, engine_budget: int = ENGINE_BUDGET, history_budget: int = HISTORY_BUDGET) -> None:
        self.engine_budget = engine_budget
        self.history_budget = history_budget
        self.parked = 0   # runs parked so far
        self._sessions: OrderedDict[int, weakref.ref] = OrderedDict()  # id -> session, least recent first
        self._lock = threading.Lock()

    def sessions(self) -> list[Session]:
        """The sessions alive, least recently used first."""
        with self._lock:
            alive = []
            for key, ref in list(self._sessions.items()):
                session = ref()
                if session is None:
                    del self._sessions[key]
                else:
                    alive.append(session)
            return alive

    def totals(self) -> tuple[int, int]:
        """(engine bytes, history bytes) held by all sessions together."""
        sessions = self.sessions()
        return sum(s.engine_held for s in sessions), sum(s.history_held for s in sessions)

    def used(self, session: Session) -> None:
        """``session`` has just stepped or started: it becomes the most recent, and the
        least recently used others give up what goes over the budgets."""
        with self._lock:
            self._sessions[id(session)] = weakref.ref(session)
            self._sessions.move_to_end(id(session))
        everyone = self.sessions()
        others = [s for s in everyone if s is not session]
        engine = sum(s.engine_held for s in everyone)
        parked = 0
        for other in others:
            if engine <= self.engine_budget:
                break
            freed = other.park()
            engine -= freed
            parked += freed > 0
        if parked:
            self.parked += parked
            give_back_freed_memory()
        history = sum(s.history_held for s in everyone)
        for other in others:
            if history <= self.history_budget:
                break
            history -= other.trim_history(history - self.history_budget)


# -- one session's run --------------------------------------------------------------

class Session:
    """Everything one browser session owns: its generation, history and messages.

    Held in ``gr.State``; Gradio deep-copies the initial value for each new session,
    and ``__deepcopy__`` hands out a fresh, empty session.
    """

    def __init__(self, keeper: Keeper | None = None) -> None:
        self.keeper = keeper if keeper is not None else Keeper()
        self.settings = Settings()
        self.measure = True                  # run the plain baseline alongside (on ZeroGPU inside the same call)
        self.signals = Signals()             # Stop and new settings, seen by a run even in a GPU call
        self.prompt = ""
        self.prompt_ids: list[int] = []
        self.generation: Generation | None = None
        self.baseline: LiveBaseline | None = None
        self.records: deque[StepRecord] = deque(maxlen=HISTORY_CAP)
        self.stats: list[StepStat] = []
        self.marks: list[TokenMark] = []
        self.reliability = Reliability()     # the drafter's estimates against the model's verdicts
        self._stop = False
        self.running = False                 # a Run or a comparison is iterating
        self.epoch = 0                       # bumped by reset; a running loop from before stops
        self.engine_held = 0                 # bytes of KV caches and drafter state (``Keeper``)
        self.history_held = 0                # estimated bytes of ``records``
        self._lock = threading.Lock()
        self._stepping = threading.Lock()    # held while the engine steps; ``park`` skips it then

    def __deepcopy__(self, memo) -> "Session":
        return Session(self.keeper)

    @property
    def stop_requested(self) -> bool:
        """Stop was pressed (or Reset): a Run or a comparison stops after its current step,
        in this process or in a GPU call (``signals``)."""
        return self._stop

    @stop_requested.setter
    def stop_requested(self, value: bool) -> None:
        self._stop = bool(value)
        if self._stop:
            self.signals.stop()
        else:
            self.signals.go()

    # -- lifecycle --

    @property
    def started(self) -> bool:
        return self.generation is not None

    @property
    def finished(self) -> bool:
        return self.generation is not None and self.generation.finished

    def start(self, target: TargetModel, prompt: str, prompt_ids: Sequence[int]) -> None:
        """A new generation of ``prompt`` with the current settings (UserError if the
        prompt cannot be run)."""
        generation = Generation(target, prompt_ids, self.settings, inspect=True)  # the page draws it all
        with self._lock:
            self.epoch += 1
            self.prompt, self.prompt_ids = prompt, list(prompt_ids)
            self.generation = generation
            self.baseline = LiveBaseline(target, prompt_ids, self.settings) if self.measure else None
            self.records.clear()
            self.stats.clear()
            self.marks.clear()
            self.reliability = Reliability()
            self.engine_held = self.history_held = 0
        self.keeper.used(self)

    def reset(self) -> None:
        with self._lock:
            self.epoch += 1
            self.stop_requested = True
            self.generation = None
            self.baseline = None
            self.prompt, self.prompt_ids = "", []
            self.records.clear()
            self.stats.clear()
            self.marks.clear()
            self.reliability = Reliability()
            self.engine_held = self.history_held = 0

    def close(self) -> None:
        """Gradio drops the session (its time to live is over): free everything now."""
        self.reset()
        self.signals.close()
        give_back_freed_memory()

    def park(self) -> int:
        """Frees the engine state of this session's run unless it is stepping right now
        (its next step rebuilds it); returns the bytes freed."""
        if not self._stepping.acquire(blocking=False):
            return 0
        try:
            with self._lock:
                freed, self.engine_held = self.engine_held, 0
                if self.generation is not None:
                    self.generation.release()
                if self.baseline is not None:
                    self.baseline.release()
        finally:
            self._stepping.release()
        if freed:
            log.info("Parked an idle run: %.1f MiB freed; its next step rebuilds it.", freed / 2**20)
        return freed

    def trim_history(self, excess: int) -> int:
        """Drops the oldest step records, about ``excess`` bytes of them, keeping the
        latest; returns the bytes freed."""
        with self._lock:
            freed = 0
            while freed < excess and len(self.records) > 1:
                freed += record_bytes(self.records.popleft())
            self.history_held -= freed
        return freed

    def apply(self, settings: Settings) -> str:
        """New settings from the controls; returns a sentence naming every setting that
        will differ from the last step's, and when that applies.

        They reach the generation at the start of its next step (``step``), in the
        thread that steps it: a control moved while a Run streams never changes the
        settings of a forward pass already under way. Sliders report one at a time, so
        the sentence compares with what last ran, not with the previous control value.
        """
        old, self.settings = self.settings, settings
        self.signals.post(settings)   # a Run under way takes them at its next step, in a GPU call too
        gen = self.generation
        running = gen is not None and not gen.finished
        ran = gen.settings if running else self.records[-1].settings if self.records else Settings()
        change = settings_change(ran, settings)
        if not running:
            return f"Settings updated ({change})." if change else ""
        if not change:
            return "" if old == settings else "No change pending: the settings are those of the last step again."
        notes = []
        if settings.drafter != ran.drafter:
            notes.append("the new drafter starts from the whole text so far")
        if settings.seed != ran.seed:
            notes.append("the seed applies from the next new generation (Reset or a new prompt)")
        return f"Changed {change}; applies from the next step" + ("; " + "; ".join(notes) if notes else "") + "."

    # -- stepping --

    def step(self, token_text: ShowToken) -> StepRecord:
        """One target forward (and, when measuring, the plain decoding that catches up);
        on ZeroGPU one GPU call. A Stop pressed earlier does not hold a Step back."""
        if self.generation is not None and self.generation.finished:
            raise RuntimeError("this generation has finished")
        self.stop_requested = False
        record = None
        for record in self.steps(token_text, limit=1):
            pass
        if record is None:
            raise RuntimeError("no step was taken")
        return record

    def steps(self, token_text: ShowToken, limit: int | None = None) -> Iterator[StepRecord]:
        """Steps the run until it finishes, Stop or Reset (or ``limit`` steps), yielding each
        record once the session has taken it in; on ZeroGPU all in one GPU call
        (``components.gpu.run_steps``), whose records arrive step by step. Settings applied
        meanwhile take effect from the next step."""
        gen, baseline, epoch = self.generation, self.baseline, self.epoch
        if gen is None:
            raise RuntimeError("no generation started")
        wanted = self.settings.with_changes(seed=gen.settings.seed)  # a seed only starts a generation
        if wanted != gen.settings:
            gen.settings = wanted
        self.signals.post(self.settings)   # what the run reads between steps, until ``apply`` posts anew
        with self._stepping:   # a run stepping is never parked by the keeper
            for record in run_steps(gen, baseline, self.signals, limit):
                if not self._take_in(gen, baseline, epoch, record, token_text):
                    return
                yield record

    def _take_in(self, gen: Generation, baseline: LiveBaseline | None, epoch: int, record: StepRecord,
                 token_text: ShowToken) -> bool:
        """The session's account of one step: its record, numbers, marks and memory. False
        (and nothing taken) when the run was reset while the step ran."""
        with self._lock:
            if self.epoch != epoch:  # reset while this forward ran: drop it
                return False
            if gen.finished:  # it never steps again: free its KV caches and drafter state now
                gen.release()
                if baseline is not None:
                    baseline.close()
            self.engine_held = gen.held_bytes() + (baseline.held_bytes() if baseline is not None else 0)
            prev = self.stats[-1] if self.stats else None
            engine_s = (prev.engine_s if prev else 0.0) + record.timings.total_s
            # no speedup at the prefill: it reads the prompt, plain decoding does the same
            measured = baseline is not None and record.tree is not None
            speedup = baseline.speedup(record.total_tokens, engine_s) if measured else None
            self.stats.append(StepStat(record.index, len(record.emitted), record.total_tokens,
                                       record.forwards, engine_s, speedup, record.changed,
                                       record.timings.others_cores))
            self.reliability.add_step(record.tree, record.accepted)
            if len(self.records) == self.records.maxlen:  # the deque drops its oldest
                self.history_held -= record_bytes(self.records[0])
            self.records.append(record)
            self.history_held += record_bytes(record)
            self.marks.extend(marks_of(record, token_text))
        if gen.finished:
            give_back_freed_memory()
        self.keeper.used(self)
        return True

    # -- reading --

    @property
    def last(self) -> StepRecord | None:
        return self.records[-1] if self.records else None

    def record_at(self, index: int) -> StepRecord | None:
        """The kept record of step ``index`` (None if dropped by the history cap)."""
        if not self.records:
            return None
        first = self.records[0].index
        i = int(index) - first
        return self.records[i] if 0 <= i < len(self.records) else None

    def stat_at(self, index: int) -> StepStat | None:
        i = int(index)
        return self.stats[i] if 0 <= i < len(self.stats) and self.stats[i].index == i else None

    def others_cores(self) -> float | None:
        """Mean cores other programs kept busy over this run's timed steps (None: not read)."""
        read = [s.others_cores for s in self.stats if s.others_cores is not None]
        return sum(read) / len(read) if read else None

    def output_ids(self) -> list[int]:
        return list(self.generation.output) if self.generation is not None else []

    def finish_text(self) -> str:
        gen = self.generation
        if gen is None or not gen.finished:
            return ""
        reason = {"eos": "the model ended its answer (end-of-sequence token)",
                  "length": f"max new tokens ({gen.settings.max_new_tokens}) reached",
                  "context": "the model's context window is full"}.get(gen.finish_reason or "", "done")
        return f"Finished: {reason}."
