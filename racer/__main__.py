"""Generate once from the command line and print the text with MAT, forwards, tokens/s.

    python -m racer "Repeat this list: a, b, c" --drafter racer --budget 16

One flag per setting, generated from the Settings schema (``racer.engine.settings.add_flags``).
"""
from __future__ import annotations

import argparse
import sys

from racer.model.backend import BACKENDS
from racer.errors import UserError
from racer.engine.generate import Generation
from racer.model.loading import load_model, prompt_ids, require_text
from racer.engine.metrics import mat
from racer.model.target import TargetModel
from racer.model.precision import PRECISIONS
from racer.engine.settings import Settings, add_flags, given_flags


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m racer", description=__doc__.splitlines()[0])
    p.add_argument("prompt", help="the user message (the model's chat template is applied)")
    p.add_argument("--model", default=None, help="hub id or local folder (default: packaged SmolLM2-135M-Instruct)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="numeric precision (auto: the fastest exact one on this machine)")
    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="matrix-product backend (auto: the fastest exact one on this machine)")
    add_flags(p)
    p.add_argument("--raw", action="store_true", help="do not apply the chat template")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        settings = Settings(**given_flags(a))
        require_text(a.prompt)   # before the model loads: a blank prompt costs nothing
        model, tokenizer = load_model(a.model, progress=lambda line: print(line, file=sys.stderr),
                                      precision=a.precision, backend=a.backend)
        target = TargetModel(model, tokenizer)
        # uninspected: only decoding is timed; the verify costs are measured here, untimed
        gen = Generation(target, prompt_ids(tokenizer, a.prompt, use_chat_template=not a.raw), settings,
                         inspect=False)
    except UserError as error:  # a model that cannot load is one too
        print(f"error: {error}", file=sys.stderr)
        return 2
    seconds = sum(record.timings.total_s for record in gen.steps())
    print(tokenizer.decode(gen.output, skip_special_tokens=True))
    print(f"\n[{settings.drafter}] {len(gen.output)} tokens in {gen.forwards} forwards: "
          f"MAT {mat(len(gen.output), gen.forwards):.2f}, {len(gen.output) / seconds:.1f} tokens/s "
          f"({gen.finish_reason})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
