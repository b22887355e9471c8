"""Deploy: the settings tuned here, as the launch command of an engine that serves them.

    python -m racer.deploy --target sglang --budget 12 --width 9 --window 10
    python -m racer.deploy --target authors --budget 64 --width 8

- ``sglang``: SGLang with the authors' RACER port (PR #39211 to sgl-project/sglang,
  python/sglang/srt/speculative/racer/, code read 2026-12-03): ``--speculative-algorithm
  RACER --speculative-num-draft-tokens K`` plus the environment variables
  ``SGLANG_RACER_TOPK``, ``SGLANG_RACER_NGRAM``, ``SGLANG_RACER_MAX_NODES`` (and
  ``SGLANG_RACER_HISTORY_WINDOW``, which has no counterpart here). It builds the tree of
  our ``racer_sglang`` policy.
- ``authors``: the authors' evaluation script (github hkr04/RACER,
  evaluation/inference_racer.py): ``--max-num-draft --ngram --max-nodes --max-breadth``
  (and ``--temperature --top-p``). It builds the tree of our ``racer_paper`` policy.

A knob without a counterpart in the target is listed as such in ``Export.unmapped``,
never guessed. ``parse`` reads a command back into settings (the round trip the tests
check).

Left out on purpose: running anything; the model and data flags, which are the user's.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass

from racer.errors import UserError
from racer.engine.settings import Settings
from racer.drafting.registry import drafter_label

PR = "sgl-project/sglang PR #39211"
READ_ON = "2026-12-03"
TARGETS = ("sglang", "authors")
POLICY = {"sglang": "racer_sglang", "authors": "racer_paper"}
TARGET_NAMES = {"sglang": "SGLang", "authors": "the authors' code"}  # in sentences
DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"

# knob -> (how the target takes it, its name there); "env" / "flag"
SGLANG = {"budget": ("flag", "--speculative-num-draft-tokens"), "width": ("env", "SGLANG_RACER_TOPK"),
          "window": ("env", "SGLANG_RACER_NGRAM"), "capacity": ("env", "SGLANG_RACER_MAX_NODES")}
AUTHORS = {"budget": ("flag", "--max-num-draft"), "width": ("flag", "--max-breadth"),
           "window": ("flag", "--ngram"), "capacity": ("flag", "--max-nodes"),
           "temperature": ("flag", "--temperature"), "top_p": ("flag", "--top-p")}
MAPS = {"sglang": SGLANG, "authors": AUTHORS}

# why a knob has no counterpart, per target
UNMAPPED = {
    "sglang": {
        "depth": "SGLang has no depth cap: only K bounds the tree",
        "adaptive_budget": "SGLang verifies exactly K nodes every step: no adaptive budget",
        "temperature": "sampling is per request in SGLang (the request's temperature), not a launch flag",
        "top_p": "sampling is per request in SGLang (the request's top_p), not a launch flag",
        "history_window": "SGLANG_RACER_HISTORY_WINDOW (default 4096) has no counterpart here: "
                          "this project keeps the whole context; left at SGLang's default",
    },
    "authors": {
        "depth": "the authors' tree has no depth cap: only the budget bounds it",
        "adaptive_budget": "the authors' code drafts a fixed budget: no adaptive budget",
    },
}


@dataclass(frozen=True)
class Export:
    target: str
    env: tuple[tuple[str, str], ...]   # (variable, value)
    argv: tuple[str, ...]              # the command, program first
    mapped: tuple[tuple[str, str], ...]    # (our knob, its name there)
    unmapped: tuple[tuple[str, str], ...]  # (our knob, why it has no counterpart)

    @property
    def command(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env)
        return (env + " " if env else "") + shlex.join(self.argv)

    def text(self) -> str:
        """The command, then a comment line per knob that does not carry over."""
        lines = [self.command]
        lines += [f"# {knob}: not exported - {why}" for knob, why in self.unmapped]
        return "\n".join(lines)


def export(settings: Settings, target: str, model: str = DEFAULT_MODEL) -> Export:
    """``settings`` as ``target``'s command (``target`` one of TARGETS)."""
    if target not in MAPS:
        raise UserError(f"deploy target must be one of {', '.join(TARGETS)}, not {target!r}")
    env, flags, mapped = [], [], []
    for knob, (how, there) in MAPS[target].items():
        if knob in ("temperature", "top_p") and settings.greedy:
            continue   # greedy: the authors' defaults already are
        value = str(getattr(settings, knob))
        (env.append((there, value)) if how == "env" else flags.extend([there, value]))
        mapped.append((knob, there))
    unmapped = dict(UNMAPPED[target])
    if settings.greedy:
        unmapped.pop("temperature", None), unmapped.pop("top_p", None)
    if target == "sglang":
        argv = ("python", "-m", "sglang.launch_server", "--model-path", model,
                "--speculative-algorithm", "RACER", *flags)
    else:
        argv = ("python", "evaluation/inference_racer.py", *flags)
        unmapped["model"] = f"add the model and benchmark flags of the authors' README ({model} here)"
    if settings.drafter != POLICY[target]:
        unmapped["drafter"] = (f"these settings were chosen for {drafter_label(settings.drafter)}; "
                               f"{TARGET_NAMES[target]} builds the tree of {drafter_label(POLICY[target])}, "
                               "so tune under that drafter for the same trees")
    return Export(target, tuple(env), argv, tuple(mapped), tuple(unmapped.items()))


def parse(command: str, target: str) -> dict[str, float]:
    """The knobs a command sets, by our names: the inverse of ``export``."""
    words = shlex.split(command.splitlines()[0])
    by_name = {there: knob for knob, (_, there) in MAPS[target].items()}
    found: dict[str, float] = {}
    for word in words:
        if "=" in word and not word.startswith("-"):
            name, value = word.split("=", 1)
            if name in by_name:
                found[by_name[name]] = float(value)
    for name, value in zip(words, words[1:]):
        if name in by_name:
            found[by_name[name]] = float(value)
    return found


def mapping_rows() -> list[tuple[str, str, str]]:
    """(our knob, SGLang, authors' code) per knob, for the docs and the panel."""
    knobs = ["budget", "width", "window", "capacity", "depth", "adaptive_budget", "temperature", "top_p"]
    cell = lambda t, k: MAPS[t][k][1] if k in MAPS[t] else "none: " + UNMAPPED[t][k]
    return [(k, cell("sglang", k), cell("authors", k)) for k in knobs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m racer.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=TARGETS, required=True)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the model SGLang serves")
    for knob in ("budget", "width", "window", "capacity", "depth"):
        parser.add_argument(f"--{knob}", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--top-p", dest="top_p", type=float, default=None)
    parser.add_argument("--adaptive-budget", dest="adaptive_budget", type=int, choices=(0, 1), default=None)
    a = parser.parse_args(argv)
    changes = {k: v for k, v in vars(a).items() if k not in ("target", "model") and v is not None}
    if "adaptive_budget" in changes:
        changes["adaptive_budget"] = bool(changes["adaptive_budget"])
    try:
        settings = Settings(drafter=POLICY[a.target]).with_changes(**changes)
        print(export(settings, a.target, a.model).text())
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
