"""Markdown pieces of the reports: numbers formatted one way (so tests can find metrics.json's values in
report.md), tables and verdicts."""

from __future__ import annotations

import math


def fmt(value: float | None, digits: int = 4) -> str:
    """A number as the reports print it: fixed ``digits`` decimals; "n/a" for None or NaN, "inf" for infinity."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def table(header: list[str], rows: list[list[object]]) -> str:
    """A markdown table; cells that are floats are formatted with :func:`fmt`."""
    def cell(value: object) -> str:
        return fmt(value) if isinstance(value, float) or value is None else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(holds: bool | None) -> str:
    if holds is None:
        return "**Holds: not evaluated** (the variants it needs were not trained)"
    return "**Holds: yes**" if holds else "**Holds: no**"
