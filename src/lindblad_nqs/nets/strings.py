"""String States (luo2022): a uniform mixture of one shared autoregressive Transformer read along
several symmetry-related orderings ("strings") of the sites of a square lattice,

    p(a) = (1 / N_s) sum_S p_T(a[S_0], a[S_1], ..., a[S_{N-1}]),

where S is the ordering (S_k = the site visited k-th) and p_T the Transformer's distribution over
sequences. Sampling draws a sequence x ~ p_T and a string S uniformly and puts x_k on site S_k;
log p is exact (log-sum-exp over the strings).

String numbers (the paper's Fig. 1; sites row-major, (row, column), row 0 at the top):

    0  row by row, every row left to right (the plain row-major order, "no strings")
    1  snake from the top-left corner along rows       Lattice.snake_ordering(0, vertical=False)
    2  snake from the top-left corner along columns    Lattice.snake_ordering(0, vertical=True)
    3  snake from the top-right corner along columns   Lattice.snake_ordering(1, vertical=True)
    4  snake from the top-right corner along rows      Lattice.snake_ordering(1, vertical=False)
    5  snake from the bottom-right corner along rows   Lattice.snake_ordering(3, vertical=False)
    6  snake from the bottom-right corner along columns Lattice.snake_ordering(3, vertical=True)
    7  snake from the bottom-left corner along columns Lattice.snake_ordering(2, vertical=True)
    8  snake from the bottom-left corner along rows    Lattice.snake_ordering(2, vertical=False)

The corners go round clockwise; strings 1, 3, 5, 7 are string 1 rotated by 0, 90, 180, 270 degrees
(on a square lattice) and each even string is its predecessor reflected in the diagonal through its
starting corner. So strings {1, 2} are closed under the reflection in the main diagonal, and strings
1-8 under the whole symmetry group of the square. The numbering follows the authors' published code.
The paper's labels: "0s" = [0], "1s" = [1], "2s" = [1, 2], "4s" = [1, 2, 3, 4], "8s" = [1, ..., 8].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from lindblad_nqs.model.lattice import Lattice
from lindblad_nqs.nets.transformer import Transformer

#: string number -> (corner, vertical) of Lattice.snake_ordering (corner 0 TL, 1 TR, 2 BL, 3 BR)
SNAKE_STRINGS: dict[int, tuple[int, bool]] = {
    1: (0, False),
    2: (0, True),
    3: (1, True),
    4: (1, False),
    5: (3, False),
    6: (3, True),
    7: (2, True),
    8: (2, False),
}

#: the paper's labels for the string sets of its Fig. 4(b)
STRING_SETS: dict[str, tuple[int, ...]] = {
    "0s": (0,),
    "1s": (1,),
    "2s": (1, 2),
    "4s": (1, 2, 3, 4),
    "8s": (1, 2, 3, 4, 5, 6, 7, 8),
}


def parse_strings(strings: str | int | Sequence[int]) -> tuple[int, ...]:
    """A string set as a tuple of string numbers: "0s" | "1s" | "2s" | "4s" | "8s", a single number, or
    a sequence of distinct numbers in 0..8."""
    if isinstance(strings, str):
        key = strings.strip().lower()
        if key not in STRING_SETS:
            raise ValueError(f"strings: unknown set {strings!r}; allowed: {', '.join(STRING_SETS)} or a list of 0..8")
        return STRING_SETS[key]
    if isinstance(strings, (int, np.integer)):
        strings = [int(strings)]
    out = tuple(int(s) for s in strings)
    if not out or any(s < 0 or s > 8 for s in out) or len(set(out)) != len(out):
        raise ValueError(f"strings: need distinct string numbers in 0..8, got {list(strings)}")
    return out


def string_ordering(lattice: Lattice, number: int) -> np.ndarray:
    """The site ordering of one string: entry k is the site visited k-th."""
    if number == 0:
        return np.arange(lattice.n_sites, dtype=np.int64)
    if number not in SNAKE_STRINGS:
        raise ValueError(f"string number must be in 0..8, got {number}")
    if lattice.dim != 2:
        raise ValueError(f"strings 1-8 need a 2D lattice, got shape {list(lattice.shape)}")
    corner, vertical = SNAKE_STRINGS[number]
    return lattice.snake_ordering(corner, vertical)


def string_orderings(lattice: Lattice, strings: str | int | Sequence[int]) -> np.ndarray:
    """Orderings [N_s, N] of a set of strings (see the module docstring for the numbering)."""
    return np.stack([string_ordering(lattice, s) for s in parse_strings(strings)])


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
