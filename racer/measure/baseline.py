"""Plain decoding of the same prompt, timed the same way, for honest speedups.

Plain decoding (same model, temperature, top-p and seed) runs on the same machine,
timed by the engine's own step timings (``racer.engine.metrics``). A live run advances its
baseline only as far as the run has got (``LiveBaseline.cover``); finished timelines
are kept in a small shared cache, so running the same prompt again costs nothing extra.

Left out on purpose: running the baseline in a background thread. On a 2-core CPU
the two would slow each other down and both timings would be wrong.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Sequence

from racer.drafting.registry import PLAIN
from racer.engine.generate import Generation
from racer.engine.metrics import speedup_at
from racer.model.target import TargetModel
from racer.engine.settings import Settings

BASELINE_SLOTS = 32    # plain-decoding timelines kept for all sessions together
# A cached timeline is trusted this long: the machine's load drifts, and a speedup
# against a baseline timed under other conditions would not be honest.
BASELINE_TTL_S = 600.0
BASELINE_MAX_TOKENS = 4096  # the baseline runs only as far as needed; this is just its ceiling


def plain_settings(settings: Settings) -> Settings:
    """The settings of the plain run that ``settings``' run is compared with."""
    return settings.with_changes(drafter=PLAIN, adaptive_budget=False)


class BaselineCache:
    """A small LRU of plain-decoding timelines that runs may share (thread-safe). Nothing
    shares one by default: a run times its own plain decoding alongside, under the same
    load (a timeline reused from minutes before was measured under another load)."""

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



class LiveBaseline:
    """Plain decoding of a run's prompt, advanced only as far as the run has got."""

    def __init__(self, target: TargetModel, prompt_ids: Sequence[int], settings: Settings,
                 cache: BaselineCache | None = None) -> None:
        self.target = target
        self.prompt_ids = list(prompt_ids)
        self.settings = plain_settings(settings).with_changes(max_new_tokens=BASELINE_MAX_TOKENS)
        self.cache = cache
        self.key = BaselineCache.key(target.name, prompt_ids, settings)
        self.timeline, self.age_s = cache.get(self.key) if cache is not None else ([], 0.0)
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
            if self.cache is not None:
                self.cache.put(self.key, self.timeline)
        self.finished = self._gen.finished and len(self._own) >= len(self.timeline)

    def __getstate__(self) -> dict:
        """Pickles parked, as ``Generation`` does: without the model (whoever unpickles it
        sets ``target``) and without the shared cache (a lock; it stays with the app)."""
        return dict(self.__dict__, target=None, cache=None)

    def adopt(self, target: TargetModel) -> "LiveBaseline":
        """This baseline (unpickled) bound to ``target``, its plain run too."""
        self.target = target
        if self._gen is not None:
            self._gen.target = target
        return self

    def release(self) -> None:
        """Lets go of the plain run's KV cache (``Generation.release``); a later ``cover``
        rebuilds it, untimed, and goes on timing from where it stopped."""
        if self._gen is not None:
            self._gen.release()

    def close(self) -> None:
        """The run it measures has ended: the plain run goes, its timeline stays."""
        self._gen = None
        self.finished = True

    def held_bytes(self) -> int:
        return self._gen.held_bytes() if self._gen is not None else 0

    def speedup(self, tokens: int, seconds: float) -> float | None:
        return speedup_at(self.timeline, tokens, seconds)

    def provenance(self, tokens: int) -> str:
        """Where the plain timing for ``tokens`` tokens came from, in words."""
        if not self._own and tokens <= self.cached:
            when = "under a minute" if self.age_s < 60 else f"{self.age_s / 60:.0f} min"
            return f"plain run reused from {when} ago"
        return "plain run timed alongside, the two taking turns"
