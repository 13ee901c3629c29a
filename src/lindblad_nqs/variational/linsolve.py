"""One regularised solve of S x = F for every preconditioned update (SR, Gauss-Newton, both TDVPs).

S = A^T A is given by its square root A (rows: samples, real and imaginary parts stacked, already
weighted and centred) or as the matrix itself; F is the right-hand side. Regularisations:

  shift   (S + shift 1) x = F                                  a plain Tikhonov shift
  pinv    eigenvalues below rcond * lambda_max are dropped      a hard pseudo-inverse cut-off
  soft    1/lambda -> 1/lambda * 1/(1 + (rcond lambda_max / lambda)^6)   jVMC's smooth cut-off
  snr     soft, and each eigenmode k also damped by 1/(1 + (snr_tol / snr_k)^6), where snr_k is the
          signal-to-noise ratio of F's component along it from the per-sample contributions
          (jVMC, Schmitt & Heyl PRL 125, 100503); a mode with no signal and no noise (0/0, met at an
          exact product state) carries nothing and is dropped, not turned into NaN.

When the samples are fewer than the parameters the eigenmodes come from the Gram matrix A A^T (sample
space, never forming the P x P matrix). Every solve reports what it did (`SolveInfo`). Works on NumPy arrays
and, with xp=jax.numpy, inside jit (the report then holds traced scalars).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("shift", "pinv", "soft", "snr")


@dataclass
class SolveInfo:
    kept: object  # effective number of modes kept (sum of the regularisation weights)
    cut: object  # number of modes whose weight fell below 1/2
    lambda_max: object
    lambda_min_kept: object  # smallest eigenvalue with weight >= 1/2 (the regularised spectrum's lower end)

    @property
    def condition(self):
        return self.lambda_max / self.lambda_min_kept


def solve(F, *, A=None, S=None, method: str = "shift", shift: float = 0.0, rcond: float = 1e-10,
          snr_tol: float = 2.0, per_sample=None, n_samples: int | None = None, report: bool = True, xp=np):
    """x with S x = F, regularised by `method`. Give A (S = A^T A) or S.

    per_sample (Ns, P): the per-sample contributions whose mean is F (only for method snr);
    n_samples: their number (defaults to per_sample's rows); report False skips the shift path's
    spectrum (an extra eigendecomposition) and returns None for the report."""
    if method not in METHODS:
        raise ValueError(f"regularisation must be one of {', '.join(METHODS)}, got {method!r}")
    if S is None and A is None:
        raise ValueError("give S or its square root A")
    if method == "shift":
        if S is None:
            if A.shape[0] < A.shape[1]:  # push-through: (A^T A + e)^-1 F = (F - A^T (A A^T + e)^-1 A F) / e
                K = A @ A.T + shift * xp.eye(A.shape[0], dtype=A.dtype)
                x = (F - A.T @ xp.linalg.solve(K, A @ F)) / shift
                return x, _shift_info(A @ A.T, shift, xp) if report else None
            S = A.T @ A
        x = xp.linalg.solve(S + shift * xp.eye(S.shape[0], dtype=S.dtype), F)
        return x, _shift_info(S, shift, xp) if report else None
    if S is not None or A.shape[0] >= A.shape[1]:
        S = A.T @ A if S is None else S
        lam, V = xp.linalg.eigh(S)
    else:
        # the eigenmodes of S = A^T A from those of the Gram matrix A A^T (Ns x Ns): an eigh is several
        # times cheaper than the SVD of A (measured on the CPU); a mode at the rounding floor gets V = 0
        lam, U = xp.linalg.eigh(A @ A.T)
        floor = xp.finfo(A.dtype).eps * A.shape[1] * xp.max(lam)
        good = lam > floor
        V = (A.T @ U) / xp.where(good, xp.sqrt(xp.where(good, lam, 1.0)), xp.inf)
        lam = xp.where(good, lam, 0.0)
    lam = xp.maximum(lam, 0.0)
    lmax = xp.max(lam)
    rho = V.T @ F  # F along the eigenmodes
    if method == "pinv":
        w = (lam > rcond * lmax).astype(F.dtype)
    else:
        tiny = xp.finfo(F.dtype).tiny
        w = 1.0 / (1.0 + xp.minimum(rcond * lmax / xp.maximum(lam, tiny), 1e50) ** 6)  # 1e50**6 is finite
    if method == "snr":
        if per_sample is None:
            raise ValueError("regularisation snr needs the per-sample contributions to F")
        ns = per_sample.shape[0] if n_samples is None else n_samples
        q = per_sample @ V  # (Ns, modes)
        var = xp.mean(xp.abs(q - xp.mean(q, axis=0)) ** 2, axis=0)
        signal = xp.abs(rho) * xp.sqrt(ns)
        # 0/0 (no signal, no noise) -> no weight; signal without noise -> full weight
        snr = xp.where(var > 0, signal / xp.sqrt(xp.where(var > 0, var, 1.0)), xp.where(signal > 0, xp.inf, 0.0))
        w = w / (1.0 + xp.minimum(snr_tol / xp.maximum(snr, 1e-300), 1e50) ** 6)
    inv = xp.where(lam > 0, w / xp.where(lam > 0, lam, 1.0), 0.0)
    x = V @ (inv * rho)
    keep = w >= 0.5
    lmin = xp.min(xp.where(keep, lam, lmax))
    return x, SolveInfo(kept=xp.sum(w), cut=xp.sum(~keep), lambda_max=lmax, lambda_min_kept=lmin)


def _shift_info(S, shift, xp):
    lam = xp.linalg.eigvalsh(S)
    lmax = xp.max(lam)
    return SolveInfo(kept=xp.asarray(float(S.shape[0])), cut=xp.sum(lam < shift), lambda_max=lmax + shift,
                     lambda_min_kept=xp.maximum(xp.min(lam), 0.0) + shift)
