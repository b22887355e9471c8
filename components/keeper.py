"""What all browser sessions hold together, kept within two memory budgets: the engine
state of unfinished runs (KV caches, drafter state) and the step histories; with the
estimate of a step record's memory and the call that hands freed memory back to the
system.

Left out on purpose: a session's own run (``components.session``); the keeper only
asks sessions to park their run or drop old records.
"""
from __future__ import annotations

import ctypes
import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING

from racer.records import StepRecord

if TYPE_CHECKING:
    from .session import Session


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

    def sessions(self) -> list["Session"]:
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

    def used(self, session: "Session") -> None:
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


KEEPER = Keeper()   # shared by every session of the app
