"""Spec-Bench benchmark: drafters against our plain loop and transformers generate().

    python -m racer.bench --preset anchors --hf --json out.json
    python -m racer.bench --categories translation,qa --per-category 2 --limit 3

Every method runs on every prompt, alternated prompt by prompt (the order rotates
from one prompt to the next), so slow drift of the machine (other processes, heat)
falls on all methods alike. Speedups are time ratios over the same prompts. Greedy
methods must reproduce the plain loop's tokens; the tables say whether they did.

A method is a drafter name with optional setting overrides, ``racer:budget=64`` or
``racer:adaptive_budget=0``, or ``hf_greedy`` / ``hf_pld`` (transformers generate,
plain or with ``prompt_lookup_num_tokens=10``), or ``llamacpp`` (llama.cpp's plain decoding of the
packaged Q4_1 GGUF, for speed only: its tokens are not compared, its weights being 4-bit).
An engine method may end in ``@backend`` (``plain@openblas``) to run on that backend.

The JSON holds the tables, the verify-cost curve, the mismatches and every run: its
tokens, forwards, seconds and, for engine runs, one [tree size, draft ms, verify ms,
update ms] per verify step.

State policy: ``fresh`` gives each prompt a new drafter; ``warm`` keeps one RACER
automaton and logits cache per method across all prompts (the authors' evaluation).

Left out on purpose: sampling (equality is only defined for greedy) and later turns.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
from typing import Sequence

from tqdm import tqdm

from racer.bench.costs import cost_report
from racer.bench.data import TASKS, Question, anchor_outputs, load_questions, preset, select
from racer.bench.report import check_equal, machine, report, run_dict, summarise, verify_costs
from racer.drafting.registry import PLAIN, make_drafter
from racer.errors import UserError
from racer.model.target import TargetModel
from racer.engine.settings import KNOBS, Settings, add_flags, given_flags
from racer.bench.runs import NO_FLAG, Method, Prompt, Run, parse_methods, run_method

def run_bench(target: TargetModel, prompts: Sequence[Prompt], methods: Sequence[Method],
              max_new_tokens: int, state: str = "fresh", repeat: int = 1,
              progress: bool = True) -> list[Run]:
    """Runs every method on every prompt, rotating the method order from one round to
    the next. With ``repeat`` > 1 each prompt gets that many rounds and each method
    keeps its fastest one, so a round another process disturbed is dropped (greedy
    rounds give the same tokens; only the time differs).

    The model's verify costs (the adaptive budget's one-off measurement) are taken
    first, then one untimed warm-up run per method (16 tokens of the first prompt, own
    drafter), so one-off costs (allocations, lazy inits) land on no method. Runs are
    not inspected: only decoding is timed (``Generation(inspect=False)``).
    """
    if repeat > 1 and state == "warm":
        raise UserError("repeated rounds would show warm drafters each prompt twice; use --state fresh")
    warm_up = min(16, max_new_tokens)
    if any(m.is_engine and m.settings.adaptive_budget for m in methods):
        target.verify_costs()
    for m in methods:
        run_method(target, _with_tokens(m, warm_up), prompts[0], warm_up)
    drafters = {m.label: make_drafter(m.settings.drafter, target.vocab_size, keep_state=True)
                for m in methods if state == "warm" and m.is_engine}
    runs, rounds = [], 0
    bar = tqdm(total=len(prompts) * len(methods) * repeat, file=sys.stderr, disable=not progress,
               unit="run", dynamic_ncols=True)
    for prompt in prompts:
        fastest: dict[str, Run] = {}  # in the order of the first round
        for _ in range(repeat):
            shift = rounds % len(methods)
            rounds += 1
            for m in methods[shift:] + methods[:shift]:
                bar.set_postfix_str(f"q{prompt.question_id} {m.label}")
                run = run_method(target, m, prompt, max_new_tokens, drafters.get(m.label))
                if m.label not in fastest or run.seconds < fastest[m.label].seconds:
                    fastest[m.label] = run
                if progress:  # one line per run, above the bar
                    bar.write(f"q{prompt.question_id} {m.label}: {len(run.output)} tokens, "
                              f"{run.forwards} forwards, {run.seconds:.1f} s", file=sys.stderr)
                bar.update()
        runs.extend(fastest.values())
    bar.close()
    return runs


def _with_tokens(m: Method, tokens: int) -> Method:
    return m if not m.is_engine else dataclasses.replace(m, settings=m.settings.with_changes(max_new_tokens=tokens))


# --- command line -----------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m racer.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=["anchors"], help="a named prompt set (then --categories filters it)")
    p.add_argument("--categories", default=",".join(TASKS), help="comma list of Spec-Bench tasks")
    p.add_argument("--per-category", type=int, default=5, help="questions per task (default 5)")
    p.add_argument("--limit", type=int, help="at most this many prompts in all (quick runs)")
    p.add_argument("--model", help="model name or folder (default: SmolLM2-135M-Instruct)")
    p.add_argument("--drafters", default="racer,prompt_lookup,plain",
                   help="comma list of methods: drafter[:setting=value...][@backend], hf_greedy, hf_pld, llamacpp "
                        "(llama.cpp's plain decoding of the packaged GGUF; make bench-llamacpp installs it)")
    p.add_argument("--hf", action="store_true", help="add hf_greedy and hf_pld")
    p.add_argument("--precision", default="auto",
                   help="numeric precision, or a comma list with --verify-costs (auto: the fastest "
                        "exact one on this machine)")
    p.add_argument("--backend", default="auto",
                   help="backend: auto, torch, openblas or lean (the engine's own forward), or a comma list with "
                        "--verify-costs (auto: the fastest exact one on this machine; with "
                        "--verify-costs, every one usable here)")
    p.add_argument("--verify-costs", action="store_true",
                   help="only measure the verify forward's cost by tree size, where its time goes "
                        "and the chain check, per --precision and --backend")
    add_flags(p, [name for name in KNOBS if name not in NO_FLAG], defaults=False)
    p.add_argument("--state", choices=["fresh", "warm"], default="fresh",
                   help="fresh drafter per prompt, or RACER state kept across prompts")
    p.add_argument("--repeat", type=int, default=1,
                   help="rounds per prompt; each method keeps its fastest (fresh state only)")
    p.add_argument("--json", help="write per-prompt results and the tables here")
    return p


def main(argv: Sequence[str] | None = None, target: TargetModel | None = None,
         prompts: Sequence[Prompt] | None = None) -> dict:
    """Runs the benchmark; ``target`` and ``prompts`` let tests pass a tiny model and
    token ids instead of loading the default model and tokenizing Spec-Bench."""
    args = build_parser().parse_args(argv)
    if args.verify_costs:
        return cost_report(args.model, args.precision.split(","), args.backend.split(","))
    base = Settings(**given_flags(args))
    max_new_tokens = base.max_new_tokens
    methods = parse_methods(args.drafters + (",hf_greedy,hf_pld" if args.hf else ""), base)
    # the anchors' greedy outputs hold for the default model on Spec-Bench prompts only
    anchors = anchor_outputs() if prompts is None and args.model is None else None
    target, prompts = _target_and_prompts(args, target, prompts)
    labels = [m.label for m in methods]
    reference = PLAIN if PLAIN in labels else labels[0]
    load_before = os.getloadavg()
    started = datetime.datetime.now().astimezone()
    knobs = ", ".join(f"{k} {getattr(base, k)}" for k in KNOBS if k not in NO_FLAG + ("max_new_tokens",))
    print(f"{target.name}: {len(prompts)} prompts, {max_new_tokens} new tokens, greedy, "
          f"state {args.state}; {knobs}; methods alternated per prompt"
          + (f", fastest of {args.repeat} rounds" if args.repeat > 1 else "")
          + "; without inspection: only decoding is timed (no trie snapshots, no per-node probabilities)")
    runs = run_bench(target, prompts, methods, max_new_tokens, args.state, args.repeat)
    others = {m.label for m in methods if not m.same_weights}  # another model's weights: speed only
    mismatches = check_equal([r for r in runs if r.method not in others], reference, anchors,
                             max_new_tokens) if base.greedy else []
    tables = summarise(runs, methods)
    costs = verify_costs(runs)
    print(report(tables, costs, mismatches, reference))
    result = dict(
        command="python -m racer.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        date=started.isoformat(timespec="seconds"),
        seconds=(datetime.datetime.now().astimezone() - started).total_seconds(),
        machine={**machine(), "load_average_before": load_before}, model=target.name,
        state=args.state, repeat=args.repeat, settings=base.as_dict(),
        methods={m.label: (m.settings.as_dict() if m.settings else {"prompt_lookup_num_tokens": m.lookup})
                 for m in methods},
        tables=tables, verify_cost=costs, mismatches=mismatches, runs=[run_dict(r) for r in runs])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f)
        print(f"\nwrote {args.json}")
    return result


def _target_and_prompts(args, target: TargetModel | None,
                        prompts: Sequence[Prompt] | None) -> tuple[TargetModel, list[Prompt]]:
    """The model (loaded unless given) and the prompts (Spec-Bench's, tokenized, unless given)."""
    if target is None:
        from racer.model.loading import load_model
        model, tokenizer = load_model(args.model, precision=args.precision, backend=args.backend)
        target = TargetModel(model, tokenizer)
    if prompts is None:
        from racer.model.loading import prompt_ids
        prompts = [Prompt(q.question_id, q.task, tuple(prompt_ids(target.tokenizer, q.text)))
                   for q in _questions(args)]
    prompts = list(prompts)[: args.limit]
    if not prompts:
        raise SystemExit("no prompts selected")
    return target, prompts


def _questions(args) -> list[Question]:
    questions = load_questions()
    if args.preset:
        questions = preset(args.preset, questions)
    tasks = tuple(t.strip() for t in args.categories.split(",") if t.strip())
    return select(questions, tasks, args.per_category)
