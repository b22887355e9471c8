"""One browser session's run, and the plain-decoding baselines speedups are measured
against. The only module of the UI that drives the engine.

Speedup, honestly: plain decoding of the same prompt (same model, temperature, top-p
and seed) runs on the same machine, timed by the engine's own step timings, so UI
time never counts. Live runs advance that baseline only as far as the run has got
(``LiveBaseline.cover``); finished timelines are kept in a small shared cache, so
running the same prompt again costs nothing extra.

Left out on purpose: running the baseline in a background thread. On a 2-core CPU
the two would slow each other down and both timings would be wrong.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Callable, Iterator, Sequence

from racer.baseline import speedup_at
from racer.generate import Generation
from racer.model import TargetModel
from racer.records import StepRecord
from racer.settings import Settings

from .charts import DrafterResult, StepStat
from .text_view import TokenMark, marks_of, settings_change
from .tokens import TokenText

HISTORY_CAP = 2000     # full step records kept per session (numbers for the charts: all steps)
BASELINE_SLOTS = 32    # plain-decoding timelines kept for all sessions together
# A cached timeline is trusted this long: the machine's load drifts, and a speedup
# against a baseline timed under other conditions would not be honest.
BASELINE_TTL_S = 600.0
BASELINE_MAX_TOKENS = 4096  # the baseline runs only as far as needed; this is just its ceiling


# -- plain-decoding baselines -------------------------------------------------------

class BaselineCache:
    """A small LRU of plain-decoding timelines, shared by all sessions (thread-safe)."""

    def __init__(self, slots: int = BASELINE_SLOTS, ttl_s: float = BASELINE_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.slots = slots
        self.ttl_s = ttl_s
        self.clock = clock
        self._data: OrderedDict[tuple, tuple[float, list[float]]] = OrderedDict()  # key -> (when, timeline)
        self._lock = threading.Lock()

    @staticmethod
    def key(model: str, prompt_ids: Sequence[int], s: Settings) -> tuple:
        # max_new_tokens is left out: the first t tokens of plain decoding do not depend on it
        return (model, tuple(prompt_ids), s.temperature, s.top_p, s.seed)

    def get(self, key: tuple) -> tuple[list[float], float]:
        """(timeline, its age in seconds); ([], 0.0) when missing or too old."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return [], 0.0
            age = self.clock() - entry[0]
            if age > self.ttl_s:
                del self._data[key]
                return [], 0.0
            self._data.move_to_end(key)
            return list(entry[1]), age

    def put(self, key: tuple, timeline: list[float]) -> None:
        with self._lock:
            entry = self._data.get(key)
            fresh = entry is not None and self.clock() - entry[0] <= self.ttl_s
            if fresh and len(timeline) <= len(entry[1]):
                return
            self._data[key] = (self.clock(), list(timeline))
            self._data.move_to_end(key)
            while len(self._data) > self.slots:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


BASELINES = BaselineCache()


def timeline_of(records: Sequence[StepRecord]) -> list[float]:
    """timeline[t] = engine seconds until t + 1 tokens were out (as plain_timeline)."""
    timeline, elapsed = [], 0.0
    for r in records:
        elapsed += r.timings.total_s
        timeline.extend([elapsed] * len(r.emitted))
    return timeline


class LiveBaseline:
    """Plain decoding of the run's prompt, advanced only as far as the run has got."""

    def __init__(self, target: TargetModel, prompt_ids: Sequence[int], settings: Settings,
                 cache: BaselineCache = BASELINES) -> None:
        self.target = target
        self.prompt_ids = list(prompt_ids)
        self.settings = settings.with_changes(drafter="plain", adaptive_budget=False,
                                              max_new_tokens=BASELINE_MAX_TOKENS)
        self.cache = cache
        self.key = cache.key(target.name, prompt_ids, settings)
        self.timeline, self.age_s = cache.get(self.key)
        self.cached = len(self.timeline)   # tokens whose timing came from the cache
        self._gen: Generation | None = None
        self._own: list[float] = []
        self.finished = False

    def cover(self, tokens: int, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Decode plainly until ``tokens`` tokens are timed (or plain decoding ends)."""
        if tokens <= len(self.timeline) or self.finished:
            return
        if self._gen is None:  # beyond the cached prefix: measure from the start ourselves
            self._gen = Generation(self.target, self.prompt_ids, self.settings)
        elapsed = self._own[-1] if self._own else 0.0
        while len(self._own) < tokens and not self._gen.finished and not should_stop():
            record = self._gen.step()
            elapsed += record.timings.total_s
            self._own.extend([elapsed] * len(record.emitted))
        if len(self._own) > len(self.timeline):
            self.timeline = list(self._own)
            self.cache.put(self.key, self.timeline)
        self.finished = self._gen.finished and len(self._own) >= len(self.timeline)

    def speedup(self, tokens: int, seconds: float) -> float | None:
        return speedup_at(self.timeline, tokens, seconds)

    def provenance(self, tokens: int) -> str:
        """Where the plain timing for ``tokens`` tokens came from, in words."""
        if self._gen is None and tokens <= self.cached:
            when = "under a minute" if self.age_s < 60 else f"{self.age_s / 60:.0f} min"
            return f"plain run reused from {when} ago"
        return "plain run timed alongside"


# -- one session's run --------------------------------------------------------------

class Session:
    """Everything one browser session owns: its generation, history and messages.

    Held in ``gr.State``; Gradio deep-copies the initial value for each new session,
    and ``__deepcopy__`` hands out a fresh, empty session.
    """

    def __init__(self) -> None:
        self.settings = Settings()
        self.measure = True                  # run the plain baseline alongside
        self.prompt = ""
        self.prompt_ids: list[int] = []
        self.generation: Generation | None = None
        self.baseline: LiveBaseline | None = None
        self.records: deque[StepRecord] = deque(maxlen=HISTORY_CAP)
        self.stats: list[StepStat] = []
        self.marks: list[TokenMark] = []
        self.stop_requested = False
        self.running = False                 # a Run or a comparison is iterating
        self.epoch = 0                       # bumped by reset; a running loop from before stops
        self.compare: list[DrafterResult] = []
        self._lock = threading.Lock()

    def __deepcopy__(self, memo) -> "Session":
        return Session()

    # -- lifecycle --

    @property
    def started(self) -> bool:
        return self.generation is not None

    @property
    def finished(self) -> bool:
        return self.generation is not None and self.generation.finished

    def start(self, target: TargetModel, prompt: str, prompt_ids: Sequence[int]) -> None:
        """A new generation of ``prompt`` with the current settings (ValueError if the
        prompt cannot be run)."""
        generation = Generation(target, prompt_ids, self.settings)
        with self._lock:
            self.epoch += 1
            self.prompt, self.prompt_ids = prompt, list(prompt_ids)
            self.generation = generation
            self.baseline = LiveBaseline(target, prompt_ids, self.settings) if self.measure else None
            self.records.clear()
            self.stats.clear()
            self.marks.clear()

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

    def apply(self, settings: Settings) -> str:
        """New settings from the controls; returns a sentence on when they apply.

        They reach the generation at the start of its next step (``step``), in the
        thread that steps it: a control moved while a Run streams never changes the
        settings of a forward pass already under way.
        """
        old, self.settings = self.settings, settings
        change = settings_change(old, settings)
        gen = self.generation
        if gen is None or gen.finished:
            return f"Settings updated ({change})." if change else ""
        if not change:
            return ""
        notes = []
        if settings.drafter != old.drafter:
            notes.append("the new drafter starts from the whole text so far")
        if settings.seed != gen.settings.seed:
            notes.append("the seed applies from the next new generation (Reset or a new prompt)")
        return f"Changed {change}; applies from the next step" + ("; " + "; ".join(notes) if notes else "") + "."

    # -- stepping --

    def step(self, token_text: TokenText) -> StepRecord:
        """One target forward (and, when measuring, the plain decoding that catches up)."""
        gen, epoch = self.generation, self.epoch
        if gen is None:
            raise RuntimeError("no generation started")
        wanted = self.settings.with_changes(seed=gen.settings.seed)  # a seed only starts a generation
        if wanted != gen.settings:
            gen.settings = wanted
        record = gen.step()
        if self.baseline is not None:
            self.baseline.cover(record.total_tokens, lambda: self.epoch != epoch)
        with self._lock:
            if self.epoch != epoch:  # reset while this forward ran: drop it
                return record
            prev = self.stats[-1] if self.stats else None
            engine_s = (prev.engine_s if prev else 0.0) + record.timings.total_s
            speedup = self.baseline.speedup(record.total_tokens, engine_s) if self.baseline else None
            before = self.records[-1].settings if self.records else None
            self.stats.append(StepStat(record.index, len(record.emitted), record.total_tokens,
                                       record.forwards, engine_s, speedup,
                                       settings_change(before, record.settings)))
            self.records.append(record)
            self.marks.extend(marks_of(record, token_text))
        return record

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


# -- the comparison ------------------------------------------------------------------

def run_drafters(target: TargetModel, prompt_ids: Sequence[int], settings: Settings,
                 drafters: Sequence[str], token_text: TokenText | None = None,
                 should_stop: Callable[[], bool] = lambda: False,
                 cache: BaselineCache = BASELINES) -> Iterator[tuple[str, int, list[DrafterResult]]]:
    """Runs the prompt to the end with each drafter in turn (plain decoding first: it is
    the baseline). Yields (drafter running, its tokens so far, results so far) often
    enough for a progress line; the last yield has every result.

    Speedup of a drafter = plain seconds / its seconds for the first T tokens, T the
    fewer of the two runs' tokens (they differ only under sampling).
    """
    order = ["plain"] + [d for d in drafters if d != "plain"]
    results: list[DrafterResult] = []
    timelines: dict[str, list[float]] = {}
    for name in order:
        gen = Generation(target, prompt_ids, settings.with_changes(drafter=name))
        records: list[StepRecord] = []
        for record in gen.steps():
            records.append(record)
            yield name, record.total_tokens, list(results)
            if should_stop():
                return
        timelines[name] = timeline_of(records)
        if name == "plain" and gen.finished:
            cache.put(cache.key(target.name, prompt_ids, settings), timelines[name])
        plain = timelines["plain"]
        mine = timelines[name]
        t = min(len(plain), len(mine))
        speedup = plain[t - 1] / mine[t - 1] if t and mine[t - 1] > 0 else None
        if name in drafters:
            results.append(DrafterResult(
                drafter=name, tokens=len(gen.output), forwards=gen.forwards,
                engine_s=mine[-1] if mine else 0.0, speedup=speedup,
                accept_lengths=tuple(len(r.emitted) for r in records if r.tree is not None),
                text=target.decode(gen.output)))
    yield "", 0, [r for d in drafters for r in results if r.drafter == d]
