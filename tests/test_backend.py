"""The matrix-product backend (racer/model/backend.py): names checked, the OpenBLAS path's products
equal torch's, greedy RACER equals plain greedy on each backend, ``auto`` keeps torch where
it is fastest (timings mocked), and the verify-cost split adds up. The real-model tests
(marked real_model) run the anchors on the openblas backend."""
from __future__ import annotations

import copy

import pytest
import torch

from racer.model import backend
from racer.model.backend import (Trial, backend_note, backend_of, candidates, check_backend, choose_backend,
                           split_costs, use_backend)
from racer.bench.costs import split_table
from racer.errors import UserError
from racer.model.target import TargetModel
from racer.model.threads import TORCH_THREADS
from racer.engine.settings import Settings
from tests.tiny import ARCHS, TinyTokenizer, assert_greedy_racer_is_plain_greedy, repetitive_prompt, run, tiny_model


def own_copy(arch: str = "llama", **kwargs):
    """A tiny model of our own (tiny_model's are cached and shared: never re-routed)."""
    return copy.deepcopy(tiny_model(arch, **kwargs))


def test_names_are_checked_with_a_sentence():
    assert check_backend("openblas") == "openblas"
    with pytest.raises(UserError, match="backend must be one of auto, torch, openblas"):
        check_backend("mkl")


def test_openblas_needs_a_cpu_float_model(torch_afterwards):
    model = own_copy(dtype=torch.bfloat16)
    assert candidates(model) == ["torch"]
    with pytest.raises(UserError, match="float32 model on a CPU"):
        use_backend(model, "openblas")


@pytest.mark.parametrize("arch", ["llama", "qwen2"])   # qwen2's q, k, v carry a bias
def test_openblas_products_equal_torch_products(arch, torch_afterwards):
    model = own_copy(arch)
    ids = torch.tensor([repetitive_prompt(1)])
    with torch.inference_mode():
        reference = model(ids).logits
        use_backend(model, "openblas")
        assert backend_of(model) == "openblas" and torch.get_num_threads() == 1
        routed = model(ids).logits
        use_backend(model, "torch")
        back = model(ids).logits
    assert backend_of(model) == "torch"
    assert torch.allclose(routed, reference, atol=1e-10, rtol=0)
    assert torch.equal(back, reference)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_greedy_racer_equals_plain_greedy_on_openblas(arch, torch_afterwards):
    model = own_copy(arch)
    use_backend(model, "openblas")
    assert_greedy_racer_is_plain_greedy(TargetModel(model, TinyTokenizer(), name="tiny"), tiny_model(arch))


def fake_measure(ms: dict[str, float], exact: dict[str, bool]):
    def measure(target, names):
        return [Trial(n, {1: ms[n], 16: 2 * ms[n]}, exact.get(n, True), "fake") for n in names]
    return measure


@pytest.mark.parametrize("torch_ms, blas_ms, lean_ms, exact, expected", [
    (20.0, 40.0, 30.0, (), "torch"),                # MKL wins (an Intel with AVX-512): torch stays
    (40.0, 20.0, 30.0, (), "openblas"),             # OpenBLAS wins (an AMD EPYC): taken
    (40.0, 20.0, 30.0, ("openblas",), "lean"),      # faster but its chain check parts somewhere: never taken
    (40.0, 20.0, 30.0, ("openblas", "lean"), "torch"),
    (40.0, 30.0, 20.0, ("openblas", "lean"), "torch"),
    (40.0, 30.0, 20.0, ("lean",), "openblas"),
    (40.0, 30.0, 20.0, (), "lean"),                 # the engine's own forward wins
])
def test_auto_takes_the_fastest_exact_backend(torch_ms, blas_ms, lean_ms, exact, expected, torch_afterwards):
    """``exact`` names the candidates whose chain check parts (the fake's own words)."""
    t = TargetModel(own_copy(), TinyTokenizer(), name="tiny")
    lines = []
    measure = fake_measure({"torch": torch_ms, "openblas": blas_ms, "lean": lean_ms},
                           {name: False for name in exact})
    assert choose_backend(t, lines.append, [1, 2, 3], measure=measure) == expected
    assert backend_of(t.model) == expected
    assert len(lines) == 3 and any("(chosen)" in line and expected in line for line in lines)
    assert torch.get_num_threads() == (1 if expected == "openblas" else TORCH_THREADS)


def test_auto_measures_nothing_where_torch_is_the_only_candidate(torch_afterwards):
    t = TargetModel(own_copy(dtype=torch.bfloat16), TinyTokenizer(), name="tiny")

    def measure(target, names):
        raise AssertionError("nothing to compare: auto must not measure")
    assert choose_backend(t, print, [1, 2], measure=measure) == "torch"


def test_auto_measures_the_model_itself_and_checks_the_chain(torch_afterwards, monkeypatch):
    """Unmocked on a tiny float64 model: every candidate timed; the chain checked fastest
    first until one passes (torch, the reference, needs none), the slower left unchecked
    (torch stays the reference wherever it ranks)."""
    monkeypatch.setattr(backend, "AUTO_ROUNDS", 1)
    monkeypatch.setattr(backend, "AUTO_REPEATS", 1)
    trials = backend.measure_backends(TargetModel(own_copy(), TinyTokenizer()), ["torch", "openblas", "lean"],
                                      repetitive_prompt(2))
    assert [t.name for t in trials] == ["torch", "openblas", "lean"]
    assert all(set(t.ms) == {1, 16} and min(t.ms.values()) > 0 for t in trials)
    by_speed = sorted(trials, key=lambda t: t.score)
    first_exact = next(k for k, t in enumerate(by_speed) if t.exact)
    assert all(t.exact is None and "not run" in t.check for t in by_speed[first_exact + 1:] if t.name != "torch")
    assert all(t.exact is not None for t in by_speed[: first_exact + 1])
    assert all("32/32" in t.check for t in by_speed[: first_exact + 1] if t.name != "torch")


def test_auto_stops_timing_a_candidate_far_behind_and_never_checks_what_cannot_win(torch_afterwards,
                                                                                    monkeypatch):
    """Fake forwards: torch 2x the best after the first round sits out the other two; the
    fastest (openblas) fails its chain check, so the next (lean) is checked and passes;
    torch, slower still, needs no check."""
    from racer.model import precision
    model = own_copy()
    t = TargetModel(model, TinyTokenizer(), name="tiny")
    cost = {"torch": 0.040, "openblas": 0.020, "lean": 0.026}
    timed, checked = [], []
    monkeypatch.setattr(t, "time_verify", lambda sizes, context, repeats: (
        timed.append(backend_of(model)) or {k: cost[backend_of(model)] * k for k in sizes}))

    def agreement(target, ids):
        checked.append(backend_of(model))
        exact = backend_of(model) != "openblas"
        return precision.Agreement(agree=32 if exact else 31, total=32, bitwise=0, max_logit_diff=0.0)
    monkeypatch.setattr(precision, "chain_agreement", agreement)
    trials = backend.measure_backends(t, ["torch", "openblas", "lean"], [1, 2])
    assert timed.count("torch") == 1 and timed.count("openblas") == timed.count("lean") == backend.AUTO_ROUNDS
    assert checked == ["openblas", "lean"]
    assert [(x.name, x.exact) for x in trials] == [("torch", True), ("openblas", False), ("lean", True)]


def test_the_page_names_the_backend(torch_afterwards):
    model = own_copy()
    assert backend_note(model) == "torch products (auto)"
    use_backend(model, "openblas")
    assert backend_note(model, "openblas") == "openblas products"


@pytest.mark.parametrize("name", ["torch", "openblas", "lean"])
def test_the_split_of_a_verify_adds_up(name, torch_afterwards):
    model = own_copy()
    use_backend(model, name)
    parts = split_costs(TargetModel(model, TinyTokenizer()), (1, 4), context_len=16, repeats=1)
    for p in parts.values():
        assert p["matmul"] > 0 and p["attention"] > 0 and p["rest"] >= 0
        assert p["matmul"] + p["attention"] + p["rest"] == pytest.approx(p["total"])
    assert backend_of(model) == name                          # the timers are taken off again
    assert "forward" not in model.model.layers[0].mlp.up_proj.__dict__ or name == "openblas"


def test_split_table_gives_each_backend_against_torch():
    rows = {"float32, torch": dict(backend="torch", ms={1: 40.0, 16: 80.0}),
            "float32, openblas": dict(backend="openblas", ms={1: 20.0, 16: 40.0})}
    part = {1: dict(total=1, matmul=1, attention=0.1, rest=0.2), 16: dict(total=1, matmul=1, attention=0.1, rest=0.2)}
    text = split_table(rows, {label: part for label in rows})
    line = next(line for line in text.splitlines() if line.startswith("float32, openblas") and " 16 " in line)
    assert line.split()[4] == "0.50"


def test_cli_and_bench_take_a_backend():
    from racer.__main__ import build_parser
    from racer.bench.cli import build_parser as bench_parser
    assert build_parser().parse_args(["hi", "--backend", "openblas"]).backend == "openblas"
    assert build_parser().parse_args(["hi"]).backend == "auto"
    assert bench_parser().parse_args(["--verify-costs", "--backend", "torch,openblas"]).backend == "torch,openblas"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["hi", "--backend", "mkl"])


# -- the real model ------------------------------------------------------------------------------

NEW = 64
NEAR_TIE = 1e-3


@pytest.fixture(scope="module")
def smol():
    from racer.model.loading import load_model
    model, tokenizer = load_model(precision="float32", backend="torch")
    yield TargetModel(model, tokenizer)
    use_backend(model, "torch")


def partings(t, anchors) -> list[tuple[int, int, float]]:
    """Greedy RACER against plain greedy on ``t``'s backend (they must be equal), and
    where plain greedy parts from the stored fp32 anchors (torch's generate()):
    (question, position, |logit gap| of the two tokens there)."""
    parted = []
    for anchor in anchors:
        prompt = anchor["input_ids"]
        plain, _ = run(t, prompt, Settings(max_new_tokens=NEW, drafter="plain"))
        racer, _ = run(t, prompt, Settings(max_new_tokens=NEW))
        assert racer == plain, f"anchor {anchor['question_id']}"
        expected = anchor["greedy_output_ids"][:len(plain)]
        at = next((i for i, (a, b) in enumerate(zip(plain, expected)) if a != b), None)
        if at is not None:
            logits, _ = t.prefill(list(prompt) + plain[:at], t.new_cache(), top_k=1)
            gap = abs(float(logits[plain[at]]) - float(logits[expected[at]]))
            parted.append((anchor["question_id"], at, gap))
    return parted


@pytest.mark.real_model
@pytest.mark.parametrize("name", ["openblas", "lean"])
def test_real_model_racer_equals_plain_and_a_sample_of_anchors_up_to_near_ties(smol, name):
    """One anchor (the 30 are ``make check-exact``'s): greedy RACER's tokens are plain greedy's
    on the same backend; against the stored anchors an output is equal, or parts only where
    the two tokens' logits are within NEAR_TIE of each other."""
    from racer.bench.data import anchor_prompts
    use_backend(smol.model, name)
    parted = partings(smol, [anchor_prompts()[16]])
    assert all(gap < NEAR_TIE for _, _, gap in parted), parted


@pytest.mark.real_model
@pytest.mark.exhaustive
@pytest.mark.parametrize("name", ["openblas", "lean"])
def test_real_model_racer_equals_plain_and_the_anchors_up_to_near_ties(smol, name):
    """As above, over the 30 anchors (``make check-exact``)."""
    from racer.bench.data import anchor_prompts
    use_backend(smol.model, name)
    parted = partings(smol, anchor_prompts())
    assert all(gap < NEAR_TIE for _, _, gap in parted), parted
    print(f"{name}: {len(parted)} of 30 anchors part from torch's generate() at a near tie: {parted}")


def test_a_backend_not_offered_leaves_a_page_that_says_so():
    """RACER_BACKEND=mkl: the page comes up with one sentence, before any weight is read."""
    from components.startup import load_target
    target, note = load_target("SmolLM2-135M-Instruct", "auto", "mkl")
    assert target is None and note == "backend must be one of auto, torch, openblas, lean"
