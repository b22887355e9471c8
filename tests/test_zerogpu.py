"""ZeroGPU: ``components.gpu.gpu`` changes nothing without ZeroGPU and hands the call
to ``spaces.GPU`` on it; under a double that runs each call as ZeroGPU does (a forked
process, arguments and results pickled, durations worked out from the arguments, a
refusal raised before anything runs), a Run is one GPU call that streams its steps with
plain decoding measured alongside, Stop and new settings reach it between steps, Compare
takes one call per drafter, and a refused call leaves a sentence and the run where it was.
No forward of the app's model runs in the app's process (``app_runs_no_forward``)."""
from __future__ import annotations

import os
import pickle
import sys
import time
import types

import pytest

from components import gpu
from racer.measure.baseline import LiveBaseline, plain_settings
from racer.engine.generate import Generation
from racer.engine.settings import Settings
from tests import zerogpu
from tests.tiny import hf_greedy, repetitive_prompt, target, tiny_model
from tests.zerogpu import zero_gpu_double

pytestmark = pytest.mark.usefixtures("one_thread")

TARGET = target(tiny_model("llama", 3))   # a module global: the fork brings it, as ZeroGPU's does


def test_without_zero_gpu_the_function_is_returned_unchanged(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.setitem(sys.modules, "spaces", None)   # not even importable
    def step(x):
        return x
    assert gpu.gpu(gpu.run_seconds)(step) is step


def test_on_zero_gpu_spaces_gpu_gets_the_duration(monkeypatch):
    seen = {}
    fake = types.SimpleNamespace(GPU=lambda duration: (lambda fn: seen.setdefault("wrapped", (fn, duration))))
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    def step(x):
        return x
    assert gpu.gpu(gpu.decode_seconds)(step) == (step, gpu.decode_seconds)


def _detached(gen: Generation) -> Generation:
    gen.release()
    gen.target = None
    return gen


@zero_gpu_double(duration=30)
def gpu_steps(gen: Generation, n: int) -> tuple[Generation, list[int]]:
    """One ZeroGPU call: up to ``n`` steps of a parked run, returned parked."""
    gen.target = TARGET
    for _ in range(n):
        if gen.finished:
            break
        gen.step()
    return _detached(gen), list(gen.output)


def test_the_double_runs_in_another_process_and_loses_in_place_changes():
    @zero_gpu_double()
    def change(box):
        box.append(1)
        return len(box)
    box = []
    assert change(box) == 1 and box == []
    with pytest.raises((pickle.PicklingError, TypeError)):   # a lock does not travel
        import threading
        zero_gpu_double()(len)(threading.Lock())


@pytest.mark.parametrize("prompt", [[1, 2, 3, 4, 5, 6], [7, 8, 7, 8, 7, 8, 9], [40, 3, 40, 3, 40]])
def test_a_parked_run_stepped_in_chunks_under_the_double_is_greedy_exact(prompt):
    settings = Settings(max_new_tokens=24, budget=8)
    plain = Generation(TARGET, prompt, plain_settings(settings))
    list(plain.steps())
    gen = _detached(Generation(TARGET, prompt, settings))
    calls = 0
    while not gen.finished:
        gen, output = gpu_steps(gen, 3)     # a chunk that continues where the last one stopped
        calls += 1
    assert calls > 1 and gen.output == plain.output


def test_the_real_spaces_decorator_is_a_no_op_without_zero_gpu(monkeypatch):
    spaces = pytest.importorskip("spaces")
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    def step(x):
        return x
    assert spaces.GPU(duration=gpu.run_seconds)(step) is step
    assert gpu.gpu(gpu.run_seconds)(step) is step


# -- a small classroom through Session.step, every step a ZeroGPU call under the double ----

@pytest.fixture
def on_zero_gpu(monkeypatch):
    """components.gpu as on a ZeroGPU Space, with the double in place of spaces.GPU around
    every decorated call (each with its own duration); yields the calls made."""
    monkeypatch.setattr(gpu, "zero_gpu", lambda: True)
    for name, (fn, seconds) in gpu.REMOTE.items():
        monkeypatch.setattr(gpu, name, zero_gpu_double(seconds)(fn))
    zerogpu.calls.clear()
    zerogpu.refusals.clear()
    yield zerogpu.calls
    zerogpu.refusals.clear()


@pytest.fixture
def app_runs_no_forward():
    """On ZeroGPU the app's process has no GPU: any forward of TARGET there fails the
    test (the forked worker, another process, may run them)."""
    app = os.getpid()

    def guard(module, args):
        if module is TARGET.model and os.getpid() == app:
            raise AssertionError("a forward of the model ran in the app's process")
    hook = TARGET.model.register_forward_pre_hook(guard)
    yield
    hook.remove()


@pytest.mark.slow  # seconds, not milliseconds: make test, not test-fast
def test_a_small_classroom_steps_to_plain_greedy_with_every_step_a_zero_gpu_call(on_zero_gpu):
    from components.state import Keeper
    from components.state import Session
    from tests.tiny import hf_greedy, repetitive_prompt
    keeper = Keeper()
    prompts = [repetitive_prompt(seed) for seed in (1, 2, 3, 4)]
    sessions = [Session(keeper) for _ in prompts]
    for session, prompt in zip(sessions, prompts):
        session.apply(Settings(max_new_tokens=20))
        session.start(TARGET, "p", prompt)
        assert session.baseline is not None        # plain decoding measured alongside, in the same calls
    while not all(s.finished for s in sessions):  # the class steps in turns
        for session in sessions:
            if not session.finished:
                session.step(str)
                assert session.generation.cache is None and session.generation.target is TARGET
    for session, prompt in zip(sessions, prompts):
        assert session.output_ids() == hf_greedy(TARGET.model, prompt, 20)
        assert len(session.stats) > 2


@pytest.mark.real_model
def test_the_real_model_is_greedy_exact_on_an_anchor_with_every_step_a_zero_gpu_call(on_zero_gpu):
    """SmolLM2 in float32: an anchor prompt, each step a forked, pickled call, gives plain
    greedy decoding's tokens (the plain run in this process, untouched by the double). One
    anchor: each forked step costs a second here, and the tiny models above cover the rest."""
    from components.state import Keeper
    from components.state import Session
    from racer.bench.data import anchor_prompts
    from racer.model.loading import load_model
    from racer.model.target import TargetModel
    model, tokenizer = load_model(precision="float32", backend="torch")   # torch's products, as on a GPU
    real = TargetModel(model, tokenizer)
    settings = Settings(max_new_tokens=24)
    for anchor in anchor_prompts()[:1]:
        ids = list(anchor["input_ids"])
        plain = Generation(real, ids, plain_settings(settings))
        list(plain.steps())
        session = Session(Keeper())
        session.apply(settings)
        session.start(real, "p", ids)
        while not session.finished:
            session.step(str)
        assert session.output_ids() == plain.output


def _calibrate(t):
    t.verify_costs()


def test_the_warm_up_runs_in_a_zero_gpu_call_and_its_calibration_comes_back(on_zero_gpu):
    fresh = target(tiny_model("llama", 11))
    fresh._costs, fresh._error_bound = {}, {}   # tests.tiny caches targets: start uncalibrated
    assert gpu.warm_up(fresh, _calibrate) is None   # float64: exact by default, no chain check
    costs = fresh.known_verify_costs()
    assert costs is not None and set(costs) >= {1, 64}
    assert fresh._error_bound                   # the greedy guard's bound too: no forward left for the app
    assert [c.name for c in on_zero_gpu] == ["_warm_up_in_worker"]


# -- Compare and Tune on ZeroGPU: every step (Compare) or prompt run (Tune) a GPU call --

def counted(monkeypatch, name: str) -> list:
    """Counts the calls of ``gpu.<name>`` (the double, under ``on_zero_gpu``)."""
    calls, inner = [], getattr(gpu, name)

    def call(*args, **kwargs):
        calls.append(args)
        return inner(*args, **kwargs)
    monkeypatch.setattr(gpu, name, call)
    return calls


@pytest.mark.slow  # seconds, not milliseconds: make test, not test-fast
def test_compare_on_zero_gpu_steps_each_run_in_gpu_calls_to_plain_greedy(on_zero_gpu, monkeypatch):
    from components import compare as compare_handlers
    from components.compare import CompareHandlers
    from components.state import Session
    from racer.measure.baseline import BaselineCache
    from racer.measure.compare import run_drafters
    from tests.app_client import controls
    from tests.tiny import hf_greedy, repetitive_prompt
    prompt = repetitive_prompt(5)
    calls = counted(monkeypatch, "_remote_block")
    *_, (_, _, results, *_) = run_drafters(TARGET, prompt, Settings(max_new_tokens=16), ["racer", "retrieval", "plain"],
                                       cache=BaselineCache(), repeats=2, per_drafter=True, runner=gpu.run_block)
    expected = hf_greedy(TARGET.model, prompt, 16)
    assert [list(r.output_ids) for r in results] == [expected] * 3
    assert [c[3] for c in calls] == [("plain", "racer", "plain", "racer", "plain"),
                                     ("plain", "retrieval", "plain", "retrieval", "plain")]   # one call per drafter
    assert all(len(r.speedups) == 2 for r in results[:2])   # each round against the plain runs of its own call
    assert [c.seconds for c in zerogpu.calls] == [gpu.block_seconds(gpu.remember(TARGET), prompt,
                                                                    Settings(max_new_tokens=16), c[3], None)
                                                  for c in calls]
    # the Compare tab's handler takes that path, and says first what it takes of the quota
    monkeypatch.setattr(compare_handlers, "prompt_with_note", lambda target, text: (prompt, ""))
    calls.clear()
    frames = list(CompareHandlers(TARGET, "").on_compare(Session(), "p", 12, ["racer", "plain"], 1,
                                                         **controls(max_new_tokens=12)))
    assert "This comparison will take about" in frames[0]["status"] and "in 1 GPU call," in frames[0]["status"]
    assert "Done" in frames[-1]["status"] and len(calls) == 1


def test_tune_on_zero_gpu_runs_each_prompt_in_a_gpu_call_to_plain_greedy(on_zero_gpu, monkeypatch):
    from components import tune as tune_handlers
    from components.tune import TuneHandlers, TuneState
    from tests.app_client import controls
    from tests.tiny import hf_greedy
    monkeypatch.setattr(tune_handlers, "checked_prompt_ids", lambda t, text: [int(w) for w in text.split()])
    calls = counted(monkeypatch, "_remote_decode")
    state = TuneState()
    first, *_, last = TuneHandlers(TARGET, "").on_tune(state, "5 6 7 5 6 7 5 6 7", "current", "qa", 1, 10,
                                                [2, 4], [2], [], [], 1, "auto", None,
                                                **controls(max_new_tokens=10))
    assert "Done: 2 settings" in last["status"]
    assert "This sweep will take about" in first["status"]      # said before the first GPU call
    assert f"in {len(calls)} GPU calls," in first["status"]     # from the sweep's own plan of runs
    expected = tuple(hf_greedy(TARGET.model, [5, 6, 7, 5, 6, 7, 5, 6, 7], 10))
    runs = [run for p in state.result.cells + state.result.plains for run in p.runs]
    assert runs and all(run.output == expected for run in runs)
    assert len(calls) == len(runs) + 2     # every run, and the two untimed warm-up runs


# -- a Run is one GPU call; Stop and settings reach it; a refusal changes nothing -----------

def explore(monkeypatch, prompt):
    """The Explore tab's handlers over TARGET with every view of the page, ``prompt``
    standing for whatever text is typed."""
    from app import EXPLORE_VIEWS
    from components import explore as explore_module
    from components.explore import Handlers
    monkeypatch.setattr(explore_module, "prompt_with_note", lambda target, text: (list(prompt), ""))
    return Handlers(TARGET, "tiny", "", EXPLORE_VIEWS)


def test_a_run_of_64_tokens_is_one_gpu_call_greedy_exact_with_its_speedup_measured(
        on_zero_gpu, app_runs_no_forward, monkeypatch):
    from components.state import Keeper, Session
    from tests.app_client import controls
    prompt = repetitive_prompt(7)
    expected = hf_greedy(TARGET.model, prompt, 64)
    gpu.warm_up(TARGET, _calibrate)                    # start-up: the app's first GPU call
    handlers, session = explore(monkeypatch, prompt), Session(Keeper())
    *_, last = handlers.on_run(session, "p", **controls(max_new_tokens=64, measure=True))
    assert [c.name for c in on_zero_gpu] == ["_warm_up_in_worker", "_run_in_worker"]
    assert session.finished and session.output_ids() == expected
    assert len(session.records) > 3                     # every step came back, streamed
    # the plain run alternated with RACER inside the call: the Speedup tab draws the measured speedup
    speedups = [s.speedup for s in session.stats if s.speedup is not None]
    assert len(speedups) == len(session.stats) - 1 and all(v > 0 for v in speedups)
    assert len(session.baseline.timeline) >= 64
    figure = last["speedup"]
    assert any(v is not None for trace in figure.data for v in (trace.y or ()))
    assert "measured speedup **" in last["status"]
    # the duration asked was sized from the work: the prompt, 64 tokens and the plain run alongside
    asked = on_zero_gpu[1].seconds
    assert gpu.CALL_S < asked == gpu.asked(
        len(prompt) * 2 * gpu.PREFILL_TOKEN_S + 128 * gpu.forward_s(gpu.remember(TARGET))) <= gpu.MAX_CALL_S


def test_a_step_is_one_gpu_call_and_a_long_run_goes_on_in_a_next_call(on_zero_gpu, app_runs_no_forward, monkeypatch):
    from components.state import Keeper, Session
    prompt = repetitive_prompt(8)
    gpu.warm_up(TARGET, _calibrate)
    session = Session(Keeper())
    session.apply(Settings(max_new_tokens=40))
    session.start(TARGET, "p", prompt)
    session.step(str)
    session.step(str)
    assert [c.name for c in on_zero_gpu[1:]] == ["_run_in_worker"] * 2     # a Step: one call each
    rest = gpu.run_seconds(gpu.remember(TARGET), session.generation, session.baseline, None, None)
    assert on_zero_gpu[2].seconds < rest                                     # sized for one step, not a run
    monkeypatch.setattr(gpu, "DEADLINE", 0.0)     # every call reaches its deadline after one step
    on_zero_gpu.clear()
    list(session.steps(str))
    assert session.finished and session.output_ids() == hf_greedy(TARGET.model, prompt, 40)
    assert len(on_zero_gpu) == len(session.records) - 2 > 1   # one step a call, each going on from the last


def slow_steps(monkeypatch, seconds: float = 0.3):
    """Every engine step takes ``seconds`` more (the forked worker inherits it)."""
    step = Generation.step

    def slow(self):
        time.sleep(seconds)
        return step(self)
    monkeypatch.setattr(Generation, "step", slow)


def test_stop_reaches_a_run_in_its_gpu_call_within_a_step_and_the_run_goes_on_later(
        on_zero_gpu, app_runs_no_forward, monkeypatch):
    from components.state import Keeper, Session
    prompt = repetitive_prompt(9)
    session = Session(Keeper())
    session.apply(Settings(max_new_tokens=64, adaptive_budget=False))
    session.start(TARGET, "p", prompt)
    slow_steps(monkeypatch)
    steps = session.steps(str)
    next(steps)                                # the prefill is back: the call runs on
    session.stop_requested = True              # what the Stop button does, across the fork
    after = list(steps)
    assert len(after) <= 2 and not session.finished   # the step under way, and perhaps the one sent
    assert len(on_zero_gpu) == 1
    monkeypatch.undo()                         # normal speed, the double still in place
    monkeypatch.setattr(gpu, "zero_gpu", lambda: True)
    for name, (fn, seconds) in gpu.REMOTE.items():
        monkeypatch.setattr(gpu, name, zero_gpu_double(seconds)(fn))
    session.stop_requested = False             # Run again: it goes on where it stopped
    list(session.steps(str))
    assert session.finished and session.output_ids() == hf_greedy(TARGET.model, prompt, 64)


@pytest.mark.slow  # seconds, not milliseconds: make test, not test-fast
def test_settings_changed_during_a_run_apply_from_the_next_step_in_its_gpu_call(on_zero_gpu, monkeypatch):
    from components.state import Keeper, Session
    session = Session(Keeper())
    session.measure = False
    session.apply(Settings(max_new_tokens=24, width=8, adaptive_budget=False))
    session.start(TARGET, "p", repetitive_prompt(10))
    slow_steps(monkeypatch, 0.1)
    steps = session.steps(str)
    next(steps)
    note = session.apply(Settings(max_new_tokens=24, width=2, adaptive_budget=False))
    assert "applies from the next step" in note
    records = list(steps)
    assert records[-1].settings.width == 2 and "tree width" in "".join(r.changed for r in records)
    assert len(on_zero_gpu) == 1                 # the same call took them


def test_a_refused_call_leaves_a_sentence_and_the_run_where_it_was(on_zero_gpu, app_runs_no_forward, monkeypatch):
    from components.state import Keeper, Session
    from tests.app_client import controls
    prompt = repetitive_prompt(11)
    gpu.warm_up(TARGET, _calibrate)
    handlers, session = explore(monkeypatch, prompt), Session(Keeper())
    handlers.on_step(session, "p", **controls(max_new_tokens=32, measure=True))
    handlers.on_step(session, "p", **controls(max_new_tokens=32, measure=True))
    before = (list(session.output_ids()), len(session.records), list(session.stats), list(session.baseline.timeline))
    zerogpu.refusals.append(zerogpu.refused())     # the visitor's quota is used up
    *_, last = handlers.on_run(session, "p", **controls(max_new_tokens=32, measure=True))
    line = last["status"]
    assert "ZeroGPU quota is used up for now (17 s asked, 9 s left)" in line
    assert "try again in 4 min 31 s" in line and "signing in to Hugging Face gives a bigger daily quota" in line
    assert "Nothing was lost" in line and "went wrong" not in line
    assert (session.output_ids(), len(session.records), session.stats, session.baseline.timeline) == (
        before[0], before[1], before[2], before[3])
    # the next Run goes on from there, to plain greedy decoding's tokens
    handlers.on_run(session, "p", **controls(max_new_tokens=32, measure=True))
    *_, last = handlers.on_run(session, "p", **controls(max_new_tokens=32, measure=True))
    assert session.finished and session.output_ids() == hf_greedy(TARGET.model, prompt, 32)


def test_refusals_of_every_kind_are_said_in_a_sentence():
    import gradio as gr
    from spaces.zero.gradio import error   # what spaces raises, made by spaces itself
    quota = error("ZeroGPU quota exceeded", "You have exceeded your free ZeroGPU quota (60s requested vs. "
                                            "12s left). Try again in 1:02:05. ")
    busy = error("ZeroGPU queue timeout", "No GPU was available after 60s")
    long = error("ZeroGPU illegal duration", "The requested GPU duration (400s) is larger than the maximum allowed")
    said = [gpu.refusal(e) for e in (quota, busy, long)]
    assert said[0].startswith("Your ZeroGPU quota is used up for now (60 s asked, 12 s left): try again in "
                              "1 h 2 min 5 s; signing in")
    assert said[1].startswith("No GPU was free on ZeroGPU just now: try again in a minute or two")
    assert "more GPU time at once than ZeroGPU allows" in said[2]
    assert all("Nothing was lost" in s for s in said)
    assert gpu.refusal(gr.Error("ZeroGPU worker error")) is None and gpu.refusal(ValueError("x")) is None
    from components.messages import error_message
    assert error_message(quota, "engine", "Press Reset.") == said[0]


def test_durations_are_sized_from_the_work_asked():
    key = gpu.remember(TARGET)
    short, long = Settings(max_new_tokens=16), Settings(max_new_tokens=256)
    gen = Generation(TARGET, [1, 2, 3], short)
    assert gpu.run_seconds(key, gen, None, None, None) < gpu.run_seconds(
        key, Generation(TARGET, [1, 2, 3], long), None, None, None)
    base = LiveBaseline(TARGET, [1, 2, 3], short)
    assert gpu.run_seconds(key, gen, None, None, None) < gpu.run_seconds(key, gen, base, None, None)
    assert gpu.run_seconds(key, gen, base, None, 1) <= gpu.run_seconds(key, gen, base, None, None)
    block = ("plain", "racer", "plain")
    assert gpu.block_seconds(key, [1] * 10, short, block[:2], None) < gpu.block_seconds(key, [1] * 10, short, block, None)
    assert gpu.decode_seconds(key, [1] * 10, short) < gpu.decode_seconds(key, [1] * 4000, short)
    assert gpu.decode_seconds(key, [1] * 10, Settings(max_new_tokens=4096)) == gpu.MAX_CALL_S
    plan = gpu.compare_plan(TARGET, 10, Settings(max_new_tokens=512), [["plain", "racer"] * 6])
    assert not plan.fits and plan.longest > gpu.MAX_CALL_S


def test_a_comparison_too_long_for_one_call_is_refused_before_it_starts(on_zero_gpu, monkeypatch):
    from components import compare as compare_handlers
    from components.compare import CompareHandlers
    from components.state import Session
    from tests.app_client import controls
    monkeypatch.setattr(compare_handlers, "prompt_with_note", lambda target, text: ([5, 6, 7], ""))
    *_, last = CompareHandlers(TARGET, "").on_compare(Session(), "p", 512, ["racer"], 5, **controls())
    assert "more than the 120 s a call may last" in last["status"] and not on_zero_gpu


def test_precision_auto_makes_its_chain_check_in_the_warm_up_call(on_zero_gpu, monkeypatch):
    """On ZeroGPU auto's choice and the chain check of a precision not exact by default run
    in the warm-up's call; the app's model takes the precision, its weights stay as loaded."""
    import torch
    from racer.model import loading, precision
    monkeypatch.setattr(loading, "prompt_ids", lambda tokenizer, text: list(range(1, 20)))
    monkeypatch.setattr(precision, "choose_auto", lambda *args: "bfloat16")   # what a GPU might choose
    fresh = target(tiny_model("llama", 12))
    agreement = gpu.warm_up(fresh, _calibrate, choose=True)
    assert agreement is not None and agreement.total == precision.CHECK_TOKENS
    assert fresh.dtype == torch.bfloat16 and next(fresh.model.parameters()).dtype == torch.float64
    note = precision.precision_note(fresh, None, agreement)    # no forward here: the check came back
    assert note.startswith("bfloat16: ")
    assert gpu.remember(fresh)[1] == "bfloat16"               # a later call's worker converts its copy
    fresh.dtype = torch.float64                                # tests.tiny caches targets


def test_a_run_pickles_parked_and_steps_on_when_unpickled():
    """What travels to a GPU call: no KV cache, drafter, model or CUDA generator."""
    gen = Generation(TARGET, repetitive_prompt(3), Settings(max_new_tokens=20, temperature=0.8, seed=5))
    gen.step()
    gen.step()
    back = pickle.loads(pickle.dumps(gen))
    assert back.cache is None and back.drafter is None and back.target is None and back._generator is None
    assert gen.cache is not None and gen.drafter is not None     # the live run is untouched
    back.target = TARGET
    while not gen.finished:
        gen.step()
    while not back.finished:
        back.step()
    assert back.output == gen.output           # sampling included: the generator's state travelled
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(TARGET)


def _big_product(target) -> float:
    import torch
    return float((torch.ones(800, 800) @ torch.ones(800, 800)).sum())


def test_a_call_answers_after_the_app_ran_torch_on_several_threads(on_zero_gpu, monkeypatch):
    """GNU OpenMP cannot start its threads again in a forked child: one whose parent ran
    parallel regions hangs at its first one with more than one thread. The worker runs
    torch's CPU side on one thread (``components.gpu._target``), so it answers."""
    import torch
    monkeypatch.setattr(zerogpu, "TIMEOUT_S", 60)
    torch.set_num_threads(2)
    try:
        torch.ones(800, 800) @ torch.ones(800, 800)        # a parallel region in the app
        assert gpu.with_target(_big_product, TARGET, forwards=1) == 800.0 ** 3
    finally:
        torch.set_num_threads(1)                           # the module's one_thread


def test_the_front_matter_is_a_zero_gpu_space_on_python_3_12_with_both_default_models():
    """What the hub reads: ZeroGPU offers Python 3.10.13 or 3.12.12 only."""
    from pathlib import Path

    import yaml

    from racer.model.loading import DEFAULT_HUB_ID, GPU_MODEL
    root = Path(__file__).resolve().parent.parent
    front = yaml.safe_load((root / "README.md").read_text(encoding="utf-8").split("---")[1])
    assert front["python_version"] == "3.12" and front["suggested_hardware"] == "zero-a10g"
    assert front["preload_from_hub"] == [DEFAULT_HUB_ID, GPU_MODEL]
    pins = (root / "requirements.txt").read_text(encoding="utf-8")
    assert f"gradio=={front['sdk_version']}" in pins and "spaces==" in pins
