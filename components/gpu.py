"""ZeroGPU: the one place that knows about Hugging Face's ``spaces`` package.

How ``spaces.GPU`` (0.51) runs a call, read from its source (``spaces/zero/``):

- Without ZeroGPU (``SPACES_ZERO_GPU`` unset, as here, on CPU Spaces and paid GPUs) the
  decorator returns the function itself: nothing changes.
- On ZeroGPU the decorated call asks the scheduler for a GPU for ``duration`` seconds,
  then runs in a worker process *forked* from the app (``multiprocessing`` fork
  context, one per GPU, reused while it stays idle). Its arguments and its result go
  through pickling queues; the function itself and every module global (the model) come
  by the fork. So a change the call makes to an argument in place (a ``gr.State``
  session) never reaches the app: only the returned value does, and every argument and
  result must pickle (a ``threading.Lock`` does not). CUDA tensors exist only inside the
  call; ``spaces`` keeps the model's weights on the CPU between calls and moves them in.
- A generator function streams its yields back the same way, each one pickled.

``gpu(seconds)`` is the decorator the app uses; ``seconds`` is the call's duration on
the scheduler (a callable of the call's arguments is accepted too, as ``spaces`` does).

Left out on purpose: the app's model handlers are not decorated yet: they receive the
``Session`` (locks, engine state) and change it in place, which ZeroGPU's pickled,
forked call would lose; see docs/deployment.md.
"""
from __future__ import annotations

import os
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)

# Scheduler durations (s) per model event, sized from their work on the default model:
# a step is a forward or two, a warm-up a few forwards and the cost calibration, a run
# or tune chunk is cut to fit (``RUN_CHUNK_S``).
WARM_UP_S = 60
STEP_S = 15
RUN_CHUNK_S = 60
COMPARE_S = 120
TUNE_CHUNK_S = 120


def zero_gpu() -> bool:
    """True on a ZeroGPU Space (``spaces`` sets ``SPACES_ZERO_GPU`` there)."""
    return os.getenv("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def gpu(seconds: int | Callable[..., int]) -> Callable[[F], F]:
    """``spaces.GPU(duration=seconds)`` on ZeroGPU; elsewhere the function unchanged
    (``spaces`` need not even be installed)."""
    def wrap(fn: F) -> F:
        if not zero_gpu():
            return fn
        import spaces
        return spaces.GPU(duration=seconds)(fn)
    return wrap
