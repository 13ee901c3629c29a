"""Methods `cnn` and `rbm_ndo`: steady states by minimising the Monte Carlo L2 cost ||L rho||^2/||rho||^2
(mellak2024), with the CNN density operator or the purified RBM density operator.

Common keys (see vmc.driver, vmc.sampling, vmc.optimizers):
  iterations, n_samples (doubled samples per iteration), n_chains, sweep (proposals between samples,
  0: 2N), n_discard (burn-in sweeps), beta (sample from |rho|^(2 beta), corrected exactly), sector (restrict
  proposals to the Z-parity sector when the model conserves it), basis (z | x: the network represents
  U rho U with the Hadamard U on every site, as mellak2024 does for the rotated Ising model, where the
  XX correlations become diagonal; observables are mapped back, so results are in the usual basis),
  sampler (metropolis | exact | full_sum),
  estimator (l2: |L_loc|^2 as in the paper; ldagl: (L^dag L rho)/rho, the same cost, which also sees
  elements where rho vanishes but L rho does not, at ~M times the cost per sample), optimizer (nagd | adam | sr | gn),
  lr (step: NAGD+'s initial step, Adam's rate, SR's rate), lr_final_factor (Adam's rate decays exponentially
  to lr * lr_final_factor at the last iteration), diag_shift (SR), gn_damping (initial Levenberg
  damping of gn, the Gauss-Newton step on the residual L rho; beyond the paper, see vmc.optimizers),
  gn_damping_min (its floor: with few samples per parameter a small damping fits the sampling noise),
  gn_warmup (gn only: this many Adam iterations at rate lr first),
  nagd_shrink, nagd_grow, nagd_max_backtrack, obs_samples and obs_chains (the final diagonal sampling),
  track (observables recorded per iteration, default: all), track_every, track_samples, checkpoint_every,
  eig_max_sites (build rho and report its spectrum up to this many sites).
cnn: features, kernels (one size per layer, used on every lattice axis, or one list per layer),
  padding (auto: follows the lattice boundary | periodic | open), pooling (sum | mean | none), hermitian,
  init_scale (multiplies the He-style std sqrt(2/v_n)).
rbm_ndo: alpha (hidden density), ancilla (ancilla density), init_std.
--init-state DIR initialises the parameters from DIR/params.npz of another run (transfer learning);
a state dir with checkpoint.npz resumes.
"""

from __future__ import annotations

from ..methods import Result, RunContext, register
from ..spec import RunSpec, SpecError

COMMON = {
    "iterations": 300,
    "n_samples": 1024,
    "n_chains": 64,
    "sweep": 0,
    "n_discard": 50,
    "beta": 1.0,
    "estimator": "l2",
    "sector": True,
    "basis": "z",
    "sampler": "metropolis",
    "optimizer": "gn",
    "lr": 0.02,
    "lr_final_factor": 0.1,
    "diag_shift": 0.01,
    "gn_damping": 0.01,
    "gn_damping_min": 0.01,
    "gn_warmup": 0,
    "nagd_shrink": 0.5,
    "nagd_grow": 1.2,
    "nagd_max_backtrack": 8,
    "obs_samples": 20000,
    "obs_chains": 128,
    "track": None,
    "track_every": 10,
    "track_samples": 1024,
    "checkpoint_every": 100,
    "eig_max_sites": 8,
}

CNN_DEFAULTS = dict(COMMON, features=[6, 20], kernels=[3, 3], padding="auto", pooling="sum", hermitian=False,
                    init_scale=1.0)
RBM_DEFAULTS = dict(COMMON, lr=0.01, alpha=1.0, ancilla=1.0, init_std=0.01)

_CHOICES = {"sampler": ("metropolis", "exact", "full_sum"), "estimator": ("l2", "ldagl"), "optimizer": ("nagd", "adam", "sr", "gn"),
            "padding": ("auto", "periodic", "open"), "pooling": ("sum", "mean", "none"),
            "basis": ("z", "x")}


def _check(spec: RunSpec) -> dict:
    p = dict(spec.params)
    for k, allowed in _CHOICES.items():
        if k in p and p[k] not in allowed:
            raise SpecError(f"method.{k} must be one of {', '.join(allowed)}, got {p[k]!r}")
    for k in ("iterations", "n_samples", "n_chains", "obs_samples", "obs_chains", "track_every", "track_samples",
              "checkpoint_every"):
        if p[k] < 1:
            raise SpecError(f"method.{k} must be a positive integer, got {p[k]!r}")
    for k in ("sweep", "n_discard", "nagd_max_backtrack", "eig_max_sites", "gn_warmup"):
        if p[k] < 0:
            raise SpecError(f"method.{k} must be >= 0, got {p[k]!r}")
    if not 0 < p["beta"] <= 1:
        raise SpecError(f"method.beta must lie in (0, 1], got {p['beta']!r}")
    for k in ("lr", "diag_shift", "lr_final_factor", "gn_damping", "gn_damping_min"):
        if not p[k] > 0:
            raise SpecError(f"method.{k} must be positive, got {p[k]!r}")
    if not 0 < p["nagd_shrink"] < 1 or p["nagd_grow"] < 1:
        raise SpecError("method.nagd_shrink must lie in (0, 1) and method.nagd_grow be >= 1")
    n = spec.system.n_sites
    if p["sampler"] in ("exact", "full_sum") and n > 7:
        raise SpecError(f"method.sampler {p['sampler']} enumerates 4^N configurations: at most 7 sites, got {n}")
    track = p["track"]
    names = [o.name for o in spec.observables]
    if track is None:
        p["track"] = names
    elif not isinstance(track, list) or any(t not in names for t in track):
        raise SpecError(f"method.track must be a list of observables of the spec ({', '.join(names)}), got {track!r}")
    return p


def enable_compilation_cache() -> None:
    """JAX's persistent compilation cache (LINDBLAD_NQS_JAX_CACHE, default ~/.cache/lindblad_nqs/jax; 'off'
    disables it): runs of a sweep share their compiled programs, which dominate short CPU runs."""
    import os

    import jax

    path = os.environ.get("LINDBLAD_NQS_JAX_CACHE", os.path.expanduser("~/.cache/lindblad_nqs/jax"))
    if path == "off" or jax.config.jax_compilation_cache_dir:
        return
    try:
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.3)
    except OSError:
        pass


def _run(spec: RunSpec, ctx: RunContext, module, p: dict, extra_info: dict) -> Result:
    import jax
    import jax.numpy as jnp

    from ..results import device_description
    from ..vmc.driver import run_steady
    from ..vmc.sampling import prng_key

    n = spec.system.n_sites
    x0 = jnp.zeros((1, 2, n), jnp.int8)
    enable_compilation_cache()
    params0 = jax.jit(module.init)(prng_key(spec.seed + 7919), x0)
    try:
        run = run_steady(spec.system, module, params0, p, list(spec.observables), seed=spec.seed,
                         state_dir=ctx.state_dir, init_state=ctx.init_state, progress=ctx.progress,
                         tracked=p["track"])
    except (FileNotFoundError, ValueError) as e:
        if ctx.init_state is not None and ("init-state" in str(e) or "params.npz" in str(e) or "parameter" in str(e)):
            raise SpecError(f"--init-state: {e}") from None
        raise
    rows = [(None, o.name, float(run.rows[o.name][0]), float(run.rows[o.name][1])) for o in spec.observables]
    info = {**extra_info, **run.info, "jax_device": device_description(),
            "threads": ctx.threads, "state_dir": str(ctx.state_dir)}
    return Result(rows, info, run.history)


def cnn_module(spec: RunSpec, p: dict):
    """The CNN density operator of a spec with resolved method options ``p`` (see ``_check``)."""
    from ..nets.cnn import CNNDensityOperator

    lat = spec.system.lattice
    feats, kern = p["features"], p["kernels"]
    if not feats or not all(isinstance(f, int) and not isinstance(f, bool) and f > 0 for f in feats):
        raise SpecError(f"method.features must be a non-empty list of positive integers, got {feats!r}")
    if len(kern) != len(feats):
        raise SpecError(f"method.kernels needs one entry per layer of method.features ({len(feats)}), got {kern!r}")
    kernels = []
    for k in kern:
        ks = [k] * lat.dim if isinstance(k, int) and not isinstance(k, bool) else k
        if (not isinstance(ks, list) or len(ks) != lat.dim
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in ks)):
            raise SpecError(f"method.kernels entries must be a positive integer or a list of {lat.dim} of them, got {k!r}")
        kernels.append(tuple(ks))
    periodic = lat.periodic if p["padding"] == "auto" else p["padding"] == "periodic"
    return CNNDensityOperator(shape=lat.shape, features=tuple(feats), kernels=tuple(kernels), periodic=periodic,
                              pooling=p["pooling"], hermitian=p["hermitian"], init_scale=p["init_scale"])


@register("cnn", CNN_DEFAULTS, tasks=("steady",))
def solve_cnn(spec: RunSpec, ctx: RunContext) -> Result:
    p = _check(spec)
    module = cnn_module(spec, p)
    return _run(spec, ctx, module, p, {"ansatz": "cnn", "padding_periodic": module.periodic})


def rbm_module(spec: RunSpec, p: dict):
    """The purified RBM density operator of a spec with resolved method options ``p``."""
    from ..nets.rbm_ndo import RBMDensityOperator

    if not p["alpha"] > 0 or not p["ancilla"] > 0 or not p["init_std"] > 0:
        raise SpecError("method.alpha, method.ancilla and method.init_std must be positive")
    return RBMDensityOperator(n_sites=spec.system.n_sites, alpha=p["alpha"], beta=p["ancilla"], init_std=p["init_std"])


MODULES = {"cnn": cnn_module, "rbm_ndo": rbm_module}


@register("rbm_ndo", RBM_DEFAULTS, tasks=("steady",))
def solve_rbm(spec: RunSpec, ctx: RunContext) -> Result:
    p = _check(spec)
    return _run(spec, ctx, rbm_module(spec, p), p, {"ansatz": "rbm_ndo"})


check_spec = _check  # run by spec.parse_spec: validate and the workflow see the same checks
