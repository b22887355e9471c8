"""The benchmark: prompt selection, method parsing, an end-to-end run on a tiny float64
model (tables, JSON, greedy check), a mismatch the check must catch, and the warm
state policy."""
import json

import pytest

from racer.bench import cli as bench
from racer.bench import runs
from racer.bench.cli import Prompt, check_equal, parse_methods
from racer.bench.data import PRESETS, load_questions, preset, select
from racer.drafting.registry import make_drafter
from racer.engine.generate import Generation
from racer.engine.settings import Settings
from racer.errors import UserError
from tests.tiny import target, tiny_model

EOS = 2


@pytest.fixture(scope="module")
def tiny():
    """A random 2-layer Llama in float64 (no near-ties between kernels) and a stand-in
    tokenizer: the benchmark only needs token ids and the EOS id."""
    return target(tiny_model(vocab=64, max_positions=256, init_std=0.02, eos=EOS), eos=EOS)


PROMPTS = [Prompt(1, "translation", tuple([5, 6, 7, 8, 9, 10] * 5)),
           Prompt(2, "qa", tuple([11, 12, 13, 14] * 6 + [15]))]


def test_five_per_task_is_the_anchor_preset():
    questions = load_questions()
    assert len(questions) == 480
    picked = select(questions, per_task=5)
    assert [q.question_id for q in picked] == list(PRESETS["anchors"])
    assert [q.task for q in picked[:6]] == ["multi-turn"] * 5 + ["translation"]
    assert [q.subcategory for q in picked[:5]] == ["writing", "roleplay", "reasoning", "math", "coding"]
    assert [q.question_id for q in select(preset("anchors", questions), ("qa",), 2)] == [321, 322]


def test_unknown_category_is_refused():
    with pytest.raises(ValueError, match="unknown categories"):
        select(load_questions(), ("poetry",), 1)


def test_methods_take_setting_overrides():
    base = Settings(budget=16)
    fixed, big, hf = parse_methods("racer:adaptive_budget=0,racer:budget=64:width=4,hf_pld", base)
    assert fixed.settings.adaptive_budget is False and fixed.settings.budget == 16
    assert (big.settings.budget, big.settings.width, big.label) == (64, 4, "racer:budget=64:width=4")
    assert hf.is_hf and hf.lookup == 10
    with pytest.raises(ValueError, match="not a setting"):
        parse_methods("racer:speed=2", base)
    with pytest.raises(ValueError, match="budget"):
        parse_methods("racer:budget=0", base)


def test_an_engine_method_may_name_its_backend():
    old, new, racer = parse_methods("plain@openblas,plain,racer:budget=8@lean", Settings())
    assert (old.backend, new.backend, racer.backend) == ("openblas", None, "lean")
    assert racer.settings.budget == 8 and old.label == "plain@openblas"
    with pytest.raises(UserError, match="only the engine's methods"):
        parse_methods("hf_greedy@openblas", Settings())
    with pytest.raises(UserError, match="backend must be one of"):
        parse_methods("plain@mkl", Settings())


def test_the_old_forward_and_the_new_in_one_run(tmp_path):
    """plain on the loaded backend (torch), on openblas and on the lean forward, and RACER on
    the lean forward: one run, the same tokens, the loaded backend put back after each."""
    import copy
    from racer.model.backend import backend_of
    from racer.model.target import TargetModel
    from tests.tiny import TinyTokenizer
    model = copy.deepcopy(tiny_model(vocab=64, max_positions=256, init_std=0.02, eos=EOS))
    own = TargetModel(model, TinyTokenizer(EOS), name="tiny")
    try:
        result = bench.main(["--drafters", "plain,plain@openblas,plain@lean,racer@lean", "--max-new-tokens", "12"],
                            target=own, prompts=PROMPTS)
    finally:
        from racer.model.threads import TORCH_THREADS, set_blas_threads
        import torch
        torch.set_num_threads(TORCH_THREADS)
        set_blas_threads(1)
    assert result["mismatches"] == [] and backend_of(model) == "torch"
    assert {r["method"] for r in result["runs"]} == {"plain", "plain@openblas", "plain@lean", "racer@lean"}
    assert all(r["same"] for r in result["runs"])


def test_bench_end_to_end(tiny, tmp_path, capsys):
    out = tmp_path / "bench.json"
    result = bench.main(["--drafters", "racer,plain", "--hf", "--max-new-tokens", "12",
                         "--budget", "8", "--json", str(out)], target=tiny, prompts=PROMPTS)
    printed = capsys.readouterr().out
    for title in ("translation (1 prompts)", "qa (1 prompts)", "overall (2 prompts)",
                  "verify cost by tree size"):
        assert title in printed
    assert "every method produced the same tokens as plain" in printed

    saved = json.loads(out.read_text())
    assert len(saved["runs"]) == 2 * 4  # 2 prompts x (racer, plain, hf_greedy, hf_pld)
    assert all(r["same"] for r in saved["runs"]) and saved["mismatches"] == []
    overall = saved["tables"]["overall"]
    assert overall["plain"]["mat"] == 1.0 and overall["hf_greedy"]["mat"] == 1.0
    assert overall["racer"]["forwards"] <= overall["plain"]["forwards"]
    assert overall["racer"]["vs_plain"] > 0 and overall["racer"]["same"] == [2, 2]
    assert overall["plain"]["vs_plain"] == overall["plain"]["vs_plain_median"] == 1.0
    assert result["tables"] == saved["tables"]
    # methods alternate: the second prompt starts with the second method
    order = [(r["question_id"], r["method"]) for r in saved["runs"]]
    assert order[0] == (1, "racer") and order[4] == (2, "plain")


def test_injected_mismatch_is_reported(tiny, monkeypatch, capsys):
    real = runs.run_engine

    def broken(target, prompt, settings, drafter=None):
        run = real(target, prompt, settings, drafter)
        if settings.drafter == "racer" and prompt.question_id == 2:
            run.output[3] = (run.output[3] + 1) % 64
        return run

    monkeypatch.setattr(runs, "run_engine", broken)
    result = bench.main(["--drafters", "racer,plain", "--max-new-tokens", "8"], target=tiny, prompts=PROMPTS)
    printed = capsys.readouterr().out
    assert "GREEDY MISMATCHES (1)" in printed
    assert result["mismatches"] == ["racer on q2: differs from plain first at token 3"]
    assert result["tables"]["overall"]["racer"]["same"] == [1, 2]
    assert result["tables"]["qa"]["racer"]["same"] == [0, 1]


def test_anchor_check_compares_the_first_128_tokens():
    run = bench.Run("plain", 7, "qa", [1, 2, 3], 3, 0.1)
    assert check_equal([run], "plain", {7: [1, 2, 3, 4]}, max_new_tokens=3) == []
    assert run.same_anchor is True
    lines = check_equal([run], "plain", {7: [1, 2, 3, 4]}, max_new_tokens=8)
    assert lines == ["plain on q7: differs from the anchors' greedy output in length (3 vs 4 tokens)"]


def test_warm_drafter_keeps_automaton_and_cache_across_prompts(tiny):
    settings = Settings(budget=8, max_new_tokens=10)
    warm = make_drafter("racer", tiny.vocab_size, keep_state=True)
    fresh = make_drafter("racer", tiny.vocab_size)
    for drafter in (warm, fresh):
        for p in PROMPTS:
            gen = Generation(tiny, p.ids, settings, drafter=drafter)
            list(gen.steps())
            plain = Generation(tiny, p.ids, settings.with_changes(drafter="plain"))
            list(plain.steps())
            assert gen.output == plain.output
    assert warm.automaton.node_count > fresh.automaton.node_count
    first_token = PROMPTS[0].ids[0]  # seen only in the first prompt
    assert warm.cache.successors(first_token, 1) and not fresh.cache.successors(first_token, 1)


def test_transformers_prompt_lookup_matches_greedy_beside_the_engine(tiny):
    """TargetModel puts its own attention on the shared model; transformers' prompt lookup
    (several tokens verified on top of a cache) must still get correct masks there."""
    from racer.bench.hf_baselines import hf_generate
    ids = PROMPTS[0].ids
    greedy = hf_generate(tiny.model, ids, 24)
    lookup = hf_generate(tiny.model, ids, 24, prompt_lookup=10)
    assert greedy.forwards == len(greedy.output)
    assert lookup.output == greedy.output and lookup.forwards < greedy.forwards
    assert tiny.model.config._attn_implementation == "racer_tree_sdpa"  # ran on the engine's attention


def test_repeated_rounds_keep_the_fastest_run(tiny, monkeypatch):
    # warm-ups (racer, plain), round 1 (racer, plain), round 2 rotated (plain, racer)
    seconds = iter([1.0, 1.0, 0.3, 0.9, 0.5, 0.2])

    def fake(target, method, prompt, max_new_tokens, drafter=None):
        return bench.Run(method.label, prompt.question_id, prompt.task, [1], 1, next(seconds))

    monkeypatch.setattr(bench, "run_method", fake)
    methods = parse_methods("racer,plain", Settings())
    runs = bench.run_bench(tiny, PROMPTS[:1], methods, 6, repeat=2, progress=False)
    assert [(r.method, r.seconds) for r in runs] == [("racer", 0.2), ("plain", 0.5)]
    with pytest.raises(ValueError, match="fresh"):
        bench.run_bench(tiny, PROMPTS[:1], methods, 6, state="warm", repeat=2, progress=False)


class FakeLlama:
    """What the benchmark uses of llama_cpp.Llama: ``reset`` and a ``generate`` iterator."""
    def __init__(self, model_path, **kwargs):
        self.model_path = model_path

    def reset(self):
        pass

    def generate(self, tokens, **kwargs):
        yield from (7, 8, 9, 10, 11, 12, 13, 14, 15, 16)


def test_llamacpp_is_a_method_for_speed_whose_tokens_are_not_compared(tiny, monkeypatch, capsys):
    import sys
    import types
    from pathlib import Path
    monkeypatch.setitem(sys.modules, "llama_cpp", types.SimpleNamespace(Llama=FakeLlama))
    monkeypatch.setattr(runs, "packaged_gguf", lambda: Path("model.gguf"))
    runs.llamacpp_model.cache_clear()
    result = bench.main(["--drafters", "racer,plain,llamacpp", "--max-new-tokens", "8"], target=tiny, prompts=PROMPTS)
    runs.llamacpp_model.cache_clear()
    llama = [r for r in result["runs"] if r["method"] == "llamacpp"]
    assert len(llama) == 2 and all(len(r["output_ids"]) == 8 for r in llama)  # stops at max new tokens
    assert result["mismatches"] == [] and all(r["same"] is None for r in llama)
    assert result["tables"]["overall"]["llamacpp"]["vs_plain"] > 0
    assert "llamacpp" in capsys.readouterr().out


def test_llamacpp_not_installed_says_how_to_install_it(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails
    runs.llamacpp_model.cache_clear()
    with pytest.raises(UserError, match="make bench-llamacpp"):
        runs.llamacpp_model()
