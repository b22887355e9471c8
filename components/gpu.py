"""ZeroGPU: the one place that knows about Hugging Face's ``spaces`` package.

How ``spaces.GPU`` (0.51) runs a call, read from its source (``spaces/zero/``):

- Without ZeroGPU (``SPACES_ZERO_GPU`` unset, as here, on CPU Spaces and paid GPUs) the
  decorator returns the function itself: nothing changes.
- On ZeroGPU the decorated call asks the scheduler for a GPU for ``duration`` seconds (a
  number, or a callable that ``spaces`` calls with the call's own arguments), then runs
  in a worker process *forked* from the app (``multiprocessing`` fork context, one per
  GPU, **reused** while it stays idle). Its arguments and its result go through pickling
  queues; the function itself and every module global (the model) come by the fork, so
  whatever a call finds by key must exist before the first call forks the worker (the
  warm-up is that call). A change the call makes to an argument in place never reaches
  the app: only what it returns or yields does, and all of it must pickle.
- A generator function streams its yields back the same way, each pickled as it is
  yielded; when the app closes the stream, the worker closes the generator after its
  next yield.
- A refused call (quota used up, no GPU free after 60 s, a duration over the maximum)
  raises ``gr.Error`` titled "ZeroGPU ..." before anything runs (``spaces/zero/client.py``);
  ``refusal`` says it in a sentence, and the run it would have stepped is untouched.

The Gradio handlers themselves cannot be decorated (they change the ``Session`` in place
and hold locks), so what travels is the work: a run pickles *parked*
(``Generation.__getstate__``: no KV cache, no drafter, no model; the model is found in
the worker by the key ``remember`` gives). The calls, each sized from the work it is
asked (the ``*_seconds`` functions; the ``Plan`` of a Compare or Tune is the same sums):

- Run and Step: ``run_steps``, one generator call for a whole Run, the plain baseline
  (``racer.measure.baseline.LiveBaseline``) alternating with RACER step for step inside
  it, so the speedup compares runs on the same GPU. KV caches and drafter state live for
  the whole call. Each step streams back its record with the run and its baseline as
  they stand after it (parked copies), so the page follows step by step and a call cut
  short loses nothing before its last step; the run is parked at the end, at Stop or
  at the call's deadline (a run longer than ``MAX_CALL_S`` goes on in a next call). A
  Step is the same call, one step long.
- Compare: ``run_block``, one call per drafter: its rounds alternating with plain
  decoding (``racer.measure.compare.blocks``), so its speedups too compare runs made on
  one GPU. Tune: ``engine_decode``, one call per prompt run.
- The warm-up (``warm_up``): precision ``auto``'s chain check and choice, a few
  untimed forwards, the verify-cost calibration and the guard's error bound, brought
  back to the app's model. One-offs (``with_target``): the logits where Compare's
  outputs part, the Race's plain run.

Stop and settings changes reach a call under way through ``Signals`` (files; why there).
"""
from __future__ import annotations

import math
import os
import pickle
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar

if TYPE_CHECKING:
    from racer.engine.generate import Generation
    from racer.engine.records import StepRecord
    from racer.engine.settings import Settings
    from racer.measure.baseline import LiveBaseline
    from racer.measure.compare import Run
    from racer.measure.sweep import PromptRun
    from racer.model.precision import Agreement
    from racer.model.target import TargetModel

F = TypeVar("F", bound=Callable)


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


# -- what a call costs: the durations asked of ZeroGPU's scheduler ----------------------
# Derived from the code's own count of forwards and these per-unit costs, assumed for the
# GPU model (Qwen2.5-1.5B-Instruct in float16 on a ZeroGPU slice of an H200), not measured:
# no GPU has run this yet (scripts/device_check.sh prints the real figures). The scheduler
# charges a visitor's quota with the seconds a call used, not those asked; asking more than
# a visitor has left is refused, and a call that overruns what it asked is aborted.
FORWARD_S = 0.05          # one step: a verify forward (28 layers, launch-bound in eager PyTorch:
                          # ~25 ms on an H100) plus drafting and acceptance on the CPU, with room
PREFILL_TOKEN_S = 2e-4    # a prompt or rebuilt context, per token (~5,000 tokens/s)
CALL_S = 10               # asked on top of every call: a fresh worker moves the weights in (3 GB)
CALL_USE_S = 1.0          # what a call uses beyond its forwards, for the page's estimate
WARM_UP_CALL_S = 30       # the first call also starts CUDA and loads the kernels
WARM_UP_FORWARDS = 55     # 6 steps (a few forwards each), the cost calibration (22), the error bound (18)
CHOICE_FORWARDS = 45      # precision auto: bfloat16's copy, its chain check (34) and timing (10)
MAX_CALL_S = 120          # the longest call asked for: the hub's maximum is undocumented, 120 s always passes
DEADLINE = 0.8            # a call starts no step after this share of its duration: never aborted mid-step


def forward_s(key: tuple) -> float:
    """Seconds to allow for one step of the model behind ``key``: ``FORWARD_S``, or twice its
    largest verify forward as measured at start-up where that is more (a bigger model)."""
    costs = _TARGETS[key[0]].known_verify_costs() if key[0] in _TARGETS else None
    return max(FORWARD_S, 2 * max(costs.values())) if costs else FORWARD_S


def asked(work_s: float) -> int:
    """The duration to ask for work of ``work_s`` seconds: ``CALL_S`` more, whole seconds,
    at most ``MAX_CALL_S``.

    >>> asked(6.4), asked(500.0)
    (17, 120)
    """
    return int(min(MAX_CALL_S, math.ceil(CALL_S + work_s)))


def run_work(key: tuple, gen: "Generation", baseline: "LiveBaseline | None", max_steps: int | None) -> float:
    """GPU seconds for up to ``max_steps`` steps of ``gen`` (all it has left when None), with
    its plain baseline catching up after each: the parked run's context rebuilt (both runs),
    then one forward per step (a step emits one token at least) and, for the baseline, one
    per token the steps may emit (``depth + 1`` at most each)."""
    s = gen.settings
    left = max(1, s.max_new_tokens - len(gen.output))
    steps = min(left, max_steps) if max_steps else left
    forwards = steps + (0 if baseline is None else min(left, steps * (s.depth + 1)))
    context = len(gen.prompt_ids) + len(gen.output)
    return context * (1 if baseline is None else 2) * PREFILL_TOKEN_S + forwards * forward_s(key)


def run_seconds(key: tuple, gen: "Generation", baseline: "LiveBaseline | None", signals: "Signals",
                max_steps: int | None) -> int:
    """The duration of ``_run_in_worker``'s call (its arguments, as ``spaces`` passes them)."""
    return asked(run_work(key, gen, baseline, max_steps))


def block_work(key: tuple, prompt_tokens: int, settings: "Settings", runs: int) -> float:
    """GPU seconds for ``runs`` runs of a prompt to the end (``max_new_tokens`` forwards at most each)."""
    return runs * (prompt_tokens * PREFILL_TOKEN_S + settings.max_new_tokens * forward_s(key))


def block_seconds(key: tuple, prompt_ids: Sequence[int], settings: "Settings", names: Sequence[str],
                  should_stop: Callable[[], bool]) -> int:
    return asked(block_work(key, len(prompt_ids), settings, len(names)))


def decode_seconds(key: tuple, prompt_ids: Sequence[int], settings: "Settings") -> int:
    return asked(block_work(key, len(prompt_ids), settings, 1))


def call_seconds(key: tuple, fn: Callable, args: tuple, forwards: int, tokens: int) -> int:
    return asked(tokens * PREFILL_TOKEN_S + forwards * forward_s(key))


def warm_up_seconds(key: tuple, work: Callable, choose: bool) -> int:
    return math.ceil(WARM_UP_CALL_S + (WARM_UP_FORWARDS + CHOICE_FORWARDS * choose) * forward_s(key))


@dataclass(frozen=True)
class Plan:
    """What a Compare or Tune will ask of ZeroGPU: its calls and the GPU seconds they are
    expected to use (their forwards, ``CALL_USE_S`` each besides), from the same counts as
    the durations; ``longest`` is the longest call's duration before the ``MAX_CALL_S`` cap."""
    calls: int
    seconds: float
    longest: float

    def sentence(self, what: str) -> str:
        """The plan in words, for the page's status line.

        >>> Plan(3, 41.6, 17.0).sentence("This comparison")
        'This comparison will take about 42 s of GPU time, in 3 GPU calls, from your ZeroGPU quota.'
        """
        calls = f"{self.calls} GPU call{'s' if self.calls != 1 else ''}"
        return f"{what} will take about {self.seconds:.0f} s of GPU time, in {calls}, from your ZeroGPU quota."

    @property
    def fits(self) -> bool:
        return self.longest <= MAX_CALL_S


def plan_of(key: tuple, calls: Sequence[tuple[int, "Settings", int]]) -> Plan:
    """The ``Plan`` of calls given as (prompt tokens, settings, runs) each."""
    works = [block_work(key, tokens, s, runs) for tokens, s, runs in calls]
    return Plan(len(works), sum(works) + CALL_USE_S * len(works), max((CALL_S + w for w in works), default=0.0))


# -- what the app tells a call under way -------------------------------------------------

class Signals:
    """What the app tells work running in a GPU call, read between its steps: stop, and
    the settings to step with from now on (as ``Session.apply`` promises for a Run).

    Files, because nothing else reaches a call under way: its arguments are pickled once
    when it starts; a ``multiprocessing.Event`` or ``Value`` refuses pickling outside
    process start ("should only be shared between processes through inheritance"), and
    ZeroGPU's worker is forked once and then reused, so one made after that fork never
    reaches it. A file in the temp folder is seen by every process of the machine, costs
    a ``stat`` per step (microseconds), and works the same without ZeroGPU, where the
    app's own loop reads it. The object pickles as its path."""

    def __init__(self, folder: str | Path | None = None) -> None:
        folder = Path(folder or Path(tempfile.gettempdir()) / "racer-explorer" / "signals")
        folder.mkdir(parents=True, exist_ok=True)
        self.path = str(folder / uuid.uuid4().hex)
        self._seen: tuple | None = None      # (inode, mtime) of the settings file read last
        self._posted: Settings | None = None

    def stop(self) -> None:
        Path(self.path + ".stop").touch()

    def go(self) -> None:
        """Clears a stop (a new run starts)."""
        Path(self.path + ".stop").unlink(missing_ok=True)

    def __call__(self) -> bool:
        """Whether to stop: the ``should_stop`` the engine's loops take."""
        return os.path.exists(self.path + ".stop")

    def post(self, settings: "Settings") -> None:
        """The settings a run under way is to take from its next step (written whole, then
        renamed into place, so a reader never sees half a file)."""
        part = f"{self.path}.{uuid.uuid4().hex}.part"   # its own, should two threads post at once
        with open(part, "wb") as f:
            pickle.dump(settings, f)
        os.replace(part, self.path + ".settings")

    def settings(self) -> "Settings | None":
        """The settings last posted (read again only when the file changed), None if none."""
        try:
            st = os.stat(self.path + ".settings")
        except FileNotFoundError:
            return None
        if (st.st_ino, st.st_mtime_ns) != self._seen:
            with open(self.path + ".settings", "rb") as f:
                self._posted = pickle.load(f)
            self._seen = (st.st_ino, st.st_mtime_ns)
        return self._posted

    def close(self) -> None:
        for suffix in (".stop", ".settings"):
            Path(self.path + suffix).unlink(missing_ok=True)


# -- the model, found by key in the worker -----------------------------------------------

_TARGETS: dict[int, "TargetModel"] = {}   # id -> model; a forked worker inherits it


def remember(target: "TargetModel") -> tuple:
    """The key a worker finds ``target`` by (models never travel): its id and the precision
    it runs at (a worker forked before the warm-up chose another converts its copy)."""
    _TARGETS[id(target)] = target
    return id(target), str(target.dtype).removeprefix("torch.")


def _target(key: tuple) -> "TargetModel":
    """In the worker: the model behind ``key``, at the key's precision. Torch's CPU side
    goes to one thread there: a process forked after its parent ran OpenMP parallel regions
    (torch's CPU backend, GNU OpenMP) hangs at its first parallel region with more threads
    (checked on this project's machine: every such child hung), and the model computes on
    the GPU anyway."""
    import torch
    torch.set_num_threads(1)
    target = _TARGETS[key[0]]
    dtype = getattr(torch, key[1])
    if next(target.model.parameters()).dtype != dtype:
        target.model.to(dtype)
    target.dtype = dtype
    return target


def _take(mine: Any, back: Any, target: "TargetModel") -> None:
    """``mine`` (the app's run or baseline) becomes what came back from a call, on the app's model."""
    mine.__dict__.update(back.__dict__)
    mine.target = target
    if getattr(mine, "_gen", None) is not None:
        mine._gen.target = target


# -- Run and Step ------------------------------------------------------------------------

def _steps(gen: "Generation", baseline: "LiveBaseline | None", signals: Signals, max_steps: int | None,
           deadline: float = math.inf) -> Iterator["StepRecord"]:
    """The loop itself, wherever it runs: a step of ``gen``, then the baseline catching up
    with it (a step's catch-up is finished even at Stop, so that its speedup is measured),
    until the run ends, ``signals`` says stop, ``max_steps`` or the deadline
    (``time.monotonic``; checked before every step but the first). Posted settings apply
    from the next step."""
    taken = 0
    while not gen.finished and not signals() and (max_steps is None or taken < max_steps):
        if taken and time.monotonic() > deadline:
            return
        posted = signals.settings()
        if posted is not None and posted.with_changes(seed=gen.settings.seed) != gen.settings:
            gen.settings = posted.with_changes(seed=gen.settings.seed)   # a seed only starts a generation
        # The two sides take turns going first after a step is shown, so whatever the page
        # does meanwhile (a browser drawing the last step on the same cores) falls on each
        # side alike: on every other step plain decoding first covers one token more.
        if baseline is not None and gen.forwards > 0 and gen.steps_taken % 2 == 0:
            baseline.cover(len(gen.output) + 1)
        record = gen.step()
        if baseline is not None:
            baseline.cover(record.total_tokens)
        taken += 1
        yield record


def _run_in_worker(key: tuple, gen: "Generation", baseline: "LiveBaseline | None", signals: Signals,
                   max_steps: int | None) -> Iterator[tuple["StepRecord", "Generation", "LiveBaseline | None"]]:
    """In the GPU call: the run (and its baseline) stepped with its KV caches and drafter
    kept throughout; each record goes back with both as they stand (pickled parked)."""
    deadline = time.monotonic() + DEADLINE * run_seconds(key, gen, baseline, signals, max_steps)
    gen.target = target = _target(key)
    if baseline is not None:
        baseline.adopt(target)
    try:
        for record in _steps(gen, baseline, signals, max_steps, deadline):
            yield record, gen, baseline
    finally:   # parked at the end, at Stop or at the deadline: the GPU memory goes now
        gen.release()
        if baseline is not None:
            baseline.release()


_remote_run = gpu(run_seconds)(_run_in_worker)   # decorated at import, as ZeroGPU requires


def run_steps(gen: "Generation", baseline: "LiveBaseline | None", signals: Signals,
              max_steps: int | None = None) -> Iterator["StepRecord"]:
    """Steps ``gen``, and ``baseline`` alongside when given, until the run ends, ``signals``
    says stop or ``max_steps`` were taken; yields each record once ``gen`` and ``baseline``
    stand where that step left them. Without ZeroGPU here; on ZeroGPU in one GPU call (a
    next one only when a call reached its deadline first), the app's ``gen`` and
    ``baseline`` kept parked and updated from each step's copies."""
    if not zero_gpu():
        yield from _steps(gen, baseline, signals, max_steps)
        return
    target, key, taken = gen.target, remember(gen.target), 0
    while not gen.finished and not signals() and (max_steps is None or taken < max_steps):
        before = taken
        gen.release()
        for record, back, back_baseline in _remote_run(key, gen, baseline, signals,
                                                       None if max_steps is None else max_steps - taken):
            _take(gen, back, target)
            if baseline is not None:
                _take(baseline, back_baseline, target)
            taken += 1
            yield record
        if taken == before:   # stopped before its first step
            return


# -- Compare: one call per drafter --------------------------------------------------------

def _block_in_worker(key: tuple, prompt_ids: Sequence[int], settings: "Settings", names: Sequence[str],
                     should_stop: Callable[[], bool]) -> Iterator[tuple[str, int, "Run | None"]]:
    from racer.measure.compare import run_block
    yield from run_block(_target(key), prompt_ids, settings, names, should_stop)


_remote_block = gpu(block_seconds)(_block_in_worker)


def run_block(target: "TargetModel", prompt_ids: Sequence[int], settings: "Settings", names: Sequence[str],
              should_stop: Callable[[], bool]) -> Iterator[tuple[str, int, "Run | None"]]:
    """``racer.measure.compare.run_block``; on ZeroGPU the whole block in one GPU call
    (``should_stop`` must then pickle and be seen across processes: ``Signals``)."""
    from racer.measure.compare import run_block as here
    if not zero_gpu():
        return here(target, prompt_ids, settings, names, should_stop)
    return _remote_block(remember(target), tuple(prompt_ids), settings, tuple(names), should_stop)


def compare_plan(target: "TargetModel", prompt_tokens: int, settings: "Settings",
                 blocks: Sequence[Sequence[str]]) -> Plan:
    """A Compare's calls (one per block), as ``run_block`` will ask for them."""
    return plan_of(remember(target), [(prompt_tokens, settings, len(b)) for b in blocks])


# -- Tune: one call per prompt run ---------------------------------------------------------

def _decode_in_worker(key: tuple, prompt_ids: tuple[int, ...], settings: "Settings") -> "PromptRun":
    from racer.measure.sweep import decode
    return decode(_target(key), prompt_ids, settings)


_remote_decode = gpu(decode_seconds)(_decode_in_worker)


def engine_decode(target: "TargetModel", ids, settings: "Settings") -> "PromptRun":
    """``racer.measure.sweep.decode``: one prompt run to the end; on ZeroGPU in a GPU call of its own."""
    if not zero_gpu():
        from racer.measure.sweep import decode
        return decode(target, ids, settings)
    return _remote_decode(remember(target), tuple(ids), settings)


def tune_plan(target: "TargetModel", calls: Sequence[tuple[Sequence[int], "Settings"]]) -> Plan:
    """A sweep's calls, one per (prompt, settings) run (``racer.measure.sweep.sweep_calls``)."""
    return plan_of(remember(target), [(len(ids), s, 1) for ids, s in calls])


# -- the warm-up, and one-offs --------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """What the warm-up's GPU call brings back to the app's model."""
    precision: str                     # the precision it runs at (``auto``'s choice)
    costs: dict[int, float]            # ``TargetModel.verify_costs``
    bound: float                       # ``TargetModel.error_bound``
    agreement: "Agreement | None"      # the chain check of a precision not exact by default


def _warm_up_in_worker(key: tuple, work: Callable[["TargetModel"], None], choose: bool) -> Calibration:
    from racer.model.loading import prompt_ids
    from racer.model.precision import CHECK_PROMPT, chain_agreement, choose_auto, exact_by_default
    target = _target(key)
    if choose:   # precision auto: the chain check and timing of each candidate, here on the GPU
        chosen = choose_auto(target.model, target.tokenizer, str(target.device), print, prompt_ids)
        target = _target((key[0], chosen))
    work(target)
    agreement = None if exact_by_default(target) else chain_agreement(
        target, prompt_ids(target.tokenizer, CHECK_PROMPT))
    return Calibration(str(target.dtype).removeprefix("torch."), target.verify_costs(), target.error_bound(),
                       agreement)


_remote_warm_up = gpu(warm_up_seconds)(_warm_up_in_worker)


def warm_up(target: "TargetModel", work: Callable[["TargetModel"], None], choose: bool = False) -> "Agreement | None":
    """``work(target)`` (untimed forwards and the verify-cost calibration); on ZeroGPU in a
    GPU call, the first (it forks the worker that later calls reuse), which with ``choose``
    first makes precision ``auto``'s choice, and whose calibration, error bound and chosen
    precision the app's model takes (its weights stay as loaded: a worker converts its own
    copy, ``remember``). Returns the chain check of a precision not exact by default, made
    there (None elsewhere: ``precision_note`` makes it)."""
    if not zero_gpu():
        work(target)
        return None
    import torch
    found = _remote_warm_up(remember(target), work, choose)
    target.use_verify_costs(found.costs)
    target.use_error_bound(found.bound)
    target.dtype = getattr(torch, found.precision)
    remember(target)
    return found.agreement


def _call_in_worker(key: tuple, fn: Callable, args: tuple, forwards: int, tokens: int) -> Any:
    return fn(_target(key), *args)


_remote_call = gpu(call_seconds)(_call_in_worker)


def with_target(fn: Callable, target: "TargetModel", *args, forwards: int = 0, tokens: int = 0) -> Any:
    """``fn(target, *args)``; on ZeroGPU in a GPU call of its own, sized by the ``forwards``
    and prompt ``tokens`` it runs (``fn`` travels by name: a module-level function)."""
    if not zero_gpu():
        return fn(target, *args)
    return _remote_call(remember(target), fn, args, forwards, tokens)


def _cover(target: "TargetModel", baseline: "LiveBaseline", tokens: int) -> "LiveBaseline":
    baseline.adopt(target).cover(tokens)
    baseline.release()
    return baseline


def cover(target: "TargetModel", baseline: "LiveBaseline", tokens: int) -> "LiveBaseline":
    """``baseline.cover(tokens)`` (plain decoding timed up to ``tokens``); on ZeroGPU in a GPU
    call, the baseline coming back parked."""
    back = with_target(_cover, target, baseline, tokens, forwards=tokens, tokens=len(baseline.prompt_ids))
    return back.adopt(target)


# every decorated call: (the function run in the worker, its duration), for the tests' double
REMOTE = {"_remote_run": (_run_in_worker, run_seconds), "_remote_block": (_block_in_worker, block_seconds),
          "_remote_decode": (_decode_in_worker, decode_seconds), "_remote_call": (_call_in_worker, call_seconds),
          "_remote_warm_up": (_warm_up_in_worker, warm_up_seconds)}


# -- a refused call, in words ----------------------------------------------------------------

def refusal(error: BaseException) -> str | None:
    """What to tell the visitor when ZeroGPU's scheduler refused a call (``spaces`` raises
    ``gr.Error`` titled "ZeroGPU ..." before the call runs); None for any other error.

    >>> import gradio as gr
    >>> refusal(gr.Error("You have exceeded your free ZeroGPU quota (17s requested vs. 9s left). "
    ...                  "Try again in 0:04:31.", title="ZeroGPU quota exceeded"))[:87]
    'Your ZeroGPU quota is used up for now (17 s asked, 9 s left): try again in 4 min 31 s; '
    """
    title = str(getattr(error, "title", "") or "")
    if not title.startswith("ZeroGPU") or title == "ZeroGPU worker error":
        return None
    text = str(getattr(error, "message", "") or error)
    wait = re.search(r"[Tt]ry again in (?:(\d+) days?, )?(\d+):(\d\d):(\d\d)", text)
    when = f"try again in {_wait(*wait.groups())}" if wait else "try again in a minute or two"
    nothing_lost = "Nothing was lost: what ran so far stays where it was."
    if "No GPU was available" in text or title in ("ZeroGPU queue timeout", "ZeroGPU client error"):
        return (f"No GPU was free on ZeroGPU just now: {when}; signed-in visitors get priority in "
                f"ZeroGPU's queue. {nothing_lost}")
    if "illegal duration" in title or "larger than the maximum" in text:
        return ("ZeroGPU refused the call: it asks for more GPU time at once than ZeroGPU allows you. "
                f"Ask for fewer new tokens (or rounds); signing in to Hugging Face allows longer calls. {nothing_lost}")
    if "reached its GPU limit" in text:
        return f"This Space has used up its GPU time for now: {when}. {nothing_lost}"
    left = re.search(r"\((\d+)s requested vs\. (\d+)s left\)", text)
    numbers = f" ({left.group(1)} s asked, {left.group(2)} s left)" if left else ""
    return (f"Your ZeroGPU quota is used up for now{numbers}: {when}; signing in to Hugging Face "
            f"gives a bigger daily quota. {nothing_lost}")


def _wait(days, hours, minutes, seconds) -> str:
    """ZeroGPU's "H:MM:SS" in words: _wait(None, "0", "04", "31") -> "4 min 31 s"."""
    h, m, s = int(days or 0) * 24 + int(hours), int(minutes), int(seconds)
    parts = [f"{h} h"] * (h > 0) + [f"{m} min"] * (m > 0) + [f"{s} s"] * (s > 0 or not (h or m))
    return " ".join(parts)
