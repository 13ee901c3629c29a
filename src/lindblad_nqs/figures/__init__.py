"""Figures: each is a function of result tables registered under (paper, name) with @figure.

A figure function takes {role: RunData} and an options dict and returns (matplotlib Figure, the
plotted data as a DataFrame). Figures never train or solve. Modules in this package register
themselves; a new figure is a new function in the paper's module.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

_FIGURES: dict[tuple[str, str], Callable] = {}
_GENERIC: dict[str, Callable] = {}


def figure(paper: str, name: str):
    """Register a paper's figure. paper '*' registers a figure every paper can use (e.g. 'exact')."""

    def deco(fn):
        if paper == "*":
            _GENERIC[name] = fn
        else:
            _FIGURES[(paper, name)] = fn
        return fn

    return deco


def get_figure(paper: str, name: str) -> Callable:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    if (paper, name) in _FIGURES:
        return _FIGURES[(paper, name)]
    if name in _GENERIC:
        return _GENERIC[name]
    known = sorted(f"{p}/{n}" for p, n in _FIGURES) + sorted(f"*/{n}" for n in _GENERIC)
    raise KeyError(f"no figure {paper}/{name}; known: {', '.join(known)}")
