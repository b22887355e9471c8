"""Shared pytest set-up for the engine tests."""
from __future__ import annotations

import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "real_model: runs the real SmolLM2 model (slow-ish; deselect with -m 'not real_model')")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models (hidden size 32) gain nothing from intra-op threads, and on a busy
    2-core machine the threads' synchronisation made each forward ~20x slower
    (measured: 1.7 s -> 0.08 s for a 40-token generation). Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
