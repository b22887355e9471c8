"""Changing the drafter mid-run applies from the next step and keeps greedy output exact."""
import torch

from racer.engine.generate import Generation
from racer.engine.settings import Settings
from tests.tiny import hf_greedy, target as tiny_target, tiny_model

EOS = 1


def test_switching_drafters_every_few_steps_keeps_greedy_output_and_records_each_drafter(one_thread):
    # peaked logits (the output layer x20), so drafts get accepted
    model = tiny_model(vocab=96, hidden=64, init_std=0.02, eos=EOS, logit_scale=20.0)
    target = tiny_target(model, eos=EOS)
    order = ["plain", "racer", "prompt_lookup", "logits", "retrieval", "racer"]
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        prompt = torch.randint(2, 96, (12,), generator=g).tolist()
        prompt = prompt + prompt[:8] + prompt
        reference = hf_greedy(model, prompt, 60, eos=EOS)
        gen = Generation(target, prompt, Settings(drafter="plain", max_new_tokens=60, budget=16))
        records, switch = [], 0
        while not gen.finished:
            if len(records) % 4 == 3:
                switch += 1
                gen.settings = gen.settings.with_changes(drafter=order[switch % len(order)], width=2 + switch % 5)
            records.append(gen.step())
        assert gen.output == reference
        used = [r.settings.drafter for r in records]
        assert used[:3] == ["plain"] * 3 and used[3] == "racer" and used[7] == "prompt_lookup"
        assert gen.drafter.name == used[-1]
        # drafters that came in mid-run drafted and got tokens accepted
        assert sum(r.accepted_drafts for r in records if r.settings.drafter != "plain") > 0


def test_a_drafter_without_a_logits_cache_skips_the_prompt_s_rows_and_one_with_it_gets_them_on_switching(
        one_thread):
    """Plain decoding's prefill runs the output layer on the last prompt token alone; RACER
    taking over mid-run gets the prompt's top-k rows exactly as if it had run from the start."""
    from racer.drafting.logits_cache import TopK
    model = tiny_model(vocab=96, hidden=64, init_std=0.02, eos=EOS, logit_scale=20.0)
    target = tiny_target(model, eos=EOS)
    prompt = torch.randint(2, 96, (20,), generator=torch.Generator().manual_seed(5)).tolist() * 2
    racer = Generation(target, prompt, Settings(drafter="racer", max_new_tokens=30))
    racer.step()
    assert len(racer._tops[0]) == len(prompt)
    plain = Generation(target, prompt, Settings(drafter="plain", max_new_tokens=30))
    plain.step()
    plain.step()
    assert len(plain._tops[0]) == 0 and not plain._prompt_tops
    plain.settings = plain.settings.with_changes(drafter="racer")
    plain.step()
    width = racer.settings.width
    after = TopK.concat(plain._tops, width)
    assert plain._prompt_tops and len(after) == len(plain.context)
    assert (after.ids[: len(prompt)] == racer._tops[0].ids).all()
    assert (after.probs[: len(prompt)] == racer._tops[0].probs).all()
    while not plain.finished:
        plain.step()
    assert plain.output == hf_greedy(model, prompt, 30, eos=EOS)


def test_the_prompt_s_rows_are_computed_at_last_occurrences_and_fill_the_logits_cache_as_every_row_would(
        one_thread):
    """The prefill runs the output layer only where a token occurs for the last time; the
    rows it returns there are the full output layer's, the others are empty, and a logits
    cache filled from them equals one filled from every row."""
    import numpy as np

    from racer.drafting.logits_cache import LogitsCache, last_occurrences
    from racer.model.target import top_tokens
    model = tiny_model(vocab=96, hidden=64, init_std=0.02, eos=EOS, logit_scale=20.0)
    target = tiny_target(model, eos=EOS)
    prompt = torch.randint(2, 96, (25,), generator=torch.Generator().manual_seed(7)).tolist() * 2 + [3, 4, 3]
    assert last_occurrences([5, 6, 5, 7, 6]).tolist() == [2, 3, 4]
    last, top = target.prefill(prompt, target.new_cache(), top_k=4)
    with torch.inference_mode():
        logits = model(torch.tensor([prompt])).logits[0].float()   # (n, V): every row
    full = top_tokens(logits, 4)
    rows = last_occurrences(prompt)
    assert len(rows) == len(set(prompt)) < len(prompt) and rows[-1] == len(prompt) - 1
    assert (top.ids[rows] == full.ids[rows]).all()
    assert np.allclose(top.probs[rows], full.probs[rows], atol=1e-6)
    others = np.setdiff1d(np.arange(len(prompt)), rows)
    assert (top.ids[others] == -1).all() and (top.probs[others] == 0).all()
    assert torch.allclose(last, logits[-1], atol=1e-5)
    sparse, every = LogitsCache(96, 4), LogitsCache(96, 4)
    at = np.arange(1, len(prompt) + 1)
    sparse.update(prompt, top, at)
    every.update(prompt, full, at)
    for token in range(96):
        assert sparse.written_at(token) == every.written_at(token)
        got, want = sparse.candidates(token, 4), every.candidates(token, 4)
        assert [t for t, _ in got] == [t for t, _ in want]
        assert np.allclose([p for _, p in got], [p for _, p in want], atol=1e-6)
