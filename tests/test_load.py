"""Many users and long sessions.

- Eight gradio_client sessions on 127.0.0.1 run eight different prompts to the end at
  once; every output equals transformers' greedy ``generate`` of its prompt, the
  shared model's weights are unchanged afterwards, and the ones that wait are told
  their place in the queue (the page shows the same numbers on the status line).
- Two sessions stepping in turns (their KV caches alive side by side) stay exact.
- Memory stays bounded over a long session of many runs (a tiny model, no server).
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from tests.app_client import controls as named_controls
from tests.app_client import exported, plain_greedy_text, real_target

PROMPTS = [
    "Name three rivers in Europe.",
    "What is 17 times 3? Answer briefly.",
    "Write a haiku about rain.",
    "Translate 'good morning' into Spanish and German.",
    "List the first five prime numbers.",
    "Give one tip for writing clear emails.",
    "What colour is the sky on Mars?",
    "Summarise the plot of Cinderella in one sentence.",
]
TOKENS = 24
SHORT = 16   # the eight sessions at once: each queues behind the others all the same
LEAK_MARGIN_MIB = 2.0  # measured (runs 11-20 -> 31-40): 0.8 MiB as it is, 3.9 MiB with a kept leak
LOAD_TIMEOUT_S = 600  # the whole load test; runs are short, but the CPU is shared


def controls(max_new_tokens=TOKENS) -> dict:
    return named_controls(max_new_tokens=max_new_tokens)


def weights_digest(model) -> str:
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()



@pytest.mark.real_model
@pytest.mark.soak
def test_eight_sessions_at_once_each_get_their_own_exact_output(app_url):
    from gradio_client import Client
    from gradio_client.utils import Status

    model = real_target()[0].model
    before = weights_digest(model)
    clients = [Client(app_url, verbose=False) for _ in PROMPTS]
    start = time.time()
    deadline = start + LOAD_TIMEOUT_S
    jobs = [c.submit(p, **controls(SHORT), api_name="/run") for c, p in zip(clients, PROMPTS)]
    ranks: dict[int, set[int]] = {i: set() for i in range(len(jobs))}
    while not all(j.done() for j in jobs) and time.time() < deadline:
        for i, job in enumerate(jobs):
            status = job.status()
            if status.code == Status.IN_QUEUE and status.rank is not None:
                ranks[i].add(status.rank)
        time.sleep(0.05)
    assert all(j.done() for j in jobs), "the load test ran out of time"
    print(f"8 runs of {SHORT} tokens in {time.time() - start:.1f} s; queue ranks seen: {ranks}")  # -rP shows it
    finals = [j.result(timeout=5) for j in jobs]
    assert all("Finished" in f[-1] for f in finals), [f[-1] for f in finals]

    # the ones that waited were told where they stood (rank 0 = next in line)
    waited = [i for i, seen in ranks.items() if seen]
    assert len(waited) >= 4, ranks
    assert max(max(seen) for seen in ranks.values() if seen) >= 2, ranks

    # each session kept its own prompt and run; each output is exact
    with ThreadPoolExecutor(4) as pool:
        traces = list(pool.map(exported, clients))
    for prompt, trace in zip(PROMPTS, traces):
        assert trace["prompt"] == prompt
        assert trace["final_text"] == plain_greedy_text(prompt, SHORT), prompt
    assert weights_digest(model) == before  # no session changed the shared model


@pytest.mark.real_model
@pytest.mark.exhaustive   # make test has the classroom of 8 stepping at once through the same API
def test_two_sessions_stepping_in_turns_stay_exact(app_url):
    from gradio_client import Client

    a, b = Client(app_url, verbose=False), Client(app_url, verbose=False)
    prompts = {a: PROMPTS[0], b: PROMPTS[4]}
    finished = set()
    for _ in range(40):  # KV caches of both alive side by side; at most 40 steps each
        for c in (a, b):
            if c not in finished:
                status = c.predict(prompts[c], **controls(), api_name="/step")[-1]
                if "Finished" in status:
                    finished.add(c)
        if len(finished) == 2:
            break
    assert len(finished) == 2
    for c, prompt in prompts.items():
        assert exported(c)["final_text"] == plain_greedy_text(prompt, TOKENS)


# -- memory over a long session ------------------------------------------------------

def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def soak_rss(runs: int = 40, leak: bool = False) -> list[float]:
    """The resident MiB after each of ``runs`` runs of one session on a tiny model: new
    prompts, every drafter, the speedup baseline on, a small automaton capacity. ``leak``
    keeps every run's records and generation alive, the leak the test must catch."""
    from components.state import HISTORY_CAP, Session
    from racer.drafting.registry import drafter_names
    from racer.engine.settings import Settings
    from tests.tiny import target, tiny_model

    torch.set_num_threads(1)  # a tiny model gains nothing from threads on a shared CPU
    tiny = target(tiny_model(vocab=96, hidden=64, init_std=0.02, dtype=torch.float32))
    names = drafter_names()
    session = Session()
    session.measure = True
    g = torch.Generator().manual_seed(1)
    kept, rss = [], []
    for run in range(runs):
        session.apply(Settings(max_new_tokens=160, capacity=64, drafter=names[run % len(names)]))
        prompt = torch.randint(0, 96, (40,), generator=g).tolist() * 2  # repeats: retrieval drafts
        session.start(tiny, f"prompt {run}", prompt)
        while not session.finished:
            record = session.step(lambda t: str(t))
            assert record.automaton.node_count <= 64  # the automaton keeps to its capacity
            if leak:
                kept.append(record)
        if leak:
            kept.append(session.generation)
        else:
            assert session.generation.cache is None  # a finished run holds no KV cache
        assert session.records.maxlen == HISTORY_CAP
        gc.collect()
        rss.append(rss_mib())
    return rss


def soak_growth(leak: bool) -> tuple[float, list[float]]:
    """Runs ``soak_rss`` in a process of its own (in the test process, a live app server's
    threads moved the resident size by 14 MiB at random) and returns the growth from runs
    11-20 to runs 31-40 (medians, so one allocator spike does not count) with the series."""
    code = f"import json; from tests.test_load import soak_rss; print(json.dumps(soak_rss(40, leak={leak})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    rss = json.loads(out.stdout.strip().splitlines()[-1])
    return statistics.median(rss[30:]) - statistics.median(rss[10:20]), rss


@pytest.mark.soak
# the kept leak is the check's control (it must fail there): make check-exact runs it
@pytest.mark.parametrize("leak", [False, pytest.param(True, marks=pytest.mark.exhaustive)])
def test_memory_stays_bounded_over_many_runs(leak):
    """What a session holds is capped (the history at HISTORY_CAP records, the automaton at
    its capacity, the shared baseline cache at BASELINE_SLOTS timelines) and a finished
    generation lets its KV cache go, so after the first runs have filled those caps the
    resident memory must stay flat. The same loop keeping every run's records and
    generation (a leak) must fail the same check: the check can tell."""
    growth, rss = soak_growth(leak)
    print(f"leak={leak}: growth {growth:.1f} MiB; {[round(r, 1) for r in rss]}")  # -rP shows it
    if leak:
        assert growth >= LEAK_MARGIN_MIB, f"a kept leak grew only {growth:.1f} MiB: {rss}"
    else:
        assert growth < LEAK_MARGIN_MIB, f"RSS grew {growth:.1f} MiB from runs 11-20 to 31-40: {rss}"
