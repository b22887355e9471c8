"""Changing the drafter mid-run applies from the next step and keeps greedy output exact."""
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from racer.generate import Generation
from racer.model import TargetModel
from racer.settings import Settings


class _Tokenizer:
    eos_token_id = 1

    def decode(self, ids, skip_special_tokens=False):
        return " ".join(map(str, ids))


def _tiny_model():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         eos_token_id=1, bos_token_id=0, tie_word_embeddings=False)
    model = LlamaForCausalLM(config).to(torch.float64).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(20)  # peaked logits, so drafts get accepted
    return model


def test_switching_drafters_every_few_steps_keeps_greedy_output_and_records_each_drafter():
    model = _tiny_model()
    target = TargetModel(model, _Tokenizer())
    order = ["plain", "racer", "prompt_lookup", "logits", "retrieval", "racer"]
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        prompt = torch.randint(2, 96, (12,), generator=g).tolist()
        prompt = prompt + prompt[:8] + prompt
        reference = model.generate(torch.tensor([prompt]), max_new_tokens=60, do_sample=False,
                                   eos_token_id=1, pad_token_id=1)[0, len(prompt):].tolist()
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
