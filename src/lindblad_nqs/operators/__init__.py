"""Sums of local operators on 4-state digits: one NumPy table format (table), applied in JAX
(jax_apply) and in PyTorch (torch_apply). Importing this package imports neither framework."""

from .table import LocalTable, TermGroup, build_table

__all__ = ["LocalTable", "TermGroup", "build_table"]
