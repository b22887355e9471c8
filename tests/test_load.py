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
import os
import time
from concurrent.futures import ThreadPoolExecutor

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
    jobs = [c.submit(p, **controls(), api_name="/run") for c, p in zip(clients, PROMPTS)]
    ranks: dict[int, set[int]] = {i: set() for i in range(len(jobs))}
    while not all(j.done() for j in jobs) and time.time() < deadline:
        for i, job in enumerate(jobs):
            status = job.status()
            if status.code == Status.IN_QUEUE and status.rank is not None:
                ranks[i].add(status.rank)
        time.sleep(0.05)
    assert all(j.done() for j in jobs), "the load test ran out of time"
    print(f"8 runs of {TOKENS} tokens in {time.time() - start:.1f} s; queue ranks seen: {ranks}")  # -rP shows it
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
        assert trace["final_text"] == plain_greedy_text(prompt, TOKENS), prompt
    assert weights_digest(model) == before  # no session changed the shared model


@pytest.mark.real_model
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


@pytest.mark.soak
def test_memory_stays_bounded_over_many_runs():
    """40 runs of one session on a tiny model: new prompts, every drafter, the speedup
    baseline on, a small automaton capacity. What a session holds is capped (the history
    at HISTORY_CAP records, the automaton at its capacity, the shared baseline cache at
    BASELINE_SLOTS timelines) and a finished generation lets its KV cache go, so after
    the first runs have filled those caps the resident memory must stay flat. Measured:
    +0.2 MiB from run 10 to run 40. Keeping every run's records and generation instead (a
    leak) adds ~0.2 MiB a run, ~6 MiB over runs 11-40; the 3 MiB margin sits between."""
    from components.session import HISTORY_CAP, Session
    from racer.drafters import drafter_names
    from racer.settings import Settings
    from tests.tiny import target, tiny_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model gains nothing from threads on a shared CPU
    try:
        tiny = target(tiny_model(vocab=96, hidden=64, init_std=0.02, dtype=torch.float32))
        names = drafter_names()
        session = Session()
        session.measure = True
        g = torch.Generator().manual_seed(1)
        rss: list[float] = []
        for run in range(40):
            session.apply(Settings(max_new_tokens=160, capacity=64, drafter=names[run % len(names)]))
            prompt = torch.randint(0, 96, (40,), generator=g).tolist() * 2  # repeats: retrieval drafts
            session.start(tiny, f"prompt {run}", prompt)
            while not session.finished:
                record = session.step(lambda t: str(t))
                assert record.automaton.node_count <= 64  # the automaton keeps to its capacity
            assert session.generation.cache is None  # a finished run holds no KV cache
            gc.collect()
            rss.append(rss_mib())
        assert session.records.maxlen == HISTORY_CAP
        growth = max(rss[19:]) - rss[9]
        assert growth < 3.0, f"RSS grew {growth:.1f} MiB after run 10: {[round(r, 1) for r in rss]}"
    finally:
        torch.set_num_threads(threads)
