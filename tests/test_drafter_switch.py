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
