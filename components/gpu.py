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

So the Gradio handlers themselves cannot be decorated: they receive the ``Session``
(locks, engine state) and change it in place. What travels instead is the run itself:
``engine_step`` sends a *parked* ``Generation`` (``Generation.release``: no KV cache, no
drafter, and the model left behind, found again in the worker by a key) to the GPU call,
which rebuilds it by the park-and-rebuild path, steps it, parks it again and sends it
back with the step's record. Without ZeroGPU ``engine_step`` is ``gen.step()``.

A Run steps through ``Session.step`` too, so each of its steps is one such call: a chunk
of one step, the next continuing where it stopped. Compare steps each drafter's run the
same way (``engine_step``). Tune goes in chunks of one prompt run (``engine_decode``: a
whole generation in one call, started and finished there, its ``PromptRun`` sent back).
The warm-up (``warm_up``) runs in a call of its own and brings the verify-cost
calibration back to the app's model.

Left out on purpose (not wired yet): the plain baseline measured alongside a Step or Run
(``Session.measure`` is off on ZeroGPU); see docs/deployment.md.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:
    from racer.engine.generate import Generation
    from racer.model.target import TargetModel
    from racer.engine.records import StepRecord
    from racer.engine.settings import Settings
    from racer.measure.sweep import PromptRun

F = TypeVar("F", bound=Callable)

# Scheduler durations (s) per model event, sized from their work on the default model:
# a step is a forward or two, a warm-up a few forwards and the cost calibration, a run
# goes step by step, a tune chunk is one prompt run (at most 256 tokens: a few hundred
# forwards on a GPU).
WARM_UP_S = 60
STEP_S = 15
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


# -- the run as it travels to a GPU call and back ---------------------------------------

_TARGETS: dict[int, "TargetModel"] = {}   # key -> model; a forked worker inherits it


def remember(target: "TargetModel") -> int:
    """The key the worker finds ``target`` by (models are never pickled)."""
    _TARGETS[id(target)] = target
    return id(target)


def _step_in_worker(key: int, gen: "Generation") -> tuple["Generation", "StepRecord"]:
    """One step of a parked run, in the GPU call: rebuilt, stepped, parked again."""
    gen.target = _TARGETS[key]
    record = gen.step()
    gen.release()
    gen.target = None
    return gen, record


_remote_step = gpu(STEP_S)(_step_in_worker)   # decorated at import, as ZeroGPU requires


def _warm_up_in_worker(key: int, work: Callable[["TargetModel"], None]) -> dict[int, float]:
    work(_TARGETS[key])
    return _TARGETS[key].verify_costs()


_remote_warm_up = gpu(WARM_UP_S)(_warm_up_in_worker)


def warm_up(target: "TargetModel", work: Callable[["TargetModel"], None]) -> None:
    """``work(target)`` (untimed forwards and the verify-cost calibration); on ZeroGPU in a
    GPU call, whose calibration the app's model then takes."""
    if not zero_gpu():
        work(target)
        return
    target.use_verify_costs(_remote_warm_up(remember(target), work))


def engine_step(gen: "Generation") -> "StepRecord":
    """``gen.step()``; on ZeroGPU, in a GPU call, ``gen`` updated from what comes back."""
    if not zero_gpu():
        return gen.step()
    target, key = gen.target, remember(gen.target)
    gen.release()
    gen.target = None
    try:
        back, record = _remote_step(key, gen)
        gen.__dict__.update(back.__dict__)
    finally:
        gen.target = target
    return record


def _decode_in_worker(key: int, ids: tuple[int, ...], settings: "Settings") -> "PromptRun":
    from racer.measure.sweep import decode
    return decode(_TARGETS[key], ids, settings)


_remote_decode = gpu(TUNE_CHUNK_S)(_decode_in_worker)


def engine_decode(target: "TargetModel", ids, settings: "Settings") -> "PromptRun":
    """``racer.measure.sweep.decode``: one prompt run to the end; on ZeroGPU in a GPU call of its own."""
    if not zero_gpu():
        from racer.measure.sweep import decode
        return decode(target, ids, settings)
    return _remote_decode(remember(target), tuple(ids), settings)
