"""The "copy logits" cache: for every vocabulary token, the top-k next tokens the
target model predicted the last time it processed that token.

A row is overwritten whenever the token is processed again (prefill, accepted or
rejected tree nodes alike). Memory is vocab x k int32 (49152 x 8 -> 1.5 MiB).
Rows never written are marked unseen; drafting skips them (the authors would draft
token 0 after an unseen token).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


class LogitsCache:
    def __init__(self, vocab_size: int, width: int) -> None:
        if vocab_size < 1 or width < 1:
            raise ValueError("vocab_size and width must be positive")
        self.vocab_size = vocab_size
        self._rows = np.full((vocab_size, width), -1, dtype=np.int32)  # (V, k), -1 = empty
        self._seen = np.zeros(vocab_size, dtype=bool)

    @property
    def width(self) -> int:
        return self._rows.shape[1]

    def ensure_width(self, width: int) -> None:
        """Grows the rows when a wider tree is asked for; narrower asks just read fewer."""
        if width > self.width:
            grown = np.full((self.vocab_size, width), -1, dtype=np.int32)
            grown[:, : self.width] = self._rows
            self._rows = grown

    def update(self, tokens: Sequence[int], successors: np.ndarray) -> None:
        """successors: (n, k') top-k' ids at each of the n processed tokens, best first.

        Later rows win when a token repeats (as if written in order).
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        keep = (tokens >= 0) & (tokens < self.vocab_size)
        tokens, successors = tokens[keep], np.asarray(successors)[keep]
        if len(tokens) == 0:
            return
        # keep only the last occurrence of each token (numpy leaves the winner of
        # repeated fancy-index writes unspecified)
        _, first_from_end = np.unique(tokens[::-1], return_index=True)
        last = len(tokens) - 1 - first_from_end
        tokens, successors = tokens[last], successors[last]
        k = min(self.width, successors.shape[1])
        self._rows[tokens, :k] = successors[:, :k]
        self._rows[tokens, k:] = -1
        self._seen[tokens] = True

    def successors(self, token: int, k: int) -> list[int]:
        """Up to k cached next tokens for ``token``, best first; [] if never seen."""
        if not (0 <= token < self.vocab_size) or not self._seen[token]:
            return []
        row = self._rows[token, :k]
        return [int(t) for t in row if t >= 0]
