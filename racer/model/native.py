"""The engine's own C kernels (``blocks.c``, ``attention.c``, and ``layers.c`` that runs a
whole decoder stack on them, beside this file), built once
per machine with the system's C compiler into the model cache folder and loaded with ctypes.

Built for x86-64 with AVX2 and FMA, with OpenMP: the process already holds torch's libgomp,
so the kernels share torch's threads (``torch.set_num_threads`` sets how many). Where torch
reports no AVX2, or no compiler builds them (about a second each), ``refusal`` says why and
the lean forward keeps torch's own operations.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

FLAGS = ("-O3", "-mavx2", "-mfma", "-fopenmp", "-shared", "-fPIC")
HERE = Path(__file__).parent
P, I, F = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
SIGNATURES = {
    "blocks": {"q4_matmul": [P, I, I, P, P, P, I, P], "q8_matmul": [P, I, I, P, P, P, I, P]},
    "attention": {"tree_attention": [P, I, I, I, I, P, P, P, P, I, I, P, F, P, I]},
    "tops": {"row_tops": [P, I, I, I, P, P, P, I]},
    "layers": {"decoder_layers": [P, I, I, I, I, I, I, I, P, P, P, P, P, F, P, P, P, P, I, I, P, F, I]},
}


def refusal(name: str) -> str | None:
    """Why kernel file ``name`` cannot run here (None: it can)."""
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        return "the engine's C kernels need an x86-64 CPU with AVX2"
    try:
        library(name)
    except (OSError, subprocess.SubprocessError) as e:
        text = str(e).strip()
        return f"the engine's C kernels could not be built: {text.splitlines()[0] if text else type(e).__name__}"
    return None


@functools.cache
def library(name: str) -> ctypes.CDLL:
    """``name``.c built (keyed by the text of every kernel source here, as one may include
    another, and the flags) and loaded, its functions typed."""
    source = HERE / f"{name}.c"
    texts = b"".join(p.read_bytes() for p in sorted([*HERE.glob("*.c"), *HERE.glob("*.h")]))
    key = hashlib.sha256(texts + " ".join(FLAGS).encode()).hexdigest()[:16]
    from racer.model.gguf import cache_root
    folder = cache_root() / "kernels"
    path = folder / f"{name}-{key}.so"
    if not path.is_file():
        compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
        if compiler is None:
            raise OSError("no C compiler (gcc) found")
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
        os.close(fd)
        try:
            subprocess.run([compiler, *FLAGS, "-o", tmp, str(source), "-lm"], check=True, capture_output=True,
                           text=True, timeout=120)
            os.replace(tmp, path)          # another process may have built it too: the same text
        except subprocess.CalledProcessError as e:
            raise subprocess.SubprocessError(e.stderr or str(e)) from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    lib = ctypes.CDLL(str(path))
    for function, args in SIGNATURES[name].items():
        getattr(lib, function).argtypes = args
        getattr(lib, function).restype = None
    return lib
