"""When an optimisation has diverged: the one rule every optimising solver applies to its cost.

A non-finite cost (or gradient) is not applied: the solver keeps its last finite parameters and draws
new samples, because one bad batch (a sample of vanishing probability, an overflow in one estimate) is
survivable. A run whose cost stays non-finite has diverged; it stops with FloatingPointError, which the
command line reports in one line (exit 2, no result file) instead of spending the rest of its budget.
"""

from __future__ import annotations

MAX_NONFINITE = 5  # non-finite costs in a row that end a run


class NonFiniteStreak:
    """Counts non-finite costs in a row; `check` raises FloatingPointError at the MAX_NONFINITE-th."""

    def __init__(self, what: str = "cost or gradient", limit: int = MAX_NONFINITE):
        self.what, self.limit, self.count = what, limit, 0

    def check(self, finite: bool, where: str) -> bool:
        """True when this iteration's cost may be applied; False to skip it. `where` names the iteration
        in the error ("iteration 12", "t = 0.4, inner iteration 3")."""
        if finite:
            self.count = 0
            return True
        self.count += 1
        if self.count >= self.limit:
            raise FloatingPointError(f"{self.what} not finite in {self.limit} consecutive iterations ({where})")
        return False
