"""Autoregressive Transformer over POVM outcomes (luo2022).

The network models a normalised distribution over the 4^N measurement outcomes a = (a_0, ..., a_{N-1}),
a_k in {0, 1, 2, 3}, as a product of conditionals

    p(a) = prod_k p(a_k | a_0, ..., a_{k-1}).

Architecture (one encoder stack read causally, as in the paper and its reference implementation):

- input tokens: a start token (index 4) followed by a_0 .. a_{N-2}; the output at position k is the
  conditional of a_k given the tokens before it;
- a learned embedding of the 5 tokens plus fixed sinusoidal positional encodings;
- ``n_layers`` post-norm encoder layers: multi-head self-attention with a causal mask -> linear ->
  residual -> LayerNorm, then a feed-forward block d -> d_ff -> GELU -> d -> residual -> LayerNorm;
  no dropout (every probability must be exact);
- a final linear layer d -> 4 and a softmax over the 4 outcomes.

Initialisation: PyTorch's default initialisation for every layer except the final one, whose weight
is set to zero and whose bias to log of the single-site POVM probabilities ``site_probs`` when these
are given; the network then starts exactly in the product distribution prod_k site_probs[a_k].

Sampling is exact ancestral sampling, site by site, with a key/value cache: the keys and values of
earlier positions are stored per layer, so each new token costs O(N d + d^2) instead of a full
forward pass over the prefix. Because every layer of a causal stack sees only earlier positions,
the cached keys and values of a position never change once computed, and the cached step gives the
same conditionals as the full causal forward pass for any depth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

N_OUTCOMES = 4
START_TOKEN = N_OUTCOMES


def sinusoidal_positions(n: int, d_model: int) -> torch.Tensor:
    """The fixed positional encoding [n, d_model]: sin on even, cos on odd channels."""
    if d_model % 2:
        raise ValueError(f"d_model must be even for sinusoidal positional encodings, got {d_model}")
    pos = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(n, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


class _KVCache:
    """Keys and values of every layer for a batch being sampled: [layers][B, heads, N, head_dim]."""

    def __init__(self, n_layers, batch, n_heads, n_sites, head_dim, dtype, device):
        shape = (batch, n_heads, n_sites, head_dim)
        self.k = [torch.empty(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.v = [torch.empty(shape, dtype=dtype, device=device) for _ in range(n_layers)]


@dataclass
class ParentPass:
    """What ``Transformer.log_prob_from_parents`` needs of the parent strings: log-conditionals [U, N, 4],
    prefix sums of their own log-conditionals [U, N + 1], and every layer's keys and values."""

    lc: torch.Tensor
    prefix: torch.Tensor
    ks: list
    vs: list


class EncoderLayer(nn.Module):
    """Post-norm Transformer encoder layer with an optional causal mask and a cached single-token step."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not a multiple of n_heads={n_heads}")
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.ff2 = nn.Linear(d_ff, d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def _split(self, x: torch.Tensor):
        """[B, T, d] -> q, k, v each [B, heads, T, head_dim]."""
        B, T, d = x.shape
        return tuple(u.view(B, T, self.n_heads, self.head_dim).transpose(1, 2) for u in self.qkv(x).split(d, -1))

    def _finish(self, x: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        B, _, T, _ = att.shape
        att = att.transpose(1, 2).reshape(B, T, -1)
        x = self.norm1(x + self.out(att))
        return self.norm2(x + self.ff2(F.gelu(self.ff1(x))))

    def forward(self, x: torch.Tensor, causal: bool = True, return_kv: bool = False):
        q, k, v = self._split(x)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return (self._finish(x, att), k, v) if return_kv else self._finish(x, att)

    def forward_suffix(self, x: torch.Tensor, k_pre: torch.Tensor, v_pre: torch.Tensor) -> torch.Tensor:
        """Tokens x [B, L, d] that follow a prefix whose keys/values [B, heads, P, head_dim] are given:
        each attends to the whole prefix and causally within the suffix."""
        q, k, v = self._split(x)
        L, P = x.shape[1], k_pre.shape[2]
        allowed = torch.ones(L, P + L, dtype=torch.bool, device=x.device)
        allowed[:, P:] = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
        att = F.scaled_dot_product_attention(q, torch.cat([k_pre, k], 2), torch.cat([v_pre, v], 2), attn_mask=allowed)
        return self._finish(x, att)

    def step(self, x: torch.Tensor, pos: int, cache_k: torch.Tensor, cache_v: torch.Tensor) -> torch.Tensor:
        """One new token x [B, 1, d] at position ``pos``: store its key/value, attend over positions 0..pos."""
        q, k, v = self._split(x)
        cache_k[:, :, pos] = k[:, :, 0]
        cache_v[:, :, pos] = v[:, :, 0]
        att = F.scaled_dot_product_attention(q, cache_k[:, :, : pos + 1], cache_v[:, :, : pos + 1])
        return self._finish(x, att)


class Transformer(nn.Module):
    """Autoregressive Transformer p(a) over N sites with 4 POVM outcomes each.

    Parameters
    ----------
    n_sites: number of sites N (the sequence length).
    n_layers, d_model: depth and hidden dimension (the paper uses 1 x 32 and 2 x 64).
    n_heads: attention heads (d_model must be a multiple); default 4.
    d_ff: hidden width of the feed-forward block; default 2 * d_model.
    site_probs: 4 single-site POVM probabilities; when given, the network starts in the product
        distribution with these marginals (zero final weights, bias log p). When None, the final
        layer keeps PyTorch's default (random) initialisation.
    dtype: parameter dtype (float32 by default; float64 for exactness tests).
    device: where the parameters live; every method follows the parameters' device.
    """

    def __init__(
        self,
        n_sites: int,
        n_layers: int = 1,
        d_model: int = 32,
        n_heads: int = 4,
        site_probs: Sequence[float] | None = None,
        d_ff: int | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        if n_sites < 1 or n_layers < 1 or d_model < 2:
            raise ValueError(f"need n_sites >= 1, n_layers >= 1, d_model >= 2; got {n_sites}, {n_layers}, {d_model}")
        self.n_sites = int(n_sites)
        self.n_layers = int(n_layers)
        self.d_model = int(d_model)
        self.n_heads = int(n_heads)
        self.d_ff = int(d_ff) if d_ff is not None else 2 * self.d_model
        self.embed = nn.Embedding(N_OUTCOMES + 1, self.d_model)
        self.register_buffer("positions", sinusoidal_positions(self.n_sites, self.d_model).to(torch.float32))
        self.layers = nn.ModuleList(EncoderLayer(self.d_model, self.n_heads, self.d_ff) for _ in range(self.n_layers))
        self.head = nn.Linear(self.d_model, N_OUTCOMES)
        self.to(dtype=dtype, device=device)
        if site_probs is not None:
            self.set_product_state(site_probs)

    # --- helpers -----------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.head.weight.dtype

    @torch.no_grad()
    def set_product_state(self, site_probs: Sequence[float]) -> None:
        """Make the network output the product distribution with single-site marginals ``site_probs``:
        final weight zero, final bias log(p) (probabilities below 1e-12 are floored there)."""
        p = torch.as_tensor(site_probs, dtype=torch.float64).flatten()
        if p.numel() != N_OUTCOMES or bool((p < 0).any()) or not float(p.sum()) > 0:
            raise ValueError(f"site_probs must be {N_OUTCOMES} non-negative numbers, got {list(site_probs)}")
        p = p / p.sum()
        self.head.weight.zero_()
        self.head.bias.copy_(torch.log(p.clamp_min(1e-12)).to(self.head.bias))

    def _check(self, a: torch.Tensor) -> torch.Tensor:
        if a.dim() != 2 or a.shape[1] != self.n_sites:
            raise ValueError(f"configurations must have shape [B, {self.n_sites}], got {list(a.shape)}")
        return a.to(device=self.device, dtype=torch.long)

    def _inputs(self, a: torch.Tensor) -> torch.Tensor:
        """Shift right: [start, a_0, ..., a_{T-2}] for a [B, T]."""
        start = torch.full((a.shape[0], 1), START_TOKEN, dtype=torch.long, device=a.device)
        return torch.cat([start, a[:, :-1]], dim=1)

    def _logits(self, tokens: torch.Tensor, causal: bool = True) -> torch.Tensor:
        """Full forward pass over an input token sequence [B, T] (T <= N) -> logits [B, T, 4].
        ``causal=False`` drops the mask (not a valid autoregressive model; kept for tests)."""
        T = tokens.shape[1]
        x = self.embed(tokens) + self.positions[:T].to(self.dtype)
        for layer in self.layers:
            x = layer(x, causal=causal)
        return self.head(x)

    def _step_logits(self, token: torch.Tensor, pos: int, cache: _KVCache) -> torch.Tensor:
        """Cached single step: input token [B] at position pos -> logits [B, 4] of the outcome at pos."""
        x = self.embed(token).unsqueeze(1) + self.positions[pos].to(self.dtype)
        for layer, ck, cv in zip(self.layers, cache.k, cache.v):
            x = layer.step(x, pos, ck, cv)
        return self.head(x[:, 0])

    def _new_cache(self, batch: int) -> _KVCache:
        return _KVCache(self.n_layers, batch, self.n_heads, self.n_sites, self.d_model // self.n_heads,
                        self.dtype, self.device)

    # --- the interface -----------------------------------------------------------------------------
    def log_conditionals(self, a: torch.Tensor) -> torch.Tensor:
        """log p(a_k = c | a_<k) for every site k and outcome c: [B, N, 4] (one causal forward pass)."""
        return torch.log_softmax(self._logits(self._inputs(self._check(a))), dim=-1)

    def conditionals(self, a: torch.Tensor) -> torch.Tensor:
        """p(a_k = c | a_<k): [B, N, 4]."""
        return self.log_conditionals(a).exp()

    def log_prob(self, a: torch.Tensor) -> torch.Tensor:
        """Exact, differentiable log p(a) for a LongTensor [B, N] of outcomes in 0..3 -> [B]."""
        a = self._check(a)
        lc = self.log_conditionals(a)
        return lc.gather(-1, a.unsqueeze(-1)).squeeze(-1).sum(-1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.log_prob(a)

    # --- strings that share a prefix with a parent string ---------------------------------------------
    def parent_pass(self, a: torch.Tensor) -> ParentPass:
        """One causal pass over parent strings a [U, N], kept for ``log_prob_from_parents``."""
        a = self._check(a)
        x = self.embed(self._inputs(a)) + self.positions.to(self.dtype)
        ks, vs = [], []
        for layer in self.layers:
            x, k, v = layer(x, return_kv=True)
            ks.append(k)
            vs.append(v)
        lc = torch.log_softmax(self.head(x), dim=-1)
        own = lc.gather(-1, a.unsqueeze(-1)).squeeze(-1)
        prefix = torch.cat([torch.zeros_like(own[:, :1]), own.cumsum(1)], 1)  # [U, N + 1]
        return ParentPass(lc, prefix, ks, vs)

    def log_prob_from_parents(self, b: torch.Tensor, parent: torch.Tensor, first: torch.Tensor,
                              pp: ParentPass) -> torch.Tensor:
        """log p(b) for strings b [M, N] equal to their parent string (row ``parent`` of the parent pass)
        before site ``first`` [M] (N: b is the parent). The inputs of b at positions 0..first are the
        parent's, so are its hidden states and keys/values there in every layer: only positions
        first+1..N-1 are computed, attending to the parent's cached keys/values. On a chain with
        nearest-neighbour terms that is about half the tokens of ``log_prob``."""
        b, N = self._check(b), self.n_sites
        parent, first = parent.to(self.device), first.to(self.device)
        i = first.clamp(max=N - 1)
        lp = pp.prefix[parent, first] + torch.where(
            first < N, pp.lc[parent, i, b.gather(1, i.unsqueeze(1)).squeeze(1)], torch.zeros((), dtype=pp.lc.dtype,
                                                                                                device=self.device))
        for f in torch.unique(first[first < N - 1]).tolist():
            g = torch.nonzero(first == f).squeeze(1)
            par = parent[g]
            x = self.embed(b[g, f:N - 1]) + self.positions[f + 1:].to(self.dtype)  # inputs at f+1..N-1
            for layer, k, v in zip(self.layers, pp.ks, pp.vs):
                x = layer.forward_suffix(x, k[par, :, : f + 1], v[par, :, : f + 1])
            lcs = torch.log_softmax(self.head(x), dim=-1)
            lp[g] = lp[g] + lcs.gather(-1, b[g, f + 1:].unsqueeze(-1)).squeeze(-1).sum(-1)
        return lp

    @torch.no_grad()
    def cached_log_conditionals(self, a: torch.Tensor) -> torch.Tensor:
        """The same as ``log_conditionals`` but computed token by token through the key/value cache that
        the sampler uses (teacher forcing on ``a``); for tests and diagnostics."""
        a = self._check(a)
        cache = self._new_cache(a.shape[0])
        token = torch.full((a.shape[0],), START_TOKEN, dtype=torch.long, device=self.device)
        out = []
        for k in range(self.n_sites):
            out.append(torch.log_softmax(self._step_logits(token, k, cache), dim=-1))
            token = a[:, k]
        return torch.stack(out, dim=1)

    def _chunk_size(self) -> int:
        # keep the cache (keys and values of every layer) around 2^26 numbers
        per_sample = 2 * self.n_layers * self.n_sites * self.d_model
        return max(1, (1 << 26) // per_sample)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        *,
        use_cache: bool = True,
        return_log_prob: bool = False,
        chunk_size: int | None = None,
    ):
        """Exact ancestral samples: LongTensor [n, N] (and their log p [n] if ``return_log_prob``).

        The generator, when given, must live on the module's device. ``use_cache=False`` recomputes a
        full causal forward pass over the prefix for every site (same distribution, O(N) slower; for
        benchmarks). Large ``n`` is drawn in chunks so the cache stays bounded in memory."""
        n = int(n)
        if n < 0:
            raise ValueError(f"number of samples must be >= 0, got {n}")
        chunk = int(chunk_size) if chunk_size else self._chunk_size()
        outs, lps = [], []
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            a, lp = self._sample_chunk(m, generator, use_cache)
            outs.append(a)
            lps.append(lp)
        if not outs:
            a = torch.empty(0, self.n_sites, dtype=torch.long, device=self.device)
            lp = torch.empty(0, dtype=self.dtype, device=self.device)
        else:
            a, lp = torch.cat(outs), torch.cat(lps)
        return (a, lp) if return_log_prob else a

    def _sample_chunk(self, m: int, generator, use_cache: bool):
        dev, N = self.device, self.n_sites
        u = torch.rand(m, N, generator=generator, device=dev, dtype=self.dtype)
        a = torch.empty(m, N, dtype=torch.long, device=dev)
        lp = torch.zeros(m, dtype=self.dtype, device=dev)
        token = torch.full((m,), START_TOKEN, dtype=torch.long, device=dev)
        cache = self._new_cache(m) if use_cache else None
        for k in range(N):
            if use_cache:
                logits = self._step_logits(token, k, cache)
            else:
                tokens = torch.cat([torch.full((m, 1), START_TOKEN, dtype=torch.long, device=dev), a[:, :k]], 1)
                logits = self._logits(tokens)[:, -1]
            logp = torch.log_softmax(logits, dim=-1)
            cdf = torch.cumsum(logp.exp(), dim=-1)
            # inverse CDF: outcome = number of the first three cumulative sums below u
            x = (u[:, k : k + 1] >= cdf[:, : N_OUTCOMES - 1]).sum(-1)
            a[:, k] = x
            lp += logp.gather(-1, x.unsqueeze(-1)).squeeze(-1)
            token = x
        return a, lp


def all_configurations(n_sites: int, device=None) -> torch.Tensor:
    """Every configuration of n_sites outcomes in 0..3, [4^N, N], site 0 the most significant digit."""
    idx = torch.arange(N_OUTCOMES**n_sites, device=device)
    powers = N_OUTCOMES ** torch.arange(n_sites - 1, -1, -1, device=device)
    return (idx.unsqueeze(1) // powers) % N_OUTCOMES
