"""scripts/device_check.sh --device cpu: the GPU check's tables, printed on a CPU in a
few seconds (--quick), and a parting beyond a near-tie fails it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from racer.bench import device_check

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.real_model
def test_device_check_on_cpu_prints_every_table_and_passes():
    env = dict(os.environ, DEVICE_CHECK_NO_INSTALL="1", PYTHON=sys.executable)
    done = subprocess.run(["bash", "scripts/device_check.sh", "--device", "cpu", "--quick"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "greedy exactness, float32: 2/2" in out
    assert "verify cost by tree size" in out and "| float32 | " in out
    assert "| float32 | defaults |" in out and "| float32 | authors' parameters |" in out
    assert "float16 runs on CUDA only" in out and "result: passed" in out
    assert "what a ZeroGPU visitor sees: SmolLM2-135M-Instruct, precision auto (float32)" in out


def test_the_visitor_table_runs_as_the_page_does_with_plain_decoding_alongside():
    from racer.bench.runs import Prompt
    from tests.tiny import repetitive_prompt, target, tiny_model
    tm = target(tiny_model("llama", 4))
    prompts = [Prompt(i, "qa", tuple(repetitive_prompt(i))) for i in (1, 2)]
    v = device_check.visitor(tm, prompts, device_check.Settings(max_new_tokens=16))
    assert v["tokens"] == 16 and len(v["speedups"]) == 2 and all(x > 0 for x in v["speedups"])
    assert v["racer_tps"] > 0 and v["plain_tps"] > 0 and 0 < v["s_per_forward"] < v["s_per_run"]


def test_a_parting_is_judged_by_the_gap_of_both_logits():
    near = device_check.Parting(1, 3, 10, 11, 12.50, 12.48)
    far = device_check.Parting(1, 3, 10, 11, 14.0, 12.0)
    assert abs(near.gap) <= device_check.TIE["float16"] < abs(far.gap)


def test_cuda_without_a_gpu_is_refused_with_a_sentence(monkeypatch, capsys):
    monkeypatch.setattr(device_check.torch.cuda, "is_available", lambda: False)
    assert device_check.main(["--device", "cuda"]) == 2
    assert "no GPU" in capsys.readouterr().err
