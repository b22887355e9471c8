"""Acceptance: walk the verified tree with the target's own choices.

At each visited node the target picks one token from its logits there (argmax when
greedy, one sample from the temperature/top-p distribution otherwise). If a child
of the node carries that token, the walk descends into it; otherwise the pick is
the bonus token and the walk stops. Siblings hold distinct tokens, so the accepted
nodes form one chain.

Greedy, this is the longest path whose drafted tokens all equal the argmax at their
parent. Sampling, every emitted token is drawn from the target's exact conditional
distribution, so the output distribution is the target's (lossless), and each
emitted token consumes one draw of the generator in order, as plain sampling does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from racer.engine.records import ACCEPTED, NOT_REACHED, REJECTED
from racer.engine.settings import Settings
from racer.engine.tree import DraftTree


@dataclass(frozen=True)
class Walk:
    accepted: tuple[int, ...]  # node indices, root first
    picks: tuple[int, ...]     # the target's token at each accepted node; picks[-1] is the bonus


def sampling_probs(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """The distribution a sample is drawn from: softmax(logits / T), cut to the
    smallest top set whose mass reaches top_p (the best token always stays).
    logits: (..., V) -> probs (..., V)."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
        sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


def pick_token(logits: torch.Tensor, settings: Settings, generator: torch.Generator | None) -> int:
    """The target's own next token for one row of logits (V,)."""
    if settings.greedy:
        return int(logits.argmax())
    probs = sampling_probs(logits, settings.temperature, settings.top_p)
    return int(torch.multinomial(probs, 1, generator=generator))


def walk_tree(tree: DraftTree, logits: torch.Tensor, settings: Settings,
              generator: torch.Generator | None = None, picks: Sequence[int] | None = None) -> Walk:
    """logits: (n, V), row i = the target's logits after node i. ``picks``: greedy decoding's
    pick at each row where the caller has them (``racer.model.target.row_tops``), else argmax."""
    child_by_token = [dict() for _ in range(len(tree))]
    for i, p in enumerate(tree.parents):
        if p >= 0 and not tree.is_padding(i):   # padding is verified, never accepted
            child_by_token[p][tree.tokens[i]] = i
    greedy_picks = None
    if settings.greedy:
        greedy_picks = [int(t) for t in picks] if picks is not None else logits.argmax(dim=-1).tolist()
    node, accepted, picks = 0, [0], []
    while True:
        token = greedy_picks[node] if greedy_picks is not None else pick_token(logits[node], settings, generator)
        picks.append(token)
        child = child_by_token[node].get(token)
        if child is None:
            return Walk(tuple(accepted), tuple(picks))
        accepted.append(child)
        node = child


def verdicts(tree: DraftTree, accepted: tuple[int, ...]) -> tuple[str, ...]:
    """accepted / rejected (parent accepted, node not) / not_reached (parent not accepted)."""
    on_path = set(accepted)
    out = []
    for i, p in enumerate(tree.parents):
        if i in on_path:
            out.append(ACCEPTED)
        elif p in on_path:
            out.append(REJECTED)
        else:
            out.append(NOT_REACHED)
    return tuple(out)


def node_probs(tree: DraftTree, logits: torch.Tensor, settings: Settings) -> tuple[float, ...]:
    """The target's probability of each node's token at its parent (root: 1.0).
    Greedy runs report the plain softmax (temperature 1)."""
    if len(tree) == 1:
        return (1.0,)
    parents = torch.tensor(tree.parents[1:], device=logits.device)
    tokens = torch.tensor(tree.tokens[1:], device=logits.device)
    rows = logits[parents]  # (n-1, V)
    if settings.greedy:
        probs = torch.softmax(rows, dim=-1)
    else:
        probs = sampling_probs(rows, settings.temperature, settings.top_p)
    return (1.0,) + tuple(probs.gather(1, tokens[:, None])[:, 0].tolist())


def bonus_probability(logits: torch.Tensor, token: int, settings: Settings) -> float:
    """The target's probability of its own pick ``token`` from one row (V,) of logits."""
    if settings.greedy:
        return float(torch.softmax(logits.float(), dim=-1)[token])
    return float(sampling_probs(logits, settings.temperature, settings.top_p)[token])
