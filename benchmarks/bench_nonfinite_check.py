"""What the divergence rule's check costs the Transformer: one steady iteration (sample, L1 cost and
gradient, Adam step) against the check alone (every gradient concatenated, isfinite, one host sync),
in one process on luo2022's quick 2x2 lattice (1000 samples, one layer of 32, as luo_square_var_1x32).

    python benchmarks/bench_nonfinite_check.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main(argv=None) -> int:
    import numpy as np
    import torch

    from lindblad_nqs.povm import get_povm
    from lindblad_nqs.povm_solvers.training import NetConfig, POVMTrainer, build_model, make_adam
    from lindblad_nqs.spec import parse_spec

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=30)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    spec = parse_spec({"system": {"lattice": {"shape": [2, 2], "boundary": "periodic"},
                                  "preset": {"name": "heisenberg", "Jx": 0.9, "Jy": 1.8, "Jz": 1.0, "gamma": 1.0}},
                       "task": {"kind": "steady"}, "method": {"name": "transformer"}, "observables": ["sz"], "seed": 0})
    povm = get_povm("tetrahedral")
    model = build_model(spec.system, NetConfig(), povm.product_probabilities("z+"))
    trainer = POVMTrainer(spec.system, "tetrahedral", model, 0)
    opt = make_adam(model, 1e-3)
    it_times, check_times = [], []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        trainer.steady_iteration(opt, 1000)
        t1 = time.perf_counter()
        for _ in range(10):
            trainer._finite(1.0)
        it_times.append(t1 - t0)
        check_times.append((time.perf_counter() - t1) / 10)
    it, ck = np.median(it_times), np.median(check_times)
    print(f"{sum(q.numel() for q in model.parameters())} parameters: iteration {1e3 * it:.2f} ms (median of "
          f"{a.repeats}), check {1e6 * ck:.1f} us: {100 * ck / it:.3f} % of an iteration")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
