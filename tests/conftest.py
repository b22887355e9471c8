"""Shared pytest set-up: markers, a one-thread fixture for tiny models, thread pools put
back after a test that installs a backend, and the app served once on loopback for every
test that drives it."""
from __future__ import annotations

import socket

import racer  # noqa: F401  first, as the app: how idle threads wait, before torch loads

import pytest
import torch


def pytest_configure(config):
    """The lanes: ``make test-fast`` deselects the three marks below; ``make test`` runs all."""
    config.addinivalue_line(
        "markers", "real_model: runs the real SmolLM2 model (slow-ish; deselect with -m 'not real_model')")
    config.addinivalue_line("markers", "browser: drives the page in headless Chromium")
    config.addinivalue_line("markers", "soak: many sessions or runs, for load and memory")
    config.addinivalue_line("markers", "slow: a unit test of seconds (statistics over thousands of samples, a "
                            "fresh interpreter); in make test, left out of make test-fast")
    config.addinivalue_line("markers", "exhaustive: the long runs of `make check-exact` (every anchor x every "
                            "policy and backend, a classroom of 30, 100 sessions' memory, two processes "
                            "converting the model); `make test` runs a sample of each")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models (hidden size 32) gain nothing from intra-op threads, and on a busy
    2-core machine the threads' synchronisation made each forward ~20x slower
    (measured: 1.7 s -> 0.08 s for a 40-token generation). Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def torch_afterwards():
    """Whatever backend a test installs, torch's threads are as by default afterwards and
    OpenBLAS's parked at 1 (``racer.model.backend``'s arrangement for torch)."""
    from racer.model import backend
    before = torch.get_num_threads()
    yield
    backend._arrange_threads("torch")
    torch.set_num_threads(before)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url():
    """The app (real default model) launched once on 127.0.0.1 for the whole session;
    each gradio_client or browser connection is a session of its own."""
    import app
    from tests.app_client import real_app
    demo = real_app()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **app.launch_options())
    yield f"http://127.0.0.1:{port}/"
    demo.close()
