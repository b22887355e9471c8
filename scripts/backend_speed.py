"""Plain and RACER tokens/s per matrix-product backend on a few anchor prompts (128 new tokens,
greedy, the app's defaults), the backends and methods alternated per prompt in one process;
each backend's verify costs are measured before any clock starts.

    PYTHONPATH=. .venv/bin/python scripts/backend_speed.py 7 16 21   # anchor indices
"""
import sys
from racer.model.backend import use_backend
from racer.bench.data import anchor_prompts
from racer.engine.generate import Generation
from racer.model.loading import load_model
from racer.model.target import TargetModel
from racer.engine.settings import Settings

model, tok = load_model(precision="float32", backend="torch")
targets = {}
for name in ("torch", "openblas"):
    use_backend(model, name)
    targets[name] = TargetModel(model, tok)
    targets[name].verify_costs()   # calibrated on its own backend, before any clock
    print(name, {k: round(1000*v, 1) for k, v in targets[name].verify_costs().items()}, flush=True)
idx = [int(a) for a in sys.argv[1:]] or [0, 7, 16, 21, 25]
prompts = [anchor_prompts()[i] for i in idx]
res = {(b, d): [0, 0.0, 0] for b in targets for d in ("plain", "racer")}
for p in prompts:
    outs = {}
    for b, t in targets.items():
        use_backend(model, b)
        for d in ("plain", "racer"):
            gen = Generation(t, p["input_ids"], Settings(max_new_tokens=128, drafter=d))
            s = sum(r.timings.total_s for r in gen.steps())
            outs[(b, d)] = gen.output
            r = res[(b, d)]; r[0] += len(gen.output); r[1] += s; r[2] += gen.forwards
            print(p["question_id"], b, d, len(gen.output), f"{len(gen.output)/s:.1f} tok/s", gen.forwards, flush=True)
    for b in targets:
        print("  racer==plain on", b, outs[(b, "racer")] == outs[(b, "plain")],
              "| plain == anchor:", outs[(b, "plain")] == p["greedy_output_ids"][:len(outs[(b, "plain")])])
print("backend method tokens seconds tok/s MAT")
for (b, d), (n, s, f) in res.items():
    print(b, d, n, round(s, 2), round(n / s, 1), round(n / f, 2))
base = res[("torch", "plain")]
for (b, d), (n, s, f) in res.items():
    print(f"{b} {d}: {(n/s)/(base[0]/base[1]):.2f}x stock torch plain")
