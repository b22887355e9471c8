"""Generate once from the command line and print the text with MAT, forwards, tokens/s.

    python -m racer "Repeat this list: a, b, c" --drafter racer --budget 16
"""
from __future__ import annotations

import argparse
import sys

from .generate import Generation
from .loading import ModelLoadError, load_model, prompt_ids
from .model import TargetModel
from .settings import DRAFTERS, Settings


def main(argv: list[str] | None = None) -> int:
    defaults = Settings()
    p = argparse.ArgumentParser(prog="python -m racer", description=__doc__.splitlines()[0])
    p.add_argument("prompt", help="the user message (the model's chat template is applied)")
    p.add_argument("--model", default=None, help="hub id or local folder (default: packaged SmolLM2-135M-Instruct)")
    p.add_argument("--drafter", default=defaults.drafter, choices=DRAFTERS)
    p.add_argument("--width", type=int, default=defaults.width)
    p.add_argument("--depth", type=int, default=defaults.depth)
    p.add_argument("--window", type=int, default=defaults.window)
    p.add_argument("--budget", type=int, default=defaults.budget)
    p.add_argument("--capacity", type=int, default=defaults.capacity)
    p.add_argument("--temperature", type=float, default=defaults.temperature)
    p.add_argument("--top-p", type=float, default=defaults.top_p)
    p.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens)
    p.add_argument("--adaptive-budget", action=argparse.BooleanOptionalAction, default=defaults.adaptive_budget)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--raw", action="store_true", help="do not apply the chat template")
    a = p.parse_args(argv)
    try:
        settings = Settings(width=a.width, depth=a.depth, window=a.window, budget=a.budget,
                            capacity=a.capacity, temperature=a.temperature, top_p=a.top_p,
                            max_new_tokens=a.max_new_tokens, drafter=a.drafter,
                            adaptive_budget=a.adaptive_budget, seed=a.seed)
        model, tokenizer = load_model(a.model, progress=lambda line: print(line, file=sys.stderr))
        target = TargetModel(model, tokenizer)
        gen = Generation(target, prompt_ids(tokenizer, a.prompt, use_chat_template=not a.raw), settings)
    except (ValueError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    seconds = sum(record.timings.total_s for record in gen.steps())
    print(tokenizer.decode(gen.output, skip_special_tokens=True))
    print(f"\n[{settings.drafter}] {len(gen.output)} tokens in {gen.forwards} forwards: "
          f"MAT {len(gen.output) / gen.forwards:.2f}, {len(gen.output) / seconds:.1f} tokens/s "
          f"({gen.finish_reason})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
