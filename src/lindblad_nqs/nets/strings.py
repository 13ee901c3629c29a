"""String States (luo2022): a uniform mixture of one shared autoregressive Transformer read along
several symmetry-related orderings ("strings") of the sites of a square lattice,

    p(a) = (1 / N_s) sum_S p_T(a[S_0], a[S_1], ..., a[S_{N-1}]),

where S is the ordering (S_k = the site visited k-th) and p_T the Transformer's distribution over
sequences. Sampling draws a sequence x ~ p_T and a string S uniformly and puts x_k on site S_k;
log p is exact (log-sum-exp over the strings).

String numbers and sets: lindblad_nqs.model.orderings (the paper's Fig. 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from lindblad_nqs.model.lattice import Lattice
from lindblad_nqs.model.orderings import STRING_SETS, parse_strings, string_orderings  # noqa: F401
from lindblad_nqs.nets.transformer import Transformer

class StringStates(nn.Module):
    """Uniform mixture of one shared-weight Transformer read along several site orderings.

    Parameters
    ----------
    lattice: the lattice whose sites (row-major) the configurations index.
    strings: the string set ("0s", "1s", "2s", "4s", "8s", or numbers 0..8).
    The remaining keyword arguments go to :class:`Transformer` (n_layers, d_model, n_heads,
    site_probs, d_ff, dtype, device). A product initialisation stays a product: every string of a
    product distribution with identical marginals is the same distribution.
    """

    def __init__(self, lattice: Lattice, strings: str | int | Sequence[int] = "0s", **transformer_kwargs):
        super().__init__()
        self.lattice = lattice
        self.strings = parse_strings(strings)
        self.n_sites = lattice.n_sites
        self.base = Transformer(self.n_sites, **transformer_kwargs)
        orders = torch.as_tensor(string_orderings(lattice, self.strings), dtype=torch.long)
        # inverse[s, site] = position of `site` along string s
        self.register_buffer("orders", orders.to(self.base.device), persistent=False)
        self.register_buffer("inverse", torch.argsort(orders, dim=1).to(self.base.device), persistent=False)

    @property
    def n_strings(self) -> int:
        return len(self.strings)

    @property
    def device(self) -> torch.device:
        return self.base.device

    @property
    def dtype(self) -> torch.dtype:
        return self.base.dtype

    def orderings(self) -> np.ndarray:
        """The orderings [N_s, N] in use (row s: the sites in the order string self.strings[s] visits them)."""
        return self.orders.cpu().numpy().copy()

    def set_product_state(self, site_probs: Sequence[float]) -> None:
        self.base.set_product_state(site_probs)

    def log_prob_per_string(self, a: torch.Tensor) -> torch.Tensor:
        """log p_T(a read along string s): [N_s, B] (differentiable)."""
        if a.dim() != 2 or a.shape[1] != self.n_sites:
            raise ValueError(f"configurations must have shape [B, {self.n_sites}], got {list(a.shape)}")
        a = a.to(device=self.device, dtype=torch.long)
        B = a.shape[0]
        seqs = a[:, self.orders].transpose(0, 1).reshape(self.n_strings * B, self.n_sites)  # [S*B, N]
        return self.base.log_prob(seqs).view(self.n_strings, B)

    def log_prob(self, a: torch.Tensor) -> torch.Tensor:
        """Exact, differentiable log p(a) of the mixture: [B]."""
        lp = self.log_prob_per_string(a)
        if self.n_strings == 1:
            return lp[0]
        return torch.logsumexp(lp, dim=0) - math.log(self.n_strings)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.log_prob(a)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        *,
        return_strings: bool = False,
        use_cache: bool = True,
        chunk_size: int | None = None,
    ):
        """Exact samples [n, N] of the mixture (site order); with ``return_strings`` also the index
        (into ``self.strings``) of the string each sample was drawn along. ``use_cache`` and
        ``chunk_size`` go to :meth:`Transformer.sample`; the generator must live on the module's device."""
        x = self.base.sample(n, generator, use_cache=use_cache, chunk_size=chunk_size)
        s = torch.randint(self.n_strings, (int(n),), generator=generator, device=self.device)
        a = torch.gather(x, 1, self.inverse[s])  # a[:, site] = x[:, position of site along the string]
        return (a, s) if return_strings else a
