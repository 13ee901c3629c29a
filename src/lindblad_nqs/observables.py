"""Observable names of the run spec, parsed once into site terms that every method evaluates.

    sx, sy, sz        site average of the single-site Pauli expectation
    sxsx:d            average over sites i of <A_i A_{i+d}> along every axis (likewise sysy, szsz)
    szsz_c:d          the connected version, <A_i A_j> - <A_i><A_j>
    sxsx:i,j          one explicit site pair (also szsz_c:i,j)
    sz:i              one site
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .model import Lattice

_PATTERN = re.compile(r"^s([xyz])(?:s([xyz])(_c)?)?(?::(.+))?$")
HELP = "sx|sy|sz, sz:i, sxsx:d, szsz_c:d, sxsx:i,j (x, y or z)"


@dataclass(frozen=True)
class Observable:
    name: str
    pauli: str
    sites: tuple[tuple[int, ...], ...]  # (i,) one-body terms or (i, j) two-body terms, averaged
    connected: bool = False

    @property
    def two_body(self) -> bool:
        return len(self.sites[0]) == 2


def parse_observable(name: str, lattice: Lattice) -> Observable:
    m = _PATTERN.match(str(name))
    if not m or (m.group(2) and m.group(2) != m.group(1)):
        raise ValueError(f"unknown observable {name!r}; allowed: {HELP}")
    a, two, connected, arg = m.group(1), m.group(2) is not None, m.group(3) is not None, m.group(4)
    n = lattice.n_sites
    try:
        if not two:
            if arg is None:
                return Observable(name, a, tuple((i,) for i in range(n)))
            i = int(arg)
            if not 0 <= i < n:
                raise ValueError
            return Observable(name, a, ((i,),))
        if arg is None:
            raise ValueError
        parts = [int(p) for p in arg.split(",")]
    except ValueError:
        raise ValueError(f"bad site or distance in observable {name!r} for a lattice of {n} sites; allowed: {HELP}")
    if len(parts) == 1:
        pairs = lattice.pairs_at_distance(parts[0]) if parts[0] > 0 else ()
        if not pairs:
            raise ValueError(f"observable {name!r}: no site pairs at distance {parts[0]} on lattice {list(lattice.shape)}")
    elif len(parts) == 2 and all(0 <= p < n for p in parts) and parts[0] != parts[1]:
        pairs = (tuple(parts),)
    else:
        raise ValueError(f"bad site pair in observable {name!r} for a lattice of {n} sites")
    return Observable(name, a, tuple(pairs), connected)


def evaluate(obs: Observable, expect: Callable[[dict[int, str]], float]) -> float:
    """Value of `obs` given `expect`, the expectation of a Pauli string {site: 'x'|'y'|'z'}."""
    vals = []
    for term in obs.sites:
        v = expect({s: obs.pauli for s in term})
        if obs.connected:
            v -= expect({term[0]: obs.pauli}) * expect({term[1]: obs.pauli})
        vals.append(v)
    return float(sum(vals) / len(vals))
