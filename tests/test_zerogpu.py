"""ZeroGPU: ``components.gpu.gpu`` changes nothing without ZeroGPU and hands the call
to ``spaces.GPU`` on it; under a double that runs each call as ZeroGPU does (a forked
process, arguments and results pickled), a run parked between calls (its KV cache and
drafter released, the model left behind) steps on to plain greedy decoding's tokens."""
from __future__ import annotations

import pickle
import sys
import types

import pytest

from components import gpu
from racer.measure.baseline import plain_settings
from racer.engine.generate import Generation
from racer.engine.settings import Settings
from tests.tiny import target, tiny_model
from tests.zerogpu import zero_gpu_double

pytestmark = pytest.mark.usefixtures("one_thread")

TARGET = target(tiny_model("llama", 3))   # a module global: the fork brings it, as ZeroGPU's does


def test_without_zero_gpu_the_function_is_returned_unchanged(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.setitem(sys.modules, "spaces", None)   # not even importable
    def step(x):
        return x
    assert gpu.gpu(gpu.STEP_S)(step) is step


def test_on_zero_gpu_spaces_gpu_gets_the_duration(monkeypatch):
    seen = {}
    fake = types.SimpleNamespace(GPU=lambda duration: (lambda fn: seen.setdefault("wrapped", (fn, duration))))
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    def step(x):
        return x
    assert gpu.gpu(gpu.TUNE_CHUNK_S)(step) == (step, gpu.TUNE_CHUNK_S)


def _detached(gen: Generation) -> Generation:
    gen.release()
    gen.target = None
    return gen


@zero_gpu_double(duration=gpu.STEP_S)
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
    assert spaces.GPU(duration=gpu.STEP_S)(step) is step
    assert gpu.gpu(gpu.STEP_S)(step) is step


# -- a small classroom through Session.step, every step a ZeroGPU call under the double ----

@pytest.fixture
def on_zero_gpu(monkeypatch):
    """components.gpu as on a ZeroGPU Space, with the double in place of spaces.GPU."""
    monkeypatch.setattr(gpu, "zero_gpu", lambda: True)
    monkeypatch.setattr(gpu, "_remote_step", zero_gpu_double(gpu.STEP_S)(gpu._step_in_worker))
    monkeypatch.setattr(gpu, "_remote_warm_up", zero_gpu_double(gpu.WARM_UP_S)(gpu._warm_up_in_worker))
    monkeypatch.setattr(gpu, "_remote_decode", zero_gpu_double(gpu.TUNE_CHUNK_S)(gpu._decode_in_worker))
    import components.state as session_module
    monkeypatch.setattr(session_module, "zero_gpu", lambda: True)


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
        assert session.baseline is None            # not measured on ZeroGPU (not wired)
    while not all(s.finished for s in sessions):  # the class steps in turns
        for session in sessions:
            if not session.finished:
                session.step(str)
                assert session.generation.cache is None and session.generation.target is TARGET
    for session, prompt in zip(sessions, prompts):
        assert session.output_ids() == hf_greedy(TARGET.model, prompt, 20)
        assert len(session.stats) > 2


@pytest.mark.real_model
def test_the_real_model_is_greedy_exact_on_two_anchors_with_every_step_a_zero_gpu_call(on_zero_gpu):
    """SmolLM2 in float32: two anchor prompts, each step a forked, pickled call, give
    plain greedy decoding's tokens (the plain run in this process, untouched by the double)."""
    from components.state import Keeper
    from components.state import Session
    from racer.bench.data import anchor_prompts
    from racer.model.loading import load_model
    from racer.model.target import TargetModel
    model, tokenizer = load_model(precision="float32")
    real = TargetModel(model, tokenizer)
    settings = Settings(max_new_tokens=24)
    for anchor in anchor_prompts()[:2]:
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
    fresh._costs = None                      # tests.tiny caches targets: start uncalibrated
    gpu.warm_up(fresh, _calibrate)
    assert fresh._costs is not None and set(fresh._costs) >= {1, 64}


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
    calls = counted(monkeypatch, "_remote_step")
    *_, (_, _, results, *_) = run_drafters(TARGET, prompt, Settings(max_new_tokens=16), ["racer", "plain"],
                                       cache=BaselineCache(), step=gpu.engine_step)
    expected = hf_greedy(TARGET.model, prompt, 16)
    assert [list(r.output_ids) for r in results] == [expected, expected]
    assert len(calls) == sum(r.forwards for r in results)       # one call per step, prefill included
    # the Compare tab's handler takes that path
    monkeypatch.setattr(compare_handlers, "prompt_with_note", lambda target, text: (prompt, ""))
    calls.clear()
    *_, last = CompareHandlers(TARGET, "").on_compare(Session(), "p", 12, ["racer", "plain"], 1,
                                                     **controls(max_new_tokens=12))
    assert "Done" in last[0] and len(calls) > 2


def test_tune_on_zero_gpu_runs_each_prompt_in_a_gpu_call_to_plain_greedy(on_zero_gpu, monkeypatch):
    from components import tune as tune_handlers
    from components.tune import TuneHandlers, TuneState
    from tests.app_client import controls
    from tests.tiny import hf_greedy
    monkeypatch.setattr(tune_handlers, "checked_prompt_ids", lambda t, text: [int(w) for w in text.split()])
    calls = counted(monkeypatch, "_remote_decode")
    state = TuneState()
    *_, last = TuneHandlers(TARGET, "").on_tune(state, "5 6 7 5 6 7 5 6 7", "current", "qa", 1, 10,
                                                [2, 4], [2], [], [], 1, "auto", None,
                                                **controls(max_new_tokens=10))
    assert "Done: 2 settings" in last[0]
    expected = tuple(hf_greedy(TARGET.model, [5, 6, 7, 5, 6, 7, 5, 6, 7], 10))
    runs = [run for p in state.result.cells + state.result.plains for run in p.runs]
    assert runs and all(run.output == expected for run in runs)
    assert len(calls) == len(runs) + 2     # every run, and the two untimed warm-up runs
