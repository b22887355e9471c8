"""What each draft source contributed to one step, and why it fell short, in one
sentence each (``SourceAccount``); ``racer.inspect.explain`` puts them into the step's
``Account`` with the tree's size, the verdict and the ending.

``Quote`` and ``count`` are the wording helpers both modules use.

Left out on purpose: HTML, figures and token texts, as in ``racer.inspect.explain``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from racer.drafting.registry import PLAIN, find_drafter
from racer.engine.records import StepRecord
from racer.engine.tree import BOTH, LOGITS, RETRIEVAL

Quote = Callable[[Sequence[int]], str]   # token ids -> their text as a sentence shows it

# Why a source drafted what it did (SourceAccount.reason)
DRAFTED = "drafted"                  # it has nodes in the tree
NO_MATCH = "no_match"                # retrieval: the root never followed the context's end before
NOTHING_FOLLOWED = "nothing_followed"  # retrieval: a match, but nothing after it in the automaton
UNSEEN = "unseen"                    # logits cache: the root was never read, nothing is cached after it
OUTRANKED = "outranked"              # it offered tokens, but every node of the tree was likelier
PLAIN_STEP = "plain_step"            # it offered tokens, but the adaptive budget chose the root alone
NOT_ASKED = "not_asked"              # the settings left no room to draft (see Account.size)
FOUND_NOTHING = "found_nothing"      # a drafter of its own (prompt lookup) had nothing to propose


@dataclass(frozen=True)
class SourceAccount:
    """One draft source's part in a step."""
    name: str        # RETRIEVAL, LOGITS, or the drafter's name for a drafter with one source of its own
    drafted: int     # its nodes in the verified tree ("both" nodes count for each source)
    accepted: int    # of those, how many the model accepted
    reason: str      # DRAFTED, or why it has none: NO_MATCH, UNSEEN, OUTRANKED, ...
    sentence: str


def source_accounts(record: StepRecord, quote: Quote, plain_step: bool) -> tuple[SourceAccount, ...]:
    """Each of the drafter's sources: what it drafted, or why it drafted nothing
    (``plain_step``: the adaptive budget chose to verify the root alone)."""
    spec = find_drafter(record.settings.drafter)
    if spec is None or spec.name == PLAIN:
        return ()
    if not (spec.uses_automaton or spec.uses_logits_cache):   # one source of its own
        return (_own_source(record, spec.name, spec.label, plain_step),)
    out = []
    if spec.uses_automaton:
        out.append(_retrieval(record, quote, plain_step))
    if spec.uses_logits_cache:
        out.append(_logits(record, quote, plain_step))
    return tuple(out)


def _counts(record: StepRecord, kinds: tuple[str, ...]) -> tuple[int, int]:
    """(drafted, accepted) nodes whose source is one of ``kinds``."""
    tree, kept = record.tree, set(record.accepted)
    nodes = [i for i in range(1, len(tree)) if tree.sources[i] in kinds]
    return len(nodes), sum(i in kept for i in nodes)


def _min_path_estimate(record: StepRecord) -> float | None:
    """The lowest path estimate among the tree's drafted nodes (None without estimates)."""
    probs = record.tree.path_probs() if record.tree.estimates else None
    return min(probs[1:]) if probs and len(probs) > 1 else None


def _passed_over(record: StepRecord, offers, what: tuple[str, str], quote: Quote,
                 plain_step: bool) -> tuple[str, str]:
    """(reason, clause) for a source whose offers made no node of the tree; ``what``
    names one offer and several."""
    token, estimate = offers[0]
    offered = (f"it offered {count(len(offers), *what)} (the likeliest {quote([token])}, "
               f"estimated {estimate:.2f})")
    if plain_step:
        return PLAIN_STEP, f"{offered}, not verified in this plain step"
    floor = _min_path_estimate(record)
    likelier = f" (estimated {floor:.2f} or more along their paths)" if floor is not None else ""
    drafted = len(record.tree) - 1
    return OUTRANKED, (f"{offered}, but the tree's {count(drafted, 'drafted token')} went to "
                       f"likelier guesses{likelier}")


def _retrieval(record: StepRecord, quote: Quote, plain_step: bool) -> SourceAccount:
    view, root = record.automaton, record.tree.root
    drafted, accepted = _counts(record, (RETRIEVAL, BOTH))
    last = "last token" if len(view.matched) == 1 else f"last {len(view.matched)} tokens"
    if view.borders:
        match = f"the context's {last} followed by the root {quote([root])} occurred earlier in the text"
    else:  # retrieval continues from the root token alone too (a 1-token match)
        match = (f"the context's last token never came before the root {quote([root])} earlier, but the "
                 f"root itself occurred earlier in the text (a 1-token match)")
    if drafted:
        reason, clause = DRAFTED, (f"{match}; it drafted {count(drafted, 'token')} from what followed there, "
                                   f"{accepted} accepted")
    elif record.proposed == 0:
        reason, clause = NOT_ASKED, "not consulted, as this step drafted nothing (below)"
    elif not view.borders and not view.offered:
        reason, clause = NO_MATCH, (f"nowhere earlier in the text did the context's last token come before "
                                    f"the root {quote([root])}, nor was the root itself followed by anything "
                                    f"earlier, so there was no match to copy from")
    elif not view.offered:
        reason, clause = NOTHING_FOLLOWED, (
            f"{match}, but nothing follows that match in the automaton yet (it comes at the very end of "
            f"the text, or fills the {record.settings.window}-token window), so there was nothing to copy")
    else:
        reason, clause = _passed_over(record, view.offered, ("continuation", "continuations"), quote, plain_step)
        clause = f"{match}; {clause}"
    return SourceAccount(RETRIEVAL, drafted, accepted, reason, f"Retrieval: {clause}.")


def _logits(record: StepRecord, quote: Quote, plain_step: bool) -> SourceAccount:
    view, root = record.automaton, record.tree.root
    drafted, accepted = _counts(record, (LOGITS, BOTH))
    if drafted:
        both = sum(source == BOTH for source in record.tree.sources)
        also = f" ({both} of them retrieval proposed too)" if both else ""
        reason, clause = DRAFTED, (f"it drafted {count(drafted, 'token')} from the model's own earlier "
                                   f"top guesses{also}, {accepted} accepted")
    elif record.proposed == 0:
        reason, clause = NOT_ASKED, "not consulted, as this step drafted nothing (below)"
    elif not view.cached:
        reason, clause = UNSEEN, (f"the root {quote([root])} has no cached successors (the model has not "
                                  f"read this token before), so it had nothing to draft")
    else:
        reason, clause = _passed_over(record, view.cached, ("guess", "guesses"), quote, plain_step)
    return SourceAccount(LOGITS, drafted, accepted, reason, f"Logits cache: {clause}.")


def _own_source(record: StepRecord, name: str, label: str, plain_step: bool) -> SourceAccount:
    """A drafter that is its own source (prompt lookup): all drafted nodes are its."""
    tree = record.tree
    drafted = len(tree) - 1
    accepted = record.accepted_drafts
    head = label[0].upper() + label[1:]
    if drafted:
        how = tree.evidence[1].describe() if tree.evidence and tree.evidence[1] is not None else ""
        reason, clause = DRAFTED, (f"it drafted {count(drafted, 'token')}" + (f", {how}" if how else "")
                                   + f", {accepted} accepted")
    elif record.proposed == 0:
        reason, clause = NOT_ASKED, "not consulted, as this step drafted nothing (below)"
    elif plain_step:
        reason, clause = PLAIN_STEP, (f"it offered {count(record.proposed - 1, 'token')}, "
                                      f"not verified in this plain step")
    else:
        reason, clause = FOUND_NOTHING, "it found no earlier occurrence of the text's last tokens to copy from"
    return SourceAccount(name, drafted, accepted, reason, f"{head}: {clause}.")


def count(n: int, word: str, plural: str | None = None) -> str:
    """count(1, "token") -> "1 token"; count(3, "guess", "guesses") -> "3 guesses"."""
    return f"{n} {word if n == 1 else plural or word + 's'}"
