"""Method `transformer` (luo2022): an autoregressive Transformer (or String States) over POVM outcomes.

steady   : minimise the L1 norm of dp/dt (Eq. 5) with Adam, the sampling weight held fixed (Eq. S22);
           with dyn_time > 0 the variational result is then evolved by the trapezoid dynamics for
           dyn_time (iterations: 0 gives the pure "dyn" steady state from the `init` product state).
dynamics : forward-backward trapezoid steps of task.dt (the paper's tau is task.dt / 2), each
           minimising Eq. 4 with a fresh Adam, warm-started, until cost / (2 tau) < inner_tol, the
           cost stops falling beyond its Monte Carlo standard error (inner_window > 0), or inner_max
           iterations; from task.initial, or from the final model of the run in --init-state (var+dyn).

`lindblad-nqs methods transformer` lists every key with its doc.

History (result.history.csv): one row per Adam iteration of the variational stage (stage var) and per
trapezoid step (stage dyn, with its inner_iterations and stop_reason: tol, noise_floor or max_iter);
time_s is the row's wall time (the iteration, or the whole step with all its inner iterations;
observables at save points excluded).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..methods import Key, Result, RunContext, register
from ..model import PRODUCT_STATES
from ..povm.frames import POVM_NAMES
from ..spec import RunSpec, SpecError

DEFAULTS = {
    "povm": Key("tetrahedral", str, "single-site POVM", choices=POVM_NAMES),
    "n_layers": Key(1, int, "Transformer layers", minimum=1),
    "d_model": Key(32, int, "hidden dimension (even, a multiple of n_heads)", minimum=1),
    "n_heads": Key(4, int, "attention heads", minimum=1),
    "d_ff": Key(0, int, "feed-forward width (0: 2 d_model)", minimum=0),
    "strings": Key("0s", str, "String States: 0s (one row-major string), or 1s, 2s, 4s, 8s strings of a square "
                   "lattice mixed with equal weights"),
    "samples": Key(2000, int, "samples per Adam iteration", minimum=1),
    "eval_samples": Key(10000, int, "samples of the reported observables", minimum=1),
    "iterations": Key(500, int, "steady task: Adam iterations on the L1 cost (Eq. 5)", minimum=0),
    "lr": Key(0.01, float, "steady task: initial Adam rate", positive=True),
    "lr_final": Key(0.0005, float, "steady task: Adam rate at the last iteration (exponential decay)",
                    positive=True),
    "init": Key("z+", str, "product state the steady-state search starts from", choices=tuple(PRODUCT_STATES)),
    "tau": Key(0.0, float, "steady task: the paper's trapezoid tau (a step advances 2 tau) of the dyn stage",
               minimum=0),
    "dyn_time": Key(0.0, float, "steady task: evolution time of the trapezoid dynamics after the variational "
                    "stage (iterations 0: the pure dyn steady state)", minimum=0),
    "dyn_lr": Key(0.001, float, "inner Adam rate of each trapezoid step", positive=True),
    "dyn_lr_final": Key(0.0, float, "> 0: the inner rate decays exponentially to this over inner_max iterations "
                        "(0: constant dyn_lr)", minimum=0),
    "inner_tol": Key(1.0, float, "inner loop stops when the mean cost of its last three iterations / (2 tau) "
                     "falls below this (an L1 residual of dp/dt)", positive=True),
    "inner_max": Key(50, int, "most inner iterations per trapezoid step", minimum=1),
    "inner_min": Key(3, int, "fewest inner iterations per trapezoid step", minimum=0),
    "inner_window": Key(0, int, "> 0: the inner loop also stops at the cost's noise floor, when the mean cost of its "
                        "last inner_window iterations is less than inner_noise times the cost's Monte Carlo "
                        "standard error below the mean of the inner_window before; 0: off", minimum=0),
    "inner_noise": Key(1.0, float, "standard errors of the noise-floor rule (inner_window)", minimum=0),
    "warm_start": Key("previous", str, "previous (the paper: start each step from the last parameters) or "
                      "extrapolate (their linear extrapolation over the last step)",
                      choices=("previous", "extrapolate")),
    "seeds": Key(1, int, "independent runs (seeds seed, seed+1, ...) whose distributions are averaged (S5)",
                 minimum=1),
    "dtype": Key("float32", str, "floating-point precision", choices=("float32", "float64")),
    "device": Key("auto", str, "torch device", choices=("auto", "cpu", "cuda")),
    "checkpoint_every": Key(50, int, "iterations (steady) or steps (dynamics) between checkpoints", minimum=1),
    "chunk": Key(65536, int, "strings per batched forward pass", minimum=1),
    "prefix": Key(True, bool, "evaluate each connected string from its parent's cached prefix (exact, faster); "
                  "false: the full pass, for benchmarks comparing the two"),
    "exact_sum": Key(False, bool, "exact sums over all 4^N strings (weights p(a); N <= 8) instead of samples in "
                     "both costs and the observables: a noise-free diagnostic, not the paper's method"),
}


def _check_params(spec: RunSpec) -> dict:
    p = dict(spec.params)
    if p["d_model"] % p["n_heads"]:
        raise SpecError(f"method.d_model ({p['d_model']}) must be a multiple of method.n_heads ({p['n_heads']})")
    if p["d_model"] % 2:
        raise SpecError(f"method.d_model must be even (sinusoidal positions), got {p['d_model']}")
    if p["exact_sum"] and spec.system.n_sites > 8:
        raise SpecError(f"method.exact_sum enumerates 4^N strings: needs N <= 8, got N = {spec.system.n_sites}")
    try:
        from ..model.orderings import parse_strings

        strings = parse_strings(p["strings"])
    except ValueError as e:
        raise SpecError(f"method.strings: {e}") from None
    if strings != (0,) and spec.system.lattice.dim != 2:
        raise SpecError(f"method.strings {p['strings']!r} needs a 2D lattice; a chain takes strings: 0s")
    if p["inner_window"] and 2 * p["inner_window"] > p["inner_max"]:
        raise SpecError(f"method.inner_window ({p['inner_window']}) compares two windows of iterations: it needs "
                        f"2 inner_window <= inner_max ({p['inner_max']})")
    if spec.task.kind == "steady":
        if p["dyn_time"] > 0 and not p["tau"] > 0:
            raise SpecError("method.tau must be positive when method.dyn_time > 0")
        if p["iterations"] == 0 and p["dyn_time"] == 0:
            raise SpecError("method.iterations and method.dyn_time are both 0: nothing to solve")
    else:
        if p["tau"] not in (0.0, spec.task.dt / 2):
            raise SpecError(f"method.tau is for steady tasks; dynamics take tau = task.dt / 2 (got tau {p['tau']}, "
                            f"dt {spec.task.dt})")
    return p


check_spec = _check_params  # run by spec.parse_spec: validate and the workflow see the same checks


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SpecError("method.device is cuda but no CUDA device is visible")
    return name


@register("transformer", DEFAULTS, tasks=("steady", "dynamics"), uses_gpu=True, framework="torch")
def solve(spec: RunSpec, ctx: RunContext) -> Result:
    import torch

    p = _check_params(spec)
    torch.set_num_threads(max(1, ctx.threads))
    device = _device(p["device"])
    runs = []
    for k in range(p["seeds"]):
        runs.append(_run_one(spec, ctx, p, k, device))
    rows = _combine([r["rows"] for r in runs])
    history = pd.concat([r["history"] for r in runs], ignore_index=True)
    info = {
        "device": device,
        "n_runs_averaged": p["seeds"],
        "seeds": [spec.seed + k for k in range(p["seeds"])],
        "per_run": [r["info"] for r in runs],
        "per_run_values": ([{name: [v, e] for _, name, v, e in r["rows"]} for r in runs]
                           if spec.task.kind == "steady" else None),
        "tau": runs[0]["info"].get("tau"),
        "n_params": runs[0]["info"]["n_params"],
        "averaging": "observables are the mean over runs (luo2022 S5); stderr combines the runs' Monte Carlo errors",
    }
    return Result(rows, info, history)


def _combine(per_run: list[list[tuple]]) -> list[tuple]:
    if len(per_run) == 1:
        return per_run[0]
    out = []
    for entries in zip(*per_run):
        t, name = entries[0][0], entries[0][1]
        vals = np.array([e[2] for e in entries])
        errs = np.array([e[3] for e in entries])
        out.append((t, name, float(vals.mean()), float(np.sqrt(np.sum(errs**2)) / len(vals))))
    return out


# --- one independent run ----------------------------------------------------------------------------
def _net_config(p: dict):
    from ..povm_solvers.training import NetConfig

    return NetConfig(p["n_layers"], p["d_model"], p["n_heads"], p["d_ff"], str(p["strings"]), p["dtype"])


def load_tensors(path: Path, device: str, required: tuple[str, ...] = ()) -> dict:
    """A model file read as tensors and plain containers only (checkpoint.read_torch), with the keys
    `required`; a file that does not read so is refused by name."""
    from ..checkpoint import read_torch
    from ..checks import RunError

    data = read_torch(path, device)
    missing = [k for k in required if k not in data]
    if missing:
        raise RunError(f"{path} is not a checkpoint of this program (no {missing[0]!r}); delete it")
    return data


# keys that cannot change a trained model: an interrupted or finished training is reused across them.
# eval_samples only in steady tasks: a dynamics run measures at its save times with the generator its
# training draws from, so there the number of observation samples shapes the rest of the run.
VOLATILE = ("checkpoint_every", "seeds")


def checkpoint_fingerprint(spec: RunSpec, p: dict, init_state, k: int) -> str:
    """The checkpoint policy (checkpoint.fingerprint) of run k: the resolved spec without the volatile
    keys, with the content of the --init-state model it starts from. A dynamics run's t_final is volatile:
    a longer run continues a shorter one's checkpoint (the segments of pipeline.SEGMENTABLE)."""
    from ..checkpoint import file_digest, fingerprint

    volatile = VOLATILE + (("eval_samples",) if spec.task.kind == "steady" else ())
    init = None
    if init_state is not None:
        f = Path(init_state) / f"model_run{k}.pt"
        init = file_digest(f) if f.is_file() else str(init_state)
    return fingerprint(dict(spec.raw, init_state=init), volatile, ("t_final",) if spec.task.kind == "dynamics" else ())


def _load_init(spec: RunSpec, ctx: RunContext, p: dict, k: int, device: str):
    """Model of run k of the finished run in ctx.init_state (var+dyn): its network and POVM."""
    from ..checks import RunError
    from ..povm_solvers.training import NetConfig, build_model

    path = Path(ctx.init_state) / f"model_run{k}.pt"
    if not path.exists():
        raise SpecError(f"--init-state {ctx.init_state} has no {path.name}; it must be a finished transformer run "
                        f"with at least {p['seeds']} run(s) (method.seeds)")
    ck = load_tensors(path, device, required=("n_sites", "povm", "net", "model"))
    if ck["n_sites"] != spec.system.n_sites:
        raise SpecError(f"--init-state model has {ck['n_sites']} sites, this system {spec.system.n_sites}")
    if ck["povm"] != p["povm"]:
        raise SpecError(f"method.povm {p['povm']!r} differs from the --init-state run's {ck['povm']!r}")
    cfg = NetConfig(**ck["net"])
    if cfg != _net_config(p):
        raise SpecError(f"the network of --init-state ({ck['net']}) differs from method.* "
                        f"({_net_config(p).to_dict()}); give the same n_layers, d_model, n_heads, d_ff, strings, dtype")
    model = build_model(spec.system, cfg, None, device)
    try:
        model.load_state_dict(ck["model"])
    except (RuntimeError, TypeError, AttributeError) as e:
        raise RunError(f"{path}: its parameters do not fit the network ({str(e).splitlines()[0][:200]})") from None
    return model


def _run_one(spec: RunSpec, ctx: RunContext, p: dict, k: int, device: str) -> dict:
    import torch

    from ..povm import get_povm
    from ..povm_solvers.training import POVMTrainer, build_model, lr_at, make_adam

    seed = spec.seed + k
    torch.manual_seed(seed)
    cfg = _net_config(p)
    povm = get_povm(p["povm"])
    dyn = spec.task.kind == "dynamics"
    if ctx.init_state is not None:
        model = _load_init(spec, ctx, p, k, device)
        start_label = f"init_state:{ctx.init_state}"
    else:
        label = spec.task.initial if dyn else p["init"]
        model = build_model(spec.system, cfg, povm.product_probabilities(label), device)
        start_label = label
    trainer = POVMTrainer(spec.system, p["povm"], model, seed, device, p["chunk"], prefix=p["prefix"])
    opt = make_adam(model, p["lr"])
    from ..checkpoint import Checkpointer

    state = ctx.state_dir
    fp = checkpoint_fingerprint(spec, p, ctx.init_state, k)
    ckpt = Checkpointer(state / f"run{k}.ckpt.pt", fp, device)  # mid-run
    done = Checkpointer(state / f"model_run{k}.pt", fp, device)  # the finished training (and --init-state of others)
    hist: list[dict] = []
    rows: list[tuple] = []
    it0 = step0 = 0
    prev = None  # the parameters one step back, which warm_start extrapolate needs to resume faithfully
    resumed_from = None
    n_it, n_steps = (0 if dyn else p["iterations"]), _n_steps(spec, p)
    for source in (done, ckpt):
        got = source.load()
        if got is None:
            continue
        ck, meta = got
        if meta["step"] > n_steps:  # a longer run's state is not this shorter run's result
            continue
        model.load_state_dict(ck["model"])
        if ck.get("opt") is not None:
            opt.load_state_dict(ck["opt"])
        trainer.gen.set_state(ck["gen"].to(trainer.gen.get_state().device) if hasattr(ck["gen"], "to") else ck["gen"])
        hist, rows, it0, step0 = meta["history"], meta["rows"], meta["iteration"], meta["step"]
        prev = ck.get("prev")
        resumed_from = {"iteration": it0, "step": step0, "file": str(source.path)}
        break

    def save_ckpt(iteration, step, with_opt=True):
        ckpt.save({"model": model.state_dict(), "opt": opt.state_dict() if with_opt else None,
                   "gen": trainer.gen.get_state(), "prev": prev},
                  {"history": hist, "rows": rows, "iteration": iteration, "step": step})

    def observe():
        if p["exact_sum"]:
            return trainer.exact_observables(list(spec.observables))
        return trainer.observables(list(spec.observables), p["eval_samples"])

    progress = _progress(ctx, (0 if dyn else p["iterations"]) + _n_steps(spec, p), f"transformer run {k}")
    progress.update(it0 + step0)
    t_start = time.perf_counter()
    # --- variational stage (steady task) ----------------------------------------------------------
    if not dyn:
        for it in range(it0, n_it):
            for g in opt.param_groups:
                g["lr"] = lr_at(it, n_it, p["lr"], p["lr_final"])
            t_row = time.perf_counter()
            rec = trainer.steady_iteration(opt, p["samples"], exact_sum=p["exact_sum"], where=f"iteration {it}")
            progress.update(1)
            if rec is None:  # a non-finite cost: no step, no history row (divergence rule)
                continue
            hist.append({"run": k, "stage": "var", "iteration": it + 1, "t": np.nan, **rec,
                         "time_s": time.perf_counter() - t_row})
            if (it + 1) % p["checkpoint_every"] == 0 and it + 1 < n_it:
                save_ckpt(it + 1, 0)
        it0 = n_it
    # --- trapezoid dynamics -------------------------------------------------------------------------
    tau = spec.task.dt / 2 if dyn else p["tau"]
    save_stride = int(round(spec.task.save_every / (2 * tau))) if dyn else None
    if dyn and step0 == 0 and not rows:
        rows += [(0.0, *r) for r in observe()]
    for step in range(step0, n_steps):
        t_row = time.perf_counter()
        now = [q.detach().clone() for q in model.parameters()]
        rec = trainer.trapezoid_step(tau, p["samples"], p["dyn_lr"], p["inner_tol"], p["inner_max"], p["inner_min"],
                                     extrapolate_from=prev, lr_final=p["dyn_lr_final"] or None,
                                     exact_sum=p["exact_sum"], window=p["inner_window"], noise=p["inner_noise"],
                                     where=f"time step {step + 1}")
        if p["warm_start"] == "extrapolate":
            prev = now
        t = (step + 1) * 2 * tau
        hist.append({"run": k, "stage": "dyn", "iteration": step + 1, "t": t, **rec,
                     "time_s": time.perf_counter() - t_row})
        progress.update(1)
        saved = dyn and (step + 1) % save_stride == 0
        if saved:
            rows += [(t, *r) for r in observe()]
        if (saved or (step + 1) % p["checkpoint_every"] == 0) and step + 1 < n_steps:
            save_ckpt(it0, step + 1, with_opt=False)
    progress.close()
    # the finished training, before the steady observables: a rerun that changes only volatile keys
    # (eval_samples) measures it afresh from the same generator state, as a fresh run would
    done.save({"model": model.state_dict(), "net": cfg.to_dict(), "povm": p["povm"], "n_sites": spec.system.n_sites,
               "seed": seed, "gen": trainer.gen.get_state(), "prev": prev},
              {"history": hist, "rows": rows, "iteration": it0, "step": n_steps})
    if not dyn:
        rows = [(None, *r) for r in observe()]
    ckpt.path.unlink(missing_ok=True)
    history = pd.DataFrame(hist)
    info = {"seed": seed, "start": start_label, "tau": tau if n_steps else None, "n_steps": n_steps,
            "wall_time_s": time.perf_counter() - t_start, "n_params": sum(q.numel() for q in model.parameters()),
            "max_connections": trainer.lind.max_connections, "resumed_from": resumed_from}
    if not dyn and p["iterations"]:
        var = history[history.stage == "var"]
        info["final_cost"] = float(var.cost.iloc[-10:].mean())
    if n_steps:
        d = history[history.stage == "dyn"]
        info |= {"inner_iterations_mean": float(d.inner_iterations.mean()),
                 "inner_iterations_total": int(d.inner_iterations.sum()),
                 "inner_converged_fraction": float(d.converged.mean()),
                 "inner_stop_reasons": ({r: int(n) for r, n in d.stop_reason.value_counts().items()}
                                        if "stop_reason" in d else None)}
    (state / f"run{k}.json").write_text(json.dumps(info, indent=1, default=str))
    return {"rows": rows, "history": history, "info": info}


def _n_steps(spec: RunSpec, p: dict) -> int:
    if spec.task.kind == "dynamics":
        return int(round(spec.task.t_final / spec.task.dt))
    return int(math.ceil(p["dyn_time"] / (2 * p["tau"]) - 1e-9)) if p["dyn_time"] > 0 else 0


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress(ctx: RunContext, total: int, desc: str):
    if not ctx.progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc)
