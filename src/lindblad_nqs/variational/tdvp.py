"""The time-dependent variational principle from samples, shared by the density-matrix and POVM TDVPs.

For log values v(x) of a state (log rho(l, r), or log p(a)) with log-derivatives O_k(x) and the local
value E(x) = (L rho)(x) / rho(x) (or sum_b L_a^b p(b) / p(a)), the best update theta_dot minimises

    sum_x w(x) | sum_k theta_dot_k dO_k(x) - dE(x) |^2,    dO = O - <O>_w,  dE = E - <E>_w,

over real theta_dot (centring drops the change of normalisation, which carries no physics), i.e.
S theta_dot = F with S = Re <dO^* dO>_w and F = Re <dO^* dE>_w. With A the stacked real and imaginary
parts of sqrt(w) dO (S = A^T A) and b those of sqrt(w) dE (F = A^T b), the TDVP residual
|A theta_dot - b|^2 / |b|^2 says which fraction of L rho the update misses (0: exact in the manifold).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import linsolve


@dataclass
class TDVPOptions:
    method: str = "soft"  # a linsolve method
    shift: float = 0.0
    rcond: float = 1e-8
    snr_tol: float = 2.0


def _stack(z, xp):
    return xp.concatenate([z.real, z.imag], axis=0) if xp.iscomplexobj(z) else z


def equation(O, E, w=None, xp=None):
    """(A, b, per_sample) of the TDVP from log-derivatives O (B, P), local values E (B,), weights w
    (B,) summing to one (None: equal weights). per_sample (B, P) has mean F for equal weights."""
    import jax.numpy as jnp

    xp = jnp if xp is None else xp
    B = O.shape[0]
    w = xp.full((B,), 1.0 / B, dtype=xp.real(O).dtype) if w is None else w
    Oc = O - xp.sum(w[:, None] * O, axis=0)
    Ec = E - xp.sum(w * E)
    sw = xp.sqrt(w)
    A = _stack(sw[:, None] * Oc, xp)
    b = _stack(sw * Ec, xp)
    per_sample = xp.real(xp.conj(Oc) * Ec[:, None])
    return A, b, per_sample


def skips_work(opts: TDVPOptions) -> bool:
    """Whether report=False saves anything: only the shift solve computes a spectrum for the report
    alone (the cut-off methods need theirs to solve). A jitted caller passes report=True otherwise, so
    that a stage without the report is not a second compilation of the same work."""
    return opts.method == "shift"


def stage_report(report: bool, opts: TDVPOptions) -> bool:
    """The report flag a jitted stage is called with: the integrator's, except where dropping the report
    saves nothing (skips_work), where it stays True so that every stage is one compilation."""
    return report or not skips_work(opts)


def solve(O, E, opts: TDVPOptions, w=None, xp=None, report: bool = True):
    """theta_dot and its diagnostics: residual, condition of the kept spectrum, cut-off count, and
    the metric's square root A (for step-size control in the metric S). report False: the residual
    only, and the shift solve skips the spectrum of S that the others need. (The residual and every
    other consumer of A, b and E stay: dropping one changes how XLA fuses their producers, and the
    update then differs in its last bits from a reporting stage's.)"""
    import jax.numpy as jnp

    xp = jnp if xp is None else xp
    A, b, per_sample = equation(O, E, w, xp)
    F = A.T @ b
    x, info = linsolve.solve(F, A=A, method=opts.method, shift=opts.shift, rcond=opts.rcond,
                             snr_tol=opts.snr_tol, per_sample=per_sample, report=report, xp=xp)
    r = A @ x - b
    bb = xp.sum(b * b)
    residual = xp.where(bb > 0, xp.sum(r * r) / xp.where(bb > 0, bb, 1.0), 0.0)
    diag = {"residual": residual}
    if report:
        diag.update(condition=info.condition, cut=info.cut, kept=info.kept, lambda_max=info.lambda_max)
    return x, A, diag


def solve_streamed(chunk_fn, x, opts: TDVPOptions, chunk: int, report: bool = True):
    """solve() for sample counts whose (B, P) Jacobian and local values do not fit in memory together
    (hartmann2019: 1e6 samples): chunk_fn(x_chunk) -> (O_chunk, E_chunk) is evaluated on chunks of
    `chunk` samples (equal weights) and S and F accumulated from uncentred moments,
    S = Re(<O^* O> - <O>^* <O>), F = Re(<O^* E> - <O>^* <E>), in O(chunk P + P^2) memory. B must be a
    multiple of chunk. The signal-to-noise cut-off needs every sample's contribution and is not available.
    Returns (theta_dot, S, diag); diag also holds mean_abs_E = <|E|>. The metric norm of v is sqrt(v S v).
    report False: diag without the spectrum's entries, which the shift solve then does not compute."""
    import jax
    import jax.numpy as jnp

    if opts.method == "snr":
        raise ValueError("regularisation snr needs every sample's contribution; use n_samples <= chunk")
    B = x.shape[0]
    if B % chunk:
        raise ValueError(f"{B} samples are not a multiple of the chunk {chunk}")
    xs = x.reshape(B // chunk, chunk, *x.shape[1:])

    def body(acc, xc):
        O, ec = chunk_fn(xc)
        return (acc[0] + O.conj().T @ O, acc[1] + jnp.sum(O, axis=0), acc[2] + O.conj().T @ ec,
                acc[3] + jnp.sum(ec), acc[4] + jnp.sum(jnp.abs(ec) ** 2), acc[5] + jnp.sum(jnp.abs(ec))), None

    O0, E0 = jax.eval_shape(chunk_fn, xs[0])
    P, dt = O0.shape[1], O0.dtype
    real = jnp.real(jnp.zeros((), E0.dtype)).dtype
    zero = (jnp.zeros((P, P), dt), jnp.zeros((P,), dt), jnp.zeros((P,), jnp.result_type(dt, E0.dtype)),
            jnp.zeros((), E0.dtype), jnp.zeros((), real), jnp.zeros((), real))
    (OO, Os, OE, Es, EE, Eabs), _ = jax.lax.scan(body, zero, xs)
    mO, mE = Os / B, Es / B
    S = jnp.real(OO / B - jnp.outer(mO.conj(), mO))
    F = jnp.real(OE / B - mO.conj() * mE)
    bb = EE / B - jnp.abs(mE) ** 2
    xdot, info = linsolve.solve(F, S=S, method=opts.method, shift=opts.shift, rcond=opts.rcond, report=report,
                                xp=jnp)
    rr = xdot @ S @ xdot - 2 * xdot @ F + bb  # |A x - b|^2 without forming A
    residual = jnp.where(bb > 0, jnp.maximum(rr, 0.0) / jnp.where(bb > 0, bb, 1.0), 0.0)
    diag = {"residual": residual, "mean_abs_E": Eabs / B}
    if report:
        diag.update(condition=info.condition, cut=info.cut, kept=info.kept, lambda_max=info.lambda_max)
    return xdot, S, diag
