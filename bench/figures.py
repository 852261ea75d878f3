"""How every benchmark prints a figure measured over rounds: ``median (min-max)``."""

from __future__ import annotations

import statistics


def cell(values: list[float], scale: float = 1.0, digits: int = 0) -> str:
    """``median (min-max)`` of a figure over rounds, times ``scale``; ``n/a`` when nothing was measured."""
    if not values:
        return "n/a"
    med = statistics.median(values) * scale
    return f"{med:,.{digits}f} ({min(values) * scale:,.{digits}f}-{max(values) * scale:,.{digits}f})"
