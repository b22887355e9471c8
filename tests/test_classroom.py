"""A classroom: many sessions at once, and what they leave in memory.

- 30 gradio_client sessions step 30 example prompts at once (the examples cycled);
  each one's tokens equal transformers' greedy ``generate`` of its prompt.
- After sessions end, memory stays bounded: resident memory after 100 sessions is
  within 300 MiB of what it was after 10.
- What keeps it bounded, on a tiny model: a finished run holds no KV cache or drafter
  state; ``Keeper`` parks the least recently used idle runs beyond its engine budget
  (their next step rebuilds them, with the same tokens) and trims the oldest records of
  idle sessions beyond its history budget; a dropped session is forgotten.
"""
from __future__ import annotations

import ctypes
import gc
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from components.state import Keeper
from components.state import Session
from racer.drafting.registry import drafter_names
from racer.engine.generate import Generation
from racer.engine.settings import Settings
from tests.app_client import controls, exported, plain_greedy_ids, real_app, real_target
from tests.tiny import hf_greedy, repetitive_prompt, target, tiny_model

# -- what keeps memory bounded (tiny model) ----------------------------------------------

NEW = 40


def tiny_target():
    return target(tiny_model(init_std=1.0))


def step_until_finished(session: Session) -> None:
    while not session.finished:
        session.step(str)


@pytest.mark.parametrize("drafter", drafter_names())
def test_a_released_run_rebuilds_and_keeps_its_tokens(drafter, one_thread):
    """Released every third step (and switched to another drafter once while released),
    a run still decodes exactly what transformers' greedy generate() does."""
    tiny = tiny_target()
    prompt = repetitive_prompt(3)
    gen = Generation(tiny, prompt, Settings(drafter=drafter, max_new_tokens=NEW, adaptive_budget=False))
    gen.release()  # before the prefill: nothing to free, nothing breaks
    steps = 0
    while not gen.finished:
        gen.step()
        steps += 1
        if steps % 3 == 0 and not gen.finished:
            assert gen.held_bytes() > 0
            gen.release()
            assert gen.held_bytes() == 0
            if steps == 6:
                gen.settings = gen.settings.with_changes(drafter="racer", width=3)
    assert gen.output == hf_greedy(tiny.model, prompt, NEW)


def test_a_released_sampling_run_keeps_its_tokens(one_thread):
    """Under sampling too: acceptance is lossless and the random generator is kept."""
    tiny = tiny_target()
    prompt = repetitive_prompt(4)
    settings = Settings(temperature=1.0, seed=7, max_new_tokens=NEW)
    whole = Generation(tiny, prompt, settings)
    list(whole.steps())
    released = Generation(tiny, prompt, settings)
    while not released.finished:
        released.step()
        released.release()
    assert released.output == whole.output


def test_a_finished_run_holds_no_engine_state(one_thread):
    keeper = Keeper()
    session = Session(keeper)
    session.start(tiny_target(), "p", repetitive_prompt(5))
    session.step(str)
    assert session.engine_held > 0 and keeper.totals()[0] == session.engine_held
    step_until_finished(session)
    assert session.engine_held == 0 and session.generation.held_bytes() == 0
    assert session.baseline.held_bytes() == 0  # the plain run measured alongside let go too
    assert keeper.totals() == (0, session.history_held)


def test_the_keeper_parks_the_least_recently_used_runs_beyond_its_budget(one_thread):
    tiny = tiny_target()
    keeper = Keeper()
    prompts = [repetitive_prompt(seed) for seed in (6, 7, 8)]
    a, b, c = sessions = [Session(keeper) for _ in prompts]
    for session, prompt in zip(sessions, prompts):
        session.apply(Settings(max_new_tokens=NEW))
        session.start(tiny, "p", prompt)
        session.step(str)
        session.step(str)
    one = max(s.engine_held for s in sessions)
    keeper.engine_budget = int(2.5 * one)  # room for two runs, not three
    c.step(str)
    assert a.engine_held == 0 and b.engine_held > 0 and c.engine_held > 0  # a was idle longest
    assert keeper.parked == 1 and keeper.totals()[0] <= keeper.engine_budget
    a.step(str)  # a rebuilds its state; now b is the one idle longest
    assert b.engine_held == 0 and a.engine_held > 0 and keeper.parked == 2
    for session in (b, c, a):
        step_until_finished(session)
    for session, prompt in zip(sessions, prompts):
        assert session.output_ids() == hf_greedy(tiny.model, prompt, NEW)
        assert len(session.baseline.timeline) >= NEW  # the plain run was rebuilt too, and timed on
    assert keeper.totals()[0] == 0


def test_the_keeper_trims_idle_histories_oldest_first(one_thread):
    tiny = tiny_target()
    keeper = Keeper()
    old, new = Session(keeper), Session(keeper)
    for session, seed in ((old, 9), (new, 10)):
        session.apply(Settings(max_new_tokens=NEW, budget=4, adaptive_budget=False))
        session.start(tiny, "p", repetitive_prompt(seed))
    step_until_finished(old)
    steps = len(old.stats)
    keeper.history_budget = old.history_held  # new's steps must come out of old's history
    step_until_finished(new)
    assert len(new.records) == len(new.stats)  # the session stepping is never trimmed
    assert 1 <= len(old.records) < steps and old.records[-1].index == steps - 1  # the latest kept
    assert len(old.stats) == steps  # the charts' numbers stay
    assert old.record_at(0) is None and old.record_at(steps - 1) is old.last
    assert keeper.totals()[1] <= keeper.history_budget + old.history_held


def test_a_dropped_session_is_forgotten(one_thread):
    keeper = Keeper()
    session = Session(keeper)
    session.start(tiny_target(), "p", repetitive_prompt(11))
    session.step(str)
    assert keeper.sessions() == [session]
    del session
    gc.collect()
    assert keeper.sessions() == [] and keeper.totals() == (0, 0)


# -- a classroom on the real model --------------------------------------------------------

CLASS = 30
CLASS_TOKENS = 8    # tokens per session: the test is about many sessions, not long ones


def examples(n: int) -> list[str]:
    """The page's example prompts, cycled to ``n``."""
    from app import ASSETS
    from components.startup import load_examples
    prompts = [e["prompt"] for e in load_examples(ASSETS / "examples.jsonl")]
    return [prompts[i % len(prompts)] for i in range(n)]




@pytest.mark.real_model
@pytest.mark.soak
@pytest.mark.parametrize("size", [pytest.param(8, id="8"), pytest.param(CLASS, id="30", marks=pytest.mark.exhaustive)])
def test_a_classroom_stepping_at_once_each_get_their_exact_output(app_url, size):
    """8 sessions (30 in ``make check-exact``) press Step over and over at the same time
    (the model serves one step at a time, so they take turns in the queue); each ends with exactly the tokens of
    plain greedy decoding of its own prompt. No timing is asserted: on a slow machine it
    only takes longer."""
    from gradio_client import Client

    KEEPER = real_app().keeper
    prompts = examples(size)
    with ThreadPoolExecutor(8) as pool:
        clients = list(pool.map(lambda _: Client(app_url, verbose=False), prompts))
    open_runs, most_open, most_held = set(), 0, 0

    def lesson(i: int) -> dict:
        nonlocal most_open, most_held
        for _ in range(CLASS_TOKENS):  # every step emits a token at least
            status = clients[i].predict(prompts[i], **controls(max_new_tokens=CLASS_TOKENS, measure=True),
                                        api_name="/step")[-1]
            most_held = max(most_held, KEEPER.totals()[0])
            if "Finished" in status:
                open_runs.discard(i)
                return exported(clients[i])
            open_runs.add(i)
            most_open = max(most_open, len(open_runs))
        raise AssertionError(f"session {i} did not finish in {CLASS_TOKENS} steps: {status}")

    start = time.perf_counter()
    with ThreadPoolExecutor(size) as pool:
        traces = list(pool.map(lesson, range(size)))
    print(f"{size} sessions of {CLASS_TOKENS} tokens stepped at once in {time.perf_counter() - start:.0f} s; "
          f"at most {most_open} runs under way together, holding at most {most_held / 2**20:.0f} MiB of "
          "engine state")  # -rP shows it
    assert most_open >= size // 2  # they really were under way together
    references = {p: plain_greedy_ids(p, CLASS_TOKENS) for p in set(prompts)}
    for prompt, trace in zip(prompts, traces):
        assert trace["prompt"] == prompt
        assert trace["output_ids"] == references[prompt], prompt[:60]


@pytest.mark.real_model
def test_a_run_of_the_real_model_parked_after_every_step_keeps_its_tokens():
    """Each rebuild prefills the whole text in one forward; in float32 that must still
    lead to plain greedy decoding's tokens (the prompt itself is prefilled that way)."""
    from racer.model.loading import prompt_ids
    target, _ = real_target()
    prompt = examples(3)[2]  # the packing list: retrieval and the logits cache both draft
    session = Session(Keeper())
    session.apply(Settings(max_new_tokens=24))
    session.start(target, prompt, prompt_ids(target.tokenizer, prompt))
    parked = 0
    while not session.finished:
        session.step(target.token_text)
        parked += session.park() > 0
    assert parked >= 3 and session.engine_held == 0
    assert session.output_ids() == plain_greedy_ids(prompt, 24)


# -- memory after many sessions -------------------------------------------------------------

SESSIONS = 100
SHORT = 300   # characters of each example a session of the memory test runs (CI time)


def settled_rss_mib() -> float:
    """The process's resident memory once what was freed is given back. gc.collect()
    frees reference cycles now rather than whenever the collector next runs, and
    malloc_trim returns the free pages glibc keeps in its per-thread arenas (the server
    serves requests from a pool of threads); without both, the reading depends on which
    thread served what and when the collector last ran (measured: +-100 MiB)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.real_model
@pytest.mark.soak
@pytest.mark.exhaustive
def test_memory_after_100_sessions_is_within_300_mib_of_after_10(app_url, monkeypatch):
    """100 sessions one after another, the examples cycled (their first 300 characters:
    the two longest take over 10x longer to prefill than most), speedup measured: three
    of four run to the end, every fourth takes one step and is abandoned. The app serves
    them in this process, so its resident memory is read here. Gradio still holds all
    of them at the end; what bounds the memory is that a finished run holds no engine
    state and the abandoned ones are parked beyond the engine budget (lowered here to
    64 MiB so that 25 abandoned runs go over it). Measured: +53 and +144 MiB in two
    runs, up to 61 MiB of it the abandoned runs' state within the budget; before the fix
    every session kept its run's KV caches, logits cache and automaton: +500 MiB."""
    from gradio_client import Client

    KEEPER = real_app().keeper
    monkeypatch.setattr(KEEPER, "engine_budget", 64 << 20)
    parked = KEEPER.parked
    client = Client(app_url, verbose=False)
    rss = {}
    start = time.perf_counter()
    for i, prompt in enumerate((p[:SHORT] for p in examples(SESSIONS)), 1):
        client.reset_session()  # a new session of the app, as a new visitor
        if i % 4:
            client.predict(prompt, **controls(max_new_tokens=2, measure=True), api_name="/run")
        else:
            client.predict(prompt, **controls(max_new_tokens=8, measure=True), api_name="/step")
        if i in (10, SESSIONS):
            rss[i] = settled_rss_mib()
    engine, history = KEEPER.totals()
    print(f"{SESSIONS} sessions in {time.perf_counter() - start:.0f} s; resident memory after 10: "
          f"{rss[10]:.0f} MiB, after {SESSIONS}: {rss[SESSIONS]:.0f} MiB; runs parked: {KEEPER.parked - parked}; "
          f"engine state {engine / 2**20:.0f} MiB, histories {history / 2**20:.1f} MiB")  # -rP shows it
    assert len(real_app().state_holder.session_data) >= SESSIONS  # none was dropped by Gradio
    assert KEEPER.parked > parked and KEEPER.totals()[0] <= KEEPER.engine_budget
    assert rss[SESSIONS] - rss[10] < 300, rss
