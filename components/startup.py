"""The app's start-up: the shared model, loaded once, warmed up and described in one line
for the page, and the example prompts.

Left out on purpose: the page and its wiring (``app.py``), and what the environment
asks for (``app.py`` reads ``RACER_MODEL``, ``RACER_PRECISION`` and ``RACER_BACKEND`` and
passes them in).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from racer.engine.generate import Generation
from racer.model.loading import DEFAULT_MODEL, GPU_MODEL, load_model, prompt_ids
from racer.model.target import TargetModel
from racer.model.backend import backend_note
from racer.errors import UserError
from racer.model.precision import precision_note
from racer.engine.settings import Settings

from components import gpu

log = logging.getLogger("racer_explorer")   # the app's own log

MODEL_FIX = (f"Set RACER_MODEL to a small Llama-family causal LM (a model hub id or a model folder), "
             f"or leave it unset for the default ({DEFAULT_MODEL} on a CPU, {GPU_MODEL} on a GPU), "
             "and restart the app.")


# -- the shared model -------------------------------------------------------------------

def load_target(model_name: str, precision: str, backend: str = "auto") -> tuple[TargetModel | None, str]:
    """The model, loaded (at ``precision``, its products on ``backend``), warmed up and
    calibrated, and the line the page shows about it; (None, why it did not load) when it
    cannot load."""
    start = time.perf_counter()
    log.info("Loading %s ...", model_name)
    # on ZeroGPU no forward runs in this process: precision auto loads float16 (its start on
    # CUDA) and makes its chain check and choice in the warm-up's GPU call
    choose = gpu.zero_gpu() and precision == "auto"
    try:
        model, tokenizer = load_model(model_name, precision="float16" if choose else precision,
                                      backend=backend)  # it logs its progress
        target = TargetModel(model, tokenizer, name=model_name)
        agreement = gpu.warm_up(target, _warm_up, choose=choose)   # in a GPU call on ZeroGPU (components.gpu)
        note = precision_note(target, prompt_ids, agreement)
    except UserError as e:  # ModelLoadError, or a backend or precision not offered
        log.error("Model not loaded: %s", e)
        return None, str(e)
    except Exception as e:  # noqa: BLE001 - the page must still come up and say why
        log.exception("Model not loaded")
        return None, f"loading '{model_name}' failed ({type(e).__name__}: {e})"
    took = time.perf_counter() - start
    log.info("Model ready in %.1f s.", took)
    return target, (f"{model_name} on {target.device} · {note} · "
                    f"{backend_note(model, backend)} · loaded in {took:.1f} s")


def _warm_up(target: TargetModel) -> None:
    """A few untimed forwards (prefill, a plain step, a tree step), so that the first
    run a visitor times does not pay for lazy initialisation and its speedup is fair;
    and the one-off verify-cost calibration the adaptive budget reads."""
    ids = prompt_ids(target.tokenizer, "Count: one, two, three, four, five, one, two, three, four, five.")
    for drafter in ("plain", "racer"):
        generation = Generation(target, ids, Settings(max_new_tokens=4, drafter=drafter))
        for _ in range(3):
            if not generation.finished:
                generation.step()
    target.verify_costs()


def load_examples(path: Path) -> list[dict]:
    """The example prompts, one JSON object a line (prompt, category)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
