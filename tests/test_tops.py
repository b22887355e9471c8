"""``racer.model.target.row_tops``: per row of logits, the top k (best first, equal logits in
token order), greedy decoding's pick (argmax's: the first maximal token) and the
log-sum-exp; in one C pass on a CPU in float32 (``tops.c``), with torch's otherwise."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from racer.model import native
from racer.model.target import row_tops, top_tokens


def logits_with_ties(n: int, vocab: int, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(vocab)
    x = (torch.randn(n, vocab, generator=g) * 4).to(dtype)
    x[0, [3, vocab - 2]] = x[0].max() + 1                     # a tie for the top: the first wins
    if n > 1:
        x[-1, :] = x[-1, 0]                                   # a flat row: every token tied
    return x


@pytest.mark.skipif(native.refusal("tops") is not None, reason="the engine's C kernels do not run here")
@pytest.mark.parametrize("n, vocab, k", [(1, 49152, 8), (5, 4099, 8), (3, 37, 2), (2, 8, 8)])
def test_the_c_pass_gives_torch_s_top_k_argmax_and_log_sum_exp(n, vocab, k):
    x = logits_with_ties(n, vocab)
    t = row_tops(x, k)
    values, _ = x.topk(k)
    assert np.array_equal(t.values, values.numpy())
    assert np.array_equal(t.picks, x.argmax(-1).numpy()) and np.array_equal(t.ids[:, 0], t.picks)
    assert t.picks[0] == 3 and (n == 1 or t.picks[-1] == 0)
    for row in range(n):                                       # ids: those values, ties in token order
        assert np.array_equal(x[row, t.ids[row]].numpy(), t.values[row])
        for a, b in zip(t.ids[row], t.ids[row][1:]):
            assert x[row, a] > x[row, b] or (x[row, a] == x[row, b] and a < b)
    assert np.allclose(t.lse, torch.logsumexp(x, -1).numpy(), rtol=0, atol=2e-5)
    probs = torch.softmax(x, -1).gather(1, torch.as_tensor(t.ids)).numpy()
    assert np.allclose(top_tokens(x, k).probs, probs, rtol=1e-5, atol=1e-7)


def test_float64_logits_keep_their_precision():
    """A float64 model's guard compares gaps of 1e-15: its values stay float64."""
    x = logits_with_ties(3, 50, torch.float64)
    x[1, 7] = x[1].max() + 1e-13
    t = row_tops(x, 2)
    assert t.values.dtype == np.float64 and t.values[1, 0] - t.values[1, 1] == pytest.approx(1e-13, rel=1e-3)
    assert np.array_equal(t.picks, x.argmax(-1).numpy())
