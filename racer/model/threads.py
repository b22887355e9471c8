"""The two thread pools a CPU forward uses: torch's (OpenMP, MKL) and numpy's OpenBLAS.

``racer.model.backend`` arranges them per backend so that idle workers of one never spin
against the other's on a few cores; ``racer.model.lean`` sets torch's around each product.
How idle workers wait is set before either library loads (``racer/__init__.py``).
"""
from __future__ import annotations

import functools
from contextlib import contextmanager

import torch
from threadpoolctl import ThreadpoolController

TORCH_THREADS = torch.get_num_threads()   # torch's own default, before any backend


@functools.cache
def openblas() -> ThreadpoolController | None:
    """numpy's bundled OpenBLAS as threadpoolctl controls it (looked up once); None when
    numpy brings no OpenBLAS."""
    import numpy  # noqa: F401  (loaded, so that threadpoolctl finds its OpenBLAS)
    found = ThreadpoolController().select(internal_api="openblas")
    return found if found.lib_controllers else None


def blas_found() -> bool:
    """Whether numpy brings an OpenBLAS whose threads we can set."""
    return openblas() is not None


def set_blas_threads(n: int) -> None:
    """OpenBLAS at ``n`` threads from now on (nothing where there is no OpenBLAS)."""
    blas = openblas()
    if blas is not None:
        blas.limit(limits=int(n))  # applies now; the returned limiter (to undo it) is not needed


@contextmanager
def blas_threads(n: int):
    """OpenBLAS at ``n`` threads within the block, as before after it."""
    blas = openblas()
    before = blas.info()[0]["num_threads"] if blas is not None else None
    set_blas_threads(n)
    try:
        yield
    finally:
        if before is not None:
            set_blas_threads(before)


@contextmanager
def torch_threads(n: int):
    """torch's intra-op pool at ``n`` threads within the block, as before after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
