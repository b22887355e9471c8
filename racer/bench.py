"""Spec-Bench benchmark: drafters against our plain loop and transformers generate().

    python -m racer.bench --preset anchors --hf --json out.json
    python -m racer.bench --categories translation,qa --per-category 2 --limit 3

Every method runs on every prompt, alternated prompt by prompt (the order rotates
from one prompt to the next), so slow drift of the machine (other processes, heat)
falls on all methods alike. Speedups are time ratios over the same prompts. Greedy
methods must reproduce the plain loop's tokens; the tables say whether they did.

A method is a drafter name with optional setting overrides, ``racer:budget=64`` or
``racer:adaptive_budget=0``, or ``hf_greedy`` / ``hf_pld`` (transformers generate,
plain or with ``prompt_lookup_num_tokens=10``).

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
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
import transformers
from tqdm import tqdm

from .bench_data import TASKS, Question, anchor_outputs, load_questions, preset, select
from .drafters import make_drafter
from .generate import Generation
from .hf_baselines import hf_generate
from .model import TargetModel
from .settings import Settings

HF_METHODS = {"hf_greedy": None, "hf_pld": 10}  # label -> prompt_lookup_num_tokens
ANCHOR_TOKENS = 128  # the anchors' greedy outputs stop at 128 new tokens
COST_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # tree-size bucket upper bounds


@dataclass(frozen=True)
class Method:
    label: str
    settings: Settings | None = None  # engine methods
    lookup: int | None = None         # hf methods: prompt_lookup_num_tokens (None = plain)

    @property
    def is_hf(self) -> bool:
        return self.settings is None


@dataclass(frozen=True)
class Prompt:
    question_id: int
    task: str
    ids: tuple[int, ...]


@dataclass(frozen=True)
class StepCost:
    tree_size: int
    draft_s: float
    verify_s: float
    update_s: float


@dataclass
class Run:
    method: str
    question_id: int
    task: str
    output: list[int]
    forwards: int
    seconds: float
    steps: list[StepCost] = field(default_factory=list)  # engine runs, verify steps only
    # tokens the last step accepted beyond max_new_tokens (the authors' loop counts them)
    overshoot: int = 0
    same: bool | None = None          # equal to the reference method's tokens
    same_anchor: bool | None = None   # equal to the anchors' greedy tokens


# --- methods ----------------------------------------------------------------------

def parse_methods(spec: str, base: Settings) -> list[Method]:
    """"racer,racer:budget=64,hf_pld" -> three methods; overrides are Settings fields."""
    methods = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        name, *overrides = item.split(":")
        if name in HF_METHODS:
            methods.append(Method(item, lookup=HF_METHODS[name]))
            continue
        changes = dict(_override(base, o) for o in overrides)
        methods.append(Method(item, settings=base.with_changes(drafter=name, **changes)))
    if len({m.label for m in methods}) != len(methods):
        raise ValueError("each method may be named only once")
    return methods


def _override(base: Settings, text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    if key not in {f.name for f in dataclasses.fields(Settings)} or key == "drafter":
        raise ValueError(f"{key!r} is not a setting; use e.g. racer:budget=64")
    kind = type(getattr(base, key))
    if kind is bool:
        return key, value.lower() in ("1", "true", "yes", "on")
    return key, kind(value)


# --- running ----------------------------------------------------------------------

def run_engine(target: TargetModel, prompt: Prompt, settings: Settings, drafter=None) -> Run:
    start = time.perf_counter()
    gen = Generation(target, prompt.ids, settings, drafter=drafter)
    records = list(gen.steps())
    seconds = time.perf_counter() - start
    steps = [StepCost(len(r.tree), r.timings.draft_s, r.timings.verify_s, r.timings.update_s)
             for r in records if r.tree is not None]
    last = records[-1]
    overshoot = len(last.accepted) - len(last.emitted) if last.finish_reason == "length" else 0
    return Run("", prompt.question_id, prompt.task, list(gen.output), gen.forwards, seconds, steps,
               overshoot=overshoot)


def run_hf(target: TargetModel, prompt: Prompt, max_new_tokens: int, lookup: int | None) -> Run:
    r = hf_generate(target.model, prompt.ids, max_new_tokens, lookup)
    return Run("", prompt.question_id, prompt.task, r.output, r.forwards, r.seconds)


def run_method(target: TargetModel, method: Method, prompt: Prompt, max_new_tokens: int,
               drafter=None) -> Run:
    if method.is_hf:
        run = run_hf(target, prompt, max_new_tokens, method.lookup)
    else:
        run = run_engine(target, prompt, method.settings, drafter)
    run.method = method.label
    return run


def run_bench(target: TargetModel, prompts: Sequence[Prompt], methods: Sequence[Method],
              max_new_tokens: int, state: str = "fresh", repeat: int = 1,
              progress: bool = True) -> list[Run]:
    """Runs every method on every prompt, rotating the method order from one round to
    the next. With ``repeat`` > 1 each prompt gets that many rounds and each method
    keeps its fastest one, so a round another process disturbed is dropped (greedy
    rounds give the same tokens; only the time differs).

    One untimed warm-up run per method (16 tokens of the first prompt, own drafter)
    comes first, so one-off costs (allocations, lazy inits) land on no method.
    """
    if repeat > 1 and state == "warm":
        raise ValueError("repeated rounds would show warm drafters each prompt twice; use --state fresh")
    warm_up = min(16, max_new_tokens)
    for m in methods:
        run_method(target, _with_tokens(m, warm_up), prompts[0], warm_up)
    drafters = {m.label: make_drafter(m.settings.drafter, target.vocab_size, keep_state=True)
                for m in methods if state == "warm" and not m.is_hf}
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
    return m if m.is_hf else dataclasses.replace(m, settings=m.settings.with_changes(max_new_tokens=tokens))


# --- checking ---------------------------------------------------------------------

def check_equal(runs: list[Run], reference: str, anchors: dict[int, list[int]] | None = None,
                max_new_tokens: int = ANCHOR_TOKENS) -> list[str]:
    """Marks every run ``same`` (tokens equal the reference method's on that prompt)
    and ``same_anchor``; returns one line per mismatch, e.g.
    "racer on q81: first difference at token 37"."""
    ref = {r.question_id: r.output for r in runs if r.method == reference}
    lines = []
    for r in runs:
        if r.question_id in ref:
            r.same = r.output == ref[r.question_id]
            if not r.same:
                lines.append(f"{r.method} on q{r.question_id}: differs from {reference} "
                             f"{_where(r.output, ref[r.question_id])}")
        if anchors and r.question_id in anchors:
            n = min(max_new_tokens, ANCHOR_TOKENS)
            expected = anchors[r.question_id][:n]
            r.same_anchor = r.output[:n] == expected
            if not r.same_anchor:
                lines.append(f"{r.method} on q{r.question_id}: differs from the anchors' greedy "
                             f"output {_where(r.output[:n], expected)}")
    return lines


def _where(a: list[int], b: list[int]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"first at token {i}"
    return f"in length ({len(a)} vs {len(b)} tokens)"


# --- summarising ------------------------------------------------------------------

def summarise(runs: list[Run], methods: Sequence[Method]) -> dict[str, dict[str, dict]]:
    """{task or "overall": {method: totals and ratios}}. A speedup ``vs_<base>`` is the
    base's summed seconds over the method's, on the same prompts; ``vs_<base>_median``
    is the median of the per-prompt ratios, which one disturbed run cannot sway."""
    groups = {t: [r for r in runs if r.task == t] for t in TASKS}
    groups = {t: rs for t, rs in groups.items() if rs}
    groups["overall"] = runs
    labels = [m.label for m in methods]
    tables = {}
    for group, rs in groups.items():
        seconds = {m: sum(r.seconds for r in rs if r.method == m) for m in labels}
        per_prompt = {(r.method, r.question_id): r.seconds for r in rs}
        rows = {}
        for m in labels:
            mine = [r for r in rs if r.method == m]
            tokens, forwards = sum(len(r.output) for r in mine), sum(r.forwards for r in mine)
            # the authors count the last step's tokens beyond the limit and not the prefill
            verifies = forwards - len(mine)
            row = dict(prompts=len(mine), tokens=tokens, forwards=forwards, seconds=seconds[m],
                       mat=tokens / forwards if forwards else 0.0,
                       mat_as_authors=((tokens + sum(r.overshoot for r in mine)) / verifies
                                       if verifies > 0 else None),
                       tokens_per_s=tokens / seconds[m] if seconds[m] else 0.0,
                       ms_per_forward=1000 * seconds[m] / forwards if forwards else 0.0,
                       same=_count(mine, "same"), same_anchor=_count(mine, "same_anchor"))
            for base in ("plain", "hf_greedy", "hf_pld"):
                if base in seconds and seconds[m]:
                    row[f"vs_{base}"] = seconds[base] / seconds[m]
                    row[f"vs_{base}_median"] = statistics.median(
                        per_prompt[base, r.question_id] / r.seconds for r in mine)
            rows[m] = row
        tables[group] = rows
    return tables


def _count(runs: list[Run], attr: str) -> list[int] | None:
    """[agreeing, checked], or None when nothing was checked."""
    checked = [getattr(r, attr) for r in runs if getattr(r, attr) is not None]
    return [sum(checked), len(checked)] if checked else None


def verify_costs(runs: list[Run]) -> list[dict]:
    """Per tree-size bucket: how many verify steps and their median ms for drafting,
    the verify forward and the update (acceptance, KV commit, drafter state). Explains
    speedups on a CPU, where verifying n tokens costs far more than verifying 1."""
    rows, low = [], 1
    for high in COST_BUCKETS:
        steps = [s for r in runs for s in r.steps if low <= s.tree_size <= high]
        if steps:
            ms = {part: 1000 * statistics.median(getattr(s, f"{part}_s") for s in steps)
                  for part in ("draft", "verify", "update")}
            rows.append(dict(tree_size=f"{low}-{high}" if low < high else str(high), steps=len(steps),
                             draft_ms=ms["draft"], verify_ms=ms["verify"], update_ms=ms["update"]))
        low = high + 1
    return rows


# --- printing ---------------------------------------------------------------------

def format_table(headers: Sequence[str], rows: list[Sequence]) -> str:
    cells = [list(map(str, headers))] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}"
    if isinstance(v, list):  # [agreeing, checked]
        return f"{v[0]}/{v[1]}"
    return str(v)


def report(tables: dict, costs: list[dict], mismatches: list[str], reference: str) -> str:
    out = []
    for group, rows in tables.items():
        any_row = next(iter(rows.values()))
        headers = ["method", "tokens", "fwd", "MAT", "tok/s", "ms/fwd", "vs plain", "(median)", "vs hf",
                   "vs hf-pld", f"= {reference}"]
        keys = ["tokens", "forwards", "mat", "tokens_per_s", "ms_per_forward", "vs_plain",
                "vs_plain_median", "vs_hf_greedy", "vs_hf_pld", "same"]
        if any(r["same_anchor"] for r in rows.values()):
            headers.append("= anchors")
            keys.append("same_anchor")
        body = [[m] + [r.get(k) for k in keys] for m, r in rows.items()]
        out.append(f"\n{group} ({any_row['prompts']} prompts)\n" + format_table(headers, body))
    groups = [g for g in tables if g != "overall"] + ["overall"]
    labels = list(tables["overall"])
    out.append("\nMAT by category (MAT as the authors count it: tokens beyond the limit counted, "
               "prefill not)\n" + format_table(
                   ["method"] + groups + ["as authors"],
                   [[m] + [tables[g][m]["mat"] for g in groups] + [tables["overall"][m]["mat_as_authors"]]
                    for m in labels]))
    if costs:
        body = [[c["tree_size"], c["steps"], c["draft_ms"], c["verify_ms"], c["update_ms"]] for c in costs]
        out.append("\nverify cost by tree size (all engine steps of this run, median)\n"
                   + format_table(["tree nodes", "steps", "draft ms", "verify ms", "update ms"], body))
    if mismatches:
        out.append(f"\nGREEDY MISMATCHES ({len(mismatches)}):\n" + "\n".join("  " + m for m in mismatches))
    else:
        out.append(f"\nGreedy check: every method produced the same tokens as {reference} on every prompt.")
    return "\n".join(out)


def machine() -> dict:
    model_name = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            model_name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return dict(cpu=model_name, cores=os.cpu_count(), torch_threads=torch.get_num_threads(),
                torch=torch.__version__, transformers=transformers.__version__,
                python=platform.python_version(), load_average=os.getloadavg())


# --- command line -----------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m racer.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=["anchors"], help="a named prompt set (then --categories filters it)")
    p.add_argument("--categories", default=",".join(TASKS), help="comma list of Spec-Bench tasks")
    p.add_argument("--per-category", type=int, default=5, help="questions per task (default 5)")
    p.add_argument("--limit", type=int, help="at most this many prompts in all (quick runs)")
    p.add_argument("--model", help="model name or folder (default: SmolLM2-135M-Instruct)")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--drafters", default="racer,prompt_lookup,plain",
                   help="comma list of methods: drafter[:setting=value...], hf_greedy, hf_pld")
    p.add_argument("--hf", action="store_true", help="add hf_greedy and hf_pld")
    for name in ("width", "depth", "window", "budget", "capacity"):
        p.add_argument(f"--{name}", type=int, help=f"RACER {name} (default: the app's)")
    p.add_argument("--adaptive-budget", action=argparse.BooleanOptionalAction, default=None)
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
    overrides = {k: getattr(args, k) for k in ("width", "depth", "window", "budget", "capacity",
                                               "adaptive_budget") if getattr(args, k) is not None}
    base = Settings(max_new_tokens=args.max_new_tokens, **overrides)
    spec = args.drafters + (",hf_greedy,hf_pld" if args.hf else "")
    methods = parse_methods(spec, base)
    if target is None:
        from .loading import load_model
        model, tokenizer = load_model(args.model)
        target = TargetModel(model, tokenizer)
    # the anchors' greedy outputs hold for the default model on Spec-Bench prompts only
    anchors = anchor_outputs() if prompts is None and args.model is None else None
    if prompts is None:
        from .loading import prompt_ids
        prompts = [Prompt(q.question_id, q.task, tuple(prompt_ids(target.tokenizer, q.text)))
                   for q in _questions(args)]
    prompts = list(prompts)[: args.limit]
    if not prompts:
        raise SystemExit("no prompts selected")

    labels = [m.label for m in methods]
    reference = "plain" if "plain" in labels else labels[0]
    load_before = os.getloadavg()
    started = datetime.datetime.now().astimezone()
    knobs = ", ".join(f"{k} {getattr(base, k)}" for k in ("width", "depth", "window", "budget",
                                                          "capacity", "adaptive_budget"))
    print(f"{target.name}: {len(prompts)} prompts, {args.max_new_tokens} new tokens, greedy, "
          f"state {args.state}; {knobs}; methods alternated per prompt"
          + (f", fastest of {args.repeat} rounds" if args.repeat > 1 else ""))
    runs = run_bench(target, prompts, methods, args.max_new_tokens, args.state, args.repeat)
    mismatches = check_equal(runs, reference, anchors, args.max_new_tokens) if base.greedy else []
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
        tables=tables, verify_cost=costs, mismatches=mismatches,
        runs=[dict(method=r.method, question_id=r.question_id, task=r.task, tokens=len(r.output),
                   forwards=r.forwards, seconds=r.seconds, overshoot=r.overshoot, same=r.same, same_anchor=r.same_anchor,
                   output_ids=r.output,
                   steps=[[s.tree_size, *(round(1000 * t, 3) for t in (s.draft_s, s.verify_s, s.update_s))]
                          for s in r.steps])
              for r in runs])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f)
        print(f"\nwrote {args.json}")
    return result


def _questions(args) -> list[Question]:
    questions = load_questions()
    if args.preset:
        questions = preset(args.preset, questions)
    tasks = tuple(t.strip() for t in args.categories.split(",") if t.strip())
    return select(questions, tasks, args.per_category)


if __name__ == "__main__":
    main()
