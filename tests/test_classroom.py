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
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from components.session import Keeper, Session
from racer.drafters import drafter_names
from racer.generate import Generation
from racer.settings import Settings
from tests.app_client import controls
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
        assert session.baseline.timeline  # the plain run was rebuilt too, and timed on
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
