"""The "copy logits" cache: for every vocabulary token, the top-k next tokens the
target model predicted the last time it processed that token, with the probability
it gave each.

A row is overwritten whenever the token is processed again (prefill, accepted or
rejected tree nodes alike). Memory is vocab x k int32 ids plus float32 probabilities
(49152 x 8 -> 3 MiB). Rows never written are marked unseen; drafting skips them (the
authors would draft token 0 after an unseen token).

The probabilities are the target's at the place the row was written, not where it
is read, which is why the drafter calibrates them (``racer.drafting.calibration``) before
trusting them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class TopK:
    """The target's top-k next tokens at n processed tokens, best first.

    ids: (n, k) token ids; probs: (n, k) the target's probability of each (softmax of
    its logits at temperature 1).
    """
    ids: np.ndarray
    probs: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, index) -> "TopK":
        """The rows at ``index`` (a list of row numbers or a slice)."""
        return TopK(self.ids[index], self.probs[index])

    @staticmethod
    def concat(parts: Sequence["TopK"], width: int) -> "TopK":
        """Rows of all ``parts`` in order, padded to ``width`` columns (id -1, prob 0)."""
        n = sum(len(p) for p in parts)
        ids = np.full((n, width), -1, dtype=np.int64)
        probs = np.zeros((n, width), dtype=np.float32)
        start = 0
        for p in parts:
            k = min(width, p.ids.shape[1])
            ids[start:start + len(p), :k] = p.ids[:, :k]
            probs[start:start + len(p), :k] = p.probs[:, :k]
            start += len(p)
        return TopK(ids, probs)


def last_occurrences(tokens) -> np.ndarray:
    """The positions in ``tokens`` where a token occurs for the last time, ascending: the
    only rows ``LogitsCache.update`` keeps (so the prefill computes no others)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    _, from_end = np.unique(tokens[::-1], return_index=True)
    return np.sort(len(tokens) - 1 - from_end)


class LogitsCache:
    def __init__(self, vocab_size: int, width: int) -> None:
        if vocab_size < 1 or width < 1:
            raise ValueError("vocab_size and width must be positive")
        self.vocab_size = vocab_size
        self._rows = np.full((vocab_size, width), -1, dtype=np.int32)  # (V, k), -1 = empty
        self._probs = np.zeros((vocab_size, width), dtype=np.float32)  # (V, k)
        self._seen = np.zeros(vocab_size, dtype=bool)
        self._written = np.zeros(vocab_size, dtype=np.int64)  # (V,) context length when written

    @property
    def width(self) -> int:
        return self._rows.shape[1]

    @property
    def nbytes(self) -> int:
        """Bytes its arrays hold (vocab 49152, width 8 -> 3.4 MiB, the stamps included)."""
        return sum(a.nbytes for a in (self._rows, self._probs, self._seen, self._written))

    def ensure_width(self, width: int) -> None:
        """Grows the rows when a wider tree is asked for; narrower asks just read fewer."""
        if width > self.width:
            rows = np.full((self.vocab_size, width), -1, dtype=np.int32)
            probs = np.zeros((self.vocab_size, width), dtype=np.float32)
            rows[:, : self.width] = self._rows
            probs[:, : self.width] = self._probs
            self._rows, self._probs = rows, probs

    def update(self, tokens: Sequence[int], top: TopK, at) -> None:
        """top: the (n, k') top-k' at each of the n processed ``tokens``, best first;
        at: the context length when they were processed (one int, or one per token).

        Later rows win when a token repeats (as if written in order).
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        at = np.broadcast_to(np.asarray(at, dtype=np.int64), tokens.shape)
        keep = (tokens >= 0) & (tokens < self.vocab_size)
        tokens, ids, probs, at = tokens[keep], np.asarray(top.ids)[keep], np.asarray(top.probs)[keep], at[keep]
        if len(tokens) == 0:
            return
        # keep only the last occurrence of each token (numpy leaves the winner of
        # repeated fancy-index writes unspecified)
        last = last_occurrences(tokens)
        tokens, ids, probs, at = tokens[last], ids[last], probs[last], at[last]
        k = min(self.width, ids.shape[1])
        self._rows[tokens, :k] = ids[:, :k]
        self._rows[tokens, k:] = -1
        self._probs[tokens, :k] = probs[:, :k]
        self._probs[tokens, k:] = 0.0
        self._seen[tokens] = True
        self._written[tokens] = at

    def written_at(self, token: int) -> int:
        """The context length when ``token``'s row was last written (0 if never)."""
        return int(self._written[token]) if 0 <= token < self.vocab_size else 0

    def successors(self, token: int, k: int) -> list[int]:
        """Up to k cached next tokens for ``token``, best first; [] if never seen."""
        return [t for t, _ in self.candidates(token, k)]

    def candidates(self, token: int, k: int) -> list[tuple[int, float]]:
        """Up to k (next token, the target's probability of it), best first; [] if
        ``token`` was never seen."""
        if not (0 <= token < self.vocab_size) or not self._seen[token]:
            return []
        ids, probs = self._rows[token, :k].tolist(), self._probs[token, :k].tolist()
        return [(t, p) for t, p in zip(ids, probs) if t >= 0]
