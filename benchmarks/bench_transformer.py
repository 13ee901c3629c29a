"""Benchmark of the autoregressive Transformer (luo2022): exact sampling with and without the
key/value cache, and log_prob + backward, for a batch of samples versus the number of sites.

    python benchmarks/bench_transformer.py [--sizes 9 16 40] [--batch 12000] [--device cpu|cuda|all]

Every ratio is measured within one run on one device. The uncached sampler reruns the full causal
forward pass over the prefix for every site (the same distribution, drawn with the same random
numbers); it runs on a smaller batch (--uncached-batch), and the speed-up of the cache is the
ratio of the two samplers' times at that same batch.

Measured once (2026-11-23, torch 2.13.0, float32, `--repeat 2`) on CPU, 1 thread, on a 2-core machine
shared with other jobs (load average 8-10 during the run, so absolute times are inflated and noisy by
a factor of about 2-3; an earlier run of the same code at load ~5 was about twice as fast). No GPU was
available to this task. Cached rate at batch 12000; uncached rate and the cache speed-up (ratio of
the two samplers' times) at batch 2000; log_prob and log_prob+backward on 12000 samples (for "8s"
that is 8 x 12000 sequences through the shared Transformer). The 2x64 "8s" row at N=16 was not run.

| N | model | samples/s cached | samples/s uncached | cache speed-up | log_prob s | log_prob+backward s |
|---|---|---|---|---|---|---|
| 9 | 1x32 | 11,306 | 4,385 | 2.3 | 0.53 | 1.56 |
| 16 | 1x32 | 7,933 | 1,516 | 4.6 | 1.02 | 2.53 |
| 40 | 1x32 | 1,919 | 400 | 4.9 | 2.84 | 7.78 |
| 9 | 1x32 8s | 27,062 | | | 5.87 | 13.5 |
| 16 | 1x32 8s | 8,561 | | | 10.0 | 30.8 |
| 9 | 2x64 | 4,923 | 1,289 | 3.6 | 2.15 | 7.30 |
| 16 | 2x64 | 2,008 | 321 | 5.9 | 3.79 | 14.1 |
| 40 | 2x64 | 675 | 83 | 8.3 | 7.17 | 17.2 |
| 9 | 2x64 8s | 13,964 | | | 9.86 | 27.3 |

(The "8s" sampling rates above the plain model's at N=9 show the noise level: mixture sampling costs
one Transformer sample plus a gather.) The cache's advantage grows with N, as expected from O(N) versus
O(N^2) work per token; at N=9 the per-site Python and kernel overheads dominate. On the CPU most of the
log_prob+backward time is PyTorch's CPU flash-attention kernel (forward and backward) with head
dimension 8-16; explicit matmul attention measured about 2x slower there.
"""

from __future__ import annotations

import argparse
import time

import torch

from lindblad_nqs.model.lattice import Lattice
from lindblad_nqs.nets.strings import StringStates
from lindblad_nqs.nets.transformer import Transformer

TETRA_UP = [0.5, 1 / 6, 1 / 6, 1 / 6]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeat=1, warmup=True):
    """Best wall time of ``repeat`` calls (after one warm-up call when ``warmup``)."""
    if warmup:
        fn()
        _sync(device)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def random_model(n_sites, n_layers, d_model, device, strings=None):
    torch.manual_seed(0)
    if strings is None:
        m = Transformer(n_sites, n_layers=n_layers, d_model=d_model, n_heads=4, device=device)
    else:
        side = int(round(n_sites**0.5))
        m = StringStates(Lattice((side, side)), strings, n_layers=n_layers, d_model=d_model, n_heads=4, device=device)
    return m


def bench_one(n_sites, n_layers, d_model, batch, uncached_batch, device, repeat, strings=None):
    m = random_model(n_sites, n_layers, d_model, device, strings)
    gen = torch.Generator(device=device).manual_seed(1)
    t_cached = timed(lambda: m.sample(batch, gen), device, repeat)
    row = {"N": n_sites, "model": f"{n_layers}x{d_model}" + (f" {strings}" if strings else ""),
           "sample/s cached": batch / t_cached}
    if uncached_batch > 0:
        # the ratio compares both samplers at the same batch size
        t_c = timed(lambda: m.sample(uncached_batch, gen), device, repeat)
        t_unc = timed(lambda: m.sample(uncached_batch, gen, use_cache=False), device, 1)
        row["sample/s uncached"] = uncached_batch / t_unc
        row["cache speed-up"] = t_unc / t_c
    a = m.sample(batch, gen)

    def lp_backward():
        m.zero_grad(set_to_none=True)
        m.log_prob(a).mean().backward()

    row["log_prob+backward s"] = timed(lp_backward, device, repeat)
    with torch.no_grad():
        row["log_prob s"] = timed(lambda: m.log_prob(a), device, repeat)
    return row


def print_table(rows, device_name):
    cols = ["N", "model", "sample/s cached", "sample/s uncached", "cache speed-up", "log_prob s", "log_prob+backward s"]
    print(f"\n{device_name}")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            if isinstance(v, float):
                v = f"{v:.3g}" if c != "sample/s cached" and c != "sample/s uncached" else f"{v:,.0f}"
            cells.append(str(v))
        print("| " + " | ".join(cells) + " |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[9, 16, 40])
    ap.add_argument("--batch", type=int, default=12000)
    ap.add_argument("--uncached-batch", type=int, default=2000, help="0 skips the uncached sampler")
    ap.add_argument("--models", nargs="+", default=["1x32", "2x64"], help="LAYERSxD_MODEL")
    ap.add_argument("--strings", nargs="*", default=["8s"], help="string sets timed on the square sizes")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "all"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        print("CUDA not available; CPU only")
        devices = ["cpu"]
    for dev in devices:
        device = torch.device(dev)
        name = torch.cuda.get_device_name(device) if dev == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
        rows = []
        for spec in args.models:
            n_layers, d_model = (int(x) for x in spec.lower().split("x"))
            for n in args.sizes:
                rows.append(bench_one(n, n_layers, d_model, args.batch, args.uncached_batch, device, args.repeat))
                print(rows[-1], flush=True)
            for strings in args.strings:
                for n in args.sizes:
                    if int(round(n**0.5)) ** 2 == n:
                        rows.append(bench_one(n, n_layers, d_model, args.batch, 0, device, args.repeat, strings))
                        print(rows[-1], flush=True)
        print_table(rows, f"{name}, batch {args.batch} (uncached sampler: batch {args.uncached_batch})")


if __name__ == "__main__":
    main()
