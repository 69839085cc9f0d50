"""Conservative ranks and HR/MRR (protocol v1, steps 7-8). numpy + stdlib only."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

#: The cut-offs every report shows.
CUTOFFS = (10, 20)


def conservative_rank(scores: np.ndarray, target: int | None,
                      tiebreak: np.ndarray | None = None) -> float:
    """The target's rank among all candidates, ties counted against the model.

    ``rank = 1 + #{c: key(c) > key(t)} + #{c != t: key(c) == key(t)}`` where ``key`` is the
    pair (score, tie-break) compared lexicographically. ``target=None`` (a track outside the
    candidates) is a miss: ``math.inf``. NaN scores count as the lowest possible score, so a
    broken model can never look good.
    """
    if target is None:
        return math.inf
    s = np.asarray(scores, dtype=np.float64)
    if np.isnan(s).any():
        s = np.where(np.isnan(s), -np.inf, s)
    st = s[target]
    above = s > st
    equal = s == st
    if tiebreak is not None:
        tb = np.asarray(tiebreak, dtype=np.float64)
        tt = tb[target]
        above |= equal & (tb > tt)
        equal &= tb == tt
    # ``equal`` includes the target itself, hence no extra "+1".
    return float(int(above.sum()) + int(equal.sum()))


@dataclass
class Metrics:
    """Accumulates ranks of one user (or any set of targets) into HR@k and MRR@k."""

    cutoffs: tuple[int, ...] = CUTOFFS
    ranks: list[float] = field(default_factory=list)

    def add(self, rank: float) -> None:
        """Record one target's rank (``math.inf`` for a miss)."""
        self.ranks.append(rank)

    @property
    def targets(self) -> int:
        """How many targets were recorded."""
        return len(self.ranks)

    def hr(self, k: int) -> float:
        """Share of targets ranked within the top ``k`` (0.0 without targets)."""
        if not self.ranks:
            return 0.0
        return sum(1 for r in self.ranks if r <= k) / len(self.ranks)

    def mrr(self, k: int) -> float:
        """Mean of ``1/rank`` over targets, counting 0 where ``rank > k``."""
        if not self.ranks:
            return 0.0
        return sum(1.0 / r for r in self.ranks if r <= k) / len(self.ranks)

    def as_dict(self) -> dict[str, float]:
        """``{"hr@10": .., "hr@20": .., "mrr@10": .., "mrr@20": ..}``."""
        out = {f"hr@{k}": self.hr(k) for k in self.cutoffs}
        out.update({f"mrr@{k}": self.mrr(k) for k in self.cutoffs})
        return out


def macro(rows: Iterable[dict[str, float]]) -> dict[str, float]:
    """The unweighted mean over users of every numeric field of their rows."""
    rows = list(rows)
    if not rows:
        return {}
    keys = [k for k in rows[0] if all(k in r for r in rows)]
    return {k: sum(float(r[k]) for r in rows) / len(rows) for k in keys}
