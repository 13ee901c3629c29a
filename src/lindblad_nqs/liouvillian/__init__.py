"""The Liouvillian in the doubled basis (sigma, sigma'): local superoperators and connected elements."""

from .local import LocalTerm, local_terms
from .connected import BitConfigs, connected_elements, dense_liouvillian, liouvillian_table

__all__ = ["LocalTerm", "local_terms", "BitConfigs", "connected_elements", "dense_liouvillian", "liouvillian_table"]
