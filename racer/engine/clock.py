"""What else the machine did while a step was timed: the cores other processes kept
busy meanwhile, so a page can say that a timing was taken on a busy machine (a browser
drawing the last step on the same two cores, another visitor's run, a test suite).

Read from Linux's ``/proc/stat`` (all processes' CPU time, in clock ticks of 10 ms) less
this process's own CPU time (``time.process_time``); a step of 50 ms reads to about 0.2
cores either way, so it means something summed over a run, not for one step. Elsewhere
(no ``/proc/stat``) it reads nothing.
"""
from __future__ import annotations

import os
import time

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def machine_cpu_s() -> float | None:
    """CPU seconds every process of the machine has used since boot (idle and waiting
    for I/O left out); None where ``/proc/stat`` cannot be read."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    return (sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)) * TICK_S


class OthersClock:
    """Started before a timed section and read after it: the cores others kept busy.

    >>> clock = OthersClock(); clock.cores(wall_s=0.0) is None
    True
    """

    def __init__(self) -> None:
        self.machine = machine_cpu_s()
        self.own = time.process_time()

    def cores(self, wall_s: float) -> float | None:
        """Mean cores used by other processes over the last ``wall_s`` seconds (never below 0)."""
        machine = machine_cpu_s()
        if self.machine is None or machine is None or wall_s <= 0:
            return None
        others = (machine - self.machine) - (time.process_time() - self.own)
        return max(0.0, others / wall_s)
