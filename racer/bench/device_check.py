"""One short go on a machine, for a GPU first of all: is greedy RACER exact there, what
does one verify forward cost by tree size, and how fast is RACER against plain decoding?

    python -m racer.bench.device_check                    # CUDA: float16 and bfloat16, 30 anchors
    python -m racer.bench.device_check --device cpu       # a CPU: float32 (float16 is CUDA only)
    python -m racer.bench.device_check --device cpu --quick   # the test suite's few-second run

It prints three tables per machine, the same on a CPU as on a GPU:

1. greedy exactness on the anchor prompts, per precision: RACER's greedy tokens against
   plain greedy decoding's at the same precision. Where they part, the logits of both
   tokens at that position (one forward over the prompt and the common tokens) and the
   gap between them; a parting passes only when the gap is within the precision's
   near-tie tolerance (``TIE``), and the run exits 1 otherwise.
2. the verify-cost curve: one verify forward's median ms by tree size (a chain over
   ``COST_CONTEXT`` cached tokens), and its ratio to a one-node forward.
3. the speed table at the app's defaults and at the authors' parameters: tokens/s of
   plain decoding and of RACER, the speedup, tokens per forward and the mean tree size.
4. what a visitor of a ZeroGPU Space sees: the model the app loads there (its GPU default,
   ``racer.model.loading.default_model``) at precision ``auto``, its verify-cost curve
   (the Tune tab's and the lesson's), and Runs at the app's default settings as the page
   makes them (inspected, plain decoding timed alongside step for step: the Speedup
   tab's figure), with the seconds a step and a whole Run take: what the GPU-time
   estimates of ``components/gpu.py`` (``FORWARD_S``) and docs/deployment.md assume.

Left out on purpose: sampling (checked by the test suite on any machine) and the
Hugging Face baselines (``python -m racer.bench --hf``).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Sequence

import torch

from racer.engine.generate import Generation
from racer.measure.baseline import LiveBaseline, plain_settings
from racer.bench.runs import Prompt, run_engine
from racer.bench.data import anchor_prompts
from racer.model.target import TargetModel
from racer.engine.settings import Settings

COST_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)
COST_CONTEXT = 300
# the largest gap between two tokens' logits that counts as a near-tie, per precision:
# a few units in the last place of logits of about 10-30 (bfloat16 keeps 8 bits of
# mantissa, float16 11, float32 24)
TIE = {"float32": 1e-3, "float16": 0.05, "bfloat16": 0.5}
# width 8, window 10, budget 64, capacity 10,000, depth 64, adaptive budget off
# (docs/results.md, "MAT at the authors' parameters")
AUTHORS = dict(width=8, window=10, budget=64, capacity=10_000, depth=64, adaptive_budget=False)


@dataclass(frozen=True)
class Parting:
    question_id: int
    position: int          # index into the generated tokens
    plain: int             # plain decoding's token there
    racer: int
    logit_plain: float
    logit_racer: float

    @property
    def gap(self) -> float:
        return self.logit_plain - self.logit_racer


def exactness(target: TargetModel, prompts: Sequence[Prompt], tokens: int) -> tuple[int, list[Parting]]:
    """(prompts whose RACER greedy tokens equal plain greedy's, the partings)."""
    settings = Settings(max_new_tokens=tokens)
    same, partings = 0, []
    for p in prompts:
        plain = run_engine(target, p, plain_settings(settings)).output
        racer = run_engine(target, p, settings).output
        n = min(len(plain), len(racer))
        at = next((i for i in range(n) if plain[i] != racer[i]), None)
        if at is None:
            same += plain == racer
            continue
        logits, _ = target.prefill(list(p.ids) + plain[:at], target.new_cache(), top_k=0)
        partings.append(Parting(p.question_id, at, plain[at], racer[at],
                                float(logits[plain[at]]), float(logits[racer[at]])))
    return same, partings


def cost_curve(target: TargetModel, sizes: Sequence[int], repeats: int) -> dict[int, float]:
    """{tree size: median ms of one verify forward}."""
    return {k: 1000 * v for k, v in target.time_verify(sizes, COST_CONTEXT, repeats).items()}


def speed(target: TargetModel, prompts: Sequence[Prompt], settings: Settings) -> dict:
    """Plain and RACER over ``prompts`` (one untimed warm-up each first)."""
    warm = Prompt(prompts[0].question_id, prompts[0].task, prompts[0].ids)
    run_engine(target, warm, plain_settings(settings).with_changes(max_new_tokens=4))
    run_engine(target, warm, settings.with_changes(max_new_tokens=4))
    plain = [run_engine(target, p, plain_settings(settings)) for p in prompts]
    racer = [run_engine(target, p, settings) for p in prompts]
    n_plain, n_racer = sum(len(r.output) for r in plain), sum(len(r.output) for r in racer)
    s_plain, s_racer = sum(r.seconds for r in plain), sum(r.seconds for r in racer)
    sizes = [s.tree_size for r in racer for s in r.steps]
    return dict(plain_tps=n_plain / s_plain, racer_tps=n_racer / s_racer,
                speedup=(n_racer / s_racer) / (n_plain / s_plain),
                per_forward=n_racer / max(1, sum(r.forwards for r in racer)),
                mean_tree=statistics.fmean(sizes) if sizes else 0.0, same=sum(
                    a.output == b.output for a, b in zip(plain, racer)), prompts=len(prompts))


def visitor(target: TargetModel, prompts: Sequence[Prompt], settings: Settings) -> dict:
    """Each prompt Run as the app's Explore tab runs it (inspected, plain decoding timed
    alongside after every step, ``LiveBaseline``), after one short untimed Run: tokens/s of
    RACER and of plain decoding (engine timings, as the page), the Speedup tab's last figure
    per prompt, and wall seconds per forward (both runs, inspection included) and per Run."""
    warm = Generation(target, prompts[0].ids, settings.with_changes(max_new_tokens=4), inspect=True)
    list(warm.steps())
    tokens, racer_s, plain_s, forwards, wall, speedups = 0, 0.0, 0.0, 0, 0.0, []
    for p in prompts:
        start = time.perf_counter()
        gen, base = Generation(target, p.ids, settings, inspect=True), LiveBaseline(target, p.ids, settings)
        engine_s = 0.0
        for record in gen.steps():
            base.cover(record.total_tokens)
            engine_s += record.timings.total_s
        target._sync()
        wall += time.perf_counter() - start
        n = len(gen.output)
        speedups.append(base.speedup(n, engine_s) or 0.0)
        tokens, racer_s, plain_s = tokens + n, racer_s + engine_s, plain_s + base.timeline[n - 1]
        forwards += gen.forwards + min(n, len(base.timeline))
    return dict(racer_tps=tokens / racer_s, plain_tps=tokens / plain_s, speedups=speedups,
                s_per_forward=wall / forwards, s_per_run=wall / len(prompts), tokens=tokens / len(prompts))


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m racer.bench.device_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--model", default=None, help="model id or folder (default: the app's)")
    p.add_argument("--precisions", default=None,
                   help="comma-separated (default: float16,bfloat16 on CUDA; float32 on a CPU)")
    p.add_argument("--anchors", type=int, default=30, help="anchor prompts checked (1-30)")
    p.add_argument("--tokens", type=int, default=128, help="new tokens per anchor prompt")
    p.add_argument("--speed-prompts", type=int, default=10, help="anchor prompts in the speed table")
    p.add_argument("--repeats", type=int, default=9, help="timed forwards per tree size")
    p.add_argument("--quick", action="store_true",
                   help="a few seconds' check: 2 anchors, 8 tokens, 1 speed prompt, sizes up to 16")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from racer.model.loading import load_model
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("device_check: CUDA was asked for but torch sees no GPU; use --device cpu.", file=sys.stderr)
        return 2
    cuda = device.startswith("cuda")
    precisions = (args.precisions.split(",") if args.precisions
                  else ["float16", "bfloat16"] if cuda else ["float32"])
    sizes = COST_SIZES
    if args.quick:
        args.anchors, args.tokens, args.speed_prompts, args.repeats = 2, 8, 1, 2
        sizes = tuple(k for k in COST_SIZES if k <= 16)
    if not 1 <= args.anchors <= 30:
        print("device_check: --anchors must be between 1 and 30.", file=sys.stderr)
        return 2
    anchors = [Prompt(a["question_id"], a["category"], tuple(a["input_ids"])) for a in anchor_prompts()]
    checked = anchors[:args.anchors]
    timed = anchors[:max(1, args.speed_prompts)]

    print(f"# device check on {device}: {machine(device)}")
    if not cuda:
        print("(a CPU: float16 runs on CUDA only, so this run checks "
              f"{', '.join(precisions)}; the tables are those a GPU run prints)")
    failed = False
    costs, speeds = {}, {}
    for name in precisions:
        # torch's products, as on any GPU (backend auto would time OpenBLAS on a CPU: 10 s)
        model, tokenizer = load_model(args.model, device=device, precision=name, backend="torch")
        target = TargetModel(model, tokenizer)
        same, partings = exactness(target, checked, args.tokens)
        print(f"\n## greedy exactness, {name}: {same}/{len(checked)} anchor prompts token for token "
              f"({args.tokens} new tokens each)")
        if partings:
            print("| prompt | position | plain token (logit) | RACER token (logit) | gap | near-tie? |")
            print("| --- | --- | --- | --- | --- | --- |")
        for d in partings:
            tie = abs(d.gap) <= TIE.get(name, 0.0)
            failed |= not tie
            print(f"| {d.question_id} | {d.position} | {tokenizer.decode([d.plain])!r} ({d.logit_plain:.4f}) "
                  f"| {tokenizer.decode([d.racer])!r} ({d.logit_racer:.4f}) | {d.gap:.4f} "
                  f"| {'yes' if tie else 'NO: a bug'} |")
        costs[name] = cost_curve(target, sizes, args.repeats)
        speeds[name] = {label: speed(target, timed, Settings(max_new_tokens=args.tokens).with_changes(**extra))
                        for label, extra in (("defaults", {}), ("authors' parameters", AUTHORS))}
        del target, model
        if cuda:
            torch.cuda.empty_cache()

    print(f"\n## verify cost by tree size (median ms of {args.repeats} forwards over "
          f"{COST_CONTEXT} cached tokens; x = ratio to one node)")
    print("| precision | " + " | ".join(str(k) for k in sizes) + " |")
    print("| --- |" + " --- |" * len(sizes))
    for name, ms in costs.items():
        print(f"| {name} | " + " | ".join(f"{ms[k]:.2f} ({ms[k] / ms[sizes[0]]:.1f}x)" for k in sizes) + " |")

    print(f"\n## speed ({len(timed)} anchor prompts, {args.tokens} new tokens each; greedy)")
    print("| precision | settings | plain tok/s | RACER tok/s | speedup | tokens/forward | mean tree | same output |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, rows in speeds.items():
        for label, r in rows.items():
            print(f"| {name} | {label} | {r['plain_tps']:.1f} | {r['racer_tps']:.1f} | {r['speedup']:.2f}x "
                  f"| {r['per_forward']:.2f} | {r['mean_tree']:.1f} | {r['same']}/{r['prompts']} |")
    visit(args.model, device, timed, sizes, args.repeats, args.tokens)
    print("\nresult: " + ("FAILED (a parting that is not a near-tie)" if failed else "passed"))
    return 1 if failed else 0


def visit(model_name: str | None, device: str, prompts: Sequence[Prompt], sizes: Sequence[int], repeats: int,
          tokens: int) -> None:
    """Prints table 4: what a visitor of a ZeroGPU Space would see (``visitor``)."""
    from racer.model.loading import default_model, load_model
    name = model_name or default_model(device)
    # torch's products, as on any GPU (backend auto times OpenBLAS only on a CPU)
    model, tokenizer = load_model(name, device=device, precision="auto", backend="torch")
    target = TargetModel(model, tokenizer)
    dtype = str(target.dtype).removeprefix("torch.")
    settings = Settings(max_new_tokens=tokens)
    ms = cost_curve(target, sizes, repeats)
    v = visitor(target, prompts, settings)
    print(f"\n## what a ZeroGPU visitor sees: {name}, precision auto ({dtype}), the app's default settings")
    print("verify cost by tree size (the Tune tab's curve): " +
          ", ".join(f"{k}: {ms[k]:.2f} ms ({ms[k] / ms[sizes[0]]:.1f}x)" for k in sizes))
    print("| plain tok/s | RACER tok/s | Speedup tab, per prompt | s per forward (both runs) | s per Run "
          "| tokens per Run |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {v['plain_tps']:.1f} | {v['racer_tps']:.1f} | {', '.join(f'{x:.2f}x' for x in v['speedups'])} "
          f"| {v['s_per_forward']:.4f} | {v['s_per_run']:.2f} | {v['tokens']:.0f} |")
    print("(components/gpu.py asks ZeroGPU for 0.05 s per forward, FORWARD_S: compare with the s per forward)")


if __name__ == "__main__":
    sys.exit(main())
