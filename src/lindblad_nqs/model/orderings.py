"""The strings of luo2022's String States: symmetry-related site orderings of a square lattice (pure
geometry, used by nets.strings and by the Fig. 1 drawing).

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

from collections.abc import Sequence

import numpy as np

from .lattice import Lattice

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
